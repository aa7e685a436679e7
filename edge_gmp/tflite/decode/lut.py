"""The LUT codec: packed indices (1-7 bits each) into one value table per channel along the quantised axis, or
one table for the whole tensor. Values are not decoded in Python (the readers report such tensors as unknown)."""

from __future__ import annotations

import math

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import decode, lut, model_editor
from tflite_micro.tensorflow.lite.micro.compression.compressor import CompressionResult

from edge_gmp.tflite.decode.base import HEADER_BYTES, Codec, Encoding, Target, register
from edge_gmp.tflite.decode.values import DECODABLE_TYPES, ChannelQuant, channel_quant, raw_bits, tensor_values

LUT = int(decode.DecodeType.LUT)
FORMAT_VERSION = 1
PER_TENSOR_AXIS = 0xF  # the axis nibble of a single table for the whole tensor


def _lut_axis(quant: ChannelQuant) -> int | None:
    """TFLM's LUT decoder takes its channel count from the decoded tensor's quantisation: one table per
    channel along the quantised axis for several scales (a single table would decode wrongly), else one."""
    return quant.axis if quant.channels > 1 else None


def _lut_for_axis(tensor: model_editor.Tensor, axis: int | None) -> Encoding | None:
    raw = raw_bits(tensor_values(tensor))
    compressed = lut.compress_array(raw, axis)
    stride = max(len(table) for table in compressed.lookup_tables)
    bitwidth = max(1, (stride - 1).bit_length())
    if bitwidth > lut.LutAncillaryData.MAX_BITWIDTH:
        return None
    tables = lut.pack_lookup_tables(compressed.lookup_tables, stride)
    params = lut.LutAncillaryData(lut_version=FORMAT_VERSION, bitwidth=bitwidth,
                                  axis=lut.LutAncillaryData.PER_TENSOR_AXIS if axis is None else axis,
                                  value_table_stride=stride, value_tables=tables)
    header = decode.DecodeCommonMetadata(decode.DecodeType.LUT, user_data=params.to_user_data())
    indices = lut.pack_indices(compressed.indices, bitwidth)
    result = CompressionResult(encoded_data=indices, ancillary_data=header.to_bytes() + params.to_bytes())
    return Encoding(CODEC.name, result, {"lut_indices": len(indices), "lut_tables": len(tables)})


def lut_encode(tensor: model_editor.Tensor) -> Encoding | None:
    """LUT with the narrowest index (1-7 bits) that fits; None when a table would need more than 128 values."""
    quant = channel_quant(tensor)
    if tensor.dtype not in DECODABLE_TYPES or tensor_values(tensor) is None or quant is None:
        return None
    return _lut_for_axis(tensor, _lut_axis(quant))


def check_lut(encoded: np.ndarray, ancillary: np.ndarray, target: Target) -> str | None:
    """The packed indices cover every element and the value tables every channel (header bytes 5 and 6:
    bit width and axis, table stride)."""
    shape = target.shape
    bitwidth, axis, stride = int(ancillary[5]) & 7, int(ancillary[5]) >> 4, int(ancillary[6])
    channels = 1 if axis == PER_TENSOR_AXIS else (shape[axis] if axis < len(shape) else 0)
    need_indices = math.ceil(math.prod(shape) * bitwidth / 8)
    need_tables = HEADER_BYTES + channels * stride * target.item_bytes
    if not bitwidth or not channels or not stride or len(encoded) < need_indices or len(ancillary) < need_tables:
        return (f"LUT data for {target.label} (shape {shape}, {bitwidth}-bit indices, axis {axis}, "
                f"table stride {stride}) needs {need_indices} + {need_tables} bytes, has {len(encoded)} + "
                f"{len(ancillary)}")
    return None


CODEC = register(Codec(LUT, "lut", "LUT", ("lut_indices", "lut_tables"), lut_encode, check_lut))
