"""Operator contracts of the .tflite structural check (:mod:`edge_gmp.tflite.check`).

The kernels trust the converter's shapes: an output declared larger than its inputs make it, or a stride of 0,
makes TFLite Micro read or write out of bounds. :func:`_check_operator_shapes` checks, for the common
microcontroller ops, what the kernels assume without checking: input/output counts, output shapes (element-wise
broadcast, fully connected, conv/depthwise/pool windows, pad, reduce, reshape, concat, pack/split), equal data
types, int8 operands quantised, ADD/SUB and SOFTMAX rescale factors the kernels can represent, and TFLM_DECODE's
(encoded, ancillary) pairs covering their outputs (each decode type's codec checks its own layout). Other ops get
only the structural checks of :mod:`edge_gmp.tflite.check`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.tflite.decode import DECODE_OP, HEADER_BYTES, Target, codec_for
from edge_gmp.tflite.graph import BITS, TYPE_NAMES, Invalid, SubgraphView, T, ints

_UNARY = ("LOGISTIC TANH RELU RELU6 RELU_N1_TO_1 RELU_0_TO_1 HARD_SWISH LEAKY_RELU ELU GELU QUANTIZE DEQUANTIZE ABS "
          "NEG EXP LOG SQRT RSQRT SQUARE SIN COS FLOOR CEIL ROUND SIGN LOGICAL_NOT SOFTMAX LOG_SOFTMAX "
          "L2_NORMALIZATION CAST ZEROS_LIKE").split()
_BINARY = ("ADD SUB MUL DIV MAXIMUM MINIMUM SQUARED_DIFFERENCE FLOOR_DIV FLOOR_MOD POW LESS LESS_EQUAL GREATER "
           "GREATER_EQUAL EQUAL NOT_EQUAL LOGICAL_AND LOGICAL_OR").split()
_REDUCE = "MEAN SUM REDUCE_MAX REDUCE_MIN REDUCE_PROD REDUCE_ANY REDUCE_ALL".split()


@dataclass
class _Op:
    """One operator as the shape rules see it; ``where`` names it in messages."""

    graph: SubgraphView
    name: str
    where: str
    inputs: list[int]
    outputs: list[int]
    options: Any

    def shape_in(self, k: int) -> list[int] | None:
        return self.graph.shape(self.inputs[k]) if k < len(self.inputs) else None

    def shape_out(self) -> list[int] | None:
        return self.graph.shape(self.outputs[0])

    def fail(self, what: str) -> NoReturn:
        raise Invalid(f"{self.where}: {what}")

    def options_of(self, kind: type) -> Any:
        if not isinstance(self.options, kind):
            self.fail(f"needs {kind.__name__.removesuffix('T')}, has {type(self.options).__name__.removesuffix('T')}")
        return self.options


def _broadcast(a: list[int], b: list[int]) -> list[int] | None:
    rank = max(len(a), len(b))
    a, b = [1] * (rank - len(a)) + a, [1] * (rank - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b, strict=True)):
        return None
    return [y if x == 1 else x for x, y in zip(a, b, strict=True)]


def _same_shape(op: _Op) -> None:
    x, out = op.shape_in(0), op.shape_out()
    if x is not None and out is not None and x != out:
        op.fail(f"output shape {out} differs from input shape {x}")


def _same_count(op: _Op) -> None:
    x, out = op.shape_in(0), op.shape_out()
    if x is not None and out is not None and math.prod(x) != math.prod(out):
        op.fail(f"output shape {out} has a different element count from input shape {x}")


def _elementwise(op: _Op) -> None:
    a, b, out = op.shape_in(0), op.shape_in(1), op.shape_out()
    if a is None or b is None or out is None:
        return
    expected = _broadcast(a, b)
    if expected is None:
        op.fail(f"input shapes {a} and {b} do not broadcast")
    elif expected != out:
        op.fail(f"output shape {out} is not the broadcast shape {expected} of inputs {a} and {b}")


def _bias(op: _Op, channels: int) -> None:
    bias = op.shape_in(2)
    if bias is not None and math.prod(bias) != channels:
        op.fail(f"bias shape {bias} does not have the {channels} output channels")


def _fully_connected(op: _Op) -> None:
    x, w, out = op.shape_in(0), op.shape_in(1), op.shape_out()
    if x is None or w is None or out is None:
        return
    if len(w) != 2 or not w[1]:
        op.fail(f"weights shape {w} is not [units, depth]")
    if math.prod(x) % w[1] or math.prod(out) != math.prod(x) // w[1] * w[0]:
        op.fail(f"input {x} and weights {w} do not make output {out}")
    _bias(op, w[0])


def _window(op: _Op, x: list[int], out: list[int], kernel: tuple[int, int], options: Any,
            dilation: tuple[int, int] = (1, 1)) -> None:
    """Batch and spatial dims of a 2-D window op (NHWC): out = f(in, kernel, stride, dilation, padding)."""
    strides = (options.strideH, options.strideW)
    if min(strides + dilation + kernel) < 1 or options.padding not in (schema.Padding.SAME, schema.Padding.VALID):
        op.fail(f"kernel {kernel}, strides {strides}, dilation {dilation}, padding {options.padding} are invalid")
    if len(x) != 4 or len(out) != 4:
        op.fail(f"input {x} and output {out} must both be 4-D (NHWC)")
    expected = [x[0]]
    same = options.padding == schema.Padding.SAME
    for size, k, stride, d in zip(x[1:3], kernel, strides, dilation, strict=True):
        if k > 1 and d > max(size, 1):  # sees one input pixel at most; such values overflow the kernels' padding maths
            op.fail(f"dilation {dilation} exceeds the input's spatial size {x[1:3]}")
        expected.append((size + stride - 1) // stride if same else (size + stride - (k - 1) * d - 1) // stride)
    if out[:3] != expected:
        op.fail(f"output shape {out} does not match input {x} with kernel {kernel}, strides {strides}, "
                f"dilation {dilation} (expected {expected} + channels)")


def _conv(op: _Op) -> None:
    options = op.options_of(schema.Conv2DOptionsT)
    x, w, out = op.shape_in(0), op.shape_in(1), op.shape_out()
    if x is None or w is None or out is None:
        return
    if len(w) != 4 or not w[3] or len(x) != 4 or x[3] % w[3] or len(out) != 4 or out[3] != w[0]:
        op.fail(f"input {x}, filter {w} (OHWI) and output {out} channels do not agree")
    _window(op, x, out, (w[1], w[2]), options, (options.dilationHFactor, options.dilationWFactor))
    _bias(op, w[0])


def _depthwise(op: _Op) -> None:
    options = op.options_of(schema.DepthwiseConv2DOptionsT)
    x, w, out = op.shape_in(0), op.shape_in(1), op.shape_out()
    if x is None or w is None or out is None:
        return
    if len(w) != 4 or len(x) != 4 or len(out) != 4 or out[3] != w[3] or x[3] * options.depthMultiplier != w[3]:
        op.fail(f"input {x}, filter {w} (1HWO), output {out} and depth multiplier {options.depthMultiplier} "
                "do not agree")
    _window(op, x, out, (w[1], w[2]), options, (options.dilationHFactor, options.dilationWFactor))
    _bias(op, w[3])


def _pool(op: _Op) -> None:
    options = op.options_of(schema.Pool2DOptionsT)
    x, out = op.shape_in(0), op.shape_out()
    if x is None or out is None:
        return
    _window(op, x, out, (options.filterHeight, options.filterWidth), options)
    if out[3] != x[3]:
        op.fail(f"output channels {out[3]} differ from input channels {x[3]}")


def _pad(op: _Op) -> None:
    x, out, paddings = op.shape_in(0), op.shape_out(), op.graph.int_data(op.inputs[1])
    if x is None or out is None or paddings is None:
        return  # TFLite Micro refuses non-constant paddings itself
    if len(paddings) != 2 * len(x) or min(paddings, default=0) < 0:
        op.fail(f"paddings {paddings} do not fit input {x}")
    expected = [d + paddings[2 * i] + paddings[2 * i + 1] for i, d in enumerate(x)]
    if out != expected:
        op.fail(f"output shape {out} is not input {x} padded by {paddings} ({expected})")


def _reduce(op: _Op) -> None:
    x, out, axes = op.shape_in(0), op.shape_out(), op.graph.int_data(op.inputs[1])
    if x is None or out is None or axes is None:
        return
    if any(not -len(x) <= a < len(x) for a in axes):
        op.fail(f"reduction axes {axes} are out of range for input {x}")
    kept = math.prod(d for i, d in enumerate(x) if i not in {a % len(x) for a in axes})
    if math.prod(out) != kept:
        op.fail(f"output shape {out} is not input {x} reduced over axes {axes}")


def _concatenation(op: _Op) -> None:
    axis = op.options_of(schema.ConcatenationOptionsT).axis
    shapes, out = [op.graph.shape(t) for t in op.inputs], op.shape_out()
    if out is None or any(s is None for s in shapes):
        return
    if not -len(out) <= axis < len(out) or any(len(s) != len(out) for s in shapes):
        op.fail(f"axis {axis} or the ranks of inputs {shapes} do not fit output {out}")
    axis %= len(out)
    expected = list(out)
    expected[axis] = sum(s[axis] for s in shapes)
    if expected != out or any(s[:axis] + s[axis + 1:] != out[:axis] + out[axis + 1:] for s in shapes):
        op.fail(f"inputs {shapes} do not concatenate along axis {axis} into {out}")


def _pack(op: _Op) -> None:
    options = op.options_of(schema.PackOptionsT)
    shapes, out = [op.graph.shape(t) for t in op.inputs], op.shape_out()
    if options.valuesCount != len(op.inputs):
        op.fail(f"values_count {options.valuesCount} but {len(op.inputs)} inputs")
    if out is None or any(s is None for s in shapes):
        return
    first, axis = shapes[0], options.axis
    if not -len(first) - 1 <= axis <= len(first) or any(s != first for s in shapes):
        op.fail(f"inputs {shapes} do not stack along axis {axis}")
    axis %= len(first) + 1
    if out != first[:axis] + [len(shapes)] + first[axis:]:
        op.fail(f"inputs {shapes} do not stack along axis {options.axis} into {out}")


def _split(op: _Op) -> None:
    """SPLIT (axis, value), SPLIT_V (value, sizes, axis) and UNPACK (value): the count in the options is the
    number of outputs the kernels write."""
    kind, field = {"SPLIT": (schema.SplitOptionsT, "numSplits"), "SPLIT_V": (schema.SplitVOptionsT, "numSplits"),
                   "UNPACK": (schema.UnpackOptionsT, "num")}[op.name]
    count = getattr(op.options_of(kind), field)
    if count != len(op.outputs) or not count:
        op.fail(f"{field} {count} but {len(op.outputs)} outputs")
    shape = op.shape_in(1 if kind is schema.SplitOptionsT else 0)
    outs = [op.graph.shape(t) for t in op.outputs]
    if shape is not None and all(s is not None for s in outs) and sum(map(math.prod, outs)) != math.prod(shape):
        op.fail(f"outputs {outs} do not hold the {math.prod(shape)} elements of input {shape}")


def _decode(op: _Op) -> None:
    """TFLM_DECODE reads (encoded, ancillary) pairs of constant 1-D UINT8 tensors, one output per pair; the
    ancillary data starts with the 16-byte header whose type byte picks the codec that checks the pair."""
    if not op.inputs or len(op.inputs) % 2 or len(op.outputs) != len(op.inputs) // 2:
        op.fail(f"{len(op.inputs)} inputs and {len(op.outputs)} outputs; DECODE takes (encoded, ancillary) input "
                "pairs and writes one output per pair")
    for t in op.inputs:
        if op.graph.data(t) is None or op.graph.tensors[t].type != T.UINT8:
            op.fail(f"input {t} must be a constant UINT8 tensor (encoded or ancillary data)")
    for encoded, ancillary, out in zip(op.inputs[::2], op.inputs[1::2], op.outputs, strict=True):
        _decode_pair(op, op.graph.data(encoded), op.graph.data(ancillary), out)


def _decode_pair(op: _Op, encoded: np.ndarray, ancillary: np.ndarray, out: int) -> None:
    if len(ancillary) < HEADER_BYTES:
        op.fail(f"ancillary data of {len(ancillary)} bytes is shorter than its {HEADER_BYTES}-byte header")
    shape, out_type, codec = op.graph.shape(out), op.graph.tensors[out].type, codec_for(ancillary[0])
    if codec is None or shape is None or out_type not in BITS:
        return  # a decode type no codec checks (Huffman, custom decoders have their own layouts)
    problem = codec.check(encoded, ancillary, Target(op.graph.tensor_label(out), shape, math.ceil(BITS[out_type] / 8)))
    if problem is not None:
        op.fail(problem)


_SHAPE_RULES: dict[str, tuple[int, int | None, int | None, Callable[[_Op], None]]] = {
    # op: (required inputs, most inputs, outputs, rule); None = any number
    **{name: (1, 1, 1, _same_shape) for name in _UNARY},
    **{name: (2, 2, 1, _elementwise) for name in _BINARY},
    **{name: (2, 2, 1, _reduce) for name in _REDUCE},
    **{name: (1, 1, 1, _pool) for name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D")},
    "PRELU": (2, 2, 1, _same_shape),
    "FULLY_CONNECTED": (2, 3, 1, _fully_connected),
    "CONV_2D": (2, 3, 1, _conv),
    "DEPTHWISE_CONV_2D": (2, 3, 1, _depthwise),
    "RESHAPE": (1, 2, 1, _same_count),
    "SQUEEZE": (1, 1, 1, _same_count),
    "EXPAND_DIMS": (2, 2, 1, _same_count),
    "PAD": (2, 2, 1, _pad),
    "PADV2": (2, 3, 1, _pad),
    "CONCATENATION": (1, None, 1, _concatenation),
    "PACK": (1, None, 1, _pack),
    "SPLIT": (2, 2, None, _split),
    "SPLIT_V": (3, 3, None, _split),
    "UNPACK": (1, 1, None, _split),
    DECODE_OP: (2, None, None, _decode),
}


_QUANTISED_MATH = ({*_UNARY, *_REDUCE, "ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "PRELU",
                    "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"}
                   - {"CAST", "ZEROS_LIKE", "LOGICAL_NOT"})
_QUANTISED_TYPES = {T.INT8, T.UINT8, T.INT16}


def _scales(tensor: schema.TensorT) -> list[float]:
    q = tensor.quantization
    return [] if q is None or q.scale is None else [float(s) for s in q.scale]


def _check_add_rescale(op: _Op) -> None:
    """int8 ADD/SUB rescale the output by 2*max(input scales) / (2**20 * output scale), which the kernels of
    both runtimes abort on unless it lies in (0, 1); the product in the denominator is computed in float32."""
    a, b, out = (_scales(op.graph.tensors[t]) for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if op.graph.tensors[op.outputs[0]].type not in (T.INT8, T.UINT8) or (len(a), len(b), len(out)) != (1, 1, 1):
        return
    with np.errstate(over="ignore"):
        denominator = float(np.float32(1 << 20) * np.float32(out[0]))
    multiplier = 2 * max(a[0], b[0]) / denominator
    if not 0 < multiplier < 1:
        op.fail(f"output scale {out[0]:.6g} does not fit input scales {a[0]:.6g} and {b[0]:.6g} (the kernels' "
                f"rescale factor {multiplier:.3g} must lie in (0, 1))")


def _check_softmax_rescale(op: _Op) -> None:
    """int8 SOFTMAX scales its input by beta * scale * 2**26, which the kernels abort on unless it exceeds 1."""
    x = op.graph.tensors[op.inputs[0]]
    beta = op.options_of(schema.SoftmaxOptionsT).beta
    scales = _scales(x)
    if x.type in (T.INT8, T.UINT8) and len(scales) == 1 and not beta * scales[0] * 2**26 > 1:
        op.fail(f"beta {beta:.6g} times input scale {scales[0]:.6g} is below 2**-26, which the kernels cannot rescale")


def _check_quantised_operands(op: _Op) -> None:
    """Quantised kernels read every int8/uint8/int16 operand's scale: one without any is refused."""
    if op.name not in _QUANTISED_MATH:
        return
    for t in op.inputs + op.outputs:
        tensor = op.graph.tensors[t] if t >= 0 else None
        if tensor is not None and tensor.type in _QUANTISED_TYPES and not _scales(tensor):
            op.fail(f"{op.graph.tensor_label(t)} is {TYPE_NAMES[tensor.type]} without quantisation parameters")
    if op.name in ("ADD", "SUB"):
        _check_add_rescale(op)
    elif op.name == "SOFTMAX":
        _check_softmax_rescale(op)


_SAME_TYPE = ({*_UNARY, *_REDUCE, "ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE", "FLOOR_DIV",
               "FLOOR_MOD", "POW", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D", "RESHAPE", "SQUEEZE", "EXPAND_DIMS",
               "PAD", "PADV2", "CONCATENATION"} - {"QUANTIZE", "DEQUANTIZE", "CAST", "SOFTMAX"})


def _check_types(op: _Op) -> None:
    """Element-wise, pooling, reduction and reshaping kernels read their data inputs and write their output as
    one type (the kernel is picked by the input's); a different output type makes them misread memory."""
    if op.name not in _SAME_TYPE:
        return
    data_inputs = op.inputs if op.name == "CONCATENATION" else op.inputs[:2 if op.name in _BINARY else 1]
    tensors = op.graph.tensors
    out_type = tensors[op.outputs[0]].type
    for t in data_inputs:
        if t >= 0 and tensors[t].type != out_type:
            op.fail(f"input {op.graph.tensor_label(t)} is {TYPE_NAMES[tensors[t].type]} but the output is "
                    f"{TYPE_NAMES[out_type]}")


def check_operator_shapes(graph: SubgraphView, op_index: int, op: schema.OperatorT) -> None:
    """Check operator ``op_index`` of ``graph`` against the contract of its kind (input and output counts,
    shapes, types, quantisation), for the kinds with rules here; raise Invalid for the first violation."""
    name = graph.op_names[op.opcodeIndex]
    if name not in _SHAPE_RULES:
        return
    required, most, n_outputs, rule = _SHAPE_RULES[name]
    view = _Op(graph, name, f"subgraph {graph.index} operator {op_index} ({name})", ints(op.inputs),
               ints(op.outputs), op.builtinOptions)
    if len(view.inputs) < required or (most is not None and len(view.inputs) > most):
        expected = f"{required} or more" if most is None else str(most) if most == required else f"{required}-{most}"
        view.fail(f"{len(view.inputs)} inputs (expected {expected})")
    if -1 in view.inputs[:required] or (n_outputs is not None and len(view.outputs) != n_outputs):
        view.fail(f"inputs {view.inputs} / outputs {view.outputs}: a required input is missing or the output "
                  f"count is not {n_outputs}")
    rule(view)
    _check_types(view)
    _check_quantised_operands(view)
