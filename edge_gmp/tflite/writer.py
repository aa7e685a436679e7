"""Serialising a flatbuffer model object tree (schema.ModelT) into .tflite bytes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import flatbuffers
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
from tflite_micro.tensorflow.lite.micro.tools import tflite_flatbuffer_align_wrapper

from edge_gmp.tflite.graph import IDENTIFIER


def pack(model: schema.ModelT, size_hint: int = 1024) -> bytes:
    """The model as a flatbuffer with the TFL3 identifier (Python builder: buffer data not 16-byte aligned)."""
    builder = flatbuffers.Builder(size_hint)
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def align(data: bytes) -> bytes:
    """Repack with TFLM's C++ tool, which honours the schema's 16-byte alignment of buffer data (the Python
    flatbuffers builder ignores force_align)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in.tflite"), Path(tmp, "out.tflite")
        src.write_bytes(data)
        tflite_flatbuffer_align_wrapper.align_tflite_model(str(src), str(dst))
        return dst.read_bytes()
