"""Export: ONNX (checked, atomic), TFLite float32/int8/sparse via onnx2tf, C arrays, honest sizes.

TensorFlow is imported lazily (only by :func:`convert_onnx_to_tflite`).
"""

from edge_gmp.export.artifacts import TensorSpec, TFLiteArtifact
from edge_gmp.export.c_array import read_c_array, write_c_array
from edge_gmp.export.onnx_export import export_onnx
from edge_gmp.export.sizes import gzip_size, information_limit_bits, tflite_weight_counts
from edge_gmp.export.streaming import export_streaming, step_calibration
from edge_gmp.export.tflite import convert_onnx_to_tflite

__all__ = [
    "TFLiteArtifact", "TensorSpec", "convert_onnx_to_tflite", "export_streaming",
    "export_onnx", "gzip_size", "information_limit_bits", "read_c_array", "step_calibration",
    "tflite_weight_counts", "write_c_array",
]
