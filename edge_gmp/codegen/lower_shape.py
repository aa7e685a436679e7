"""PAD, MEAN, AVERAGE_POOL_2D, MAX_POOL_2D, CONCATENATION and RESHAPE (an alias: no code, no copy)."""

from __future__ import annotations

import numpy as np

from edge_gmp.codegen.graph import Graph, Op, Tensor
from edge_gmp.codegen.layers import Emitter, Layer, LayerReport, lowering, require, shape4
from edge_gmp.codegen.lower_conv import _padding
from edge_gmp.codegen.quant import INT_RANGES, activation_range, quantize_multiplier

_VARIANTS = {"int8": "s8", "int16": "s16"}


def _activation(graph: Graph, op: Op, t: Tensor) -> None:
    require(t.dtype in _VARIANTS, graph, op, f"has a {t.dtype} tensor (int8/int16 only)")


def _constant_ints(graph: Graph, op: Op, index: int, what: str) -> np.ndarray:
    t = graph.tensor(index)
    require(t.data is not None and t.dtype in ("int32", "int64"), graph, op, f"has a non-constant {what}")
    return np.asarray(t.data, dtype=np.int64)


def pad_amounts(graph: Graph, op: Op) -> tuple[np.ndarray, int]:
    """(before/after per dimension, pad value) of a PAD operator."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    paddings = _constant_ints(graph, op, op.inputs[1], "paddings").reshape(-1, 2)
    value = y.zero_point
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = int(np.asarray(graph.tensor(op.inputs[2]).data).reshape(-1)[0])
    require(len(paddings) == len(x.shape) and (paddings >= 0).all(), graph, op, "has invalid paddings")
    return paddings, value


@lowering("PAD", "PADV2")
def lower_pad(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _activation(graph, op, x)
    paddings, value = pad_amounts(graph, op)
    before = [0] * (4 - len(x.shape)) + [int(p) for p in paddings[:, 0]]
    dims_in, dims_out = shape4(x.shape, graph, op), shape4(y.shape, graph, op)
    fields = (f"{{{', '.join(map(str, dims_in))}}}, {{{', '.join(map(str, dims_out))}}}, "
              f"{{{', '.join(map(str, before))}}}, {value}, {x.itemsize}")
    params = emitter.struct(f"l{op.index}", "eg_padding", fields)
    return Layer(op, f"eg_pad(&{params}, {{in0}}, {{out0}});", [x.index], [y.index], ["pad_types", "pad"],
                 LayerReport(op.index, op.kind, y.name))


@lowering("MEAN")
def lower_mean(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _activation(graph, op, x)
    require(x.dtype == y.dtype, graph, op, "changes the integer type")
    dims = shape4(x.shape, graph, op)
    axes = {int(a) % len(x.shape) + 4 - len(x.shape) for a in _constant_ints(graph, op, op.inputs[1], "axis")}
    count = int(np.prod([dims[a] for a in axes])) if axes else 1
    multiplier, shift = quantize_multiplier(float(x.scale) / float(y.scale))
    if count > 0:  # TFLM folds the division by the element count into the multiplier
        n = min(count.bit_length() - 1, 32, 31 + shift)
        multiplier, shift = int((multiplier << n) // count), shift - n
    lo, hi = INT_RANGES[x.dtype]
    reduce = [int(d in axes) for d in range(4)]
    fields = (f"{{{', '.join(map(str, dims))}}}, {{{', '.join(map(str, reduce))}}}, {count}, {x.zero_point}, "
              f"{y.zero_point}, {multiplier}, {shift}, {lo}, {hi}")
    params = emitter.struct(f"l{op.index}", "eg_mean", fields)
    variant = _VARIANTS[x.dtype]
    call = f"eg_mean_{variant}(&{params}, {{in0}}, {{out0}}, (int32_t *){{scratch}}, {y.size});"
    return Layer(op, call, [x.index], [y.index], ["mean_types", f"mean:{variant}"],
                 LayerReport(op.index, op.kind, y.name), scratch_bytes=4 * y.size)


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D")
def lower_pool(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    _activation(graph, op, x)
    require(len(x.shape) == 4 and x.dtype == y.dtype, graph, op, "is not a 4-D pooling of one integer type")
    require(x.scale == y.scale and x.zero_point == y.zero_point, graph, op,
            "has different input and output quantisation")
    o = op.options
    lo, hi = activation_range(o.fusedActivationFunction, y.scale, y.zero_point, y.dtype)
    pad_t = _padding(o.padding, x.shape[1], y.shape[1], o.strideH, 1, o.filterHeight)
    pad_l = _padding(o.padding, x.shape[2], y.shape[2], o.strideW, 1, o.filterWidth)
    fields = (f"{x.shape[0]}, {x.shape[1]}, {x.shape[2]}, {x.shape[3]}, {y.shape[1]}, {y.shape[2]}, "
              f"{o.filterHeight}, {o.filterWidth}, {o.strideH}, {o.strideW}, {pad_t}, {pad_l}, {lo}, {hi}")
    params = emitter.struct(f"l{op.index}", "eg_pool", fields)
    variant = _VARIANTS[x.dtype]
    average = int(op.kind == "AVERAGE_POOL_2D")
    return Layer(op, f"eg_pool_{variant}(&{params}, {{in0}}, {{out0}}, {average});", [x.index], [y.index],
                 ["pool_types", f"pool:{variant}"], LayerReport(op.index, op.kind, y.name))


@lowering("CONCATENATION")
def lower_concatenation(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    ins = [graph.tensor(t) for t in op.inputs]
    y = graph.tensor(op.outputs[0])
    _activation(graph, op, y)
    require(getattr(op.options, "fusedActivationFunction", 0) == 0, graph, op, "has a fused activation")
    axis = op.options.axis % len(y.shape)
    outer = int(np.prod(y.shape[:axis]))
    lines, offset = [], 0
    for i, t in enumerate(ins):
        require(t.dtype == y.dtype, graph, op, "mixes integer types")
        chunk = int(np.prod(t.shape[axis:])) * t.itemsize
        lines.append(f"for (j = 0; j < {outer}; ++j) eg_copy((int8_t *){{out0}} + j * {y.size // outer * y.itemsize} "
                     f"+ {offset}, (const int8_t *){{in{i}}} + j * {chunk}, {chunk});")
        offset += chunk
    call = "{{ int32_t j; " + " ".join(lines) + " }}"
    return Layer(op, call, [t.index for t in ins], [y.index], [], LayerReport(op.index, op.kind, y.name))


@lowering("RESHAPE")
def lower_reshape(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    require(x.size == y.size and x.dtype == y.dtype, graph, op, "changes the element count or type")
    return Layer(op, "", [x.index], [y.index], [], LayerReport(op.index, op.kind, y.name))
