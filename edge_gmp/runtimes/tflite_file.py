"""Check that a .tflite file is a complete, self-consistent TFLite model before any native runtime touches it.

``validate`` runs models this project did not make. TFLite Micro has no flatbuffer verifier and runs
in-process, and LiteRT trusts the indices it reads, so a corrupt or hostile file can crash the whole process
(an operator reading tensor 9999, a buffer shorter than its shape) or be run and wrongly reported OK (zero
operators, an operator writing into a weight, a quantisation scale of 0 or NaN). Every file is parsed here
first in pure Python (the whole object tree, strings bounds-checked) and checked; each problem becomes one
UserError line naming the file, the tensor or operator (index and name) and what is wrong:

* the file: at most 64 MiB, the TFL3 identifier, a parse of every table, sane vector lengths, offset buffers
  inside the file, buffer 0 empty;
* the graph: a main subgraph with operators and outputs; every opcode, tensor (operator inputs, outputs and
  intermediates; subgraph inputs and outputs; signatures), buffer and metadata index in range; -1 only as an
  optional input of ops that have one; the vectors TFLite Micro dereferences present; operators in
  execution order (each reads only what is already written, no tensor written twice); no operator writes a
  constant and no subgraph input is one; WHILE/IF/CALL_ONCE call existing subgraphs with matching
  operands and without cycles;
* tensors: known type, rank <= 8, non-negative dims, at most 1 GiB; constant data exactly shape x element
  size (strings: a well-formed string table; sparse tensors exempt); no external or variable constant data;
* quantisation: scales finite and > 0, zero points in the type's range, one zero point or one per scale,
  per-channel length equal to the quantized_dimension axis, that axis in range, no custom/blockwise details;
* operator contracts the kernels assume without checking, for the common microcontroller ops: input/output
  counts, output shapes (element-wise broadcast, fully connected, conv/depthwise/pool windows, pad, reduce,
  reshape, concat, pack/split), equal data types, int8 operands quantised, ADD/SUB and SOFTMAX rescale
  factors the kernels can represent, and TFLM_DECODE's (encoded, ancillary) pairs covering their outputs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError

IDENTIFIER = b"TFL3"
MAX_FILE_BYTES = 64 << 20  # far above any microcontroller's flash; both runtimes load the file whole
MAX_ENTRIES = 100_000  # subgraphs, operators, tensors, buffers...: bounds the parse time of a hostile file
MAX_RANK = 8
MAX_TENSOR_BYTES = 1 << 30
DECODE_OP = "CUSTOM:TFLM_DECODE"  # tflite_micro.compression's decompression operator
# Builtin ops with optional inputs (-1 in the operator's input list); other kernels read an absent input as a
# null pointer.
OPTIONAL_INPUT_OPS = frozenset(
    "FULLY_CONNECTED CONV_2D DEPTHWISE_CONV_2D TRANSPOSE_CONV CONV_3D CONV_3D_TRANSPOSE SVDF LSTM RNN "
    "UNIDIRECTIONAL_SEQUENCE_LSTM BIDIRECTIONAL_SEQUENCE_LSTM UNIDIRECTIONAL_SEQUENCE_RNN BIDIRECTIONAL_SEQUENCE_RNN"
    .split())

_T = schema.TensorType
_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(_T).items() if not k.startswith("_")}
_BITS = {_T.FLOAT32: 32, _T.FLOAT16: 16, _T.INT32: 32, _T.UINT8: 8, _T.INT64: 64, _T.BOOL: 8, _T.INT16: 16,
         _T.COMPLEX64: 64, _T.INT8: 8, _T.FLOAT64: 64, _T.COMPLEX128: 128, _T.UINT64: 64, _T.UINT32: 32,
         _T.UINT16: 16, _T.INT4: 4, _T.BFLOAT16: 16, _T.INT2: 2, _T.UINT4: 4, _T.FLOAT8_E4M3FN: 8,
         _T.FLOAT8_E5M2: 8}
_NO_FIXED_SIZE = {_T.STRING, _T.RESOURCE, _T.VARIANT}
_INT_BITS = {_T.INT2: 2, _T.INT4: 4, _T.INT8: 8, _T.INT16: 16, _T.INT32: 32, _T.INT64: 64}
_UINT_BITS = {_T.UINT4: 4, _T.UINT8: 8, _T.UINT16: 16, _T.UINT32: 32, _T.UINT64: 64}


@dataclass(frozen=True)
class TFLiteInfo:
    path: str
    size_bytes: int
    ops: tuple[str, ...]  # unique op names in first-use order (custom ops as "CUSTOM:<name>")
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    sparse_tensors: tuple[str, ...]  # tensors stored with sparsity parameters
    subgraphs: int
    tensors: int = 0  # in the main subgraph
    operators: int = 0  # in the main subgraph

    @property
    def sparse_encoded(self) -> bool:
        """Sparse-encoded weights (DENSIFY op or sparsity params): TFLite Micro cannot run these."""
        return bool(self.sparse_tensors) or "DENSIFY" in self.ops


class _Invalid(Exception):
    """A structural problem; inspect_tflite prefixes the path and raises it as a UserError."""


class _StrictBytes(bytes):
    """The file's bytes for the flatbuffers reader, which slices strings without a bounds check (a string
    running past the end would come back short); here such a slice raises instead."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice) and key.stop is not None and key.stop > len(self):
            raise IndexError(f"a string runs past the end of the file (to byte {key.stop})")
        return super().__getitem__(key)


def _name(raw: bytes | str | None) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")


def _ints(values: Any) -> list[int]:
    """A flatbuffer int vector (numpy array, list or absent) as a list of Python ints."""
    if values is None or isinstance(values, int):
        return []
    return [int(v) for v in values]


def _op_name(code: schema.OperatorCodeT) -> str:
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        return f"CUSTOM:{_name(code.customCode)}"
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _label(kind: str, index: int, name: str) -> str:
    short = name if len(name) <= 60 else name[:57] + "..."
    return f"{kind} {index} {short!r}"


def _check_utf8(what: str, raw: bytes | str | None) -> None:
    """LiteRT's Python API decodes names as UTF-8 and raises outside its documented errors otherwise."""
    if isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Invalid(f"{what} is not valid UTF-8") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- parsing -------------------------------------------------------------------------------------------


def _check_counts(root: schema.Model) -> None:
    """Refuse absurd vector lengths before the object tree is built: a hostile file could otherwise make
    the reader create millions of objects pointing at one table."""
    counts = {"subgraphs": root.SubgraphsLength(), "buffers": root.BuffersLength(),
              "operator codes": root.OperatorCodesLength(), "metadata entries": root.MetadataLength(),
              "signatures": root.SignatureDefsLength()}
    for i in range(min(counts["subgraphs"], MAX_ENTRIES + 1)):
        sg = root.Subgraphs(i)
        counts[f"tensors in subgraph {i}"] = sg.TensorsLength()
        counts[f"operators in subgraph {i}"] = sg.OperatorsLength()
    for what, n in counts.items():
        if n > MAX_ENTRIES:
            raise _Invalid(f"the model declares {n} {what} (more than {MAX_ENTRIES}); the file is corrupt")


def _parse(data: bytes) -> schema.ModelT:
    strict = _StrictBytes(data)
    root = schema.Model.GetRootAsModel(strict, 0)
    _check_counts(root)
    return schema.ModelT.InitFromObj(root)


# --- model-level checks ----------------------------------------------------------------------------------


def _buffer_bytes(buffer: schema.BufferT) -> int:
    """The constant data a buffer holds (0: none). Buffers past 2 GiB live after the flatbuffer at offset."""
    if buffer.data is not None and len(buffer.data):
        return len(buffer.data)
    return int(buffer.size) if buffer.offset > 1 else 0


def _check_buffers(model: schema.ModelT, file_bytes: int) -> None:
    for i, buf in enumerate(model.buffers or []):
        if buf.offset > 1 and buf.offset + buf.size > file_bytes:
            raise _Invalid(f"buffer {i} (offset {buf.offset}, {buf.size} bytes) runs past the end of the file "
                           f"({file_bytes} bytes)")
    if model.buffers and _buffer_bytes(model.buffers[0]):
        raise _Invalid("buffer 0 holds data; it must be the empty buffer that non-constant tensors point to")


def _check_operator_codes(model: schema.ModelT) -> None:
    for i, code in enumerate(model.operatorCodes or []):
        if code.builtinCode < 0 or code.deprecatedBuiltinCode < 0:
            raise _Invalid(f"operator code {i} has a negative builtin code "
                           f"({code.builtinCode}/{code.deprecatedBuiltinCode})")
        _check_utf8(f"operator code {i}: the custom op name", code.customCode)


def _check_signatures(model: schema.ModelT) -> None:
    subgraphs = model.subgraphs or []
    for i, sig in enumerate(model.signatureDefs or []):
        if not 0 <= sig.subgraphIndex < len(subgraphs):
            raise _Invalid(f"signature {i} refers to subgraph {sig.subgraphIndex}; the model has "
                           f"{len(subgraphs)}")
        n_tensors = len(subgraphs[sig.subgraphIndex].tensors or [])
        _check_utf8(f"signature {i}: the key", sig.signatureKey)
        for entry in (sig.inputs or []) + (sig.outputs or []):
            _check_utf8(f"signature {i}: the entry name", entry.name)
            if not 0 <= entry.tensorIndex < n_tensors:
                raise _Invalid(f"signature {i} entry {_name(entry.name)!r} refers to tensor {entry.tensorIndex}; "
                               f"subgraph {sig.subgraphIndex} has {n_tensors}")


def _check_metadata(model: schema.ModelT) -> None:
    n_buffers = len(model.buffers or [])
    refs = [(f"metadata {_name(m.name)!r}", m.buffer) for m in model.metadata or []]
    refs += [("metadata_buffer entry", b) for b in _ints(model.metadataBuffer)]
    for what, index in refs:
        if not 0 <= index < n_buffers:
            raise _Invalid(f"{what} refers to buffer {index}; the model has {n_buffers}")


# --- tensor checks ---------------------------------------------------------------------------------------


def _check_shape(label: str, tensor: schema.TensorT) -> int:
    """The tensor's byte size (0 for types without a fixed element size: strings, resources, variants)."""
    shape = _ints(tensor.shape)
    if len(shape) > MAX_RANK:
        raise _Invalid(f"{label}: rank {len(shape)} (more than {MAX_RANK} dimensions)")
    if any(d < 0 for d in shape):
        raise _Invalid(f"{label}: negative dimension in shape {shape}")
    signature = _ints(tensor.shapeSignature)
    if signature and (len(signature) != len(shape) or any(d < -1 for d in signature)):
        raise _Invalid(f"{label}: shape_signature {signature} does not match shape {shape}")
    if tensor.type not in _BITS and tensor.type not in _NO_FIXED_SIZE:
        raise _Invalid(f"{label}: unknown tensor type {tensor.type}")
    nbytes = math.ceil(math.prod(shape) * _BITS.get(tensor.type, 0) / 8)
    if nbytes > MAX_TENSOR_BYTES:
        raise _Invalid(f"{label}: shape {shape} of {_TYPE_NAMES[tensor.type]} is {nbytes} bytes "
                       f"(more than {MAX_TENSOR_BYTES})")
    return nbytes


def _check_string_buffer(label: str, data: np.ndarray, count: int) -> None:
    """TFLite's string tensor layout: int32 count, count+1 int32 offsets, then the bytes."""
    header = 4 * (count + 2)
    if len(data) < header:
        raise _Invalid(f"{label}: string data of {len(data)} bytes is shorter than its {header}-byte header")
    words = np.frombuffer(bytes(data[:header]), "<i4")
    offsets = words[1:]
    if words[0] != count or offsets[0] != header or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
        raise _Invalid(f"{label}: malformed string data (count {words[0]} for {count} elements, "
                       f"offsets {offsets[0]}..{offsets[-1]} in {len(data)} bytes)")


def _check_constant(label: str, tensor: schema.TensorT, buffer: schema.BufferT, nbytes: int) -> None:
    have = _buffer_bytes(buffer)
    if not have or tensor.sparsity is not None or tensor.type in (_T.RESOURCE, _T.VARIANT):
        return
    if tensor.type == _T.STRING:
        if buffer.data is not None:
            _check_string_buffer(label, buffer.data, math.prod(_ints(tensor.shape)))
        return
    unpacked = math.prod(_ints(tensor.shape))  # sub-byte types may also be stored one value per byte
    if have != nbytes and not (_BITS[tensor.type] < 8 and have == unpacked):
        raise _Invalid(f"{label}: constant buffer {tensor.buffer} holds {have} bytes but shape "
                       f"{_ints(tensor.shape)} of {_TYPE_NAMES[tensor.type]} needs {nbytes}")


def _zero_point_range(tensor_type: int) -> tuple[int, int] | None:
    if tensor_type in _INT_BITS:
        half = 1 << (_INT_BITS[tensor_type] - 1)
        return -half, half - 1
    if tensor_type in _UINT_BITS:
        return 0, (1 << _UINT_BITS[tensor_type]) - 1
    return None


_INT_DTYPES = {_T.INT8: np.int8, _T.INT16: np.int16, _T.INT32: np.int32, _T.INT64: np.int64, _T.UINT8: np.uint8}


def _unused_channels(tensor: schema.TensorT, values: np.ndarray | None, zeros: list[int], channels: int) -> set[int]:
    """Channels of a constant (or decoded constant) integer tensor that hold only their zero point: their scale is
    never used (the converter writes 0 there for a weight row pruned to zero)."""
    shape = _ints(tensor.shape)
    if values is None or values.size == 0 or values.size != int(np.prod(shape)):
        return set()
    axis = tensor.quantization.quantizedDimension if channels > 1 else 0
    per_channel = (np.moveaxis(values.reshape(shape), axis, 0).reshape(channels, -1) if channels > 1
                   else values.reshape(1, -1))
    zp = np.asarray(zeros if len(zeros) == channels else zeros[:1] * channels).reshape(-1, 1)
    return {int(c) for c in np.flatnonzero((per_channel == zp).all(axis=1))}


def _constant_values(tensor: schema.TensorT, buffer: schema.BufferT) -> np.ndarray | None:
    dtype = _INT_DTYPES.get(tensor.type)
    if dtype is None or buffer.data is None or not len(buffer.data):
        return None
    raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
    return np.frombuffer(raw, dtype=dtype) if len(raw) % np.dtype(dtype).itemsize == 0 else None


def _check_quantization(label: str, tensor: schema.TensorT, values: np.ndarray | None = None) -> None:
    q = tensor.quantization
    if q is not None and q.detailsType:
        raise _Invalid(f"{label}: quantisation details of type {q.detailsType} (custom/blockwise quantisation), "
                       "which TFLite Micro does not support")
    scales = [] if q is None or q.scale is None else [float(s) for s in q.scale]
    zeros = [] if q is None else _ints(q.zeroPoint)
    if not scales and not zeros:
        return
    shape = _ints(tensor.shape)
    if len(scales) != len(zeros) and len(zeros) != 1:  # TFLM repeats one stored zero point for every channel
        raise _Invalid(f"{label}: {len(scales)} quantisation scales but {len(zeros)} zero points")
    bad = next((i for i, s in enumerate(scales) if not (math.isfinite(s) and s > 0)), None)
    if bad is not None and scales[bad] == 0 and values is not None:
        unused = _unused_channels(tensor, values, zeros, len(scales))
        bad = next((i for i, s in enumerate(scales) if not (math.isfinite(s) and (s > 0 or i in unused))), None)
    if bad is not None:
        raise _Invalid(f"{label}: quantisation scale[{bad}] is {scales[bad]}; scales must be finite and > 0 "
                       "(0 only for a constant channel holding nothing but its zero point)")
    limits = _zero_point_range(tensor.type)
    bad = None if limits is None else next((i for i, z in enumerate(zeros) if not limits[0] <= z <= limits[1]), None)
    if bad is not None:
        raise _Invalid(f"{label}: zero point[{bad}] = {zeros[bad]} is outside {_TYPE_NAMES[tensor.type]}'s range "
                       f"{limits[0]}..{limits[1]}")
    axis = q.quantizedDimension
    if not 0 <= axis < max(len(shape), 1):
        raise _Invalid(f"{label}: quantized_dimension {axis} is out of range for shape {shape}")
    if len(scales) > 1 and (axis >= len(shape) or shape[axis] != len(scales)):
        raise _Invalid(f"{label}: {len(scales)} per-channel scales for axis {axis} of shape {shape}")


def _check_tensor(label: str, tensor: schema.TensorT, buffers: list[schema.BufferT], encoded: bool,
                  decoded: np.ndarray | None = None) -> None:
    """``encoded``: an input of TFLM_DECODE, a byte array that keeps the quantisation of the tensor it decodes
    to (so its per-channel parameters do not match its own shape); ``decoded``: the values TFLM_DECODE will
    write into this tensor, when it is a decoded constant."""
    _check_utf8(f"{label}: the name", tensor.name)
    if tensor.externalBuffer:
        raise _Invalid(f"{label}: data stored outside the .tflite file (external buffer {tensor.externalBuffer}); "
                       "TFLite Micro cannot load it")
    nbytes = _check_shape(label, tensor)
    if tensor.isVariable and _buffer_bytes(buffers[tensor.buffer]):
        raise _Invalid(f"{label}: a variable tensor with constant data (buffer {tensor.buffer})")
    _check_constant(label, tensor, buffers[tensor.buffer], nbytes)
    if not encoded:
        values = decoded if decoded is not None else _constant_values(tensor, buffers[tensor.buffer])
        _check_quantization(label, tensor, values)


# --- the subgraph as the operator checks see it ----------------------------------------------------------


@dataclass
class _Graph:
    """One subgraph with what the operator checks need to name and look up its tensors."""

    index: int
    tensors: list[schema.TensorT]
    buffers: list[schema.BufferT]
    constant: list[bool]
    op_names: list[str]

    def tensor_label(self, t: int) -> str:
        return f"subgraph {self.index} " + _label("tensor", t, _name(self.tensors[t].name))

    def check_index(self, where: str, t: int, optional: bool = False) -> None:
        if optional and t == -1:
            return
        if not 0 <= t < len(self.tensors):
            raise _Invalid(f"{where} refers to tensor {t}, out of range (subgraph {self.index} has "
                           f"{len(self.tensors)} tensors)")

    def shape(self, t: int) -> list[int] | None:
        """The shape of tensor ``t`` as TFLite Micro sizes it (none or empty: a scalar); None for an absent
        optional input or a dynamic shape (-1 in shape_signature), which the shape rules skip."""
        if t < 0 or -1 in _ints(self.tensors[t].shapeSignature):
            return None
        return _ints(self.tensors[t].shape)

    def data(self, t: int) -> np.ndarray | None:
        """The inline constant bytes of tensor ``t`` (None: not constant, or stored past 2 GiB)."""
        data = self.buffers[self.tensors[t].buffer].data if t >= 0 else None
        return data if data is not None and len(data) else None

    def int_data(self, t: int) -> list[int] | None:
        data = self.data(t)
        kind = {_T.INT32: "<i4", _T.INT64: "<i8"}.get(self.tensors[t].type) if t >= 0 else None
        return None if data is None or kind is None else [int(v) for v in np.frombuffer(bytes(data), kind)]


# --- operator shape rules --------------------------------------------------------------------------------
# The kernels trust the converter's shapes: an output declared larger than its inputs make it, or a stride of
# 0, makes TFLite Micro read or write out of bounds. These rules cover the common microcontroller ops; other
# ops get only the structural checks above.

_UNARY = ("LOGISTIC TANH RELU RELU6 RELU_N1_TO_1 RELU_0_TO_1 HARD_SWISH LEAKY_RELU ELU GELU QUANTIZE DEQUANTIZE ABS "
          "NEG EXP LOG SQRT RSQRT SQUARE SIN COS FLOOR CEIL ROUND SIGN LOGICAL_NOT SOFTMAX LOG_SOFTMAX "
          "L2_NORMALIZATION CAST ZEROS_LIKE").split()
_BINARY = ("ADD SUB MUL DIV MAXIMUM MINIMUM SQUARED_DIFFERENCE FLOOR_DIV FLOOR_MOD POW LESS LESS_EQUAL GREATER "
           "GREATER_EQUAL EQUAL NOT_EQUAL LOGICAL_AND LOGICAL_OR").split()
_REDUCE = "MEAN SUM REDUCE_MAX REDUCE_MIN REDUCE_PROD REDUCE_ANY REDUCE_ALL".split()


@dataclass
class _Op:
    """One operator as the shape rules see it; ``where`` names it in messages."""

    graph: _Graph
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
        raise _Invalid(f"{self.where}: {what}")

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
    """TFLM_DECODE reads (encoded, ancillary) pairs of constant 1-D UINT8 tensors, one output per pair; for
    LUT pairs the encoded indices and the value tables must cover the output."""
    if not op.inputs or len(op.inputs) % 2 or len(op.outputs) != len(op.inputs) // 2:
        op.fail(f"{len(op.inputs)} inputs and {len(op.outputs)} outputs; DECODE takes (encoded, ancillary) input "
                "pairs and writes one output per pair")
    for t in op.inputs:
        if op.graph.data(t) is None or op.graph.tensors[t].type != _T.UINT8:
            op.fail(f"input {t} must be a constant UINT8 tensor (encoded or ancillary data)")
    for encoded, ancillary, out in zip(op.inputs[::2], op.inputs[1::2], op.outputs, strict=True):
        _decode_lut(op, op.graph.data(encoded), op.graph.data(ancillary), out)
        _decode_prune(op, op.graph.data(encoded), op.graph.data(ancillary), out)


def _decode_prune(op: _Op, encoded: np.ndarray, ancillary: np.ndarray, out: int) -> None:
    """PRUNING: a bitmap covering every element and, after the 16-byte header, one value per set bit."""
    shape, out_type = op.graph.shape(out), op.graph.tensors[out].type
    if len(ancillary) < 16 or ancillary[0] != 2 or shape is None or out_type not in _BITS:
        return
    count = math.prod(shape)
    bits = np.unpackbits(np.asarray(encoded, dtype=np.uint8))[:count]
    need_values = 16 + int(bits.sum()) * math.ceil(_BITS[out_type] / 8)
    if len(encoded) < math.ceil(count / 8) or len(ancillary) < need_values:
        op.fail(f"PRUNING data for {op.graph.tensor_label(out)} (shape {shape}) needs a {math.ceil(count / 8)}-byte "
                f"bitmap and {need_values} bytes of header and kept values, has {len(encoded)} + {len(ancillary)}")


def _decode_lut(op: _Op, encoded: np.ndarray, ancillary: np.ndarray, out: int) -> None:
    if len(ancillary) < 16:
        op.fail(f"ancillary data of {len(ancillary)} bytes is shorter than its 16-byte header")
    shape, out_type = op.graph.shape(out), op.graph.tensors[out].type
    if ancillary[0] != 0 or shape is None or out_type not in _BITS:
        return  # not LUT-decoded (Huffman, pruning or custom decoders have their own layouts)
    bitwidth, axis, stride = int(ancillary[5]) & 7, int(ancillary[5]) >> 4, int(ancillary[6])
    channels = 1 if axis == 0xF else (shape[axis] if axis < len(shape) else 0)
    need_indices = math.ceil(math.prod(shape) * bitwidth / 8)
    need_tables = 16 + channels * stride * math.ceil(_BITS[out_type] / 8)
    if not bitwidth or not channels or not stride or len(encoded) < need_indices or len(ancillary) < need_tables:
        op.fail(f"LUT data for {op.graph.tensor_label(out)} (shape {shape}, {bitwidth}-bit indices, axis {axis}, "
                f"table stride {stride}) needs {need_indices} + {need_tables} bytes, has {len(encoded)} + "
                f"{len(ancillary)}")


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
_QUANTISED_TYPES = {_T.INT8, _T.UINT8, _T.INT16}


def _scales(tensor: schema.TensorT) -> list[float]:
    q = tensor.quantization
    return [] if q is None or q.scale is None else [float(s) for s in q.scale]


def _check_add_rescale(op: _Op) -> None:
    """int8 ADD/SUB rescale the output by 2*max(input scales) / (2**20 * output scale), which the kernels of
    both runtimes abort on unless it lies in (0, 1); the product in the denominator is computed in float32."""
    a, b, out = (_scales(op.graph.tensors[t]) for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if op.graph.tensors[op.outputs[0]].type not in (_T.INT8, _T.UINT8) or (len(a), len(b), len(out)) != (1, 1, 1):
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
    if x.type in (_T.INT8, _T.UINT8) and len(scales) == 1 and not beta * scales[0] * 2**26 > 1:
        op.fail(f"beta {beta:.6g} times input scale {scales[0]:.6g} is below 2**-26, which the kernels cannot rescale")


def _check_quantised_operands(op: _Op) -> None:
    """Quantised kernels read every int8/uint8/int16 operand's scale: one without any is refused."""
    if op.name not in _QUANTISED_MATH:
        return
    for t in op.inputs + op.outputs:
        tensor = op.graph.tensors[t] if t >= 0 else None
        if tensor is not None and tensor.type in _QUANTISED_TYPES and not _scales(tensor):
            op.fail(f"{op.graph.tensor_label(t)} is {_TYPE_NAMES[tensor.type]} without quantisation parameters")
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
            op.fail(f"input {op.graph.tensor_label(t)} is {_TYPE_NAMES[tensors[t].type]} but the output is "
                    f"{_TYPE_NAMES[out_type]}")


def _check_operator_shapes(graph: _Graph, op_index: int, op: schema.OperatorT) -> None:
    name = graph.op_names[op.opcodeIndex]
    if name not in _SHAPE_RULES:
        return
    required, most, n_outputs, rule = _SHAPE_RULES[name]
    view = _Op(graph, name, f"subgraph {graph.index} operator {op_index} ({name})", _ints(op.inputs),
               _ints(op.outputs), op.builtinOptions)
    if len(view.inputs) < required or (most is not None and len(view.inputs) > most):
        expected = f"{required} or more" if most is None else str(most) if most == required else f"{required}-{most}"
        view.fail(f"{len(view.inputs)} inputs (expected {expected})")
    if -1 in view.inputs[:required] or (n_outputs is not None and len(view.outputs) != n_outputs):
        view.fail(f"inputs {view.inputs} / outputs {view.outputs}: a required input is missing or the output "
                  f"count is not {n_outputs}")
    rule(view)
    _check_types(view)
    _check_quantised_operands(view)


# --- subgraphs and operators ----------------------------------------------------------------------------


def _check_operator(graph: _Graph, op_index: int, op: schema.OperatorT, n_codes: int) -> None:
    where = f"subgraph {graph.index} operator {op_index}"
    if not 0 <= op.opcodeIndex < n_codes:
        raise _Invalid(f"{where}: operator code index {op.opcodeIndex} is out of range (the model has {n_codes})")
    op_name = graph.op_names[op.opcodeIndex]
    where += f" ({op_name})"
    if op.inputs is None or op.outputs is None:
        raise _Invalid(f"{where}: the {'inputs' if op.inputs is None else 'outputs'} field is missing")
    for kind, options in ((op.builtinOptionsType, op.builtinOptions), (op.builtinOptions2Type, op.builtinOptions2)):
        if kind and options is None:  # TFLite Micro would run the kernel with zeroed options (stride 0...)
            raise _Invalid(f"{where}: builtin options of type {kind} are missing or of an unknown type")
    for t in _ints(op.inputs):
        graph.check_index(f"{where} input", t, optional=True)
    if -1 in _ints(op.inputs) and op_name not in OPTIONAL_INPUT_OPS and not op_name.startswith("CUSTOM:"):
        raise _Invalid(f"{where}: inputs {_ints(op.inputs)} leave one out (-1), but {op_name} has no optional inputs")
    for t in _ints(op.outputs):
        graph.check_index(f"{where} output", t)
        if graph.constant[t]:
            raise _Invalid(f"{where} writes into {graph.tensor_label(t)}, a constant (weight) tensor")
    for t in _ints(op.intermediates):
        graph.check_index(f"{where} intermediate", t)


def _check_dataflow(graph: _Graph, sg: schema.SubGraphT) -> None:
    """Operators run in file order: each must read only tensors already holding data (constants, subgraph
    inputs, variables, earlier outputs) and write tensors nothing else writes. The runtimes leave a tensor
    nobody writes unallocated, and LiteRT then reads a null pointer."""
    written = set(_ints(sg.inputs)) | {t for t, tensor in enumerate(graph.tensors) if tensor.isVariable}
    for op_index, op in enumerate(sg.operators):
        where = f"subgraph {graph.index} operator {op_index} ({graph.op_names[op.opcodeIndex]})"
        for t in _ints(op.inputs):
            if t >= 0 and not graph.constant[t] and t not in written:
                raise _Invalid(f"{where} reads {graph.tensor_label(t)} before any operator writes it")
        for t in _ints(op.outputs):
            if t in written and not graph.tensors[t].isVariable:
                raise _Invalid(f"{where} writes {graph.tensor_label(t)}, which a subgraph input or an earlier "
                               "operator already provides")
            written.add(t)
    for t in _ints(sg.outputs):
        if not graph.constant[t] and t not in written:
            raise _Invalid(f"subgraph {graph.index} output {graph.tensor_label(t)} is never written")


def _decoded_values(graph: _Graph, encoded: int, ancillary: int, out: int) -> np.ndarray | None:
    """What TFLM_DECODE writes into integer tensor ``out`` (PRUNING or LUT), or None where this check cannot
    tell (other decoders, inconsistent sizes: the operator contract check reports those)."""
    data, aux, tensor = graph.data(encoded), graph.data(ancillary), graph.tensors[out]
    dtype, shape = _INT_DTYPES.get(tensor.type), graph.shape(out)
    if data is None or aux is None or dtype is None or shape is None or len(aux) < 16:
        return None
    count, width = int(np.prod(shape)), np.dtype(dtype).itemsize
    if aux[0] == 2:  # PRUNING: one bit per element (MSB first), then the kept values in memory order
        kept = np.unpackbits(np.asarray(data, dtype=np.uint8))[:count].astype(bool)
        values = np.asarray(aux[16:16 + int(kept.sum()) * width], dtype=np.uint8).tobytes()
        if len(kept) < count or len(values) != int(kept.sum()) * width:
            return None
        q = tensor.quantization
        zeros = _ints(q.zeroPoint) if q is not None else [0]
        out_values = np.full(count, zeros[0] if zeros else 0, dtype=dtype)
        out_values[kept] = np.frombuffer(values, dtype=dtype)
        return out_values
    return None


def _decode_outputs(graph: _Graph, ops: list[schema.OperatorT]) -> dict[int, np.ndarray | None]:
    """Decoded values of every TFLM_DECODE output tensor (see :func:`_decoded_values`)."""
    found: dict[int, np.ndarray | None] = {}
    for op in ops:
        if graph.op_names[op.opcodeIndex] != DECODE_OP:
            continue
        ins, outs = _ints(op.inputs), _ints(op.outputs)
        for encoded, ancillary, out in zip(ins[::2], ins[1::2], outs, strict=False):
            found[out] = _decoded_values(graph, encoded, ancillary, out)
    return found


def _decode_inputs(graph: _Graph, ops: list[schema.OperatorT]) -> set[int]:
    """The tensors TFLM_DECODE operators read as encoded/ancillary data."""
    return {t for op in ops if graph.op_names[op.opcodeIndex] == DECODE_OP for t in _ints(op.inputs)}


def _check_buffer_indices(index: int, tensors: list[schema.TensorT], n_buffers: int) -> None:
    for t, tensor in enumerate(tensors):
        if not 0 <= tensor.buffer < n_buffers:
            raise _Invalid(f"subgraph {index} {_label('tensor', t, _name(tensor.name))}: buffer index "
                           f"{tensor.buffer} is out of range (the model has {n_buffers} buffers)")


def _check_subgraph(model: schema.ModelT, index: int, op_names: list[str]) -> None:
    sg = model.subgraphs[index]
    missing = [field for field in ("tensors", "inputs", "outputs", "operators") if getattr(sg, field) is None]
    if missing:  # TFLite Micro reads these vectors without a null check
        raise _Invalid(f"subgraph {index}: the {missing[0]} field is missing")
    buffers = model.buffers or []
    _check_buffer_indices(index, sg.tensors, len(buffers))
    constant = [bool(_buffer_bytes(buffers[t.buffer])) for t in sg.tensors]
    graph = _Graph(index, sg.tensors, buffers, constant, op_names)
    for t in _ints(sg.inputs):
        graph.check_index(f"subgraph {index} input", t)
        if constant[t]:
            raise _Invalid(f"subgraph {index} input {graph.tensor_label(t)} is a constant tensor")
    for t in _ints(sg.outputs):
        graph.check_index(f"subgraph {index} output", t)
    for op_index, op in enumerate(sg.operators):
        _check_operator(graph, op_index, op, len(op_names))
    _check_dataflow(graph, sg)
    encoded = _decode_inputs(graph, sg.operators)
    decoded = _decode_outputs(graph, sg.operators)
    for t, tensor in enumerate(sg.tensors):
        _check_tensor(graph.tensor_label(t), tensor, buffers, t in encoded, decoded.get(t))
    for op_index, op in enumerate(sg.operators):
        _check_operator_shapes(graph, op_index, op)


# --- control flow -----------------------------------------------------------------------------------------

_CALLS = {"WHILE": (schema.WhileOptionsT, ("condSubgraphIndex", "bodySubgraphIndex")),
          "IF": (schema.IfOptionsT, ("thenSubgraphIndex", "elseSubgraphIndex")),
          "CALL_ONCE": (schema.CallOnceOptionsT, ("initSubgraphIndex",))}


def _signature(sg: schema.SubGraphT, tensors: list[int]) -> list[tuple[int, list[int] | None]]:
    """(type, static shape or None when dynamic) of each tensor, to compare a call's operands with a subgraph's."""
    out = []
    for t in tensors:
        tensor = sg.tensors[t] if t >= 0 else None
        dynamic = tensor is None or -1 in _ints(tensor.shapeSignature)
        out.append((-1 if tensor is None else tensor.type, None if dynamic else _ints(tensor.shape)))
    return out


def _same_operands(a: list[tuple[int, list[int] | None]], b: list[tuple[int, list[int] | None]]) -> bool:
    """The kernels copy operands into and out of the called subgraph byte for byte."""
    return len(a) == len(b) and all(ta == tb and (sa is None or sb is None or sa == sb)
                                    for (ta, sa), (tb, sb) in zip(a, b, strict=True))


def _check_call(model: schema.ModelT, caller: int, op: schema.OperatorT, name: str, where: str) -> list[int]:
    """Check one WHILE / IF / CALL_ONCE operator; return the subgraphs it calls."""
    kind, fields = _CALLS[name]
    if not isinstance(op.builtinOptions, kind):
        raise _Invalid(f"{where}: needs {kind.__name__.removesuffix('T')}")
    targets = [getattr(op.builtinOptions, field) for field in fields]
    if any(not 0 < t < len(model.subgraphs) for t in targets):
        raise _Invalid(f"{where}: calls subgraph(s) {targets}; the model has {len(model.subgraphs)}, 0 the main one")
    sg, subs = model.subgraphs[caller], [model.subgraphs[t] for t in targets]
    ins, outs = _signature(sg, _ints(op.inputs)), _signature(sg, _ints(op.outputs))
    if name == "WHILE":
        cond, body = subs
        ok = (_same_operands(ins, outs) and _same_operands(ins, _signature(cond, _ints(cond.inputs)))
              and len(_ints(cond.outputs)) == 1 and _same_operands(ins, _signature(body, _ints(body.inputs)))
              and _same_operands(ins, _signature(body, _ints(body.outputs))))
    elif name == "IF":
        ok = all(_same_operands(ins[1:], _signature(b, _ints(b.inputs)))
                 and _same_operands(outs, _signature(b, _ints(b.outputs))) for b in subs)
    else:
        ok = not _ints(op.inputs) and not _ints(op.outputs)
    if not ok:
        raise _Invalid(f"{where}: its inputs/outputs do not match those of subgraph(s) {targets}")
    return targets


def _check_control_flow(model: schema.ModelT, op_names: list[str]) -> None:
    """Called subgraphs exist, are not the main one, take and return what the caller passes, and no
    subgraph calls itself directly or indirectly (the runtimes would recurse without end)."""
    calls: dict[int, list[int]] = {}
    for s, sg in enumerate(model.subgraphs):
        for k, op in enumerate(sg.operators):
            name = op_names[op.opcodeIndex]
            if name in _CALLS:
                calls.setdefault(s, []).extend(_check_call(model, s, op, name, f"subgraph {s} operator {k} ({name})"))
    done: set[int] = set()

    def visit(s: int, path: tuple[int, ...]) -> None:
        for t in calls.get(s, []):
            if t in path:
                raise _Invalid(f"subgraphs {list(path) + [t]} call each other in a cycle")
            if t not in done:
                visit(t, path + (t,))
        done.add(s)

    visit(0, (0,))


def _check_model(model: schema.ModelT, file_bytes: int) -> None:
    if not model.subgraphs:
        raise _Invalid("the model has no subgraph")
    main = model.subgraphs[0]
    if not main.operators:
        raise _Invalid(f"the main subgraph {_name(main.name)!r} has no operators")
    if not _ints(main.outputs):
        raise _Invalid(f"the main subgraph {_name(main.name)!r} has no outputs")
    _check_buffers(model, file_bytes)
    _check_operator_codes(model)
    op_names = [_op_name(code) for code in model.operatorCodes or []]
    for index in range(len(model.subgraphs)):
        _check_subgraph(model, index, op_names)
    _check_control_flow(model, op_names)
    _check_signatures(model)
    _check_metadata(model)


# --- entry point -----------------------------------------------------------------------------------------


def _read(p: Path) -> bytes:
    if not p.is_file():
        raise UserError(f"model file not found: {p}")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UserError(f"{p} is {size / 2**20:.1f} MiB; files over {MAX_FILE_BYTES >> 20} MiB are refused "
                        "(far beyond a microcontroller's flash, and the runtimes would load it whole)")
    data = p.read_bytes()
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise UserError(f"{p} is not a TFLite flatbuffer (no 'TFL3' identifier at bytes 4-8); "
                        "expected a .tflite file written by the TFLite converter")
    return data


def _summary(p: Path, size: int, model: schema.ModelT) -> TFLiteInfo:
    op_names = [_op_name(code) for code in model.operatorCodes or []]
    ops: dict[str, None] = {}
    sparse = []
    for sg in model.subgraphs:
        for op in sg.operators or []:
            ops.setdefault(op_names[op.opcodeIndex])
        sparse += [_name(t.name) for t in sg.tensors or [] if t.sparsity is not None]
    main = model.subgraphs[0]
    names = [_name(t.name) for t in main.tensors or []]
    return TFLiteInfo(path=str(p), size_bytes=size, ops=tuple(ops),
                      input_names=tuple(names[i] for i in _ints(main.inputs)),
                      output_names=tuple(names[i] for i in _ints(main.outputs)),
                      sparse_tensors=tuple(sparse), subgraphs=len(model.subgraphs),
                      tensors=len(names), operators=len(main.operators or []))


def inspect_tflite(path: str | os.PathLike) -> TFLiteInfo:
    """Parse and structurally check ``path``; raise UserError (one line) for a missing, oversized, truncated,
    corrupt or inconsistent file, so that no native runtime ever opens it."""
    p = Path(path)
    data = _read(p)
    try:
        model = _parse(data)
    except _Invalid as exc:
        raise UserError(_one_line(f"{p} is corrupt: {exc}")) from None
    except Exception as exc:  # the generated reader raises struct.error/IndexError/TypeError/... on bad offsets
        raise UserError(_one_line(f"{p} is truncated or corrupt ({len(data)} bytes): the flatbuffer does not "
                                  f"parse ({type(exc).__name__}: {exc})")) from None
    try:
        _check_model(model, len(data))
    except _Invalid as exc:
        raise UserError(_one_line(f"{p} is not a valid TFLite model: {exc}")) from None
    return _summary(p, len(data), model)
