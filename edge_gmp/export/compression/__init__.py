"""Compress pruned int8 models for TFLite Micro with its DECODE operator (the codecs of
:mod:`edge_gmp.tflite.decode`: PRUNING and LUT built in) and cut what TFLM never reads. Pure: bytes in, bytes
and a report out; no interpreter runs here."""

from edge_gmp.export.compression.accounting import CATEGORIES, byte_breakdown
from edge_gmp.export.compression.errors import CompressionInputError
from edge_gmp.export.compression.model import CompressedModel, TensorRow, compress_tflite

__all__ = ["CATEGORIES", "CompressedModel", "CompressionInputError", "TensorRow", "byte_breakdown",
           "compress_tflite"]
