"""The TFLite flatbuffer format in one place: reading a .tflite file and its structural check (:mod:`reader`,
:mod:`check`, :mod:`tensors`, :mod:`contracts`, :mod:`control_flow` over the shared vocabulary of :mod:`graph`),
writing and editing flatbuffers (:mod:`writer`, :mod:`edit`, :mod:`sparsity`: CSR ``SparsityParameters`` read by
DENSIFY), and TFLite Micro's DECODE operator with one codec
per decode type (:mod:`edge_gmp.tflite.decode`). Runtimes, export, verification and the code generator read
models through it.
"""

from edge_gmp.tflite.reader import TFLiteInfo, decoded_constants, inspect_tflite, load_checked

__all__ = ["TFLiteInfo", "decoded_constants", "inspect_tflite", "load_checked"]
