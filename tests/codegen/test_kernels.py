"""Every kernel against TFLite Micro on random tensors: odd shapes, strides, padding, dilation, per-channel
scales, zero points, all-zero output channels, 0 % and 100 % kept weights, int8 and int16 activations."""

from __future__ import annotations

import re

import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.codegen.reference import Spec
from tests.codegen.helpers import assert_matches_tflm, random_int, weights

SAME, VALID = 0, 1
RELU, RELU6 = 1, 3


def _conv_options(stride: int, padding: int, dilation: int, act: int, depth_multiplier: int = 0):
    o = schema.DepthwiseConv2DOptionsT() if depth_multiplier else schema.Conv2DOptionsT()
    o.padding, o.strideH, o.strideW = padding, stride, stride
    o.dilationHFactor = o.dilationWFactor = dilation
    o.fusedActivationFunction = act
    if depth_multiplier:
        o.depthMultiplier = depth_multiplier
    return o


def _out_size(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    effective = (k - 1) * dilation + 1
    return (size + stride - 1) // stride if padding == SAME else (size - effective + stride) // stride


@pytest.mark.parametrize("case", [
    # h, w, cin, cout, k, stride, padding, dilation, keep, zero_rows, act, per_channel
    (7, 5, 3, 6, 3, 1, SAME, 1, 1.0, 0, 0, True),
    (9, 9, 4, 5, 3, 2, SAME, 1, 0.3, 2, RELU, True),
    (8, 6, 5, 7, 3, 2, VALID, 1, 0.1, 1, RELU6, True),
    (10, 7, 2, 4, 3, 1, SAME, 2, 0.5, 0, 0, False),
    (6, 6, 16, 9, 1, 1, VALID, 1, 0.05, 3, RELU, True),
    (5, 4, 3, 4, 2, 1, SAME, 1, 0.0, 0, 0, True),
    (4, 4, 40, 3, 1, 1, SAME, 1, 0.99, 0, 0, True),
])
def test_conv2d_int8(tmp_path, case):
    h, w, cin, cout, k, stride, padding, dilation, keep, zero_rows, act, per_channel = case
    rng = np.random.default_rng(hash(case) % 2**32)
    oh, ow = _out_size(h, k, stride, padding, dilation), _out_size(w, k, stride, padding, dilation)
    scales = list(rng.uniform(0.002, 0.02, cout)) if per_channel else [0.01]
    specs = [Spec((1, h, w, cin), "int8", [0.05], [int(rng.integers(-20, 20))]),
             Spec((cout, k, k, cin), "int8", scales, [0] * len(scales), 0, weights(rng, (cout, k, k, cin), keep,
                                                                                  zero_rows)),
             Spec((cout,), "int32", [0.05 * s for s in scales] if per_channel else [0.0005], None, 0,
                  rng.integers(-3000, 3000, cout)),
             Spec((1, oh, ow, cout), "int8", [0.08], [int(rng.integers(-10, 10))])]
    ops = [("CONV_2D", [0, 1, 2], [3], _conv_options(stride, padding, dilation, act))]
    for _ in range(3):
        assert_matches_tflm(tmp_path, ops, specs, [0], [3], [random_int(rng, (1, h, w, cin), "int8")])


@pytest.mark.parametrize("bias", ["int64", "int32"])
def test_conv2d_int16_with_a_border(tmp_path, bias):
    """int16 activations through the zero-point padded copy (a border-crossing convolution, small input)."""
    rng = np.random.default_rng(12)
    h, w, cin, cout, k = 7, 6, 3, 5, 3
    scales = list(rng.uniform(0.002, 0.02, cout))
    specs = [Spec((1, h, w, cin), "int16", [3e-4]),
             Spec((cout, k, k, cin), "int8", scales, [0] * cout, 0, weights(rng, (cout, k, k, cin), 0.6, 1)),
             Spec((cout,), bias, [3e-4 * s for s in scales], None, 0, rng.integers(-5000, 5000, cout)),
             Spec((1, h, w, cout), "int16", [5e-4])]
    options = _conv_options(1, SAME, 1, RELU)
    options.quantizedBiasType = schema.TensorType.INT32 if bias == "int32" else schema.TensorType.INT64
    ops = [("CONV_2D", [0, 1, 2], [3], options)]
    session = assert_matches_tflm(tmp_path, ops, specs, [0], [3], [random_int(rng, (1, h, w, cin), "int16")])
    assert "eg_pad(" in session.library.source


@pytest.mark.parametrize("case", [
    # h, w, channels, multiplier, k, stride, padding, keep, zero_rows, act
    (7, 5, 3, 1, 3, 1, SAME, 1.0, 0, RELU),
    (9, 8, 4, 2, 3, 2, SAME, 0.4, 2, 0),
    (6, 7, 5, 1, 3, 2, VALID, 0.2, 1, RELU6),
    (5, 5, 8, 1, 5, 1, SAME, 0.0, 0, 0),
])
def test_depthwise_int8(tmp_path, case):
    h, w, c, m, k, stride, padding, keep, zero_rows, act = case
    rng = np.random.default_rng(hash(case) % 2**32)
    cout = c * m
    oh, ow = _out_size(h, k, stride, padding, 1), _out_size(w, k, stride, padding, 1)
    filt = weights(rng, (cout, k, k), keep, zero_rows).transpose(1, 2, 0).reshape(1, k, k, cout)
    scales = list(rng.uniform(0.002, 0.02, cout))
    specs = [Spec((1, h, w, c), "int8", [0.05], [5]), Spec((1, k, k, cout), "int8", scales, [0] * cout, 3, filt),
             Spec((cout,), "int32", [0.05 * s for s in scales], None, 0, rng.integers(-3000, 3000, cout)),
             Spec((1, oh, ow, cout), "int8", [0.07], [-3])]
    ops = [("DEPTHWISE_CONV_2D", [0, 1, 2], [3], _conv_options(stride, padding, 1, act, m))]
    assert_matches_tflm(tmp_path, ops, specs, [0], [3], [random_int(rng, (1, h, w, c), "int8")])


def _fc_options(act: int = 0, bias_type: int = 0):
    o = schema.FullyConnectedOptionsT()
    o.fusedActivationFunction, o.quantizedBiasType = act, bias_type
    return o


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("keep", [1.0, 0.2, 0.0])
def test_fully_connected_int8(tmp_path, per_channel, keep):
    rng = np.random.default_rng(7)
    depth, out = 37, 11
    scales = list(rng.uniform(0.001, 0.01, out)) if per_channel else [0.004]
    specs = [Spec((3, depth), "int8", [0.03], [-7]), Spec((out, depth), "int8", scales, [0] * len(scales), 0,
                                                         weights(rng, (out, depth), keep, 2)),
             Spec((out,), "int32", [0.03 * s for s in scales], None, 0, rng.integers(-500, 500, out)),
             Spec((3, out), "int8", [0.05], [4])]
    ops = [("FULLY_CONNECTED", [0, 1, 2], [3], _fc_options(RELU))]
    assert_matches_tflm(tmp_path, ops, specs, [0], [3], [random_int(rng, (3, depth), "int8")])


@pytest.mark.parametrize("bias", ["int64", "int32", None])
def test_fully_connected_int16(tmp_path, bias):
    rng = np.random.default_rng(3)
    depth, out = 64, 9
    scales = list(rng.uniform(0.001, 0.01, out))
    specs = [Spec((1, depth), "int16", [3e-4]), Spec((out, depth), "int8", scales, [0] * out, 0,
                                                     weights(rng, (out, depth), 0.3, 1)),
             Spec((out,), bias or "int64", [3e-4 * s for s in scales], None, 0, rng.integers(-5000, 5000, out)),
             Spec((1, out), "int16", [5e-4])]
    bias_type = {"int32": schema.TensorType.INT32}.get(bias, schema.TensorType.INT64)
    ops = [("FULLY_CONNECTED", [0, 1, 2 if bias else -1], [3], _fc_options(0, bias_type))]
    assert_matches_tflm(tmp_path, ops, specs, [0], [3], [random_int(rng, (1, depth), "int16")])


@pytest.mark.parametrize("kind", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("shapes", [((2, 3, 5), (2, 3, 5)), ((2, 3, 5), (1, 1, 5)), ((4, 1), (1, 6)), ((7,), ())])
def test_binary(tmp_path, kind, dtype, shapes):
    rng = np.random.default_rng(11)
    a, b = shapes
    out = tuple(np.broadcast_shapes(a, b))
    zp = (lambda: int(rng.integers(-30, 30))) if dtype == "int8" else (lambda: 0)
    specs = [Spec(a, dtype, [float(rng.uniform(1e-4, 0.05))], [zp()]),
             Spec(b, dtype, [float(rng.uniform(1e-4, 0.05))], [zp()], 0, random_int(rng, b, dtype)),
             Spec(out, dtype, [float(rng.uniform(1e-4, 0.05))], [zp()])]
    options = getattr(schema, f"{kind.capitalize()}OptionsT")()
    options.fusedActivationFunction = RELU if dtype == "int8" else 0
    assert_matches_tflm(tmp_path, [(kind, [0, 1], [2], options)], specs, [0], [2], [random_int(rng, a, dtype)])


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("dtype,scale", [("int8", 0.05), ("int16", 2.0**-12), ("int16", 3e-4), ("int16", 2.0**-11)])
def test_logistic_tanh(tmp_path, kind, dtype, scale):
    n = 256 if dtype == "int8" else 4096
    values = (np.arange(-128, 128) if dtype == "int8" else np.arange(-32768, 32768, 16)).astype(dtype)
    if dtype == "int8":
        out_q = ([1 / 256], [-128]) if kind == "LOGISTIC" else ([1 / 128], [0])
    else:
        out_q = ([2.0**-15], [0])
    specs = [Spec((1, n), dtype, [scale], [3 if dtype == "int8" else 0]), Spec((1, n), dtype, *out_q)]
    assert_matches_tflm(tmp_path, [(kind, [0], [1], None)], specs, [0], [1], [values.reshape(1, n)])


@pytest.mark.parametrize("axes,keep", [([1, 2], True), ([1, 2], False), ([3], True), ([0, 1, 2, 3], False)])
def test_mean(tmp_path, axes, keep):
    rng = np.random.default_rng(5)
    shape = (1, 3, 5, 7)
    out = tuple(1 if d in axes else s for d, s in enumerate(shape)) if keep else \
        tuple(s for d, s in enumerate(shape) if d not in axes)
    options = schema.ReducerOptionsT()
    options.keepDims = keep
    specs = [Spec(shape, "int8", [0.04], [-9]), Spec((len(axes),), "int32", data=np.array(axes)),
             Spec(out, "int8", [0.02], [6])]
    assert_matches_tflm(tmp_path, [("MEAN", [0, 1], [2], options)], specs, [0], [2],
                        [random_int(rng, shape, "int8")])


@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("k,stride,padding", [(2, 2, VALID), (3, 2, SAME), (3, 1, SAME)])
def test_pooling(tmp_path, kind, k, stride, padding):
    rng = np.random.default_rng(9)
    h, w, c = 7, 6, 3
    o = schema.Pool2DOptionsT()
    o.padding, o.strideH, o.strideW, o.filterHeight, o.filterWidth = padding, stride, stride, k, k
    specs = [Spec((1, h, w, c), "int8", [0.1], [2]),
             Spec((1, _out_size(h, k, stride, padding, 1), _out_size(w, k, stride, padding, 1), c), "int8", [0.1],
                  [2])]
    assert_matches_tflm(tmp_path, [(kind, [0], [1], o)], specs, [0], [1], [random_int(rng, (1, h, w, c), "int8")])


def test_pad_concatenation_reshape_quantize(tmp_path):
    rng = np.random.default_rng(13)
    paddings = np.array([[0, 0], [1, 2], [0, 1], [2, 0]], dtype=np.int32)
    concat = schema.ConcatenationOptionsT()
    concat.axis = 3
    specs = [Spec((1, 3, 4, 2), "int8", [0.1], [3]), Spec((4, 2), "int32", data=paddings),
             Spec((1, 6, 5, 4), "int8", [0.1], [3]), Spec((1, 6, 5, 3), "int8", [0.1], [3]),
             Spec((1, 6, 5, 7), "int8", [0.1], [3]), Spec((2,), "int32", data=np.array([1, 210])),
             Spec((1, 210), "int8", [0.1], [3]), Spec((1, 210), "int16", [0.003], [0])]
    ops = [("PAD", [0, 1], [2], None), ("CONCATENATION", [2, 3], [4], concat), ("RESHAPE", [4, 5], [6], None),
           ("QUANTIZE", [6], [7], None)]
    feeds = [random_int(rng, (1, 3, 4, 2), "int8"), random_int(rng, (1, 6, 5, 3), "int8")]
    assert_matches_tflm(tmp_path, ops, specs, [0, 3], [7], feeds)


def test_pad_folded_into_depthwise(tmp_path):
    """PAD then a VALID stride-2 depthwise (what the converter makes of PyTorch's padding=1): the padded
    tensor is never stored, and the outputs stay TFLM's."""
    rng = np.random.default_rng(17)
    c = 6
    specs = [Spec((1, 8, 8, c), "int8", [0.05], [-4]), Spec((4, 2), "int32", data=np.array(
        [[0, 0], [1, 1], [1, 1], [0, 0]])), Spec((1, 10, 10, c), "int8", [0.05], [-4]),
        Spec((1, 3, 3, c), "int8", list(rng.uniform(0.01, 0.02, c)), [0] * c, 3, weights(rng, (1, 3, 3, c), 0.6)),
        Spec((c,), "int32", None, None, 0, rng.integers(-100, 100, c)), Spec((1, 4, 4, c), "int8", [0.05], [1])]
    ops = [("PAD", [0, 1], [2], None), ("DEPTHWISE_CONV_2D", [2, 3, 4], [5], _conv_options(2, VALID, 1, RELU, 1))]
    session = assert_matches_tflm(tmp_path, ops, specs, [0], [5], [random_int(rng, (1, 8, 8, c), "int8")])
    kinds = [layer["op"] for layer in session.library.report["layers"]]
    assert kinds == ["DEPTHWISE_CONV_2D"]
    # the output and one channel's padded plane (9 x 9 taps, aligned to 4): the padded tensor is never stored
    assert session.library.report["arena_bytes"] == 4 * 4 * c + 84


def test_sub_int16_rescales_in_double_precision(tmp_path):
    """FastGRNN's 1 - z: these scales give different multipliers in float32 and in double; TFLM uses double."""
    one = 3.0518509447574615e-05
    specs = [Spec((), "int16", [one], [0], 0, np.array(32767, np.int16)), Spec((1, 4096), "int16", [2.0**-15]),
             Spec((1, 4096), "int16", [2.9078310035401955e-05])]
    feed = np.arange(-32768, 32768, 16, dtype=np.int16).reshape(1, 4096)
    assert_matches_tflm(tmp_path, [("SUB", [0, 1], [2], schema.SubOptionsT())], specs, [1], [2], [feed])


@pytest.mark.parametrize("out_dtype", ["int8", "int16"])
@pytest.mark.parametrize("scale,beta", [(0.1, 1.0), (0.02, 1.0), (0.5, 1.0), (0.05, 0.7), (0.003, 1.0)])
def test_softmax(tmp_path, out_dtype, scale, beta):
    rng = np.random.default_rng(19)
    options = schema.SoftmaxOptionsT()
    options.beta = beta
    out_q = ([1 / 256], [-128]) if out_dtype == "int8" else ([1 / 65536], [-32768])
    specs = [Spec((300, 10), "int8", [scale], [-5]), Spec((300, 10), out_dtype, *out_q)]
    feed = random_int(rng, (300, 10), "int8") // rng.integers(1, 9, (300, 1)).astype(np.int8)
    feed[0] = 127  # a tie for the maximum
    feed[1] = np.arange(-128, 127, 26)[:10]
    assert_matches_tflm(tmp_path, [("SOFTMAX", [0], [1], options)], specs, [0], [1], [feed])


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_float_interface_quantize_and_dequantize(tmp_path, dtype):
    """A converter's float interface: QUANTIZE from float32 in, DEQUANTIZE to float32 out; halves and values
    beyond the integer type's range included (not beyond int32's after scaling: TFLM's float-to-int conversion is
    undefined there, INT32_MIN on x86, saturation on Arm; the generated C saturates)."""
    rng = np.random.default_rng(23)
    zp = 3 if dtype == "int8" else 0
    scale = 0.05 if dtype == "int8" else 0.0005
    specs = [Spec((1, 64), "float32"), Spec((1, 64), dtype, [scale], [zp]), Spec((1, 64), dtype, [scale * 1.7], [zp]),
             Spec((1, 64), "float32")]
    ops = [("QUANTIZE", [0], [1], None), ("QUANTIZE", [1], [2], None), ("DEQUANTIZE", [2], [3], None)]
    x = (rng.standard_normal((1, 64)) * 40 * scale * 100).astype(np.float32)
    x[0, :8] = (np.arange(-4, 4) + 0.5) * scale  # exact halves
    x[0, 8] = 1e6 * scale
    assert_matches_tflm(tmp_path, ops, specs, [0], [3], [x])


@pytest.mark.parametrize("dtype,bias", [("int8", "int32"), ("int16", "int64"), ("int16", "int32")])
def test_channels_without_weights_store_one_output_value(tmp_path, dtype, bias):
    """Channels whose weights are all pruned, between kept ones, with biases large enough to saturate: each
    stores its requantised bias only (no multiplier, shift or bias), and the outputs still match TFLM."""
    rng = np.random.default_rng(5)
    h, w, cin, cout, k = 5, 5, 4, 8, 3
    filt = weights(rng, (cout, k, k, cin), 0.5)
    dead = [1, 4, 5, 7]
    filt[dead] = 0
    scales = list(rng.uniform(0.002, 0.02, cout))
    x_scale = 0.05 if dtype == "int8" else 3e-4
    biases = rng.integers(-3000, 3000, cout)
    biases[[4, 7]] = [2_000_000, -2_000_000]
    specs = [Spec((1, h, w, cin), dtype, [x_scale], [3] if dtype == "int8" else None),
             Spec((cout, k, k, cin), "int8", scales, [0] * cout, 0, filt),
             Spec((cout,), bias, [x_scale * s for s in scales], None, 0, biases),
             Spec((1, h, w, cout), dtype, [0.08 if dtype == "int8" else 5e-4], [-4] if dtype == "int8" else None)]
    options = _conv_options(1, SAME, 1, 0)
    if dtype == "int16":
        options.quantizedBiasType = schema.TensorType.INT32 if bias == "int32" else schema.TensorType.INT64
    ops = [("CONV_2D", [0, 1, 2], [3], options)]
    session = assert_matches_tflm(tmp_path, ops, specs, [0], [3], [random_int(rng, (1, h, w, cin), dtype)])
    layer = session.library.report["layers"][0]
    assert layer["constant_channels"] == len(dead)
    live = cout - len(dead)  # the live biases fit int16 (the large ones belong to dead channels)
    assert layer["param_bytes"] == live * (4 + 1 + 2) + len(dead) * np.dtype(dtype).itemsize
    assert re.search(rf"int32_t \w*multiplier\[{live}\]", session.library.source)
