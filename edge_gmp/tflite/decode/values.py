"""A constant tensor's values and quantisation as TFLite Micro's decoders see them (the codecs' shared input)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import model_editor, tensor_type
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

T = schema.TensorType
DECODABLE_TYPES = frozenset({T.BOOL, T.INT8, T.INT16, T.INT32, T.INT64, T.FLOAT32})


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


def raw_bits(values: np.ndarray) -> np.ndarray:
    """The values as unsigned integers of the same width: equality by bit pattern (-0.0 != +0.0)."""
    return values.view(np.dtype(f"<u{values.dtype.itemsize}"))
