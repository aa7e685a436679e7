"""The int16x8 kind (int16 activations and I/O, int8 weights) and tied state quantisation, on the tiny FastGRNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from onnx_agreement import onnx_agreement

from edge_gmp.errors import UserError
from edge_gmp.export.tflite import DEFAULT_KINDS, _choose_kinds, convert_onnx_to_tflite
from edge_gmp.runtimes import dequantize, open_session, quantize
from edge_gmp.tflite.edit import tie_quantization
from edge_gmp.verify.arena import measure_arena

pytestmark = pytest.mark.slow

MICRO_INT16_OPS = {"FULLY_CONNECTED", "ADD", "SUB", "MUL", "LOGISTIC", "TANH"}


@pytest.fixture(scope="module")
def tied_tflite(fastgrnn_onnx, step_calib, tmp_path_factory) -> dict:
    arts = convert_onnx_to_tflite(fastgrnn_onnx["step"], tmp_path_factory.mktemp("int16"), step_calib,
                                  ["x_t", "h"], class_output="logits", kinds=["int8", "int16x8"],
                                  tied_states={"h": "h_next"})
    return {a.kind: a for a in arts}


def _step_windows(runtime: str, art, windows: np.ndarray) -> np.ndarray:
    """Step the file over (N, T, 9) windows feeding h_next's raw integers back into h, as a device does; the
    logits after the last step."""
    session = open_session(runtime, art.path)
    x_at, h_at = art.input("x_t").index, art.input("h").index
    h_next_at, logits_at = art.output("h_next").index, art.output("logits").index
    logits = []
    for window in windows:
        feeds = [np.empty(0)] * 2
        feeds[h_at] = quantize(np.zeros((1, 16), np.float32), session.inputs[h_at])
        for x_t in window:
            feeds[x_at] = quantize(x_t.reshape(1, 9), session.inputs[x_at])
            outs = session.run_raw(feeds)
            feeds[h_at] = outs[h_next_at].copy()
        logits.append(dequantize(outs[logits_at], session.outputs[logits_at]))
    return np.concatenate(logits)


def test_int16x8_has_int16_io_and_runs_only_micro_int16_kernels(tied_tflite):
    art = tied_tflite["int16x8"]
    for spec in (*art.inputs, *art.outputs):
        assert spec.dtype == "int16" and spec.scale > 0 and spec.zero_point == 0
    assert set(art.ops) <= MICRO_INT16_OPS and not art.micro_issues  # no QUANTIZE/DEQUANTIZE float fallback
    assert measure_arena(art.path) > 0  # TFLite Micro allocates and runs it


def test_tied_state_shares_quantisation(tied_tflite):
    for kind in ("int8", "int16x8"):
        h, h_next = tied_tflite[kind].input("h"), tied_tflite[kind].output("h_next")
        assert (h.scale, h.zero_point) == (h_next.scale, h_next.zero_point)


def test_int16x8_close_to_onnx(tied_tflite, fastgrnn_onnx, step_calib):
    first = {name: v[:200] for name, v in step_calib.items()}
    agreement = onnx_agreement(tied_tflite["int16x8"], fastgrnn_onnx["step"], first)
    logits = agreement["logits"]
    assert logits.top1 == 1.0 and logits.max_abs < 0.02 * max(1.0, logits.ref_max_abs)
    assert agreement["h_next"].max_abs < 0.01
    int8 = onnx_agreement(tied_tflite["int8"], fastgrnn_onnx["step"], first)["logits"]
    assert logits.max_abs < int8.max_abs


def test_int16x8_streams_like_float_in_litert_and_tflm(tied_tflite, fastgrnn_model, windows):
    batch = windows[:6]
    with torch.no_grad():
        reference = fastgrnn_model(torch.from_numpy(batch)).numpy()
    tolerance = 0.02 * max(1.0, float(np.max(np.abs(reference))))
    for runtime in ("litert", "tflm"):  # not bit-exact: their LOGISTIC/TANH kernels differ by a few LSB
        logits = _step_windows(runtime, tied_tflite["int16x8"], batch)
        assert np.max(np.abs(logits - reference)) < tolerance, runtime
        assert np.array_equal(logits.argmax(1), reference.argmax(1)), runtime


def test_tie_refuses_an_input_whose_scale_a_bias_depends_on(tied_tflite):
    art = tied_tflite["int16x8"]
    data = Path(art.path).read_bytes()
    h_next, h = art.output("h_next").tensor_index, art.input("h").tensor_index
    with pytest.raises(UserError, match="FULLY_CONNECTED has a bias"):
        tie_quantization(data, {h_next: h})  # h_next feeds the classifier, whose bias uses h_next's scale


def test_kind_choice():
    assert _choose_kinds(None, True) == list(DEFAULT_KINDS)
    assert _choose_kinds(None, False) == ["float32", "float32_sparse"]
    assert _choose_kinds(["int16x8"], True) == ["float32", "int16x8"]
    with pytest.raises(UserError, match="unknown TFLite kind"):
        _choose_kinds(["int4"], True)
    with pytest.raises(UserError, match="need calibration"):
        _choose_kinds(["int16x8"], False)
    with pytest.raises(UserError, match="dense twin"):
        _choose_kinds(["int8_sparse"], True)


def test_tied_states_must_name_an_input_and_an_output(fastgrnn_onnx, step_calib, tmp_path):
    with pytest.raises(UserError, match="tied_states"):
        convert_onnx_to_tflite(fastgrnn_onnx["step"], tmp_path, step_calib, kinds=["int16x8"],
                               tied_states={"h_next": "h"})
