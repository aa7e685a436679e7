"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: one kernel (see :data:`csource.CONV`), weights stored per
output channel in the format that is smallest for the tensor, channels without kept weights folded to constants."""

from __future__ import annotations

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.codegen.formats import FORMATS, EncodedRows, choose_format
from edge_gmp.codegen.graph import Graph, Op, Tensor
from edge_gmp.codegen.layers import C_TYPES, Emitter, Layer, LayerReport, lowering, require
from edge_gmp.codegen.quant import (
    activation_range,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier64,
    quantize_multiplier,
)

_INT64 = schema.TensorType.INT64


def _variant(graph: Graph, op: Op, x: Tensor, bias: Tensor | None, y: Tensor) -> str:
    require(x.dtype == y.dtype and x.dtype in ("int8", "int16"), graph, op,
            f"has {x.dtype} input and {y.dtype} output (int8 or int16 activations only)")
    if x.dtype == "int8":
        require(bias is None or bias.dtype == "int32", graph, op, "has an int8 input with a non-int32 bias")
        return "s8"
    if bias is not None:
        require(bias.dtype in ("int32", "int64"), graph, op, f"has a {bias.dtype} bias")
        return "s16" if bias.dtype == "int64" else "s16a32"
    bias_type = getattr(op.options, "quantizedBiasType", 0)
    return "s16a32" if bias_type == schema.TensorType.INT32 else "s16"


def _multipliers(op: Op, x: Tensor, w: Tensor, y: Tensor, channels: int) -> tuple[np.ndarray, np.ndarray]:
    if op.kind == "FULLY_CONNECTED" and len(w.scales) == 1:  # TFLM multiplies the two scales in float32 here
        real = float(np.float32(x.scales[0]) * np.float32(w.scales[0])) / float(y.scales[0])
        pairs = [quantize_multiplier(real)] * channels
    else:
        scales = w.scales if len(w.scales) == channels else np.repeat(w.scales[:1], channels)
        pairs = [quantize_multiplier(float(x.scales[0]) * float(s) / float(y.scales[0])) for s in scales]
    return (np.asarray([m for m, _ in pairs], dtype=np.int32), np.asarray([s for _, s in pairs], dtype=np.int8))


def _padding(padding: int, size: int, out: int, stride: int, dilation: int, kernel: int) -> int:
    effective = (kernel - 1) * dilation + 1
    return max(((out - 1) * stride + effective - size) // 2, 0)


def _check_weights(graph: Graph, op: Op, w: Tensor, bias: Tensor | None) -> None:
    require(w.data is not None, graph, op, "has non-constant weights")
    require(w.dtype == "int8", graph, op, f"has {w.dtype} weights (int8 only)")
    require(w.quantized and not np.any(w.zero_points), graph, op, "has weights without symmetric quantisation")
    require(bias is None or bias.data is not None, graph, op, "has a non-constant bias")


def _weights_fields(enc: EncodedRows, emitter: Emitter, hint: str) -> str:
    values = emitter.array(f"{hint}_values", enc.values.astype(np.int8))
    index = emitter.array(f"{hint}_index", enc.index) if enc.index.size else "0"
    counts8 = emitter.array(f"{hint}_counts", enc.counts) if enc.counts.dtype == np.uint8 and enc.counts.size else "0"
    counts16 = emitter.array(f"{hint}_counts", enc.counts) if enc.counts.dtype == np.uint16 and enc.counts.size \
        else "0"
    return f"{{{FORMATS[enc.format].code}, {enc.rows}, {enc.length}, {values}, {index}, {counts8}, {counts16}}}"


def _narrow(rows: np.ndarray, biases: np.ndarray, x: Tensor, shift: np.ndarray) -> int:
    """1 when every output's sum (bias + sum of w * (x + input offset)) of these channels, shifted left as
    requantisation does, lies in [-2^30, 2^30): a target may then double it in 32 bits."""
    info = np.iinfo(x.dtype)
    widest = max(abs(int(info.min) - x.zero_point), abs(int(info.max) - x.zero_point))
    sums = np.abs(rows.astype(np.int64)).sum(axis=1) * widest + np.abs(biases)
    return int(all(int(s) << max(int(e), 0) < 1 << 30 for s, e in zip(sums, shift, strict=True)))


def _smallest_type(values: np.ndarray) -> np.ndarray:
    """``values`` as int16 or int32 where every one fits (a bias is read once per output channel: the kernels widen
    it to the accumulator), else int64."""
    for dtype in (np.int16, np.int32):
        limits = np.iinfo(dtype)
        if values.size == 0 or (values.min() >= limits.min and values.max() <= limits.max):
            return values.astype(dtype)
    return values


def _constant_outputs(variant: str, biases: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, y: Tensor,
                      lo: int, hi: int) -> np.ndarray:
    """The output of each channel without kept weights: its bias requantised as the kernel would, so that the
    channel needs one value instead of its bias, multiplier and shift."""
    requantize = multiply_by_quantized_multiplier64 if variant == "s16" else multiply_by_quantized_multiplier
    values = [min(max(requantize(int(b), int(m), int(e)) + y.zero_point, lo), hi)
              for b, m, e in zip(biases, multiplier, shift, strict=True)]
    return np.asarray(values, dtype=np.int8 if y.dtype == "int8" else np.int16)


def _emit(graph: Graph, op: Op, emitter: Emitter, geometry: dict[str, int], rows: np.ndarray,
          x: Tensor, w: Tensor, bias: Tensor | None, y: Tensor) -> Layer:
    variant = _variant(graph, op, x, bias, y)
    channels = rows.shape[0]
    enc = choose_format(rows, emitter.formats, geometry["out_h"] * geometry["out_w"],
                        bool(geometry["depthwise"] or geometry["k_h"] * geometry["k_w"] > 1))
    multiplier, shift = _multipliers(op, x, w, y, channels)
    act = getattr(op.options, "fusedActivationFunction", 0)
    lo, hi = activation_range(act, y.scale, y.zero_point, y.dtype)
    hint = f"l{op.index}"
    live = enc.kept > 0
    biases = bias.data.reshape(-1).astype(np.int64) if bias is not None else np.zeros(channels, dtype=np.int64)
    constants = _constant_outputs(variant, biases[~live], multiplier[~live], shift[~live], y, lo, hi)
    multiplier, shift = multiplier[live], shift[live]
    bias_name, bias_bytes = "0", 0
    param_bytes = multiplier.nbytes + shift.nbytes + constants.nbytes
    if bias is not None:
        values = _smallest_type(biases[live])
        bias_name, bias_bytes = emitter.array(f"{hint}_bias", values), values.itemsize
        param_bytes += values.nbytes
    mult_name = emitter.array(f"{hint}_multiplier", multiplier)
    shift_name = emitter.array(f"{hint}_shift", shift)
    constants_name = emitter.array(f"{hint}_constants", constants) if constants.size else "0"
    narrow = _narrow(rows[live], biases[live], x, shift)
    padded = None if geometry["depthwise"] else _padded(geometry, x.itemsize)
    g = padded or geometry
    fields = (f"{g['in_h']}, {g['in_w']}, {g['in_c']}, {g['out_h']}, {g['out_w']}, {g['out_c']}, {g['k_h']}, "
              f"{g['k_w']}, {g['stride_h']}, {g['stride_w']}, {g['dil_h']}, {g['dil_w']}, {g['pad_t']}, "
              f"{g['pad_l']}, {g['depthwise']}, {g['depth_multiplier']}, {-x.zero_point}, {y.zero_point}, {lo}, "
              f"{hi}, {narrow}, {bias_bytes}, {mult_name}, {shift_name}, {bias_name}, {constants_name}, "
              f"{_weights_fields(enc, emitter, hint)}")
    params = emitter.struct(hint, "eg_conv", fields)
    positions = g["out_h"] * g["out_w"]
    report = LayerReport(op.index, op.kind, y.name, enc.format, enc.nbytes, param_bytes,
                         dense_macs=rows.size * positions, kept_macs=int(enc.kept.sum()) * positions,
                         constant_channels=int((enc.kept == 0).sum()))
    pieces = ["weights", f"format:{enc.format}", "conv_types", f"dot:{variant}"]
    if variant == "s16":
        pieces.insert(0, "mbqm64")
    if g["depthwise"]:
        plane = _plane_elements(g) * x.itemsize
        call = f"eg_dwconv_{variant}(&{params}, {{in0}}, {{out0}}, eg_k, eg_off, ({C_TYPES[x.dtype]} *){{scratch}});"
        return Layer(op, call, [x.index], [y.index], [*pieces, f"dwconv:{variant}"], report, scratch_bytes=plane,
                     row_length=rows.shape[1])
    if padded:
        call = (f"{_pad_call(emitter, hint, geometry, padded, x)}\n  eg_conv_{variant}(&{params}, "
                f"({C_TYPES[x.dtype]} *){{scratch}}, {{out0}}, eg_k, eg_off);")
        return Layer(op, call, [x.index], [y.index], [*pieces, "pad_types", "pad", f"conv:{variant}"], report,
                     scratch_bytes=g["in_h"] * g["in_w"] * g["in_c"] * x.itemsize, row_length=rows.shape[1])
    call = f"eg_conv_{variant}(&{params}, {{in0}}, {{out0}}, eg_k, eg_off);"
    return Layer(op, call, [x.index], [y.index], [*pieces, f"conv:{variant}"], report, row_length=rows.shape[1])


PAD_LIMIT_BYTES = 4096


def _pad_call(emitter: Emitter, hint: str, g: dict[str, int], padded: dict[str, int], x: Tensor) -> str:
    dims = f"{{1, {g['in_h']}, {g['in_w']}, {g['in_c']}}}, {{1, {padded['in_h']}, {padded['in_w']}, {g['in_c']}}}"
    pad = emitter.struct(f"{hint}_pad", "eg_padding", f"{dims}, {{0, {g['pad_t']}, {g['pad_l']}, 0}}, "
                         f"{x.zero_point}, {x.itemsize}")
    return f"eg_pad(&{pad}, {{in0}}, {{scratch}});"


def _padded(g: dict[str, int], itemsize: int) -> dict[str, int] | None:
    """A convolution whose windows cross the border reads a copy of its input padded with the zero point (which
    adds nothing once the input offset is folded into the bias, as TFLM skips those taps), when the copy is small:
    every window then takes the fast path."""
    rows = (g["out_h"] - 1) * g["stride_h"] + (g["k_h"] - 1) * g["dil_h"] + 1
    cols = (g["out_w"] - 1) * g["stride_w"] + (g["k_w"] - 1) * g["dil_w"] + 1
    in_h = g["pad_t"] + max(g["in_h"], rows - g["pad_t"])
    in_w = g["pad_l"] + max(g["in_w"], cols - g["pad_l"])
    if (in_h, in_w) == (g["in_h"], g["in_w"]) or in_h * in_w * g["in_c"] * itemsize > PAD_LIMIT_BYTES:
        return None
    return {**g, "in_h": in_h, "in_w": in_w, "pad_t": 0, "pad_l": 0}


def _plane_elements(g: dict[str, int]) -> int:
    """The padded plane a depthwise kernel copies each input channel into: every window's taps."""
    return ((g["out_h"] - 1) * g["stride_h"] + (g["k_h"] - 1) * g["dil_h"] + 1) * \
        ((g["out_w"] - 1) * g["stride_w"] + (g["k_w"] - 1) * g["dil_w"] + 1)


def _flatten_pointwise(g: dict[str, int]) -> dict[str, int]:
    """A 1x1, stride-1, unpadded convolution reads its positions in order: one row of them, so that the kernel's
    four-output loop covers them all whatever the height and width."""
    if (g["k_h"], g["k_w"], g["stride_h"], g["stride_w"], g["pad_t"], g["pad_l"]) != (1, 1, 1, 1, 0, 0) or \
            (g["in_h"], g["in_w"]) != (g["out_h"], g["out_w"]):
        return g
    positions = g["out_h"] * g["out_w"]
    return {**g, "in_h": 1, "in_w": positions, "out_h": 1, "out_w": positions}


def _conv_geometry(graph: Graph, op: Op, x: Tensor, y: Tensor, k_h: int, k_w: int) -> dict[str, int]:
    require(len(x.shape) == 4 and x.shape[0] == 1, graph, op, f"has input shape {list(x.shape)} (batch 1 NHWC)")
    o = op.options
    geometry = {"in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3], "out_h": y.shape[1],
                "out_w": y.shape[2], "out_c": y.shape[3], "k_h": k_h, "k_w": k_w, "stride_h": o.strideH,
                "stride_w": o.strideW, "dil_h": o.dilationHFactor, "dil_w": o.dilationWFactor,
                "depthwise": 0, "depth_multiplier": 1}
    geometry["pad_t"] = _padding(o.padding, x.shape[1], y.shape[1], o.strideH, o.dilationHFactor, k_h)
    geometry["pad_l"] = _padding(o.padding, x.shape[2], y.shape[2], o.strideW, o.dilationWFactor, k_w)
    fused = getattr(op, "fused_pad", None)
    if fused is not None:
        geometry["pad_t"], geometry["pad_l"], geometry["in_h"], geometry["in_w"] = fused
    return geometry


def _tensors(graph: Graph, op: Op) -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
    x, w = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    bias = graph.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    y = graph.tensor(op.outputs[0])
    _check_weights(graph, op, w, bias)
    return x, w, bias, y


@lowering("CONV_2D")
def lower_conv(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, w, bias, y = _tensors(graph, op)
    out_c, k_h, k_w, in_c = w.shape
    require(in_c == x.shape[-1], graph, op, "is a grouped convolution")
    geometry = _flatten_pointwise(_conv_geometry(graph, op, x, y, k_h, k_w))
    return _emit(graph, op, emitter, geometry, w.data.reshape(out_c, -1), x, w, bias, y)


@lowering("DEPTHWISE_CONV_2D")
def lower_depthwise(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, w, bias, y = _tensors(graph, op)
    _, k_h, k_w, out_c = w.shape
    geometry = _conv_geometry(graph, op, x, y, k_h, k_w)
    require(out_c % x.shape[3] == 0, graph, op, "has output channels that are not a multiple of the input's")
    geometry.update(depthwise=1, depth_multiplier=out_c // x.shape[3])
    rows = w.data.reshape(k_h * k_w, out_c).T.copy()
    return _emit(graph, op, emitter, geometry, rows, x, w, bias, y)


@lowering("FULLY_CONNECTED")
def lower_fully_connected(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, w, bias, y = _tensors(graph, op)
    require(len(w.shape) == 2, graph, op, f"has weights of shape {list(w.shape)}")
    out_c, depth = w.shape
    require(x.size % depth == 0, graph, op, f"has an input of {x.size} values, not a multiple of {depth}")
    require(getattr(op.options, "weightsFormat", 0) == 0, graph, op, "uses shuffled weights")
    batches = x.size // depth
    # the batches as one row of positions, so that the kernel's four-output loop covers them
    geometry = {"in_h": 1, "in_w": batches, "in_c": depth, "out_h": 1, "out_w": batches, "out_c": out_c,
                "k_h": 1, "k_w": 1, "stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1, "pad_t": 0, "pad_l": 0,
                "depthwise": 0, "depth_multiplier": 1}
    return _emit(graph, op, emitter, geometry, w.data.reshape(out_c, depth), x, w, bias, y)
