"""Check that a file is a complete TFLite flatbuffer before any native runtime touches it.

LiteRT segfaults on a truncated flatbuffer, so every .tflite is parsed here first (pure Python, the whole
object tree and every buffer), which turns bad files into a UserError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError

IDENTIFIER = b"TFL3"
_OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


@dataclass(frozen=True)
class TFLiteInfo:
    path: str
    size_bytes: int
    ops: tuple[str, ...]  # unique op names in first-use order (custom ops as "CUSTOM:<name>")
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    sparse_tensors: tuple[str, ...]  # tensors stored with sparsity parameters
    subgraphs: int

    @property
    def sparse_encoded(self) -> bool:
        """Sparse-encoded weights (DENSIFY op or sparsity params): TFLite Micro cannot run these."""
        return bool(self.sparse_tensors) or "DENSIFY" in self.ops


def _name(raw: bytes | str | None) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")


def _op_name(code: schema.OperatorCodeT) -> str:
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        return f"CUSTOM:{_name(code.customCode)}"
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def _parse(data: bytes) -> schema.ModelT:
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    for buf in model.buffers or []:
        if buf.offset > 1 and buf.offset + buf.size > len(data):
            raise ValueError(f"buffer at offset {buf.offset} (+{buf.size} bytes) runs past the end")
    if not model.subgraphs:
        raise ValueError("the model has no subgraph")
    return model


def inspect_tflite(path: str | os.PathLike) -> TFLiteInfo:
    """Parse and sanity-check ``path``; raise UserError (missing, not a flatbuffer, truncated/corrupt)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"model file not found: {p}")
    data = p.read_bytes()
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise UserError(f"{p} is not a TFLite flatbuffer (no 'TFL3' identifier at bytes 4-8); "
                        "expected a .tflite file written by the TFLite converter")
    try:
        model = _parse(data)
    except Exception as exc:  # flatbuffers raises struct.error/IndexError/ValueError on bad offsets
        raise UserError(f"{p} is truncated or corrupt ({len(data)} bytes): {exc}") from exc
    codes = model.operatorCodes or []
    ops: dict[str, None] = {}
    sparse = []
    for sg in model.subgraphs:
        for op in sg.operators or []:
            if not 0 <= op.opcodeIndex < len(codes):
                raise UserError(f"{p} is corrupt: operator code index {op.opcodeIndex} out of range")
            ops.setdefault(_op_name(codes[op.opcodeIndex]))
        sparse += [_name(t.name) for t in sg.tensors or [] if t.sparsity is not None]
    main = model.subgraphs[0]
    tensors = main.tensors or []
    names = [_name(t.name) for t in tensors]
    try:
        ins = tuple(names[i] for i in (main.inputs if main.inputs is not None else []))
        outs = tuple(names[i] for i in (main.outputs if main.outputs is not None else []))
    except IndexError as exc:
        raise UserError(f"{p} is corrupt: an input/output refers to a missing tensor") from exc
    return TFLiteInfo(path=str(p), size_bytes=len(data), ops=tuple(ops), input_names=ins, output_names=outs,
                      sparse_tensors=tuple(sparse), subgraphs=len(model.subgraphs))
