"""Check that a .tflite file is a complete, self-consistent TFLite model before any native runtime touches it.

``validate`` runs models this project did not make. TFLite Micro has no flatbuffer verifier and runs
in-process, and LiteRT trusts the indices it reads, so a corrupt or hostile file can crash the whole process
(an operator reading tensor 9999, a buffer shorter than its shape) or be run and wrongly reported OK (zero
operators, an operator writing into a weight, a quantisation scale of 0 or NaN). Every file is parsed here
first in pure Python (the whole object tree, strings bounds-checked) and checked; each problem becomes one
UserError line naming the file, the tensor or operator (index and name) and what is wrong:

* the file: a regular file of at most 64 MiB, the TFL3 identifier, schema version 3, a parse of every table,
  sane vector lengths, offset buffers inside the file, buffer 0 empty;
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
  factors the kernels can represent, and TFLM_DECODE's (encoded, ancillary) pairs covering their outputs
  (PRUNING: exactly one kept value per set bit of the bitmap).

This module reads the file and runs the file, tensor, quantisation, subgraph and control-flow checks; the shared
limits, type tables and subgraph view live in :mod:`edge_gmp.runtimes.tflite_graph`, the operator contracts in
:mod:`edge_gmp.runtimes.tflite_contracts`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError
from edge_gmp.runtimes.tflite_contracts import _check_operator_shapes
from edge_gmp.runtimes.tflite_graph import (
    _BITS,
    _INT_BITS,
    _INT_DTYPES,
    _NO_FIXED_SIZE,
    _T,
    _TYPE_NAMES,
    _UINT_BITS,
    DECODE_OP,
    IDENTIFIER,
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    MAX_RANK,
    MAX_TENSOR_BYTES,
    OPTIONAL_INPUT_OPS,
    _check_utf8,
    _Graph,
    _ints,
    _Invalid,
    _label,
    _name,
    _one_line,
    _op_name,
)


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


class _StrictBytes(bytes):
    """The file's bytes for the flatbuffers reader, which slices strings without a bounds check (a string
    running past the end would come back short); here such a slice raises instead."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice) and key.stop is not None and key.stop > len(self):
            raise IndexError(f"a string runs past the end of the file (to byte {key.stop})")
        return super().__getitem__(key)


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


SCHEMA_VERSION = 3  # the only flatbuffer schema version LiteRT and TFLite Micro load


def _check_model(model: schema.ModelT, file_bytes: int) -> None:
    if model.version != SCHEMA_VERSION:
        raise _Invalid(f"schema version {model.version}; LiteRT and TFLite Micro load version {SCHEMA_VERSION} only "
                       "(LiteRT refuses any other)")
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
    if not p.exists():
        raise UserError(f"model file not found: {p}")
    if p.is_dir():
        raise UserError(f"{p} is a directory; give the .tflite file itself")
    if not p.is_file():  # never opened: a FIFO would block and a device could stream forever
        raise UserError(f"{p} is not a regular file (a device, FIFO or socket); give a .tflite file")
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


def load_checked(path: str | os.PathLike) -> tuple[TFLiteInfo, schema.ModelT]:
    """:func:`inspect_tflite`, then the parsed model object tree for readers that go on to use it."""
    info = inspect_tflite(path)
    return info, _parse(Path(path).read_bytes())


def decoded_constants(model: schema.ModelT, subgraph: int = 0) -> dict[int, np.ndarray | None]:
    """The values TFLM_DECODE writes into each of its output tensors in ``subgraph`` (flat, in memory order);
    None for a decoder this reader does not know (only PRUNING is decoded here)."""
    sg = model.subgraphs[subgraph]
    buffers = model.buffers or []
    constant = [bool(_buffer_bytes(buffers[t.buffer])) for t in sg.tensors]
    op_names = [_op_name(code) for code in model.operatorCodes or []]
    return _decode_outputs(_Graph(subgraph, sg.tensors, buffers, constant, op_names), sg.operators or [])
