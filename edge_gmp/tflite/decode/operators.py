"""Where a model's DECODE operators are and what they decode: the one discovery of (encoded, ancillary, output)
triples, on the flatbuffer's reader API (byte accounting, arena figures) and on its object API (the structural
check, the cuts, the code generator)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError
from edge_gmp.tflite.decode.base import DECODE_NAME, DECODE_OP, HEADER_BYTES, Target, codec_for
from edge_gmp.tflite.graph import INT_DTYPES, SubgraphView, T, ints, text

_ITEMSIZE = {T.BOOL: 1, T.INT8: 1, T.UINT8: 1, T.INT16: 2, T.UINT16: 2, T.FLOAT16: 2, T.INT32: 4,
             T.UINT32: 4, T.FLOAT32: 4, T.INT64: 8, T.UINT64: 8, T.FLOAT64: 8}


@dataclass(frozen=True)
class DecodePair:
    """One output of a DECODE operator with the (encoded, ancillary) tensors it is decoded from; ``type`` is byte
    0 of the ancillary data (-1 when it has none)."""

    subgraph: int
    operator: int  # the DECODE operator's index in its subgraph
    encoded: int  # tensor indices in the subgraph
    ancillary: int
    output: int
    encoded_buffer: int
    ancillary_buffer: int
    type: int


def decode_pairs(model: schema.Model) -> Iterator[DecodePair]:
    """Every DECODE output of ``model`` (the flatbuffer reader API), in subgraph and operator order. The
    generated reader raises IndexError, struct.error or ValueError on offsets the file does not hold."""
    codes = {i for i in range(model.OperatorCodesLength())
             if (model.OperatorCodes(i).CustomCode() or b"").decode() == DECODE_NAME}
    for s in range(model.SubgraphsLength()) if codes else ():
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(o)
            if op.OpcodeIndex() not in codes:
                continue
            inputs, outputs = op.InputsAsNumpy(), op.OutputsAsNumpy()
            for k, out in enumerate(outputs):
                encoded, ancillary = (int(i) for i in inputs[2 * k:2 * k + 2])
                buffers = subgraph.Tensors(encoded).Buffer(), subgraph.Tensors(ancillary).Buffer()
                extra = model.Buffers(buffers[1])
                kind = int(extra.DataAsNumpy()[0]) if extra.DataLength() else -1
                yield DecodePair(s, o, encoded, ancillary, int(out), *buffers, kind)


@dataclass(frozen=True)
class DecodedTensor:
    """One output of a TFLM_DECODE operator: a constant stored encoded in flash and decoded at run time."""

    subgraph: int
    operator: int  # the DECODE operator's index in its subgraph
    encoded: int  # the encoded tensor's index in its subgraph
    method: str  # the codec's name ("prune", "lut") or "type N" for a decode type no codec handles
    stored_bytes: int  # encoded data + ancillary data (its 16-byte DECODE header included)
    decoded_bytes: int


def _decoded_tensor(model: schema.Model, pair: DecodePair) -> DecodedTensor:
    decoded = model.Subgraphs(pair.subgraph).Tensors(pair.output)
    elements = int(np.prod(decoded.ShapeAsNumpy())) if decoded.ShapeLength() else 1
    codec = codec_for(pair.type) if pair.type >= 0 else None
    stored = model.Buffers(pair.encoded_buffer).DataLength() + model.Buffers(pair.ancillary_buffer).DataLength()
    return DecodedTensor(pair.subgraph, pair.operator, pair.encoded,
                         codec.name if codec else f"type {pair.type}", stored,
                         elements * _ITEMSIZE.get(decoded.Type(), 0))


def decoded_tensors(data: bytes) -> list[DecodedTensor]:
    """Every DECODE output, read from the flatbuffer (no interpreter); empty for a model without DECODE.
    UserError for DECODE operators that refer to tensors or buffers the file does not have."""
    try:
        model = schema.Model.GetRootAs(data, 0)
        return [_decoded_tensor(model, pair) for pair in decode_pairs(model)]
    except Exception as exc:  # flatbuffers raises IndexError/struct.error/ValueError on bad offsets
        raise UserError(f"malformed {DECODE_NAME} operator ({type(exc).__name__}: {exc})") from exc


# --- the object API (schema.ModelT) ------------------------------------------------------------------------


def decode_operators(model: schema.ModelT, subgraph: schema.SubGraphT) -> list[schema.OperatorT]:
    """The DECODE operators of ``subgraph``."""
    return [op for op in subgraph.operators or []
            if text(model.operatorCodes[op.opcodeIndex].customCode) == DECODE_NAME]


def decoded_values(view: SubgraphView, encoded: int, ancillary: int, out: int) -> np.ndarray | None:
    """What DECODE writes into integer tensor ``out``, flat in memory order, or None where this reader cannot
    tell (a codec without a Python decoder, inconsistent sizes: the operator contract check reports those)."""
    data, aux, tensor = view.data(encoded), view.data(ancillary), view.tensors[out]
    dtype, shape = INT_DTYPES.get(tensor.type), view.shape(out)
    if data is None or aux is None or dtype is None or shape is None or len(aux) < HEADER_BYTES:
        return None
    codec = codec_for(aux[0])
    if codec is None or codec.decode is None:
        return None
    q = tensor.quantization
    zeros = ints(q.zeroPoint) if q is not None else [0]
    target = Target(view.tensor_label(out), shape, np.dtype(dtype).itemsize, dtype, zeros[0] if zeros else 0)
    return codec.decode(data, aux, target)


def decode_outputs(view: SubgraphView, ops: list[schema.OperatorT]) -> dict[int, np.ndarray | None]:
    """Decoded values of every DECODE output tensor (see :func:`decoded_values`)."""
    found: dict[int, np.ndarray | None] = {}
    for op in ops:
        if view.op_names[op.opcodeIndex] != DECODE_OP:
            continue
        ins, outs = ints(op.inputs), ints(op.outputs)
        for encoded, ancillary, out in zip(ins[::2], ins[1::2], outs, strict=False):
            found[out] = decoded_values(view, encoded, ancillary, out)
    return found


def decode_inputs(view: SubgraphView, ops: list[schema.OperatorT]) -> set[int]:
    """The tensors DECODE operators read as encoded/ancillary data."""
    return {t for op in ops if view.op_names[op.opcodeIndex] == DECODE_OP for t in ints(op.inputs)}
