"""compress_tflite: a pruned .tflite in, a smaller one that TFLite Micro runs with identical outputs out."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import decode_insert, model_editor, tensor_type
from tflite_micro.tensorflow.lite.micro.compression.compressor import CompressionResult
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.export.compression import cuts
from edge_gmp.export.compression.accounting import byte_breakdown
from edge_gmp.export.compression.errors import CompressionInputError
from edge_gmp.export.compression.selection import Plan, methods, plan_model
from edge_gmp.tflite.decode import DECODE_NAME
from edge_gmp.tflite.decode.values import tensor_values
from edge_gmp.tflite.graph import IDENTIFIER
from edge_gmp.tflite.writer import align, pack

OFFLINE_PLAN = "OfflineMemoryAllocation"  # TFLM reads it: one arena offset per tensor


@dataclass(frozen=True)
class TensorRow:
    """One constant tensor read by an operator; ``method`` is "dense", "prune" or "lut"; ``bytes_after`` is the
    encoded plus ancillary data (the DECODE operator's flatbuffer overhead is in "structure"); ``nonzeros`` is
    -1 where the data is not stored element by element."""

    subgraph: int
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    elements: int
    nonzeros: int
    method: str
    bytes_before: int
    bytes_after: int
    note: str = ""


@dataclass(frozen=True)
class CompressedModel:
    """The compressed flatbuffer, its per-tensor table, byte breakdowns before and after, and the cuts made
    (what -> how many)."""

    data: bytes
    tensors: tuple[TensorRow, ...]
    before: dict[str, int]
    after: dict[str, int]
    cuts: dict[str, int] = field(default_factory=dict)

    @property
    def size_before(self) -> int:
        return sum(self.before.values())

    @property
    def size_after(self) -> int:
        return len(self.data)


def _read(data: bytes) -> model_editor.Model:
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise CompressionInputError(f"not a TFLite flatbuffer (no {IDENTIFIER.decode()} identifier)")
    try:
        model = model_editor.read(data)
    except Exception as exc:
        raise CompressionInputError(f"not a valid TFLite flatbuffer ({type(exc).__name__}: {exc})") from exc
    if any(code.custom_code == DECODE_NAME for code in model.operator_codes):
        raise CompressionInputError(f"the model is already compressed (it contains {DECODE_NAME} operators)")
    if OFFLINE_PLAN in model.metadata:
        raise CompressionInputError(f"the model carries an offline memory plan ({OFFLINE_PLAN} metadata) that "
                                    f"the tensors DECODE adds would invalidate")
    return model


def _row(plan: Plan) -> TensorRow:
    tensor, encoding, values = plan.tensor, plan.encoding, tensor_values(plan.tensor)
    return TensorRow(plan.subgraph, plan.index, tensor.name or "", tuple(int(d) for d in tensor.shape),
                     tensor_type.name(tensor.dtype), int(np.prod(tensor.shape, dtype=np.int64)),
                     -1 if values is None else int(np.count_nonzero(values)), encoding.method if encoding else "dense",
                     plan.dense_bytes, encoding.size if encoding else plan.dense_bytes, plan.note)


def _apply_cuts(model: schema.ModelT, keep_names: bool, cut_quantization: bool,
                cut_metadata: bool) -> dict[str, int]:
    done: dict[str, int] = {"decoded_axis_normalised": cuts.normalise_decoded(model)}
    if cut_quantization:
        done.update(cuts.cut_quantization(model))
    if not keep_names:
        done["tensor_names"] = cuts.cut_names(model)
    if cut_metadata:
        done.update(cuts.cut_metadata(model))
    done["buffers"] = cuts.compact_buffers(model)
    return {k: v for k, v in done.items() if v}


def build_compressed(model: model_editor.Model, chosen: dict[tuple[int, int], CompressionResult],
                     keep_names: bool = False, cut_quantization: bool = True,
                     cut_metadata: bool = True) -> tuple[bytes, dict[str, int]]:
    """Insert DECODE operators for ``chosen`` ((subgraph, tensor) -> encoding; ``model`` is modified), apply
    the cuts and align. Returns the flatbuffer and the cuts made."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # plan_model resolves aliasing; a warning here would be a bug
        decode_insert.insert_decode_operators(model, chosen)
    raw = model.build()
    built = schema.ModelT.InitFromPackedBuf(raw, 0)
    done = _apply_cuts(built, keep_names, cut_quantization, cut_metadata)
    return align(pack(built, len(raw))), done


def compress_tflite(data: bytes, method: str = "auto", keep_names: bool = False, cut_quantization: bool = True,
                    cut_metadata: bool = True) -> CompressedModel:
    """Encode the constant tensors that get smaller with TFLM's DECODE operator (a registered codec: PRUNING or
    LUT built in; ``method`` "auto" takes the smallest per tensor, a codec's name, e.g. "prune" or "lut", only that
    one), then cut what TFLM never reads: duplicated or unread quantisation vectors, internal tensor names
    (``keep_names`` keeps them) and the converter's metadata. Raises CompressionInputError for input it cannot
    compress."""
    if method not in methods():
        raise CompressionInputError(f"unknown compression method {method!r}; choose one of {', '.join(methods())}")
    data = bytes(data)
    model = _read(data)
    plans = plan_model(model, method)
    chosen = {(p.subgraph, p.index): p.encoding.result for p in plans if p.encoding is not None}
    if not chosen:
        raise CompressionInputError(f"nothing to compress: no constant tensor gets smaller with method "
                                    f"{method!r} (TFLM decodes pruned zeros and few distinct values)")
    rows = tuple(_row(p) for p in plans)  # before the DECODE insertion rewrites the tensors
    out, done = build_compressed(model, chosen, keep_names, cut_quantization, cut_metadata)
    return CompressedModel(out, rows, byte_breakdown(data), byte_breakdown(out), done)
