"""Run each written .tflite in LiteRT, map its tensors to ONNX names and decide whether it may ship."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.export.artifacts import TensorSpec, TFLiteArtifact
from edge_gmp.export.tflite_check import map_inputs, map_outputs
from edge_gmp.runtimes import compare_outputs, dequantize, quantize
from edge_gmp.runtimes.litert import LiteRTSession, micro_issues, op_names
from edge_gmp.runtimes.onnxruntime import run_onnx

FLOAT_REL_TOL = 1e-4  # sparse float vs dense float, relative to max(1, |output|)
FLOAT_ONNX_REL_TOL = 1e-3  # dense float vs onnxruntime before a float artifact is called invalid
MIN_TOP1 = 0.99  # tolerates a rare near-tie flip


def _check_samples(shapes: dict[str, tuple[int, ...]], calibration: dict[str, np.ndarray] | None,
                   limit: int) -> dict[str, np.ndarray]:
    if calibration is not None:
        return {k: v[:limit] for k, v in calibration.items()}
    rng = np.random.default_rng(0)
    n = min(limit, 32)
    return {k: rng.standard_normal((n, *s[1:])).astype(np.float32) for k, s in shapes.items()}


def compare(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """max |Δ|, top-1 agreement and max |reference| of (N, ...) outputs (each sample flattened), as a dict."""
    n = len(reference)
    return dataclasses.asdict(compare_outputs(reference.reshape(n, -1), other.reshape(n, -1)))


def _run_raw(session: LiteRTSession, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Each sample of the (N, ...) ``feeds`` (one per input, in its TFLite layout) quantised and run; the raw
    outputs, stacked."""
    outs: list[list[np.ndarray]] = [[] for _ in session.outputs]
    for k in range(len(feeds[0])):
        sample = [quantize(f[k:k + 1].reshape(t.shape), t) for f, t in zip(feeds, session.inputs, strict=True)]
        for j, value in enumerate(session.run_raw(sample)):
            outs[j].append(value.copy())
    return [np.concatenate(o, axis=0) for o in outs]


def _run(path: Path, shapes: dict[str, tuple[int, ...]], kept: Sequence[str], samples: dict[str, np.ndarray],
         reference: dict[str, np.ndarray]) -> tuple[list[TensorSpec], list[TensorSpec], dict, dict, dict]:
    session = LiteRTSession(path)
    interp = session.interpreter
    ins = map_inputs(interp, shapes, kept)
    raw = _run_raw(session, [samples[s.onnx_name].transpose(s.perm_from_onnx) for s in ins])
    values = [dequantize(r, t) for r, t in zip(raw, session.outputs, strict=True)]
    outs = map_outputs(interp, values, reference)
    by_name = {s.onnx_name: values[s.index] for s in outs}
    raw_by_name = {s.onnx_name: raw[s.index] for s in outs}
    info = {"ops": op_names(interp), "micro_issues": micro_issues(interp)}
    return ins, outs, by_name, raw_by_name, info


def _fmt(stats: dict[str, dict[str, float]], cls: str) -> str:
    worst = max(s["max_abs"] for s in stats.values())
    return f"top-1 agreement {stats[cls]['top1']:.2f}, max |Δ| {worst:.3g}"


def _within(stats: dict[str, dict[str, float]], tol: dict[str, float]) -> list[str]:
    """Names of outputs whose max |Δ| exceeds their tolerance."""
    return [name for name, s in stats.items() if s["max_abs"] > tol[name]]


def _float_tol(stats: dict[str, dict[str, float]], rel: float) -> dict[str, float]:
    return {name: rel * max(1.0, s["ref_max_abs"]) for name, s in stats.items()}


def _float_error(values: dict[str, np.ndarray], reference: dict[str, np.ndarray], cls: str) -> str:
    """Why the dense float32 model (hence onnx2tf's SavedModel) is wrong, or "" when it agrees."""
    stats = {name: compare(reference[name], values[name]) for name in values}
    bad = _within(stats, _float_tol(stats, FLOAT_ONNX_REL_TOL))
    if bad or stats[cls]["top1"] < MIN_TOP1:
        return (f"onnx2tf's SavedModel differs from ONNX (float32 {', '.join(bad) or cls}: "
                f"{_fmt(stats, cls)})")
    return ""


def describe_artifacts(onnx_path: str | os.PathLike, paths: dict[str, Path],
                       shapes: dict[str, tuple[int, ...]], kept: Sequence[str],
                       calibration: dict[str, np.ndarray] | None, class_output: str | None,
                       max_check_samples: int) -> list[TFLiteArtifact]:
    """Artifact records for written files; sparse ones are checked against their dense twins."""
    samples = _check_samples(shapes, calibration, max_check_samples)
    reference = run_onnx(onnx_path, samples)
    cls = class_output or ("logits" if "logits" in reference else list(reference)[-1])
    if cls not in reference:
        raise UserError(f"class_output {cls!r} is not an ONNX output ({sorted(reference)})")
    runs = {kind: _run(path, shapes, kept, samples, reference) for kind, path in paths.items()}
    saved_model_error = _float_error(runs["float32"][2], reference, cls)
    artifacts = []
    for kind, path in paths.items():
        ins, outs, values, _, info = runs[kind]
        vs_onnx = {name: compare(reference[name], values[name]) for name in values}
        parity = {"samples": len(next(iter(samples.values()))), "class_output": cls, "vs_onnx": vs_onnx}
        valid, note = True, f"vs onnxruntime: {_fmt(vs_onnx, cls)}"
        if saved_model_error:  # every artifact comes from the same (wrong) SavedModel
            valid, note = False, f"{saved_model_error}; {note}"
        if kind.endswith("_sparse"):
            dense_kind = kind.removesuffix("_sparse")
            dense_values = runs[dense_kind][2]
            vs_dense = {n: compare(dense_values[n], values[n]) for n in values}
            parity["vs_dense"] = vs_dense
            if kind == "int8_sparse":  # DENSIFY restores the dense twin's int8 weights: the same outputs
                tol = dict.fromkeys(vs_dense, 0.0)
            else:
                tol = _float_tol(vs_dense, FLOAT_REL_TOL)
            bad = _within(vs_dense, tol)
            if bad or vs_dense[cls]["top1"] < MIN_TOP1:
                valid = False
                note = (f"sparse encoding changed outputs ({', '.join(bad) or cls}): {_fmt(vs_dense, cls)} "
                        f"vs {dense_kind}")
            else:
                note = f"matches {dense_kind}: {_fmt(vs_dense, cls)}; {note}"
        if info["micro_issues"]:
            note += f"; TFLite Micro would reject: {', '.join(info['micro_issues'])}"
        artifacts.append(TFLiteArtifact(
            kind=kind, path=str(path), bytes=path.stat().st_size, inputs=tuple(ins), outputs=tuple(outs),
            valid=valid, note=note, ops=tuple(info["ops"]), micro_issues=tuple(info["micro_issues"]),
            parity=parity))
    return artifacts
