"""The integer graph the generator compiles: tensors and operators of a checked .tflite's main subgraph, with
TFLM_DECODE operators folded away (their outputs become the constants they decode to)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError
from edge_gmp.tflite import decoded_constants, load_checked
from edge_gmp.tflite.decode import DECODE_OP
from edge_gmp.tflite.graph import T, operator_name, text

DTYPES = {T.INT8: "int8", T.INT16: "int16", T.INT32: "int32", T.INT64: "int64", T.FLOAT32: "float32",
          T.UINT8: "uint8", T.BOOL: "bool", T.INT4: "int4", T.FLOAT16: "float16"}


class UnsupportedModel(UserError):
    """The model uses an operator, type or option the generator does not compile."""


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scales: np.ndarray  # float32, empty when not quantised
    zero_points: np.ndarray  # int64
    axis: int = 0
    data: np.ndarray | None = None  # constant values, shaped
    encoded_bytes: int | None = None  # bytes in the file when the values came through TFLM_DECODE

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def scale(self) -> float:
        return float(self.scales[0]) if len(self.scales) else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if len(self.zero_points) else 0

    @property
    def quantized(self) -> bool:
        return len(self.scales) > 0

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize


@dataclass
class Op:
    index: int
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: Any = None


@dataclass
class Graph:
    path: str
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    io_names: dict[int, str] = field(default_factory=dict)  # graph input/output tensor -> C parameter name

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def consumers(self, index: int) -> list[Op]:
        return [op for op in self.ops if index in op.inputs]


def _tensor(index: int, t: schema.TensorT, buffers: list[schema.BufferT]) -> Tensor:
    q = t.quantization
    scales = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
    zeros = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
    dtype = DTYPES.get(t.type, f"type {t.type}")
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    raw = buffers[t.buffer].data if t.buffer < len(buffers) else None
    data = None
    if raw is not None and len(raw) and dtype in ("int8", "int16", "int32", "int64", "float32", "uint8"):
        data = np.frombuffer(bytes(raw), dtype=dtype).reshape(shape)
    axis = int(q.quantizedDimension) if q is not None else 0
    return Tensor(index, text(t.name), shape, dtype, scales, zeros, axis, data)


def _c_identifier(name: str, fallback: str) -> str:
    """A C parameter name from a tensor or signature name (``serving_default_x_t:0`` -> ``x_t``)."""
    text = re.sub(r"^serving_default_", "", name)
    text = re.sub(r":\d+$", "", text)
    text = re.sub(r"\W+", "_", text).strip("_")
    return text if re.fullmatch(r"[A-Za-z_]\w{0,30}", text or "") else fallback


def _io_names(model: schema.ModelT, sg: schema.SubGraphT, tensors: list[Tensor]) -> dict[int, str]:
    names: dict[int, str] = {}
    for sig in model.signatureDefs or []:
        if sig.subgraphIndex == 0:
            for entry in list(sig.inputs or []) + list(sig.outputs or []):
                names[int(entry.tensorIndex)] = text(entry.name)
    result: dict[int, str] = {}
    for kind, indices in (("in", sg.inputs), ("out", sg.outputs)):
        for i, t in enumerate(int(v) for v in indices):
            result[t] = _c_identifier(names.get(t, tensors[t].name), f"{kind}{i}")
    if len(set(result.values())) != len(result):
        result = {int(t): f"in{i}" for i, t in enumerate(sg.inputs)}
        result.update({int(t): f"out{i}" for i, t in enumerate(sg.outputs)})
    return result


def _fold_decode(model: schema.ModelT, tensors: list[Tensor], ops: list[Op], path: Path) -> list[Op]:
    decoded = decoded_constants(model, 0)
    kept = []
    for op in ops:
        if op.kind != DECODE_OP:
            kept.append(op)
            continue
        encoded = sum(tensors[t].data.nbytes for t in op.inputs if tensors[t].data is not None)
        for out in op.outputs:
            values = decoded.get(out)
            if values is None:
                raise UnsupportedModel(f"{path}: operator {op.index} ({DECODE_OP}) uses a decoder other than PRUNING; "
                                       "the code generator reads PRUNING-compressed or uncompressed files only")
            t = tensors[out]
            t.data = np.asarray(values).reshape(t.shape)
            t.encoded_bytes = encoded // max(len(op.outputs), 1)
    return kept


def load_graph(path: str | os.PathLike) -> Graph:
    """Check ``path`` (the structural .tflite check every runtime gets first) and read its main subgraph."""
    p = Path(path)
    _, model = load_checked(p)
    if len(model.subgraphs) != 1:
        raise UnsupportedModel(f"{p} has {len(model.subgraphs)} subgraphs; the code generator compiles "
                               "single-subgraph models (no control flow)")
    sg = model.subgraphs[0]
    buffers = model.buffers or []
    tensors = [_tensor(i, t, buffers) for i, t in enumerate(sg.tensors)]
    names = [operator_name(code) for code in model.operatorCodes or []]
    ops = [Op(i, names[op.opcodeIndex], [int(v) for v in op.inputs], [int(v) for v in op.outputs],
              op.builtinOptions) for i, op in enumerate(sg.operators)]
    ops = _fold_decode(model, tensors, ops, p)
    graph = Graph(str(p), tensors, ops, [int(v) for v in sg.inputs], [int(v) for v in sg.outputs])
    graph.io_names = _io_names(model, sg, tensors)
    return graph
