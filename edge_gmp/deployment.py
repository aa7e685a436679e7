"""After training: export → verify every artifact in every runtime → device budget → deliverable.

Composes the export, verify and report stages through their public functions; returns plain dicts that
go into the run's ``metrics.json``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from edge_gmp.config import ExportConfig
from edge_gmp.export import gzip_size, information_limit_bits, tflite_weight_counts
from edge_gmp.export.bundle import ExportBundle, export_bundle, write_deliverable
from edge_gmp.verify import check_budget, find_device
from edge_gmp.verify.checks import ArtifactCheck, Candidate, check_artifacts

SPARSE_ON_TFLM = ("sparse-encoded flatbuffers cannot run on TFLite Micro (it has no DENSIFY kernel): flash is "
                  "judged on the dense int8 file; the sparse size is reported for reference only")


@dataclass
class Deployment:
    metrics: dict[str, Any]
    failures: list[str]


def symbol_for(name: str) -> str:
    """A C identifier for a run name: ``fastgrnn-har2`` -> ``fastgrnn_har2``."""
    symbol = re.sub(r"\W", "_", name)
    return symbol if not symbol[:1].isdigit() else f"m_{symbol}"


def _candidates(bundle: ExportBundle) -> list[Candidate]:
    out = [Candidate(f"onnx {role}", str(path), "float32") for role, path in bundle.onnx.items()]
    for a in bundle.tflite:
        graph = Path(a.path).stem.removesuffix(f"_{a.kind}").rsplit("_", 1)[-1]
        out.append(Candidate(f"tflite {graph} {a.kind}", a.path, "int8" if a.kind.startswith("int8") else "float32",
                             sparse=a.kind.endswith("_sparse"), valid=a.valid, note=a.note))
    return out


def _sizes(check: ArtifactCheck, prunable: int) -> dict[str, Any]:
    path = Path(check.candidate.path)
    out: dict[str, Any] = {"gzip_bytes": gzip_size(path.read_bytes())}
    if path.suffix == ".tflite":
        counts = tflite_weight_counts(path)
        bits = 8 if check.candidate.precision == "int8" else 32
        out["nonzero_weights"] = counts["nonzero"]
        out["weight_elements"] = counts["elements"]
        out["info_limit_bytes"] = round(information_limit_bits(counts["nonzero"], counts["elements"], bits) / 8)
    else:
        out["nonzero_weights"] = None
    out["prunable_weights"] = prunable
    return out


def deploy(model: nn.Module, name: str, export: ExportConfig, out_dir: Path, train_inputs: np.ndarray,
           test_inputs: np.ndarray, test_labels: np.ndarray, reference_logits: np.ndarray,
           float_accuracy: float, normalization: dict[str, Any], sparsity: dict[str, Any],
           classes: Sequence[str] = (), seed: int = 0, log=print) -> Deployment:
    """Export ``model`` into ``out_dir/artifacts``, verify everything on the full test set, check the
    device budget and write the deliverable to ``out_dir/export/<name>``."""
    device = find_device(export.device, export.devices_file)
    log(f"export: ONNX + TFLite (int8 calibrated on {export.calibration_samples} training samples)")
    bundle = export_bundle(model, out_dir / "artifacts", train_inputs, export.calibration_samples,
                           export.sequence_tflite, seed=seed)
    log(f"verify: {len(bundle.onnx) + len(bundle.tflite)} artifacts on {len(test_labels)} test samples")
    checks = check_artifacts(_candidates(bundle), test_inputs, test_labels, reference_logits, float_accuracy)
    artifacts = [{**c.to_dict(), **_sizes(c, sparsity["prunable_parameters"])} for c in checks]
    failures = [p for c in checks for p in c.problems]
    notes = [SPARSE_ON_TFLM] + [f"{c.candidate.name} is not shipped: {c.candidate.note}"
                                for c in checks if not c.candidate.valid]

    device_name = f"tflite {bundle.device_graph} int8"
    device_check = next(c for c in checks if c.candidate.name == device_name)
    tflm = device_check.result("tflm")
    budget_dict = None
    if device_check.arena_bytes is None or tflm is None or tflm.status != "ok":
        failures.append(f"the device artifact ({device_check.candidate.path}) does not run on TFLite Micro: "
                        f"{device_check.arena_note if device_check.arena_bytes is None else tflm.note}")
    else:
        flash = Path(device_check.candidate.path).stat().st_size
        budget = check_budget(flash, device_check.arena_bytes, device, accuracy=tflm.accuracy,
                              min_accuracy=export.min_accuracy)
        failures += budget.failures()
        budget_dict = {**budget.to_dict(), "artifact": f"{device_name} (dense) on TFLite Micro"}

    sparse_twin = next((a for a in artifacts if a["name"] == f"{device_name}_sparse"), None)
    device_artifact = bundle.artifact(bundle.device_key)
    manifest = {
        "model": name,
        "graph": bundle.graph_description,
        "usage": bundle.usage,
        "classes": list(classes),
        "tensors": {"inputs": [asdict(s) for s in device_artifact.inputs],
                    "outputs": [asdict(s) for s in device_artifact.outputs]},
        "bytes": Path(device_check.candidate.path).stat().st_size,
        **{k: v for k, v in _sizes(device_check, sparsity["prunable_parameters"]).items()},
        "sparsity": sparsity["sparsity"],
        "arena_bytes": device_check.arena_bytes,
        "arena_note": device_check.arena_note,
        "float_test_accuracy": float_accuracy,
        "test_accuracy": {r.runtime: r.accuracy for r in device_check.runtimes},
        "test_samples": int(len(test_labels)),
        "sparse_variant": None if sparse_twin is None else {
            "bytes": sparse_twin["bytes"], "runs_on_tflm": False, "valid": sparse_twin["valid"],
            "note": SPARSE_ON_TFLM + ("" if sparse_twin["valid"] else f"; also invalid: {sparse_twin['note']}")},
        "normalization": normalization,
        "budget": budget_dict,
    }
    deliverable = write_deliverable(device_artifact, out_dir / "export" / name, symbol_for(name),
                                    manifest)
    metrics = {"artifacts": artifacts, "budget": budget_dict, "notes": notes,
               "deliverable": {k: str(v) for k, v in deliverable.items()}, "failures": failures}
    return Deployment(metrics, failures)


def measure_device_artifact(model: nn.Module, export: ExportConfig, out_dir: Path, train_inputs: np.ndarray,
                            test_inputs: np.ndarray, test_labels: np.ndarray, reference_logits: np.ndarray,
                            float_accuracy: float, prunable_weights: int, seed: int = 0) -> dict[str, Any]:
    """The device artifact alone, for studies: export, then run the int8 model in LiteRT and TFLite Micro on
    the full test set; its bytes, gzip bytes, non-zeros, information limit, arena, accuracies and problems,
    with the sparse-encoded twin's bytes beside it (labelled: TFLite Micro cannot run it)."""
    bundle = export_bundle(model, out_dir, train_inputs, export.calibration_samples, False, seed=seed)
    device_name = f"tflite {bundle.device_graph} int8"
    candidates = {c.name: c for c in _candidates(bundle)}
    (check,) = check_artifacts([candidates[device_name]], test_inputs, test_labels, reference_logits,
                               float_accuracy)
    sparse = candidates.get(f"{device_name}_sparse")
    return {
        "artifact": device_name,
        "bytes": Path(check.candidate.path).stat().st_size,
        **_sizes(check, prunable_weights),
        "arena_bytes": check.arena_bytes,
        "accuracy": {r.runtime: r.accuracy for r in check.runtimes},
        "top1_agreement": {r.runtime: r.agreement.top1 for r in check.runtimes if r.agreement is not None},
        "problems": check.problems,
        "sparse_encoded_bytes": None if sparse is None else Path(sparse.path).stat().st_size,
        "sparse_encoded_note": SPARSE_ON_TFLM,
    }
