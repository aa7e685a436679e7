"""The TFLite format's shared vocabulary: the file identifier, limits and type tables, the one-line
:class:`Invalid` error every structural check raises, the helpers that read flatbuffer fields and name tensors in
messages, and :class:`SubgraphView`, the view of one subgraph the checks (:mod:`edge_gmp.tflite.check`), the
operator contracts (:mod:`edge_gmp.tflite.contracts`) and the DECODE readers look tensors up in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

IDENTIFIER = b"TFL3"
MAX_FILE_BYTES = 64 << 20  # far above any microcontroller's flash; both runtimes load the file whole
MAX_ENTRIES = 100_000  # subgraphs, operators, tensors, buffers...: bounds the parse time of a hostile file
MAX_RANK = 8
MAX_TENSOR_BYTES = 1 << 30
# Builtin ops with optional inputs (-1 in the operator's input list); other kernels read an absent input as a
# null pointer.
OPTIONAL_INPUT_OPS = frozenset(
    "FULLY_CONNECTED CONV_2D DEPTHWISE_CONV_2D TRANSPOSE_CONV CONV_3D CONV_3D_TRANSPOSE SVDF LSTM RNN "
    "UNIDIRECTIONAL_SEQUENCE_LSTM BIDIRECTIONAL_SEQUENCE_LSTM UNIDIRECTIONAL_SEQUENCE_RNN BIDIRECTIONAL_SEQUENCE_RNN"
    .split())

T = schema.TensorType
OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(T).items() if not k.startswith("_")}
BITS = {T.FLOAT32: 32, T.FLOAT16: 16, T.INT32: 32, T.UINT8: 8, T.INT64: 64, T.BOOL: 8, T.INT16: 16,
         T.COMPLEX64: 64, T.INT8: 8, T.FLOAT64: 64, T.COMPLEX128: 128, T.UINT64: 64, T.UINT32: 32,
         T.UINT16: 16, T.INT4: 4, T.BFLOAT16: 16, T.INT2: 2, T.UINT4: 4, T.FLOAT8_E4M3FN: 8,
         T.FLOAT8_E5M2: 8}
NO_FIXED_SIZE = {T.STRING, T.RESOURCE, T.VARIANT}
INT_BITS = {T.INT2: 2, T.INT4: 4, T.INT8: 8, T.INT16: 16, T.INT32: 32, T.INT64: 64}
UINT_BITS = {T.UINT4: 4, T.UINT8: 8, T.UINT16: 16, T.UINT32: 32, T.UINT64: 64}
INT_DTYPES = {T.INT8: np.int8, T.INT16: np.int16, T.INT32: np.int32, T.INT64: np.int64, T.UINT8: np.uint8}


class Invalid(Exception):
    """A structural problem; :func:`edge_gmp.tflite.inspect_tflite` prefixes the path and raises it as a UserError."""


def text(raw: bytes | str | None) -> str:
    """A flatbuffer string (bytes, str or absent) as text; undecodable bytes become replacement characters."""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")


def ints(values: Any) -> list[int]:
    """A flatbuffer int vector (numpy array, list or absent) as a list of Python ints."""
    if values is None or isinstance(values, int):
        return []
    return [int(v) for v in values]


def operator_name(code: schema.OperatorCodeT) -> str:
    """The builtin operator's schema name, or "CUSTOM:<name>" for a custom operator."""
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        return f"CUSTOM:{text(code.customCode)}"
    return OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def entry_label(kind: str, index: int, name: str) -> str:
    """``kind index 'name'`` for messages, the name shortened past 60 characters."""
    short = name if len(name) <= 60 else name[:57] + "..."
    return f"{kind} {index} {short!r}"


def buffer_bytes(buffer: schema.BufferT) -> int:
    """The constant data a buffer holds (0: none). Buffers past 2 GiB live after the flatbuffer at offset."""
    if buffer.data is not None and len(buffer.data):
        return len(buffer.data)
    return int(buffer.size) if buffer.offset > 1 else 0


def check_utf8(what: str, raw: bytes | str | None) -> None:
    """LiteRT's Python API decodes names as UTF-8 and raises outside its documented errors otherwise."""
    if isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"{what} is not valid UTF-8") from None


def one_line(message: str) -> str:
    """``message`` with every run of whitespace, newlines included, as one space."""
    return " ".join(message.split())


# --- the subgraph as the operator checks see it ----------------------------------------------------------


@dataclass
class SubgraphView:
    """One subgraph with what the operator checks need to name and look up its tensors."""

    index: int
    tensors: list[schema.TensorT]
    buffers: list[schema.BufferT]
    constant: list[bool]
    op_names: list[str]

    def tensor_label(self, t: int) -> str:
        return f"subgraph {self.index} " + entry_label("tensor", t, text(self.tensors[t].name))

    def check_index(self, where: str, t: int, optional: bool = False) -> None:
        if optional and t == -1:
            return
        if not 0 <= t < len(self.tensors):
            raise Invalid(f"{where} refers to tensor {t}, out of range (subgraph {self.index} has "
                          f"{len(self.tensors)} tensors)")

    def shape(self, t: int) -> list[int] | None:
        """The shape of tensor ``t`` as TFLite Micro sizes it (none or empty: a scalar); None for an absent
        optional input or a dynamic shape (-1 in shape_signature), which the shape rules skip."""
        if t < 0 or -1 in ints(self.tensors[t].shapeSignature):
            return None
        return ints(self.tensors[t].shape)

    def data(self, t: int) -> np.ndarray | None:
        """The inline constant bytes of tensor ``t`` (None: not constant, or stored past 2 GiB)."""
        data = self.buffers[self.tensors[t].buffer].data if t >= 0 else None
        return data if data is not None and len(data) else None

    def int_data(self, t: int) -> list[int] | None:
        data = self.data(t)
        kind = {T.INT32: "<i4", T.INT64: "<i8"}.get(self.tensors[t].type) if t >= 0 else None
        return None if data is None or kind is None else [int(v) for v in np.frombuffer(bytes(data), kind)]
