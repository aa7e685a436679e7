"""ADD, SUB, MUL (broadcasting up to 4-D), LOGISTIC and TANH (int16: TFLite's interpolated table; int8: a
256-entry table holding TFLM's own results for every input), and QUANTIZE between integer types."""

from __future__ import annotations

import math

import numpy as np

from edge_gmp.codegen.graph import Graph, Op, Tensor
from edge_gmp.codegen.layers import Emitter, Layer, LayerReport, lowering, require, shape4
from edge_gmp.codegen.quant import activation_range, checked_log2, quantize_multiplier

_VARIANTS = {"int8": "s8", "int16": "s16"}


def _io(graph: Graph, op: Op, count: int, same_type: bool = True) -> tuple[list[Tensor], Tensor]:
    ins = [graph.tensor(t) for t in op.inputs[:count]]
    y = graph.tensor(op.outputs[0])
    for t in [*ins, y]:
        require(t.dtype in _VARIANTS and t.quantized, graph, op,
                f"has a {t.dtype}{'' if t.quantized else ' unquantised'} tensor (quantised int8/int16 only)")
    require(not same_type or all(t.dtype == y.dtype for t in ins), graph, op, "mixes integer types")
    return ins, y


def _strides(shape: list[int], out: list[int]) -> list[int]:
    strides, step = [0] * 4, 1
    for d in range(3, -1, -1):
        strides[d] = step if shape[d] == out[d] and out[d] > 1 else 0
        step *= shape[d]
    return strides


def _broadcast(graph: Graph, op: Op, a: Tensor, b: Tensor, y: Tensor) -> str:
    out = shape4(y.shape, graph, op)
    sa, sb = shape4(a.shape, graph, op), shape4(b.shape, graph, op)
    for s in (sa, sb):
        require(all(d in (1, o) for d, o in zip(s, out, strict=True)), graph, op, "has shapes that do not broadcast")
    fmt = ", ".join
    return (f"{{{{{fmt(map(str, out))}}}, {{{fmt(map(str, _strides(sa, out)))}}}, "
            f"{{{fmt(map(str, _strides(sb, out)))}}}}}")


def _report(op: Op, y: Tensor) -> LayerReport:
    return LayerReport(op.index, op.kind, y.name)


@lowering("ADD", "SUB")
def lower_addsub(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    (a, b), y = _io(graph, op, 2)
    left = 15 if y.dtype == "int16" else 20
    twice = 2 * float(max(np.float32(a.scale), np.float32(b.scale)))  # double precision for ADD and SUB alike
    real = (float(a.scale) / twice, float(b.scale) / twice, twice / ((1 << left) * float(y.scale)))
    (m1, s1), (m2, s2), (mo, so) = (quantize_multiplier(r) for r in real)
    act = getattr(op.options, "fusedActivationFunction", 0)
    lo, hi = activation_range(act, y.scale, y.zero_point, y.dtype)
    fields = (f"{_broadcast(graph, op, a, b, y)}, {int(op.kind == 'SUB')}, {left}, {-a.zero_point}, "
              f"{-b.zero_point}, {y.zero_point}, {m1}, {m2}, {mo}, {s1}, {s2}, {so}, {lo}, {hi}")
    params = emitter.struct(f"l{op.index}", "eg_addsub", fields)
    variant = _VARIANTS[y.dtype]
    return Layer(op, f"eg_addsub_{variant}(&{params}, {{in0}}, {{in1}}, {{out0}});", [a.index, b.index],
                 [y.index], ["broadcast_types", "addsub_types", f"addsub:{variant}"], _report(op, y))


@lowering("MUL")
def lower_mul(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    (a, b), y = _io(graph, op, 2)
    if y.dtype == "int16":
        require(a.zero_point == b.zero_point == y.zero_point == 0, graph, op, "has int16 zero points other than 0")
    multiplier, shift = quantize_multiplier(float(a.scale) * float(b.scale) / float(y.scale))
    act = getattr(op.options, "fusedActivationFunction", 0)
    lo, hi = activation_range(act, y.scale, y.zero_point, y.dtype)
    fields = (f"{_broadcast(graph, op, a, b, y)}, {-a.zero_point}, {-b.zero_point}, {y.zero_point}, {multiplier}, "
              f"{shift}, {lo}, {hi}")
    params = emitter.struct(f"l{op.index}", "eg_mul", fields)
    variant = _VARIANTS[y.dtype]
    return Layer(op, f"eg_mul_{variant}(&{params}, {{in0}}, {{in1}}, {{out0}});", [a.index, b.index], [y.index],
                 ["broadcast_types", "mul_types", f"mul:{variant}"], _report(op, y))


def _int16_table_params(graph: Graph, op: Op, x: Tensor, y: Tensor) -> tuple[int, int]:
    """LOGISTIC/TANH int16 Prepare: a power-of-two input scale uses a plain shift, else a multiplier to 1/(3*4096)."""
    require(x.zero_point == 0 and y.zero_point == 0, graph, op, "has int16 zero points other than 0")
    out_log2, _ = checked_log2(y.scale)
    require(checked_log2(y.scale)[1] and out_log2 == -15, graph, op, "has an output scale other than 2^-15")
    in_log2, pot = checked_log2(x.scale)
    left_shift = 12 + in_log2
    pot = pot and (left_shift == 0 or (op.kind == "TANH" and left_shift == 1))
    if pot:
        return 0, left_shift
    multiplier, left_shift = float(x.scale) * 4096.0 * 3.0, 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    return int(multiplier), left_shift


def _int8_table(graph: Graph, op: Op, x: Tensor, y: Tensor) -> np.ndarray:
    from edge_gmp.codegen.reference import unary_table

    return unary_table(op.kind, x, y)


@lowering("LOGISTIC", "TANH")
def lower_logistic_tanh(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    (x,), y = _io(graph, op, 1)
    require(x.shape == y.shape, graph, op, "changes the shape")
    fn = "logistic" if op.kind == "LOGISTIC" else "tanh"
    if y.dtype == "int16":
        multiplier, left_shift = _int16_table_params(graph, op, x, y)
        call = f"eg_{fn}_s16({multiplier}, {left_shift}, {y.size}, {{in0}}, {{out0}});"
        return Layer(op, call, [x.index], [y.index], ["sigmoid_table", f"{fn}16"], _report(op, y))
    table = emitter.array(f"l{op.index}_table", _int8_table(graph, op, x, y))
    report = _report(op, y)
    report.param_bytes = 256
    return Layer(op, f"eg_lut_s8({table}, {y.size}, {{in0}}, {{out0}});", [x.index], [y.index], ["lut8"], report)


def _float_edge(graph: Graph, op: Op, x: Tensor, y: Tensor) -> Layer:
    """QUANTIZE from or DEQUANTIZE to float32 (a converted model's float interface)."""
    q = y if op.kind == "QUANTIZE" else x
    require(q.dtype in _VARIANTS and q.quantized and len(q.scales) == 1, graph, op,
            f"has a {q.dtype} side without per-tensor quantisation")
    variant = _VARIANTS[q.dtype]
    if op.kind == "QUANTIZE":
        call = f"eg_quantize_f32_{variant}({y.size}, {{in0}}, {{out0}}, {float(q.scale)!r}f, {q.zero_point});"
    else:
        call = f"eg_dequantize_{variant}_f32({y.size}, {{in0}}, {{out0}}, {float(q.scale)!r}, {q.zero_point});"
    return Layer(op, call, [x.index], [y.index], [f"float_io:{variant}"], _report(op, y))


@lowering("DEQUANTIZE")
def lower_dequantize(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    require(y.dtype == "float32", graph, op, f"dequantizes to {y.dtype} (float32 only)")
    return _float_edge(graph, op, x, y)


@lowering("QUANTIZE")
def lower_quantize(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    if x.dtype == "float32":
        return _float_edge(graph, op, x, y)
    (x,), y = _io(graph, op, 1, same_type=False)
    multiplier, shift = quantize_multiplier(float(x.scale) / float(y.scale))
    src, dst = _VARIANTS[x.dtype], _VARIANTS[y.dtype]
    call = (f"eg_requantize_{src}_{dst}({y.size}, {{in0}}, {{out0}}, {x.zero_point}, {y.zero_point}, "
            f"{multiplier}, {shift});")
    return Layer(op, call, [x.index], [y.index], [f"requantize:{src}:{dst}"], _report(op, y))


def _softmax_scaling(beta: float, scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling with 5 integer bits, and the smallest difference to the maximum that counts."""
    real = min(float(np.float32(beta)) * float(np.float32(scale)) * (1 << 26), (1 << 31) - 1.0)
    multiplier, left_shift = quantize_multiplier(real)
    radius = math.floor(1.0 * 31 * (1 << 26) / (1 << left_shift))
    return multiplier, left_shift, -radius


@lowering("SOFTMAX")
def lower_softmax(graph: Graph, op: Op, emitter: Emitter) -> Layer:
    (x,), y = _io(graph, op, 1, same_type=False)
    require(x.dtype == "int8", graph, op, "has an int16 input (int8 SOFTMAX only)")
    expected = {"int8": (1 / 256, -128), "int16": (1 / 65536, -32768)}[y.dtype]
    require(y.zero_point == expected[1] and abs(y.scale - expected[0]) <= 0.001 * expected[0], graph, op,
            f"has an output quantisation TFLM refuses (scale {expected[0]}, zero point {expected[1]} expected)")
    multiplier, left_shift, diff_min = _softmax_scaling(op.options.beta, x.scale)
    require(left_shift >= 0, graph, op, "has an input scale too small for the fixed-point softmax")
    depth = x.shape[-1] if x.shape else 1
    variant = _VARIANTS[y.dtype]
    call = (f"eg_softmax_s8_{variant}({x.size // depth}, {depth}, {multiplier}, {left_shift}, {diff_min}, {{in0}}, "
            f"{{out0}});")
    return Layer(op, call, [x.index], [y.index], ["softmax_fixed", f"softmax:{variant}"], _report(op, y))
