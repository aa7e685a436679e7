"""Describe each written .tflite in ONNX terms: which ONNX tensor each input and output is, its layout and
quantisation, the ops it uses. A description only: whether a file computes the right thing is decided by the
verify stage (edge_gmp.verify.checks), which runs every artifact on the full test set."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.export.artifacts import TFLiteArtifact
from edge_gmp.export.tflite_check import map_inputs, map_outputs
from edge_gmp.runtimes import dequantize, quantize
from edge_gmp.runtimes.litert import LiteRTSession, micro_issues, op_names
from edge_gmp.runtimes.onnxruntime import run_onnx


def _probe_sample(shapes: dict[str, tuple[int, ...]],
                  calibration: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """One input sample (the first calibration sample, else seeded random) that tells outputs of equal shape
    apart by their values."""
    if calibration is not None:
        return {k: v[:1] for k, v in calibration.items()}
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal((1, *s[1:])).astype(np.float32) for k, s in shapes.items()}


def _describe(kind: str, path: Path, shapes: dict[str, tuple[int, ...]], kept: Sequence[str],
              sample: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> TFLiteArtifact:
    session = LiteRTSession(path)
    interp = session.interpreter
    ins = map_inputs(interp, shapes, kept)
    feeds = [quantize(sample[s.onnx_name].transpose(s.perm_from_onnx), session.inputs[s.index]) for s in ins]
    values = [dequantize(v, t) for v, t in zip(session.run_raw(feeds), session.outputs, strict=True)]
    outs = map_outputs(interp, values, reference)
    return TFLiteArtifact(kind=kind, path=str(path), bytes=path.stat().st_size, inputs=tuple(ins),
                          outputs=tuple(outs), ops=tuple(op_names(interp)), micro_issues=tuple(micro_issues(interp)))


def describe_artifacts(onnx_path: str | os.PathLike, paths: dict[str, Path],
                       shapes: dict[str, tuple[int, ...]], kept: Sequence[str],
                       calibration: dict[str, np.ndarray] | None, class_output: str | None,
                       max_check_samples: int = 1) -> list[TFLiteArtifact]:
    """The records of the written files ``paths`` (by kind): I/O mapping (inputs by signature name, outputs by
    shape, equal shapes told apart on one sample), ops and the ops TFLite Micro would reject.
    ``max_check_samples`` is accepted for the caller's signature and unused."""
    sample = _probe_sample(shapes, calibration)
    reference = run_onnx(onnx_path, sample)
    if class_output is not None and class_output not in reference:
        raise UserError(f"class_output {class_output!r} is not an ONNX output ({sorted(reference)})")
    return [_describe(kind, path, shapes, kept, sample, reference) for kind, path in paths.items()]
