"""A compression method in one file, as a plugin would add one: FILL (custom DECODE type 200) stores a tensor whose
elements are all equal as that one element; the ancillary data is the 16-byte header alone.

TFLite Micro has no decoder for it, so a model using it runs nowhere but here: the compressor offers it, the
structural check checks its layout, and the readers decode it. It is not registered on import (that would offer
it to every other test in the session); ``tests/tflite/test_codec_plugin.py`` registers it for its tests.
"""

from __future__ import annotations

import math

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import decode, model_editor
from tflite_micro.tensorflow.lite.micro.compression.compressor import CompressionResult

from edge_gmp.tflite.decode import HEADER_BYTES, Codec, Encoding, Target
from edge_gmp.tflite.decode.values import DECODABLE_TYPES, raw_bits, tensor_values

FILL = 200  # in TFLM's custom range (128-255)


def fill_encode(tensor: model_editor.Tensor) -> Encoding | None:
    """The first element, when every element has its bit pattern; None otherwise."""
    values = tensor_values(tensor) if tensor.dtype in DECODABLE_TYPES else None
    if values is None or not values.size or np.any(raw_bits(values) != raw_bits(values.ravel()[:1])):
        return None
    header = decode.DecodeCommonMetadata(decode.DecodeType.custom(FILL))
    value = values.ravel()[:1].tobytes()
    return Encoding("fill", CompressionResult(encoded_data=value, ancillary_data=header.to_bytes()),
                    {"fill_values": len(value)})


def check_fill(encoded: np.ndarray, ancillary: np.ndarray, target: Target) -> str | None:
    if len(encoded) != target.item_bytes or len(ancillary) != HEADER_BYTES:
        return (f"FILL data for {target.label} needs one {target.item_bytes}-byte value and the bare header, "
                f"has {len(encoded)} + {len(ancillary)}")
    return None


def decode_fill(encoded: np.ndarray, ancillary: np.ndarray, target: Target) -> np.ndarray | None:
    value = np.frombuffer(bytes(encoded), dtype=target.dtype)
    return np.full(math.prod(target.shape), value[0], dtype=target.dtype) if len(value) == 1 else None


CODEC = Codec(FILL, "fill", "FILL", ("fill_values", "fill_values"), fill_encode, check_fill, decode_fill)
