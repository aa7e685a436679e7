"""The shared base of the .tflite structural check (:mod:`edge_gmp.runtimes.tflite_file`).

It holds the limits and type tables, the one-line :class:`_Invalid` error every check raises, the small helpers
that read flatbuffer fields and name tensors in messages, and :class:`_Graph`, the view of one subgraph the
operator contracts (:mod:`edge_gmp.runtimes.tflite_contracts`) and the subgraph checks look tensors up in.
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
_INT_DTYPES = {_T.INT8: np.int8, _T.INT16: np.int16, _T.INT32: np.int32, _T.INT64: np.int64, _T.UINT8: np.uint8}


class _Invalid(Exception):
    """A structural problem; inspect_tflite prefixes the path and raises it as a UserError."""


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
