"""Bit-exact TFLM comparison of two .tflite files: one-shot models and streaming cells, identical and not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError
from edge_gmp.export.compression import compress_tflite
from edge_gmp.runtimes import dequantize, open_session, quantize
from edge_gmp.verify import evaluate_streaming
from edge_gmp.verify.equivalence import (
    compare_tflite,
    compare_traces,
    quantize_inputs,
    random_inputs,
    trace,
)

FASTGRNN = Path(__file__).resolve().parents[2] / "tests/fixtures/fastgrnn_step_int8.tflite"


def with_weight_changed(data: bytes) -> bytes:
    """A copy with one byte of the largest constant buffer changed."""
    model = schema.Model.GetRootAs(data, 0)
    buffers = [model.Buffers(i).DataAsNumpy().tobytes() for i in range(model.BuffersLength())
               if model.Buffers(i).DataLength()]
    largest = max(buffers, key=len)
    offset = data.find(largest) + len(largest) // 2
    changed = bytearray(data)
    changed[offset] = (changed[offset] + 100) % 256
    return bytes(changed)


@pytest.fixture(scope="module")
def fastgrnn(tmp_path_factory) -> dict[str, Path]:
    if not FASTGRNN.is_file():
        pytest.skip(f"{FASTGRNN} not present")
    root = tmp_path_factory.mktemp("equivalence")
    dense = FASTGRNN.read_bytes()
    paths = {"dense": FASTGRNN, "compressed": root / "compressed.tflite", "changed": root / "changed.tflite"}
    paths["compressed"].write_bytes(compress_tflite(dense).data)
    paths["changed"].write_bytes(with_weight_changed(dense))
    return paths


def test_one_shot_identical_and_different(models, tmp_path):
    copy, changed = tmp_path / "copy.tflite", tmp_path / "changed.tflite"
    copy.write_bytes(models.int8.read_bytes())
    changed.write_bytes(with_weight_changed(models.int8.read_bytes()))
    inputs = random_inputs(models.int8, 40, seed=3)
    same = compare_tflite(models.int8, copy, inputs)
    assert same.identical and not same.streaming and (same.samples, same.steps) == (40, 1)
    assert same.mismatch is None and same.mismatched_samples == 0 and "identical raw outputs on 40 inputs" in \
        same.describe()
    differ = compare_tflite(models.int8, changed, inputs)
    assert not differ.identical and differ.mismatched_samples > 0
    m = differ.mismatch
    assert m.step == 0 and m.max_difference > 0 and m.output == open_session("tflm", models.int8).outputs[0].name
    reference, other = trace(models.int8, inputs), trace(changed, inputs)
    first = next(i for i in range(40) if reference.outputs[0][i].tobytes() != other.outputs[0][i].tobytes())
    assert m.sample == first
    assert differ.to_dict()["identical"] is False and differ.to_dict()["mismatch"]["sample"] == first


def test_streaming_identical_and_different(fastgrnn):
    windows = random_inputs(fastgrnn["dense"], 12, seed=1, steps=40)
    assert len(windows) == 1 and windows[0].shape == (12, 40, 9) and windows[0].dtype == np.int8
    same = compare_tflite(fastgrnn["dense"], fastgrnn["compressed"], windows)
    assert same.identical and same.streaming and same.invocations == 12 * 40
    assert same.describe().startswith("identical raw outputs on 12 windows x 40 steps")
    with_buffer = compare_tflite(fastgrnn["dense"], fastgrnn["compressed"], windows,
                                 candidate_options={"alt_decompression_bytes": 4096})
    assert with_buffer.identical
    differ = compare_tflite(fastgrnn["dense"], fastgrnn["changed"], windows)
    assert not differ.identical and differ.mismatch.sample == 0
    reference, other = trace(fastgrnn["dense"], windows), trace(fastgrnn["changed"], windows)
    pairs = list(zip(reference.outputs, other.outputs, strict=True))
    steps_equal = [all(a[0, t].tobytes() == b[0, t].tobytes() for a, b in pairs) for t in range(40)]
    assert differ.mismatch.step == steps_equal.index(False)
    assert f"step {differ.mismatch.step}" in differ.describe()


def test_streaming_follows_the_evaluated_trajectory(fastgrnn):
    """h_next goes back as h exactly as evaluate_streaming's float round trip does (h and h_next differ in scale
    in this model), from h = 0 as a real value."""
    session = open_session("tflm", fastgrnn["dense"])
    h, h_next = session.inputs[0], session.outputs[1]
    assert (h.scale, h.zero_point) != (h_next.scale, h_next.zero_point)
    floats = np.random.default_rng(2).standard_normal((6, 20, 9)).astype(np.float32)
    windows = quantize_inputs(fastgrnn["dense"], [floats])
    x_t = session.inputs[1]
    assert windows[0].dtype == np.int8 and np.array_equal(windows[0], quantize(floats, x_t))
    logits = evaluate_streaming(session, dequantize(windows[0], x_t), np.zeros(6), x_index=1, h_index=0,
                                h_next_index=1, logits_index=0)[1]
    traced = trace(fastgrnn["dense"], windows).outputs[0][:, -1]
    expected = quantize(logits, session.outputs[0])
    assert np.array_equal(traced, expected.reshape(traced.shape))


def test_random_inputs_are_seeded_and_span_the_type(models):
    a, b = random_inputs(models.int8, 300, seed=7), random_inputs(models.int8, 300, seed=7)
    assert len(a) == 1 and a[0].shape == (300, 1, 128, 9) and a[0].dtype == np.int8
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], random_inputs(models.int8, 300, seed=8)[0])
    assert a[0].min() == -128 and a[0].max() == 127
    floats = random_inputs(models.float32, 50, seed=0)[0]
    assert floats.dtype == np.float32 and abs(float(floats.std()) - 1) < 0.05


def test_quantize_inputs_one_shot(models):
    raw = quantize_inputs(models.int8, [models.samples])
    t = open_session("tflm", models.int8).inputs[0]
    assert raw[0].dtype == np.int8 and np.array_equal(raw[0], quantize(models.samples, t))


def test_bad_inputs_are_user_errors(models, fastgrnn):
    int8 = random_inputs(models.int8, 4)
    cases = [(models.int8, [int8[0].astype(np.int16)], "is int8, got int16"),
             (models.int8, [int8[0], int8[0]], "takes 1 input(s), got 2"),
             (models.int8, [int8[0][:, :, :64]], "needs 1152 values per sample"),
             (fastgrnn["dense"], [np.zeros((2, 5, 7), np.int8)], "not a (x_t, h) -> (h_next, logits) cell")]
    for path, inputs, message in cases:
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            trace(path, inputs)
    floats = random_inputs(models.float32, 3)
    with pytest.raises(UserError, match="differs in type or shape"):
        compare_traces(trace(models.float32, floats), trace(models.int8, random_inputs(models.int8, 3)))
    with pytest.raises(UserError, match="at least one sample"):
        random_inputs(models.int8, 0)
