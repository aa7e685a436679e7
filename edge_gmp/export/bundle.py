"""The export stage of a run: ONNX graphs, TFLite variants and the device deliverable."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_gmp.atomic import write_bytes_atomic, write_text_atomic
from edge_gmp.errors import UserError
from edge_gmp.export.artifacts import DEFAULT_KINDS, TFLiteArtifact
from edge_gmp.export.c_array import check_symbol, write_c_array
from edge_gmp.export.onnx_export import export_onnx
from edge_gmp.export.streaming import export_streaming, step_calibration
from edge_gmp.export.tflite import convert_onnx_to_tflite
from edge_gmp.models import spec_of

CLASSIFIER_USAGE = ("quantise the input with its scale/zero point in the layout given under `tensors`; "
                    "argmax(logits) is the class")


@dataclass
class ExportBundle:
    """What the export stage wrote: ONNX graphs by role, every TFLite artifact, which one is the device
    artifact (``<graph>_<device_kind>``, e.g. ``step_int16x8``) and how a device uses it."""

    onnx: dict[str, Path]
    tflite: list[TFLiteArtifact] = field(default_factory=list)
    device_graph: str = "step"
    graph_description: str = ""
    usage: str = ""
    device_kind: str = "int8"

    @staticmethod
    def graph_of(artifact: TFLiteArtifact) -> str:
        """The graph an artifact was converted from (its file is ``[<model>_]<graph>_<kind>.tflite``)."""
        return Path(artifact.path).stem.removesuffix(f"_{artifact.kind}").rsplit("_", 1)[-1]

    def find(self, graph: str, kind: str) -> TFLiteArtifact | None:
        """The artifact of ``graph`` (e.g. ``step``) in ``kind`` (e.g. ``int8``), if it was written."""
        return next((a for a in self.tflite if a.kind == kind and self.graph_of(a) == graph), None)

    def device_artifact(self) -> TFLiteArtifact:
        """The device artifact: the device graph in the device kind."""
        found = self.find(self.device_graph, self.device_kind)
        if found is None:
            raise KeyError(f"no TFLite artifact {self.device_graph} {self.device_kind}; have "
                           f"{[Path(a.path).stem for a in self.tflite]}")
        return found


def export_streaming_bundle(model: nn.Module, out_dir: str | os.PathLike, train_windows: np.ndarray,
                            calibration_samples: int = 500, sequence_tflite: bool = False,
                            seed: int = 0) -> ExportBundle:
    """ONNX sequence + step graphs, the step graph as float32/int8(/sparse) TFLite (int8 calibrated on
    ``calibration_samples`` real (x_t, state) pairs from ``train_windows``) and, when asked, the sequence
    graph as float32 TFLite for LiteRT (slow to convert: one op per time step)."""
    spec = spec_of(model)
    plan = spec.streaming
    out = Path(out_dir)
    onnx_paths = export_streaming(model, out, window=train_windows.shape[1])
    calibration = step_calibration(model, train_windows, samples=calibration_samples, seed=seed)
    kinds = dict.fromkeys((*DEFAULT_KINDS, plan.device_kind))
    tflite = convert_onnx_to_tflite(onnx_paths["step"], out, calibration, keep_shape_inputs=list(plan.input_names),
                                    class_output=plan.output_names[-1], stem=f"{spec.name}_step", kinds=list(kinds),
                                    tied_states=plan.tied)
    if sequence_tflite:
        seq = convert_onnx_to_tflite(onnx_paths["sequence"], out, None, keep_shape_inputs=["x"],
                                     class_output="logits", stem=f"{spec.name}_sequence")
        tflite += [a for a in seq if a.kind == "float32"]
        for a in seq:
            if a.kind != "float32":
                Path(a.path).unlink(missing_ok=True)
    return ExportBundle(onnx=onnx_paths, tflite=tflite, device_graph="step", graph_description=plan.description,
                        usage=plan.usage, device_kind=plan.device_kind)


def export_classifier_bundle(model: nn.Module, out_dir: str | os.PathLike, train_inputs: np.ndarray,
                             calibration_samples: int = 500, seed: int = 0) -> ExportBundle:
    """A one-input classifier (e.g. MobileNet on NCHW images): ``classifier.onnx`` and its float32/int8
    (/sparse) TFLite, int8 calibrated on ``calibration_samples`` real training inputs drawn at random.
    Image inputs become NHWC in TFLite (the artifacts' manifests say so)."""
    out = Path(out_dir)
    inputs = np.asarray(train_inputs, dtype=np.float32)
    if len(inputs) < calibration_samples:
        raise UserError(f"{calibration_samples} calibration samples requested, only {len(inputs)} training inputs")
    pick = np.random.default_rng(seed).choice(len(inputs), size=calibration_samples, replace=False)
    example = torch.from_numpy(inputs[:1])
    onnx_path = export_onnx(model.eval(), (example,), out / "classifier.onnx", ["input"], ["logits"])
    tflite = convert_onnx_to_tflite(onnx_path, out, {"input": inputs[np.sort(pick)]}, class_output="logits",
                                    stem="classifier")
    return ExportBundle(onnx={"classifier": onnx_path}, tflite=tflite, device_graph="classifier",
                        graph_description=f"{type(model).__name__} classifier input -> logits",
                        usage=CLASSIFIER_USAGE)


def export_bundle(model: nn.Module, out_dir: str | os.PathLike, train_inputs: np.ndarray,
                  calibration_samples: int = 500, sequence_tflite: bool = False, seed: int = 0) -> ExportBundle:
    """The export plan of ``model``'s registry entry: a streamed model gets its step graph as the device
    artifact, any other model is exported as one whole-input classifier."""
    if spec_of(model).streaming is not None:
        return export_streaming_bundle(model, out_dir, train_inputs, calibration_samples, sequence_tflite, seed)
    return export_classifier_bundle(model, out_dir, train_inputs, calibration_samples, seed)


def manifest_file_names(manifest: dict[str, Any]) -> set[str]:
    """Every file name a deliverable's manifest names: its files, checksums and device file entries."""
    device = manifest.get("device_file") or {}
    names = {*manifest.get("files", {}).values(), *manifest.get("sha256", {})}
    return names | {device[key] for key in ("file", "dense_file") if device.get(key)}


def write_deliverable(device_file: str | os.PathLike, dest_dir: str | os.PathLike, symbol: str,
                      manifest: dict[str, Any], extra: list[Path] | None = None) -> dict[str, Path]:
    """The firmware drop-in: ``<symbol>.tflite`` (the device file), ``<symbol>.cc``/``.h`` (16-byte aligned array
    and its length), ``manifest.json`` and, under their own names, the ``extra`` files (e.g. the dense integer
    file for runtimes without TFLM_DECODE). Each file is written atomically; returns the paths by role. The
    manifest may name only files the folder holds (ValueError before anything is written otherwise)."""
    check_symbol(symbol)
    files = {"tflite": f"{symbol}.tflite", "c_source": f"{symbol}.cc", "c_header": f"{symbol}.h",
             **{f"extra_{i}": Path(p).name for i, p in enumerate(extra or [])}}
    digests = dict(manifest.get("sha256", {}))
    source_name = Path(device_file).name
    if source_name in digests and source_name not in files.values():  # shipped under the symbol's name
        digests[files["tflite"]] = digests.pop(source_name)
    content = {**manifest, "sha256": digests, "files": files}
    if isinstance(manifest.get("device_file"), dict) and manifest["device_file"].get("file") == source_name:
        content["device_file"] = {**manifest["device_file"], "file": files["tflite"]}
    stray = sorted(manifest_file_names(content) - set(files.values()))
    if stray:
        raise ValueError(f"the manifest names files the deliverable does not hold: {', '.join(stray)}")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    tflite = write_bytes_atomic(dest / files["tflite"], Path(device_file).read_bytes())
    cc, header = write_c_array(tflite, dest, symbol)
    extras = {role: write_bytes_atomic(dest / name, Path(p).read_bytes())
              for (role, name), p in zip(list(files.items())[3:], extra or [], strict=True)}
    path = write_text_atomic(dest / "manifest.json", json.dumps(content, indent=2, default=_json) + "\n")
    return {"tflite": tflite, "c_source": cc, "c_header": header, "manifest": path, **extras}


def _json(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
