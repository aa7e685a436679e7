"""Sparse-encode the pruned int8 constants of a correct dense .tflite: CSR ``SparsityParameters`` + DENSIFY.

Why not the converter's own encoding: with ``Optimize.EXPERIMENTAL_SPARSITY`` and int8 quantisation, TFLiteConverter
gives a fully connected weight a 1x16 block encoding (``block_map`` [1]) and feeds it straight to
FULLY_CONNECTED version 8 (LiteRT's int8 block-sparse kernel), even when the input dimension is no multiple of 16
(FastGRNN's 9 sensor channels): the 64x9 matrix keeps one block of 16 values, the others are lost and the file's
outputs are wrong (near chance on HAR-2, where the dense int8 file is right).
The weights it encodes as plain CSR behind a DENSIFY op are right; this module writes that form for every pruned
int8 constant of the dense int8 file (int8 or int16x8 activations alike: DENSIFY only restores the weights).

The encoding follows the schema's ``SparsityParameters`` as LiteRT's DENSIFY kernel (``FormatConverter`` in
``kernels/internal/utils/sparsity_format_converter``) and its flatbuffer verifier read it:

- ``traversal_order`` is the identity (0, ..., n-1); no ``block_map``.
- Levels ``0 .. split-1`` are DENSE with ``dense_size`` = that dimension; levels ``split .. n-1`` are SPARSE_CSR.
  A CSR level's ``array_segments`` has one entry per position of the level above, plus one (a DENSE prefix has
  ``prod(shape[:split])`` positions, a CSR level as many as its ``array_indices``): the children of position
  ``p`` are ``array_indices[segments[p]:segments[p + 1]]``, each a coordinate in that dimension.
- The buffer holds the non-zero values in row-major order (the order DENSIFY walks the levels in).
- Index arrays are the narrowest of Uint8Vector / Uint16Vector / Int32Vector that holds their largest value.

Per tensor the split with the fewest bytes is kept, and a tensor is encoded only when that saves more than the
flatbuffer overhead of the extra tensor and DENSIFY op. The original tensor becomes DENSIFY's output (same index,
name and quantisation, no data), so its consumers are untouched and DENSIFY restores its values exactly.
TFLite Micro has no DENSIFY kernel: these files are for LiteRT only.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper

IDENTIFIER = b"TFL3"
OVERHEAD_BYTES = 256  # file bytes per encoded tensor beyond its values and index arrays (extra tensor and name,
#                       DENSIFY op, buffers, sparsity tables, alignment): 230-260 on the released models
DENSIFY_VERSION = 1  # what TFLiteConverter writes for int8 DENSIFY
MIN_RUNTIME = (2, 3, 0)  # the converter's min_runtime_version for an int8 file with DENSIFY

_VECTORS = (  # (largest value, SparseIndexVector type, object-API class, numpy dtype)
    (0xFF, schema.SparseIndexVector.Uint8Vector, schema.Uint8VectorT, np.uint8),
    (0xFFFF, schema.SparseIndexVector.Uint16Vector, schema.Uint16VectorT, np.uint16),
    (0x7FFFFFFF, schema.SparseIndexVector.Int32Vector, schema.Int32VectorT, np.int32),
)


@dataclasses.dataclass(frozen=True)
class CsrLevel:
    segments: np.ndarray  # int64: positions of the level above + 1
    indices: np.ndarray  # int64: a coordinate in this level's dimension per stored child


@dataclasses.dataclass(frozen=True)
class SparseEncoding:
    """One tensor: dense levels ``shape[:split]``, CSR levels ``shape[split:]``, then the stored values."""

    shape: tuple[int, ...]
    split: int
    levels: tuple[CsrLevel, ...]  # one per CSR level, outermost first
    values: np.ndarray  # the non-zeros, row-major

    @property
    def nbytes(self) -> int:
        """Bytes of the values and index arrays (each vector at its narrowest width, with its length word)."""
        total = self.values.nbytes
        for level in self.levels:
            for arr in (level.segments, level.indices):
                total += 4 + int(arr.size) * np.dtype(_vector_for(arr)[3]).itemsize
        return total


def _vector_for(arr: np.ndarray) -> tuple:
    top = int(arr.max()) if arr.size else 0
    for entry in _VECTORS:
        if top <= entry[0]:
            return entry
    raise ValueError(f"sparse index {top} does not fit an Int32Vector")


def csr_encode(dense: np.ndarray, split: int) -> SparseEncoding:
    """``dense`` with its first ``split`` dimensions DENSE and the rest SPARSE_CSR (0 <= split < ndim)."""
    dense = np.asarray(dense)
    shape = tuple(int(d) for d in dense.shape)
    if not 0 <= split < len(shape):
        raise ValueError(f"split {split} is not a dimension of shape {shape}")
    coords = np.argwhere(dense != 0)  # row-major: lexicographic, the order DENSIFY writes values in
    # positions of the dense prefix: the parent of each level-`split` child
    parent = (np.ravel_multi_index(tuple(coords[:, :split].T), shape[:split]) if split
              else np.zeros(len(coords), dtype=np.int64))
    n_parents = int(np.prod(shape[:split], dtype=np.int64))
    levels = []
    for level in range(split, len(shape)):
        prefix = coords[:, :level + 1]
        if len(prefix):
            first = np.ones(len(prefix), dtype=bool)  # a node starts where its prefix differs from the row before
            first[1:] = np.any(prefix[1:] != prefix[:-1], axis=1)
        else:
            first = np.zeros(0, dtype=bool)
        node_parent = parent[first]
        counts = np.bincount(node_parent, minlength=n_parents)
        segments = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        levels.append(CsrLevel(segments=segments, indices=coords[first, level].astype(np.int64)))
        parent = np.cumsum(first) - 1  # each entry's node at this level is its parent at the next
        n_parents = int(first.sum())
    return SparseEncoding(shape=shape, split=split, levels=tuple(levels), values=dense[dense != 0])


def csr_decode(encoding: SparseEncoding, dtype: np.dtype | type = np.int8) -> np.ndarray:
    """The dense tensor an encoding describes, read the way DENSIFY reads it (levels in order, values in turn);
    ValueError when the metadata is inconsistent (the checks of LiteRT's flatbuffer verifier)."""
    shape, split = encoding.shape, encoding.split
    positions = [np.arange(int(np.prod(shape[:split], dtype=np.int64)), dtype=np.int64)]
    coords = np.array(list(np.ndindex(*shape[:split])), dtype=np.int64).reshape(len(positions[0]), split)
    for k, level in enumerate(encoding.levels):
        seg, idx = level.segments, level.indices
        if len(seg) != len(coords) + 1 or seg[0] != 0 or np.any(np.diff(seg) < 0) or seg[-1] != len(idx):
            raise ValueError(f"level {split + k}: segments do not fit the {len(coords)} positions above")
        if len(idx) and (idx.min() < 0 or idx.max() >= shape[split + k]):
            raise ValueError(f"level {split + k}: an index is outside dimension {shape[split + k]}")
        parent = np.repeat(np.arange(len(coords)), np.diff(seg))
        coords = np.concatenate([coords[parent], idx[:, None]], axis=1)
    if len(coords) != len(encoding.values):
        raise ValueError(f"{len(coords)} stored positions but {len(encoding.values)} values")
    out = np.zeros(shape, dtype=dtype)
    out[tuple(coords.T)] = encoding.values
    return out


def best_encoding(dense: np.ndarray) -> SparseEncoding | None:
    """The smallest identity-order CSR encoding of ``dense`` over every split, or None for a tensor with no
    non-zero value (DENSIFY needs a constant input, and an empty buffer is not one) or of rank 0."""
    dense = np.asarray(dense)
    if dense.ndim == 0 or not np.any(dense):
        return None
    return min((csr_encode(dense, split) for split in range(dense.ndim)), key=lambda e: e.nbytes)


def _index_vector(arr: np.ndarray) -> tuple[int, object]:
    _, kind, cls, dtype = _vector_for(arr)
    vec = cls()
    vec.values = arr.astype(dtype)
    return kind, vec


def sparsity_parameters(encoding: SparseEncoding) -> schema.SparsityParametersT:
    """The flatbuffer table for ``encoding`` (object API)."""
    params = schema.SparsityParametersT()
    params.traversalOrder = np.arange(len(encoding.shape), dtype=np.int32)
    params.dimMetadata = []
    for dim, size in enumerate(encoding.shape):
        meta = schema.DimensionMetadataT()
        if dim < encoding.split:
            meta.format, meta.denseSize = schema.DimensionType.DENSE, size
        else:
            level = encoding.levels[dim - encoding.split]
            meta.format = schema.DimensionType.SPARSE_CSR
            meta.arraySegmentsType, meta.arraySegments = _index_vector(level.segments)
            meta.arrayIndicesType, meta.arrayIndices = _index_vector(level.indices)
        params.dimMetadata.append(meta)
    return params


@dataclasses.dataclass(frozen=True)
class EncodedTensor:
    subgraph: int
    tensor: int
    name: str
    shape: tuple[int, ...]
    dense_bytes: int
    encoded_bytes: int  # values + index arrays
    nonzero: int


@dataclasses.dataclass(frozen=True)
class SparseModel:
    data: bytes
    tensors: tuple[EncodedTensor, ...]


def _densify_opcode(model: schema.ModelT) -> int:
    for k, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DENSIFY:
            return k
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DENSIFY
    code.version = DENSIFY_VERSION
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _buffer_refs(model: schema.ModelT) -> dict[int, int]:
    refs: dict[int, int] = {}
    for sg in model.subgraphs:
        for t in sg.tensors or []:
            refs[t.buffer] = refs.get(t.buffer, 0) + 1
    for md in model.metadata or []:
        refs[md.buffer] = refs.get(md.buffer, 0) + 1
    return refs


def _candidates(model: schema.ModelT, sg: schema.SubGraphT) -> list[int]:
    """Constant int8 tensors read by an operator that are not graph inputs or outputs."""
    read = {i for op in sg.operators or [] for i in (op.inputs if op.inputs is not None else []) if i >= 0}
    io = {int(i) for i in (*(sg.inputs if sg.inputs is not None else []),
                           *(sg.outputs if sg.outputs is not None else []))}
    found = []
    for index, t in enumerate(sg.tensors or []):
        buf = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers) else None
        if (index in read and index not in io and t.type == schema.TensorType.INT8 and t.sparsity is None
                and not t.isVariable and buf is not None and buf.data is not None and len(buf.data)
                and not buf.offset and t.shape is not None and len(t.shape)):
            found.append(index)
    return found


def _bump_min_runtime(model: schema.ModelT) -> None:
    """The converter's ``min_runtime_version`` string, raised to one with int8 DENSIFY, in its own buffer."""
    for md in model.metadata or []:
        buf = model.buffers[md.buffer]
        if md.name != b"min_runtime_version" or buf.data is None:
            continue
        raw = bytes(buf.data)
        found = re.match(rb"(\d+)\.(\d+)\.(\d+)", raw)
        if found and tuple(int(g) for g in found.groups()) < MIN_RUNTIME:
            text = ".".join(map(str, MIN_RUNTIME)).encode()
            buf.data = np.frombuffer(text + b"\0" * max(0, len(raw) - len(text)), dtype=np.uint8)


def _pack(model: schema.ModelT) -> bytes:
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    with tempfile.TemporaryDirectory() as tmp:  # TFLM's C++ tool honours the schema's 16-byte buffer alignment
        src, dst = Path(tmp, "in.tflite"), Path(tmp, "out.tflite")
        src.write_bytes(bytes(builder.Output()))
        tflite_flatbuffer_align_wrapper.align_tflite_model(str(src), str(dst))
        return dst.read_bytes()


def encode_sparse_tflite(data: bytes, overhead: int = OVERHEAD_BYTES) -> SparseModel:
    """``data`` (a dense .tflite) with each constant int8 tensor whose CSR encoding saves more than ``overhead``
    bytes stored sparse behind a DENSIFY op; unchanged tensors keep their bytes. Values are exact: DENSIFY
    rebuilds every element (zeros are stored as integer 0, the value the dense tensor held)."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    refs = _buffer_refs(model)
    encoded: list[EncodedTensor] = []
    for g, sg in enumerate(model.subgraphs):
        densify_ops = []
        for index in _candidates(model, sg):
            t = sg.tensors[index]
            shape = tuple(int(d) for d in t.shape)
            raw = np.asarray(model.buffers[t.buffer].data, dtype=np.uint8)
            if raw.size != int(np.prod(shape, dtype=np.int64)):
                continue  # not a plain dense tensor of this shape
            dense = raw.view(np.int8).reshape(shape)
            enc = best_encoding(dense)
            if enc is None or enc.nbytes + overhead >= dense.nbytes:
                continue
            sparse = schema.TensorT()
            sparse.shape = np.asarray(shape, dtype=np.int32)
            sparse.type = schema.TensorType.INT8
            sparse.name = (t.name or b"") + b"_sparse"
            sparse.sparsity = sparsity_parameters(enc)
            stored = schema.BufferT()
            stored.data = enc.values.astype(np.int8).view(np.uint8)
            model.buffers.append(stored)
            sparse.buffer = len(model.buffers) - 1
            sg.tensors.append(sparse)
            refs[t.buffer] -= 1
            if refs[t.buffer] == 0:  # no other tensor shares the dense bytes: drop them
                model.buffers[t.buffer].data = None
            model.buffers.append(schema.BufferT())
            t.buffer = len(model.buffers) - 1  # the original tensor is now DENSIFY's (non-constant) output
            op = schema.OperatorT()
            op.opcodeIndex = _densify_opcode(model)
            op.inputs = np.asarray([len(sg.tensors) - 1], dtype=np.int32)
            op.outputs = np.asarray([index], dtype=np.int32)
            densify_ops.append(op)
            encoded.append(EncodedTensor(g, index, (t.name or b"").decode(errors="replace"), shape,
                                         int(dense.nbytes), enc.nbytes, int(enc.values.size)))
        sg.operators = densify_ops + list(sg.operators or [])
    if not encoded:
        return SparseModel(data=bytes(data), tensors=())
    _bump_min_runtime(model)
    return SparseModel(data=_pack(model), tensors=tuple(encoded))


__all__ = ["SparseEncoding", "SparseModel", "best_encoding", "csr_decode", "csr_encode", "encode_sparse_tflite",
           "sparsity_parameters"]
