"""The one error the compressor raises for input it cannot compress."""

from edge_gmp.errors import UserError


class CompressionInputError(UserError):
    """Not a TFLite flatbuffer, already compressed, or nothing in it gets smaller."""
