"""Encodings of one constant tensor for TFLM's DECODE operator: PRUNING (decode type 2) and LUT (type 0).

Both produce a tflite_micro ``CompressionResult`` (encoded tensor bytes + ancillary bytes) that reproduces the
tensor bit for bit when TFLM decodes it, or None where the decoder cannot reproduce the tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import decode, lut, model_editor, tensor_type
from tflite_micro.tensorflow.lite.micro.compression.compressor import CompressionResult
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

T = schema.TensorType
DECODABLE_TYPES = frozenset({T.BOOL, T.INT8, T.INT16, T.INT32, T.INT64, T.FLOAT32})
PRUNE_FORMAT_VERSION = 1
LUT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Encoding:
    """One way to store a tensor: ``method`` is "prune" or "lut"; ``parts`` gives its payload bytes by
    accounting category (the 16-byte DECODE header is not among them)."""

    method: str
    result: CompressionResult
    parts: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.result.encoded_data) + len(self.result.ancillary_data)


@dataclass(frozen=True)
class ChannelQuant:
    """The decoded tensor's quantisation as TFLM's decoders see it."""

    channels: int
    axis: int
    zero_points: tuple[int, ...]  # one per channel (TFLM repeats a single stored value)


def tensor_values(tensor: model_editor.Tensor) -> np.ndarray | None:
    """The constant data as an array of the tensor's shape (model_editor has no numpy type for BOOL); None
    when it has no data or is not stored as one element after another."""
    if tensor.buffer is None or not tensor.buffer.data:
        return None
    try:
        dtype = np.dtype(np.bool_) if tensor.dtype == T.BOOL else tensor_type.to_numpy(tensor.dtype)
    except ValueError:  # STRING, INT4 and other types without a numpy equivalent
        return None
    if len(tensor.buffer.data) != dtype.itemsize * int(np.prod(tensor.shape, dtype=np.int64)):
        return None  # sparse-encoded or otherwise not stored element by element
    return np.frombuffer(tensor.buffer.data, dtype=dtype).reshape(tensor.shape)


def channel_quant(tensor: model_editor.Tensor) -> ChannelQuant | None:
    """Channels, axis and expanded zero points; None for malformed parameters or an axis TFLM rejects."""
    q = tensor.quantization
    if q is None:
        return ChannelQuant(1, 0, (0,))
    scales = np.atleast_1d(q.scales)
    zeros = [int(z) for z in np.atleast_1d(q.zero_points)]
    channels, axis, rank = len(scales), q.axis or 0, len(tensor.shape)
    if len(zeros) not in (1, channels) or channels == 0:
        return None
    if channels == 1:  # the decoded copy gets quantized_dimension 0 (cuts.normalise_decoded)
        return ChannelQuant(1, 0, (zeros[0],))
    if axis not in (0, rank - 1) or tensor.shape[axis] != channels:
        return None
    return ChannelQuant(channels, axis, tuple(zeros * channels if len(zeros) == 1 else zeros))


def _raw(values: np.ndarray) -> np.ndarray:
    """The values as unsigned integers of the same width: equality by bit pattern (-0.0 != +0.0)."""
    return values.view(np.dtype(f"<u{values.dtype.itemsize}"))


def _pruned_values(tensor: model_editor.Tensor, quant: ChannelQuant, dtype: np.dtype) -> np.ndarray | None:
    """What the PRUNING decoder writes for a pruned element, broadcastable to the tensor's shape."""
    if tensor.dtype != T.INT8:
        return np.zeros((), dtype) if not any(quant.zero_points) else None
    if quant.channels == 1 or not any(quant.zero_points):
        return np.asarray(quant.zero_points[0], dtype)
    shape = [1] * len(tensor.shape)
    shape[quant.axis] = quant.channels
    return np.asarray(quant.zero_points, dtype).reshape(shape)


def prune_encode(tensor: model_editor.Tensor) -> Encoding | None:
    """PRUNING: a bitmap (one bit per element in C order, MSB first, 1 = kept) and the kept values after the
    DECODE header. An element is pruned when it equals what the decoder writes back (its channel's zero
    point for int8, otherwise 0; for float32 only the bit pattern of +0.0)."""
    quant = channel_quant(tensor)
    values = tensor_values(tensor) if tensor.dtype in DECODABLE_TYPES else None
    if values is None or quant is None:
        return None
    pruned = _pruned_values(tensor, quant, values.dtype)
    if pruned is None:
        return None
    kept = _raw(values) != _raw(np.broadcast_to(pruned, values.shape).copy())
    bitmap = np.packbits(kept.ravel()).tobytes()
    kept_values = values[kept].tobytes()
    header = decode.DecodeCommonMetadata(decode.DecodeType.PRUNING, user_data=bytes([PRUNE_FORMAT_VERSION]))
    result = CompressionResult(encoded_data=bitmap, ancillary_data=header.to_bytes() + kept_values)
    return Encoding("prune", result, {"indices": len(bitmap), "kept_values": len(kept_values)})


def _lut_axis(quant: ChannelQuant) -> int | None:
    """TFLM's LUT decoder takes its channel count from the decoded tensor's quantisation: one table per
    channel along the quantised axis for several scales (a single table would decode wrongly), else one."""
    return quant.axis if quant.channels > 1 else None


def _lut_for_axis(tensor: model_editor.Tensor, axis: int | None) -> Encoding | None:
    raw = _raw(tensor_values(tensor))
    compressed = lut.compress_array(raw, axis)
    stride = max(len(table) for table in compressed.lookup_tables)
    bitwidth = max(1, (stride - 1).bit_length())
    if bitwidth > lut.LutAncillaryData.MAX_BITWIDTH:
        return None
    tables = lut.pack_lookup_tables(compressed.lookup_tables, stride)
    params = lut.LutAncillaryData(lut_version=LUT_FORMAT_VERSION, bitwidth=bitwidth,
                                  axis=lut.LutAncillaryData.PER_TENSOR_AXIS if axis is None else axis,
                                  value_table_stride=stride, value_tables=tables)
    header = decode.DecodeCommonMetadata(decode.DecodeType.LUT, user_data=params.to_user_data())
    indices = lut.pack_indices(compressed.indices, bitwidth)
    result = CompressionResult(encoded_data=indices, ancillary_data=header.to_bytes() + params.to_bytes())
    return Encoding("lut", result, {"lut_indices": len(indices), "lut_tables": len(tables)})


def lut_encode(tensor: model_editor.Tensor) -> Encoding | None:
    """LUT with the narrowest index (1-7 bits) that fits; None when a table would need more than 128 values."""
    quant = channel_quant(tensor)
    if tensor.dtype not in DECODABLE_TYPES or tensor_values(tensor) is None or quant is None:
        return None
    return _lut_for_axis(tensor, _lut_axis(quant))
