"""The PRUNING codec: a bitmap (one bit per element in C order, MSB first, 1 = kept), then the kept values after
the DECODE header. TFLM writes each pruned element back as its channel's zero point (int8) or 0."""

from __future__ import annotations

import math

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import decode, model_editor
from tflite_micro.tensorflow.lite.micro.compression.compressor import CompressionResult

from edge_gmp.tflite.decode.base import HEADER_BYTES, Codec, Encoding, Target, register
from edge_gmp.tflite.decode.values import DECODABLE_TYPES, ChannelQuant, T, channel_quant, raw_bits, tensor_values

PRUNING = int(decode.DecodeType.PRUNING)
FORMAT_VERSION = 1


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
    kept = raw_bits(values) != raw_bits(np.broadcast_to(pruned, values.shape).copy())
    bitmap = np.packbits(kept.ravel()).tobytes()
    kept_values = values[kept].tobytes()
    header = decode.DecodeCommonMetadata(decode.DecodeType.PRUNING, user_data=bytes([FORMAT_VERSION]))
    result = CompressionResult(encoded_data=bitmap, ancillary_data=header.to_bytes() + kept_values)
    return Encoding(CODEC.name, result, {"indices": len(bitmap), "kept_values": len(kept_values)})


def check_pruning(encoded: np.ndarray, ancillary: np.ndarray, target: Target) -> str | None:
    """A bitmap covering every element and, after the 16-byte header, one value per set bit."""
    count = math.prod(target.shape)
    bits = np.unpackbits(np.asarray(encoded, dtype=np.uint8))[:count]
    need_values = HEADER_BYTES + int(bits.sum()) * target.item_bytes
    if len(encoded) < math.ceil(count / 8) or len(ancillary) < need_values:
        return (f"PRUNING data for {target.label} (shape {target.shape}) needs a {math.ceil(count / 8)}-byte "
                f"bitmap and {need_values} bytes of header and kept values, has {len(encoded)} + {len(ancillary)}")
    if len(ancillary) != need_values:  # the decoder takes one value per set bit: any other count is not this tensor
        return (f"PRUNING data for {target.label}: the bitmap has {int(bits.sum())} set bits but "
                f"{(len(ancillary) - HEADER_BYTES) / target.item_bytes:g} kept values follow the 16-byte header; "
                "the two counts must be equal")
    return None


def decode_pruning(encoded: np.ndarray, ancillary: np.ndarray, target: Target) -> np.ndarray | None:
    """The kept values at the set bits, the first zero point elsewhere; None when the sizes do not agree."""
    count, width = math.prod(target.shape), np.dtype(target.dtype).itemsize
    kept = np.unpackbits(np.asarray(encoded, dtype=np.uint8))[:count].astype(bool)
    values = np.asarray(ancillary[HEADER_BYTES:HEADER_BYTES + int(kept.sum()) * width], dtype=np.uint8).tobytes()
    if len(kept) < count or len(values) != int(kept.sum()) * width:
        return None
    out = np.full(count, target.zero_point, dtype=target.dtype)
    out[kept] = np.frombuffer(values, dtype=target.dtype)
    return out


CODEC = register(Codec(PRUNING, "prune", "PRUNING", ("indices", "kept_values"), prune_encode, check_pruning,
                       decode_pruning))
