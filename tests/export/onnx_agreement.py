"""Test helper: an exported .tflite's agreement with its ONNX graph, measured the way verify measures it."""

from __future__ import annotations

import os

import numpy as np

from edge_gmp.export.artifacts import TFLiteArtifact
from edge_gmp.runtimes import Agreement, compare_outputs, open_session
from edge_gmp.runtimes.onnxruntime import run_onnx
from edge_gmp.verify.evaluate import run_samples


def onnx_agreement(art: TFLiteArtifact, onnx_path: str | os.PathLike,
                   samples: dict[str, np.ndarray]) -> dict[str, Agreement]:
    """Per ONNX output: the artifact in LiteRT (through its recorded I/O mapping) against onnxruntime on the
    (N, ...) ONNX-layout ``samples``."""
    reference = run_onnx(onnx_path, samples)
    feeds: list[np.ndarray] = [np.empty(0)] * len(art.inputs)
    for spec in art.inputs:
        feeds[spec.index] = samples[spec.onnx_name].transpose(spec.perm_from_onnx)
    with open_session("litert", art.path) as session:
        outs = run_samples(session, feeds)
    return {s.onnx_name: compare_outputs(reference[s.onnx_name].transpose(s.perm_from_onnx), outs[s.index])
            for s in art.outputs}
