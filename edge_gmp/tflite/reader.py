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

This module reads the file, runs the checks (:mod:`edge_gmp.tflite.check`) and summarises the model; the shared
limits, type tables and subgraph view live in :mod:`edge_gmp.tflite.graph`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.errors import UserError
from edge_gmp.tflite.check import check_model
from edge_gmp.tflite.decode.operators import decode_outputs
from edge_gmp.tflite.graph import (
    IDENTIFIER,
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    Invalid,
    SubgraphView,
    buffer_bytes,
    ints,
    one_line,
    operator_name,
    text,
)


@dataclass(frozen=True)
class TFLiteInfo:
    """What :func:`inspect_tflite` reports of a checked file."""

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
            raise Invalid(f"the model declares {n} {what} (more than {MAX_ENTRIES}); the file is corrupt")


def _parse(data: bytes) -> schema.ModelT:
    strict = _StrictBytes(data)
    root = schema.Model.GetRootAsModel(strict, 0)
    _check_counts(root)
    return schema.ModelT.InitFromObj(root)


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
    op_names = [operator_name(code) for code in model.operatorCodes or []]
    ops: dict[str, None] = {}
    sparse = []
    for sg in model.subgraphs:
        for op in sg.operators or []:
            ops.setdefault(op_names[op.opcodeIndex])
        sparse += [text(t.name) for t in sg.tensors or [] if t.sparsity is not None]
    main = model.subgraphs[0]
    names = [text(t.name) for t in main.tensors or []]
    return TFLiteInfo(path=str(p), size_bytes=size, ops=tuple(ops),
                      input_names=tuple(names[i] for i in ints(main.inputs)),
                      output_names=tuple(names[i] for i in ints(main.outputs)),
                      sparse_tensors=tuple(sparse), subgraphs=len(model.subgraphs),
                      tensors=len(names), operators=len(main.operators or []))


def inspect_tflite(path: str | os.PathLike) -> TFLiteInfo:
    """Parse and structurally check ``path``; raise UserError (one line) for a missing, oversized, truncated,
    corrupt or inconsistent file, so that no native runtime ever opens it."""
    p = Path(path)
    data = _read(p)
    try:
        model = _parse(data)
    except Invalid as exc:
        raise UserError(one_line(f"{p} is corrupt: {exc}")) from None
    except Exception as exc:  # the generated reader raises struct.error/IndexError/TypeError/... on bad offsets
        raise UserError(one_line(f"{p} is truncated or corrupt ({len(data)} bytes): the flatbuffer does not "
                                 f"parse ({type(exc).__name__}: {exc})")) from None
    try:
        check_model(model, len(data))
    except Invalid as exc:
        raise UserError(one_line(f"{p} is not a valid TFLite model: {exc}")) from None
    return _summary(p, len(data), model)


def load_checked(path: str | os.PathLike) -> tuple[TFLiteInfo, schema.ModelT]:
    """:func:`inspect_tflite`, then the parsed model object tree for readers that go on to use it."""
    info = inspect_tflite(path)
    return info, _parse(Path(path).read_bytes())


def decoded_constants(model: schema.ModelT, subgraph: int = 0) -> dict[int, np.ndarray | None]:
    """The values TFLM_DECODE writes into each of its output tensors in ``subgraph`` (flat, in memory order);
    None for a decode type whose codec has no Python decoder (only PRUNING's has one)."""
    sg = model.subgraphs[subgraph]
    buffers = model.buffers or []
    constant = [bool(buffer_bytes(buffers[t.buffer])) for t in sg.tensors]
    op_names = [operator_name(code) for code in model.operatorCodes or []]
    return decode_outputs(SubgraphView(subgraph, sg.tensors, buffers, constant, op_names), sg.operators or [])
