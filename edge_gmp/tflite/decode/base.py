"""DECODE's constants, the :class:`Codec` a compression method is, and the registry of codecs by type byte.

TFLite Micro's DECODE operator reads (encoded, ancillary) pairs of constant UINT8 tensors; byte 0 of the ancillary
data's 16-byte header names the decode type, which picks the decoder (tflite_micro.compression plugs in one
compressor per method the same way). A codec module builds a :class:`Codec` for its type and calls
:func:`register`; the compressor, the structural check, the byte accounting and the arena figures then find it
by type byte or by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import decode, model_editor
from tflite_micro.tensorflow.lite.micro.compression.compressor import CompressionResult
from tflite_micro.tensorflow.lite.micro.compression.decode_insert import DECODE_CUSTOM_OP_NAME

DECODE_NAME = DECODE_CUSTOM_OP_NAME  # the custom operator's name in the file
DECODE_OP = f"CUSTOM:{DECODE_NAME}"  # the operator as the readers name operators
HEADER_BYTES = decode.DecodeCommonMetadata.SIZE  # the ancillary data's common header; byte 0 is the decode type


@dataclass(frozen=True)
class Encoding:
    """One way to store a tensor: ``method`` is the codec's name ("prune", "lut"); ``parts`` gives its payload
    bytes by accounting category (the 16-byte DECODE header is not among them)."""

    method: str
    result: CompressionResult
    parts: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.result.encoded_data) + len(self.result.ancillary_data)


@dataclass(frozen=True)
class Target:
    """The tensor a DECODE output fills, as a codec's check and decoder see it."""

    label: str  # names the tensor in messages
    shape: list[int]
    item_bytes: int  # bytes per element (sub-byte types rounded up)
    dtype: type[np.integer] | None = None  # the integer type decoded values come back as; None: not decoded
    zero_point: int = 0  # the first stored zero point


Encoder = Callable[[model_editor.Tensor], "Encoding | None"]
Checker = Callable[[np.ndarray, np.ndarray, Target], "str | None"]
Decoder = Callable[[np.ndarray, np.ndarray, Target], "np.ndarray | None"]


@dataclass(frozen=True)
class Codec:
    """One DECODE type: ``encode`` gives the encoding of a constant tensor (None where the decoder cannot
    reproduce it); ``check`` says what is wrong with an (encoded, ancillary) pair for its target, or None;
    ``decode`` gives the flat values the pair decodes to (None: undecodable here)."""

    type: int  # byte 0 of the ancillary header
    name: str  # the method's name in reports and on the command line
    label: str  # the decode type's name in messages
    categories: tuple[str, str]  # byte accounting: the encoded data, the ancillary data after the header
    encode: Encoder
    check: Checker
    decode: Decoder | None = None


_REGISTRY: dict[int, Codec] = {}


def register(codec: Codec) -> Codec:
    """Add ``codec``; registration order is the compressor's order of preference between equal sizes. ValueError
    when its type byte or name is taken."""
    if not 0 <= codec.type <= 255 or codec.type in _REGISTRY:
        raise ValueError(f"DECODE type {codec.type} is out of range or already registered")
    if any(c.name == codec.name for c in _REGISTRY.values()) or codec.name == "auto":
        raise ValueError(f"a codec named {codec.name!r} is already registered")
    _REGISTRY[codec.type] = codec
    return codec


def unregister(codec: Codec) -> None:
    """Remove ``codec`` (a no-op when it is not registered)."""
    if _REGISTRY.get(codec.type) is codec:
        del _REGISTRY[codec.type]


def codecs() -> tuple[Codec, ...]:
    """The registered codecs in registration order."""
    return tuple(_REGISTRY.values())


def codec_for(type_byte: int) -> Codec | None:
    """The codec of a DECODE type byte; None for a type no codec handles."""
    return _REGISTRY.get(int(type_byte))


def codec_named(name: str) -> Codec:
    """The codec called ``name``; KeyError when none is."""
    found = next((c for c in _REGISTRY.values() if c.name == name), None)
    if found is None:
        raise KeyError(name)
    return found
