"""How much accuracy the FastGRNN device artifact (the one-step graph, run 128 times per window) loses to
quantisation, per conversion mode, on the full HAR-2 test set.

    python benchmarks/fastgrnn_quantization.py [--model models/fastgrnn/model.pt] [--limit N] [--name NAME]

Modes: int8 (today's device artifact) and int16x8 (int16 activations and I/O, int8 weights), each as converted
(h and h_next quantised separately) and "tied" (h takes h_next's quantisation parameters, so a device copies
h_next's raw integers back into h), and int8/int16x8 tied with a 10x larger calibration set. Each .tflite is
stepped over every test window in LiteRT and TFLite Micro with h fed back raw, as a device does, and, for
untied files, requantised through float (what ``evaluate_streaming`` does). Prints the table and writes
benchmarks/results/fastgrnn_quantization.json and .md (one entry per ``--name``, merged with earlier runs).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_gmp.config import load_config
from edge_gmp.data.prepare import prepare_data
from edge_gmp.export.artifacts import TFLiteArtifact
from edge_gmp.export.streaming import export_streaming, step_calibration
from edge_gmp.export.tflite import convert_onnx_to_tflite
from edge_gmp.models import create_model, spec_of
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import markdown_table, text_table
from edge_gmp.runtimes import Session, Unsupported, dequantize, open_session, quantize
from edge_gmp.verify.arena import measure_arena

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "fastgrnn" / "model.pt"
RUNTIMES = ("litert", "tflm")
HEADERS = ("mode", "h feedback", "LiteRT acc", "TFLM acc", "TFLM loss (pts)", "TFLM top-1 = float",
           "max |Δ logits|", "bytes", "arena")
ATTRIBUTION_HEADERS = ("left in float", "accuracy", "top-1 = float", "max |Δ logits|")
TENSOR_HEADERS = ("mode", "op", "tensor", "scale", "float range", "rms error", "max error", "rms error / scale",
                  "rms error / range")


@dataclass(frozen=True)
class Mode:
    """One conversion: a TFLite kind, whether h takes h_next's quantisation, and the calibration set size."""

    name: str
    kind: str
    tied: bool = False
    calibration_scale: int = 1  # x the base number of calibration samples


MODES = (Mode("float32", "float32"), Mode("int8", "int8"), Mode("int8 tied", "int8", tied=True),
         Mode("int8 tied, 10x calibration", "int8", tied=True, calibration_scale=10),
         Mode("int16x8", "int16x8"), Mode("int16x8 tied", "int16x8", tied=True),
         Mode("int16x8 tied, 10x calibration", "int16x8", tied=True, calibration_scale=10))


def shown_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (results name no checkout's location)."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def load_model(path: Path) -> tuple[nn.Module, dict[str, list[float]] | None]:
    """The trained (pruned) model of a ``model.pt`` and the input normalisation it was trained with."""
    checkpoint = torch.load(path, weights_only=True)
    config = {k: v for k, v in checkpoint["model_config"].items() if k != "name"}
    model = create_model(checkpoint["model_name"], **config)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), checkpoint.get("normalization")


def load_windows(normalization: dict[str, list[float]] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HAR-2 (x_train, x_test, y_test), renormalised with the model's own statistics when it has them (the
    rebuilt dataset's statistics can drift from the ones the model was trained with)."""
    data = prepare_data(load_config().data, seed=0)
    x_train, x_test = np.asarray(data.x_train, np.float32), np.asarray(data.x_test, np.float32)
    if normalization is not None:
        def renormalise(x: np.ndarray) -> np.ndarray:
            raw = x * np.float32(data.normalization["std"]) + np.float32(data.normalization["mean"])
            return ((raw - np.float32(normalization["mean"])) / np.float32(normalization["std"])).astype(np.float32)
        x_train, x_test = renormalise(x_train), renormalise(x_test)
    return x_train, x_test, np.asarray(data.y_test).reshape(-1)


def int8_weights(model: nn.Module) -> nn.Module:
    """A copy whose weight matrices are rounded to int8 per output row (as the converter stores them), the
    activations staying float: the error floor of any mode with int8 weights."""
    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for param in rounded.parameters():
            if param.ndim == 2:
                scale = param.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
                param.copy_(torch.round(param / scale) * scale)
    return rounded


def torch_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def convert_modes(model: nn.Module, x_train: np.ndarray, out_dir: Path, samples: int) -> dict[str, TFLiteArtifact]:
    """Every mode's .tflite (checked in LiteRT by the converter), by mode name."""
    plan = spec_of(model).streaming
    step_onnx = export_streaming(model, out_dir, window=x_train.shape[1])["step"]
    state, state_next = plan.input_names[1], plan.output_names[0]
    artifacts = {}
    for scale, tied in sorted({(m.calibration_scale, m.tied) for m in MODES}):
        group = [m for m in MODES if m.calibration_scale == scale and m.tied == tied]
        calibration = step_calibration(model, x_train, samples=samples * scale)
        stem = f"step_cal{samples * scale}{'_tied' if tied else ''}"
        converted = convert_onnx_to_tflite(step_onnx, out_dir, calibration, list(plan.input_names),
                                           class_output=plan.output_names[-1], stem=stem,
                                           kinds=[m.kind for m in group],
                                           tied_states={state: state_next} if tied else None)
        by_kind = {a.kind: a for a in converted}
        artifacts.update({m.name: by_kind[m.kind] for m in group})
    return artifacts


def stream(session: Session, artifact: TFLiteArtifact, windows: np.ndarray, feedback: str,
           names: Sequence[str] = ("x_t", "h", "h_next", "logits")) -> np.ndarray:
    """Step the cell over (N, T, D) windows; h_next goes back into h as its raw integers ("raw", a device's
    copy) or dequantised and quantised again with h's parameters ("requantised"). Returns (N, C) logits."""
    x_spec, h_spec = artifact.input(names[0]), artifact.input(names[1])
    h_next_spec, logits_spec = artifact.output(names[2]), artifact.output(names[3])
    for spec, info in ((x_spec, session.inputs[x_spec.index]), (h_spec, session.inputs[h_spec.index])):
        if info.name != spec.tflite_name:
            raise RuntimeError(f"{session.runtime} input {spec.index} is {info.name}, expected {spec.tflite_name}")
    x_info, h_info = session.inputs[x_spec.index], session.inputs[h_spec.index]
    h_next_info, logits_info = session.outputs[h_next_spec.index], session.outputs[logits_spec.index]
    x_quantised = quantize(windows, x_info)
    h_zero = quantize(np.zeros(h_info.shape, np.float32), h_info)
    logits = np.zeros((len(windows), int(np.prod(logits_info.shape))), np.float32)
    feeds: list[np.ndarray] = [h_zero] * len(session.inputs)
    for n in range(len(windows)):
        feeds[h_spec.index] = h_zero
        for t in range(windows.shape[1]):
            feeds[x_spec.index] = x_quantised[n, t:t + 1]
            outputs = session.run_raw(feeds)
            h_next = outputs[h_next_spec.index]
            feeds[h_spec.index] = (h_next.copy() if feedback == "raw"
                                   else quantize(dequantize(h_next, h_next_info), h_info))
        logits[n] = dequantize(outputs[logits_spec.index], logits_info).reshape(-1)
    return logits


def _scores(logits: np.ndarray, reference: np.ndarray, y: np.ndarray) -> dict[str, float]:
    predicted = logits.argmax(1)
    return {"accuracy": float(np.mean(predicted == y)),
            "top1_agreement": float(np.mean(predicted == reference.argmax(1))),
            "max_abs_logit_diff": float(np.max(np.abs(logits - reference)))}


def measure_mode(mode: Mode, artifact: TFLiteArtifact, x_test: np.ndarray, y_test: np.ndarray,
                 reference: np.ndarray) -> list[dict[str, Any]]:
    """One row per h feedback: accuracy in each runtime, agreement with float, bytes and TFLM arena."""
    feedbacks = ("raw",) if mode.tied or mode.kind == "float32" else ("raw", "requantised")
    try:
        arena: int | str = measure_arena(artifact.path)
    except Unsupported as exc:
        arena = f"TFLM refused: {exc}"
    rows = []
    for feedback in feedbacks:
        row: dict[str, Any] = {**asdict(mode), "feedback": feedback, "bytes": artifact.bytes, "arena_bytes": arena,
                               "ops": list(artifact.ops), "valid": artifact.valid, "note": artifact.note,
                               "io": {s.onnx_name: {"dtype": s.dtype, "scale": s.scale, "zero_point": s.zero_point}
                                      for s in (*artifact.inputs, *artifact.outputs)}}
        for runtime in RUNTIMES:
            started = time.perf_counter()
            try:
                session = open_session(runtime, artifact.path)
                scores = _scores(stream(session, artifact, x_test, feedback), reference, y_test)
            except Unsupported as exc:
                scores = {"error": str(exc)}
            row[runtime] = {**scores, "seconds": round(time.perf_counter() - started, 1)}
        rows.append(row)
    return rows


def float_trajectory_pairs(model: nn.Module, windows: np.ndarray, samples: int,
                           seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(x_t, h) pairs met by the float model on ``windows`` (test data: not what calibrated the files)."""
    calibration = step_calibration(model, windows, samples=samples, seed=seed)
    plan = spec_of(model).streaming
    return calibration[plan.input_names[0]], calibration[plan.input_names[1]]


class TensorReader:
    """One file in LiteRT with every intermediate tensor kept: ``read(feeds)`` -> op output name -> (op, scale,
    float value)."""

    def __init__(self, artifact: TFLiteArtifact) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.interp = Interpreter(model_path=artifact.path, experimental_preserve_all_tensors=True, num_threads=1,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.interp.allocate_tensors()
        self.onnx_names = {s.tensor_index: s.onnx_name for s in artifact.inputs}
        details = {t["index"]: t for t in self.interp.get_tensor_details()}
        self.op_outputs = [(op["op_name"], details[i]) for op in self.interp._get_ops_details() for i in op["outputs"]]

    def read(self, feeds: dict[str, np.ndarray]) -> dict[str, tuple[str, float, np.ndarray]]:
        for detail in self.interp.get_input_details():
            scale, zero = detail["quantization"]
            value = feeds[self.onnx_names[detail["index"]]].reshape(detail["shape"])
            if scale:
                limits = np.iinfo(detail["dtype"])
                value = np.clip(np.round(value / scale) + zero, limits.min, limits.max)
            self.interp.set_tensor(detail["index"], value.astype(detail["dtype"]))
        self.interp.invoke()
        found = {}
        for op, detail in self.op_outputs:
            scale, zero = detail["quantization"]
            value = self.interp.get_tensor(detail["index"]).astype(np.float64)
            found[detail["name"]] = (op, float(scale), (value - zero) * scale if scale else value)
        return found


def tensor_errors(artifacts: dict[str, TFLiteArtifact], x_pairs: np.ndarray, h_pairs: np.ndarray,
                  modes: Sequence[str]) -> list[dict[str, Any]]:
    """Per op output of one step: the integer model's dequantised value against the float32 file's same
    tensor, on the same real (x_t, h). Errors accumulate along the graph: the first big jump is the culprit."""
    float_reader = TensorReader(artifacts["float32"])
    samples = [{"x_t": x_pairs[k:k + 1], "h": h_pairs[k:k + 1]} for k in range(len(x_pairs))]
    references = [float_reader.read(feeds) for feeds in samples]
    rows = []
    for mode in modes:
        reader = TensorReader(artifacts[mode])
        errors: dict[str, list[np.ndarray]] = {}
        values: dict[str, list[np.ndarray]] = {}
        ops, scales = {}, {}
        for feeds, reference in zip(samples, references, strict=True):
            for name, (op, scale, value) in reader.read(feeds).items():
                if name in reference:
                    errors.setdefault(name, []).append((value - reference[name][2]).ravel())
                    values.setdefault(name, []).append(reference[name][2].ravel())
                    ops[name], scales[name] = op, scale
        for name, parts in errors.items():
            error, value = np.concatenate(parts), np.concatenate(values[name])
            rms = float(np.sqrt(np.mean(error ** 2)))
            rows.append({"mode": mode, "op": ops[name], "tensor": name, "scale": scales[name],
                         "float_min": float(value.min()), "float_max": float(value.max()), "rms_error": rms,
                         "max_error": float(np.max(np.abs(error))),
                         "rms_error_in_steps": rms / scales[name] if scales[name] else None})
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def table_row(row: dict[str, Any], float_accuracy: float) -> tuple[Any, ...]:
    tflm, litert = row["tflm"], row["litert"]
    if "error" in tflm:
        tflm_cells: tuple[Any, ...] = ("refused", "-", "-", "-")
    else:
        tflm_cells = (_pct(tflm["accuracy"]), f"{100 * (float_accuracy - tflm['accuracy']):+.2f}",
                      _pct(tflm["top1_agreement"]), f"{tflm['max_abs_logit_diff']:.3g}")
    arena = row["arena_bytes"] if isinstance(row["arena_bytes"], int) else "refused"
    return (row["name"], row["feedback"], _pct(litert.get("accuracy")), *tflm_cells, row["bytes"], arena)


def _relative_error(row: dict[str, Any]) -> float:
    return row["rms_error"] / max(row["float_max"] - row["float_min"], 1e-12)


def tensor_row(row: dict[str, Any]) -> tuple[Any, ...]:
    steps = row["rms_error_in_steps"]
    return (row["mode"], row["op"], "/".join(row["tensor"].split("/")[-2:]), f"{row['scale']:.3g}",
            f"[{row['float_min']:.2f}, {row['float_max']:.2f}]", f"{row['rms_error']:.3g}",
            f"{row['max_error']:.3g}", "-" if steps is None else f"{steps:.2f}", f"{_relative_error(row):.2%}")


def worst_tensor(rows: Sequence[dict[str, Any]], mode: str) -> str:
    """The op output whose one-step error is largest against its own float range."""
    worst = max((r for r in rows if r["mode"] == mode), key=_relative_error)
    return (f"{mode}: {worst['op']} {'/'.join(worst['tensor'].split('/')[-2:])}, rms error "
            f"{worst['rms_error']:.3g} = {_relative_error(worst):.2%} of its range")


# The full-rank step graph's op outputs, by their onnx2tf names (model_N/<name>/<Op>), in cell order.
CELL_TENSORS = {"x_t": "x_t", "h": "h", "W x": "tf.linalg.matmul_1", "U h": "tf.linalg.matmul_3",
                "pre = W x + U h": "tf.math.add", "pre + b_z": "tf.math.add_1", "z": "tf.math.sigmoid",
                "z h": "tf.math.multiply_3", "1 - z": "tf.math.subtract_1", "sig(zeta)(1 - z)": "tf.math.multiply_5",
                "c = sig(zeta)(1 - z) + sig(nu)": "tf.math.add_3", "pre + b_h": "tf.math.add_2",
                "h~": "tf.math.tanh", "c h~": "tf.math.multiply_8", "h_next": "h_next"}
CELL_GROUPS = {"pre-activations (W x, U h, pre, pre + b)": ("W x", "U h", "pre = W x + U h", "pre + b_z", "pre + b_h"),
               "gate path (z, 1 - z, c, z h)": ("z", "1 - z", "sig(zeta)(1 - z)", "c = sig(zeta)(1 - z) + sig(nu)",
                                                "z h"),
               "candidate path (h~, c h~)": ("h~", "c h~"), "state (h, z h, h_next)": ("h", "z h", "h_next")}


def _cell_quantisation(artifact: TFLiteArtifact) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of each CELL_TENSORS role in an int8 step file; empty when the graph differs."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=artifact.path)
    by_name = {}
    for detail in interp.get_tensor_details():
        scale, zero = detail["quantization"]
        parts = str(detail["name"]).split("/")
        by_name[parts[-2] if len(parts) > 2 else parts[0]] = (float(scale), int(zero))
    for spec in (*artifact.inputs, *artifact.outputs):
        by_name[spec.onnx_name] = (spec.scale, spec.zero_point)
    found = {role: by_name.get(name) for role, name in CELL_TENSORS.items()}
    return {} if any(v is None or not v[0] for v in found.values()) else found


def simulate_cell(model: nn.Module, x: np.ndarray, params: dict[str, tuple[float, int]],
                  float_roles: Sequence[str] = ()) -> np.ndarray:
    """PyTorch (float64) replay of the int8 cell over (N, T, D) windows: int8 weights per row, every role's
    tensor rounded and saturated with the file's parameters except ``float_roles``. Returns (N, C) logits."""
    weights = int8_weights(model).double()
    gate, update = weights.bias_gate, weights.bias_update
    keep_zeta, keep_nu = torch.sigmoid(weights.zeta), torch.sigmoid(weights.nu)

    def q(value: torch.Tensor, role: str) -> torch.Tensor:
        if role in float_roles:
            return value
        scale, zero = params[role]
        return (torch.clamp(torch.round(value / scale) + zero, -128, 127) - zero) * scale

    with torch.no_grad():
        xs = torch.from_numpy(x).double()
        h = q(torch.zeros(len(xs), weights.config.hidden, dtype=torch.float64), "h")
        for t in range(xs.shape[1]):
            pre = q(q(q(xs[:, t], "x_t") @ weights.W.t(), "W x") + q(h @ weights.U.t(), "U h"), "pre = W x + U h")
            z = q(torch.sigmoid(q(pre + gate, "pre + b_z")), "z")
            c = q(q(q(1 - z, "1 - z") * keep_zeta, "sig(zeta)(1 - z)") + keep_nu, "c = sig(zeta)(1 - z) + sig(nu)")
            h_tilde = q(torch.tanh(q(pre + update, "pre + b_h")), "h~")
            h = q(q(c * h_tilde, "c h~") + q(z * h, "z h"), "h_next")
        return weights.classifier(h).numpy()


def attribution(model: nn.Module, artifact: TFLiteArtifact, x_test: np.ndarray, y_test: np.ndarray,
                reference: np.ndarray) -> list[dict[str, Any]]:
    """Which int8 tensors cost the accuracy: the simulated int8 cell with all tensors quantised, then with one
    tensor (or one group) left in float. Full-rank models only; [] otherwise."""
    params = _cell_quantisation(artifact) if not getattr(model, "low_rank", True) else {}
    if not params:
        return []
    variants = {"all int8 (simulated)": (), "none (int8 weights only)": tuple(CELL_TENSORS)}
    variants.update({f"{role} in float": (role,) for role in CELL_TENSORS})
    variants.update({f"{group} in float": roles for group, roles in CELL_GROUPS.items()})
    return [{"variant": name, **_scores(simulate_cell(model, x_test, params, roles), reference, y_test)}
            for name, roles in variants.items()]


MAX_LOSS_POINTS = 0.2
MIN_AGREEMENT = 0.995


def recommend(rows: Sequence[dict[str, Any]], float_accuracy: float) -> str | None:
    """The smallest integer file that TFLite Micro runs with raw feedback within MAX_LOSS_POINTS of float and
    agrees with float's top-1 on at least MIN_AGREEMENT of the windows (accuracy alone can hide flips that
    cancel out)."""
    fits = [r for r in rows if r["kind"] != "float32" and r["feedback"] == "raw" and "error" not in r["tflm"]
            and 100 * (float_accuracy - r["tflm"]["accuracy"]) <= MAX_LOSS_POINTS
            and r["tflm"]["top1_agreement"] >= MIN_AGREEMENT]
    return min(fits, key=lambda r: (r["bytes"], r["calibration_scale"]))["name"] if fits else None


def study(model_path: Path, limit: int | None, samples: int, tensor_samples: int) -> dict[str, Any]:
    model, normalization = load_model(model_path)
    x_train, x_test, y_test = load_windows(normalization)
    if limit is not None:
        x_test, y_test = x_test[:limit], y_test[:limit]
    reference = torch_logits(model, x_test)
    float_accuracy = float(np.mean(reference.argmax(1) == y_test))
    floor = _scores(torch_logits(int8_weights(model), x_test), reference, y_test)
    print(f"PyTorch float {float_accuracy:.2%}; int8 weights, float activations {floor['accuracy']:.2%} "
          f"(top-1 = float {floor['top1_agreement']:.2%})", flush=True)
    with tempfile.TemporaryDirectory(prefix="fastgrnn_quant_") as work:
        artifacts = convert_modes(model, x_train, Path(work), samples)
        rows = []
        for mode in MODES:
            for row in measure_mode(mode, artifacts[mode.name], x_test, y_test, reference):
                rows.append(row)
                print(" | ".join(str(cell) for cell in table_row(row, float_accuracy)), flush=True)
        x_pairs, h_pairs = float_trajectory_pairs(model, x_test, tensor_samples)
        tensors = tensor_errors(artifacts, x_pairs, h_pairs, ["int8", "int16x8"])
        blame = attribution(model, artifacts["int8 tied"], x_test, y_test, reference)
    return {"model": shown_path(model_path), "model_config": asdict(model.config),
            "normalization": "the model's own" if normalization is not None else "the dataset's",
            "test_windows": len(x_test), "calibration_samples": samples, "float_accuracy": float_accuracy,
            "int8_weights_float_activations": floor, "rows": rows, "tensor_errors": tensors,
            "int8_attribution": blame, "recommended": recommend(rows, float_accuracy)}


def markdown(results: dict[str, Any]) -> str:
    lines = ["# FastGRNN step graph: quantisation modes on the device\n",
             "Each mode's one-step .tflite is stepped over every HAR-2 test "
             "window (128 steps, h starting at 0). **raw** feedback copies h_next's integers into h, as a device "
             "does; **requantised** dequantises h_next and quantises it with h's parameters (what "
             "`evaluate_streaming` does). *tied*: h takes h_next's quantisation parameters in the file, so the raw "
             "copy is exact. *int16x8*: int16 activations and I/O, int8 weights (TFLite's 16x8 mode). Loss = "
             "PyTorch float accuracy minus TFLite Micro accuracy, in points; top-1 = float: share of windows whose "
             "class matches PyTorch float. Arena: smallest TFLite Micro arena (64-bit host build). A mode is "
             f"recommended when TFLite Micro runs it with raw feedback within {MAX_LOSS_POINTS} points of float "
             f"and agrees with float on at least {MIN_AGREEMENT:.1%} of the windows; the smallest such file wins.\n"]
    for name, run in results["runs"].items():
        floor = run["int8_weights_float_activations"]
        lines += [f"## {name}\n", f"`{run['command']}` on {run['machine']}: {run['model']} ({run['model_config']}), "
                  f"{run['test_windows']} test windows, inputs normalised with {run['normalization']} statistics, "
                  f"{run['calibration_samples']} calibration samples (x10 where marked). {run.get('note', '')}\n",
                  f"PyTorch float: **{run['float_accuracy']:.2%}**. PyTorch with int8 weights and float activations "
                  f"(the floor of any int8-weight mode): {floor['accuracy']:.2%}, top-1 = float "
                  f"{floor['top1_agreement']:.2%}, max |Δ logits| {floor['max_abs_logit_diff']:.3g}.\n",
                  markdown_table(HEADERS, [table_row(r, run["float_accuracy"]) for r in run["rows"]]), "",
                  f"Recommended: **{run['recommended'] or 'none reaches the goal'}**.\n",
                  "Where the error comes from (one step on real (x_t, h) pairs from float runs over test windows; "
                  "each op output against the float32 file's, errors accumulating along the graph):\n",
                  markdown_table(TENSOR_HEADERS, [tensor_row(r) for r in run["tensor_errors"]]), "",
                  "Largest one-step error against the tensor's range: "
                  + "; ".join(worst_tensor(run["tensor_errors"], m) for m in ("int8", "int16x8")) + ".\n"]
        if run.get("int8_attribution"):
            lines += ["Which int8 activations cost the accuracy: the int8 tied cell replayed in PyTorch (float64, "
                      "int8 weights, every tensor rounded and saturated with the file's parameters), then with one "
                      "tensor or group left in float; the first row checks the replay against the measured one:\n",
                      markdown_table(ATTRIBUTION_HEADERS, [(r["variant"], _pct(r["accuracy"]),
                                                            _pct(r["top1_agreement"]), f"{r['max_abs_logit_diff']:.3g}")
                                                           for r in run["int8_attribution"]]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="a trained model.pt (default: released)")
    parser.add_argument("--name", default=None, help="the result entry's name (default: the model's folder)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test windows (quick look)")
    parser.add_argument("--calibration-samples", type=int, default=500)
    parser.add_argument("--tensor-samples", type=int, default=200)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the .json/.md go")
    parser.add_argument("--note", default="", help="where the model came from (shown under the entry)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    name = args.name or args.model.resolve().parent.name
    run = {"command": "python " + shlex.join(sys.argv), "machine": describe_machine(), "note": args.note,
           **study(args.model, args.limit, args.calibration_samples, args.tensor_samples)}
    out_json = args.results / "fastgrnn_quantization.json"
    previous = json.loads(out_json.read_text()) if out_json.is_file() else {"runs": {}}
    results = {"runs": {**previous["runs"], name: run}}
    args.results.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(results, indent=2) + "\n")
    (args.results / "fastgrnn_quantization.md").write_text(markdown(results))
    print("\n" + text_table(HEADERS, [table_row(r, run["float_accuracy"]) for r in run["rows"]]))
    print(f"recommended: {run['recommended']}")


if __name__ == "__main__":
    main()
