"""Tensor checks of the .tflite structural check: shape, type and size, constant data exactly shape x element
size (strings: a well-formed string table; sparse tensors exempt), no external or variable constant data, and
quantisation parameters the kernels can use."""

from __future__ import annotations

import math

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.tflite.graph import (
    BITS,
    INT_BITS,
    INT_DTYPES,
    MAX_RANK,
    MAX_TENSOR_BYTES,
    NO_FIXED_SIZE,
    TYPE_NAMES,
    UINT_BITS,
    Invalid,
    T,
    buffer_bytes,
    check_utf8,
    ints,
)


def _check_shape(label: str, tensor: schema.TensorT) -> int:
    """The tensor's byte size (0 for types without a fixed element size: strings, resources, variants)."""
    shape = ints(tensor.shape)
    if len(shape) > MAX_RANK:
        raise Invalid(f"{label}: rank {len(shape)} (more than {MAX_RANK} dimensions)")
    if any(d < 0 for d in shape):
        raise Invalid(f"{label}: negative dimension in shape {shape}")
    signature = ints(tensor.shapeSignature)
    if signature and (len(signature) != len(shape) or any(d < -1 for d in signature)):
        raise Invalid(f"{label}: shape_signature {signature} does not match shape {shape}")
    if tensor.type not in BITS and tensor.type not in NO_FIXED_SIZE:
        raise Invalid(f"{label}: unknown tensor type {tensor.type}")
    nbytes = math.ceil(math.prod(shape) * BITS.get(tensor.type, 0) / 8)
    if nbytes > MAX_TENSOR_BYTES:
        raise Invalid(f"{label}: shape {shape} of {TYPE_NAMES[tensor.type]} is {nbytes} bytes "
                      f"(more than {MAX_TENSOR_BYTES})")
    return nbytes


def _check_string_buffer(label: str, data: np.ndarray, count: int) -> None:
    """TFLite's string tensor layout: int32 count, count+1 int32 offsets, then the bytes."""
    header = 4 * (count + 2)
    if len(data) < header:
        raise Invalid(f"{label}: string data of {len(data)} bytes is shorter than its {header}-byte header")
    words = np.frombuffer(bytes(data[:header]), "<i4")
    offsets = words[1:]
    if words[0] != count or offsets[0] != header or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
        raise Invalid(f"{label}: malformed string data (count {words[0]} for {count} elements, "
                      f"offsets {offsets[0]}..{offsets[-1]} in {len(data)} bytes)")


def _check_constant(label: str, tensor: schema.TensorT, buffer: schema.BufferT, nbytes: int) -> None:
    have = buffer_bytes(buffer)
    if not have or tensor.sparsity is not None or tensor.type in (T.RESOURCE, T.VARIANT):
        return
    if tensor.type == T.STRING:
        if buffer.data is not None:
            _check_string_buffer(label, buffer.data, math.prod(ints(tensor.shape)))
        return
    unpacked = math.prod(ints(tensor.shape))  # sub-byte types may also be stored one value per byte
    if have != nbytes and not (BITS[tensor.type] < 8 and have == unpacked):
        raise Invalid(f"{label}: constant buffer {tensor.buffer} holds {have} bytes but shape "
                      f"{ints(tensor.shape)} of {TYPE_NAMES[tensor.type]} needs {nbytes}")


def _zero_point_range(tensor_type: int) -> tuple[int, int] | None:
    if tensor_type in INT_BITS:
        half = 1 << (INT_BITS[tensor_type] - 1)
        return -half, half - 1
    if tensor_type in UINT_BITS:
        return 0, (1 << UINT_BITS[tensor_type]) - 1
    return None


def _unused_channels(tensor: schema.TensorT, values: np.ndarray | None, zeros: list[int], channels: int) -> set[int]:
    """Channels of a constant (or decoded constant) integer tensor that hold only their zero point: their scale is
    never used (the converter writes 0 there for a weight row pruned to zero)."""
    shape = ints(tensor.shape)
    if values is None or values.size == 0 or values.size != int(np.prod(shape)):
        return set()
    axis = tensor.quantization.quantizedDimension if channels > 1 else 0
    per_channel = (np.moveaxis(values.reshape(shape), axis, 0).reshape(channels, -1) if channels > 1
                   else values.reshape(1, -1))
    zp = np.asarray(zeros if len(zeros) == channels else zeros[:1] * channels).reshape(-1, 1)
    return {int(c) for c in np.flatnonzero((per_channel == zp).all(axis=1))}


def _constant_values(tensor: schema.TensorT, buffer: schema.BufferT) -> np.ndarray | None:
    dtype = INT_DTYPES.get(tensor.type)
    if dtype is None or buffer.data is None or not len(buffer.data):
        return None
    raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
    return np.frombuffer(raw, dtype=dtype) if len(raw) % np.dtype(dtype).itemsize == 0 else None


def _check_quantization(label: str, tensor: schema.TensorT, values: np.ndarray | None = None) -> None:
    q = tensor.quantization
    if q is not None and q.detailsType:
        raise Invalid(f"{label}: quantisation details of type {q.detailsType} (custom/blockwise quantisation), "
                      "which TFLite Micro does not support")
    scales = [] if q is None or q.scale is None else [float(s) for s in q.scale]
    zeros = [] if q is None else ints(q.zeroPoint)
    if not scales and not zeros:
        return
    shape = ints(tensor.shape)
    if len(scales) != len(zeros) and len(zeros) != 1:  # TFLM repeats one stored zero point for every channel
        raise Invalid(f"{label}: {len(scales)} quantisation scales but {len(zeros)} zero points")
    bad = next((i for i, s in enumerate(scales) if not (math.isfinite(s) and s > 0)), None)
    if bad is not None and scales[bad] == 0 and values is not None:
        unused = _unused_channels(tensor, values, zeros, len(scales))
        bad = next((i for i, s in enumerate(scales) if not (math.isfinite(s) and (s > 0 or i in unused))), None)
    if bad is not None:
        raise Invalid(f"{label}: quantisation scale[{bad}] is {scales[bad]}; scales must be finite and > 0 "
                      "(0 only for a constant channel holding nothing but its zero point)")
    limits = _zero_point_range(tensor.type)
    bad = None if limits is None else next((i for i, z in enumerate(zeros) if not limits[0] <= z <= limits[1]), None)
    if bad is not None:
        raise Invalid(f"{label}: zero point[{bad}] = {zeros[bad]} is outside {TYPE_NAMES[tensor.type]}'s range "
                      f"{limits[0]}..{limits[1]}")
    axis = q.quantizedDimension
    if not 0 <= axis < max(len(shape), 1):
        raise Invalid(f"{label}: quantized_dimension {axis} is out of range for shape {shape}")
    if len(scales) > 1 and (axis >= len(shape) or shape[axis] != len(scales)):
        raise Invalid(f"{label}: {len(scales)} per-channel scales for axis {axis} of shape {shape}")


def check_tensor(label: str, tensor: schema.TensorT, buffers: list[schema.BufferT], encoded: bool,
                 decoded: np.ndarray | None = None) -> None:
    """``encoded``: an input of TFLM_DECODE, a byte array that keeps the quantisation of the tensor it decodes
    to (so its per-channel parameters do not match its own shape); ``decoded``: the values TFLM_DECODE will
    write into this tensor, when it is a decoded constant."""
    check_utf8(f"{label}: the name", tensor.name)
    if tensor.externalBuffer:
        raise Invalid(f"{label}: data stored outside the .tflite file (external buffer {tensor.externalBuffer}); "
                      "TFLite Micro cannot load it")
    nbytes = _check_shape(label, tensor)
    if tensor.isVariable and buffer_bytes(buffers[tensor.buffer]):
        raise Invalid(f"{label}: a variable tensor with constant data (buffer {tensor.buffer})")
    _check_constant(label, tensor, buffers[tensor.buffer], nbytes)
    if not encoded:
        values = decoded if decoded is not None else _constant_values(tensor, buffers[tensor.buffer])
        _check_quantization(label, tensor, values)
