"""TFLite Micro's DECODE operator: its constants, the codecs that encode, check and decode each decode type, and
the discovery of DECODE operators in a model.

Adding a compression method is one module: build a :class:`Codec` for an unused type byte (128-255 are TFLM's
custom types) and :func:`register` it; import the module below for a built-in one. The compressor then offers it
(``method="auto"`` and by name), and the structural check, the byte accounting and the arena figures read it.
"""

# Registration order is the compressor's preference between equal sizes: PRUNING first, then LUT.
from edge_gmp.tflite.decode import pruning as _pruning  # noqa: F401  (registers "prune")

# isort: split
from edge_gmp.tflite.decode import lut as _lut  # noqa: F401  (registers "lut")
from edge_gmp.tflite.decode.base import (
    DECODE_NAME,
    DECODE_OP,
    HEADER_BYTES,
    Codec,
    Encoding,
    Target,
    codec_for,
    codec_named,
    codecs,
    register,
    unregister,
)
from edge_gmp.tflite.decode.operators import DecodedTensor, decode_operators, decode_pairs, decoded_tensors

__all__ = ["DECODE_NAME", "DECODE_OP", "HEADER_BYTES", "Codec", "DecodedTensor", "Encoding", "Target", "codec_for",
           "codec_named", "codecs", "decode_operators", "decode_pairs", "decoded_tensors", "register", "unregister"]
