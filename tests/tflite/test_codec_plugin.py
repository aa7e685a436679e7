"""A codec registered from one file (tests/tflite/fill_codec.py) is offered by the compressor, by name and in
"auto", and read by the structural check, the DECODE readers, the byte accounting and the code generator's graph."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fill_codec
import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.compression import model_editor
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.codegen.graph import load_graph
from edge_gmp.errors import UserError
from edge_gmp.export.compression import byte_breakdown, compress_tflite
from edge_gmp.export.compression.selection import methods
from edge_gmp.tflite import decoded_constants, inspect_tflite, load_checked
from edge_gmp.tflite.decode import codec_for, codecs, decoded_tensors, register, unregister
from edge_gmp.tflite.writer import pack

T = schema.TensorType
Q = model_editor.Quantization
FILLED = np.full(1024, 7, dtype=np.int8)  # large enough to outweigh the DECODE operator


@pytest.fixture
def fill() -> Iterator[None]:
    register(fill_codec.CODEC)
    yield
    unregister(fill_codec.CODEC)


def _concat_model(const: np.ndarray) -> bytes:
    """y = concatenate([x, const]): the constant is read by one operator, int8 with one scale."""
    quant = Q(scales=0.5, zero_points=0)
    x = model_editor.Tensor(shape=const.shape, dtype=T.INT8, quantization=quant, name="x")
    c = model_editor.Tensor(shape=const.shape, dtype=T.INT8, data=const.tobytes(), quantization=quant, name="c")
    y = model_editor.Tensor(shape=(2 * len(const),), dtype=T.INT8, quantization=quant, name="y")
    fb = schema.OperatorT()
    fb.builtinOptionsType = schema.BuiltinOptions.ConcatenationOptions
    fb.builtinOptions = schema.ConcatenationOptionsT()
    op = model_editor.Operator(opcode=schema.BuiltinOperator.CONCATENATION, inputs=[x, c], outputs=[y], _fb=fb)
    subgraph = model_editor.Subgraph(tensors=[x, c, y], operators=[op], inputs=[x], outputs=[y])
    return bytes(model_editor.Model(subgraphs=[subgraph]).build())


def _decoded_output(path: Path) -> np.ndarray:
    _, model = load_checked(path)
    (values,) = [v for v in decoded_constants(model).values()]
    return values


def test_registration_offers_the_method_and_removal_withdraws_it(fill: None) -> None:
    assert "fill" in methods() and codec_for(fill_codec.FILL) is fill_codec.CODEC
    unregister(fill_codec.CODEC)
    assert "fill" not in methods() and [c.name for c in codecs()] == ["prune", "lut"]
    with pytest.raises(UserError, match="unknown compression method 'fill'"):
        compress_tflite(_concat_model(FILLED), method="fill")
    register(fill_codec.CODEC)
    with pytest.raises(ValueError, match="already registered"):
        register(fill_codec.CODEC)


def test_auto_picks_the_registered_codec_where_smallest(fill: None) -> None:
    data = _concat_model(FILLED)
    (row,) = compress_tflite(data).tensors
    assert (row.method, row.bytes_after) == ("fill", 1 + 16)
    unregister(fill_codec.CODEC)
    assert compress_tflite(data).tensors[0].method == "lut"  # without it, LUT's one-entry table is smallest


def test_a_fill_compressed_model_is_checked_read_and_decoded(fill: None, tmp_path: Path) -> None:
    compressed = compress_tflite(_concat_model(FILLED), method="fill", keep_names=True)
    path = tmp_path / "fill.tflite"
    path.write_bytes(compressed.data)
    assert "CUSTOM:TFLM_DECODE" in inspect_tflite(path).ops
    np.testing.assert_array_equal(_decoded_output(path), FILLED)
    (tensor,) = decoded_tensors(compressed.data)
    assert (tensor.method, tensor.stored_bytes, tensor.decoded_bytes) == ("fill", 1 + 16, 1024)
    parts = byte_breakdown(compressed.data)
    assert parts["fill_values"] == 1 and sum(parts.values()) == len(compressed.data)
    graph = load_graph(path)
    (const,) = [t for t in graph.tensors if t.encoded_bytes is not None]
    np.testing.assert_array_equal(const.data, FILLED)


def test_the_codec_checks_its_layout(fill: None, tmp_path: Path) -> None:
    _, model = load_checked(_write(tmp_path / "ok.tflite", compress_tflite(_concat_model(FILLED), method="fill").data))
    sg = model.subgraphs[0]
    decode_op = next(op for op in sg.operators if model.operatorCodes[op.opcodeIndex].customCode == b"TFLM_DECODE")
    encoded = sg.tensors[decode_op.inputs[0]]
    model.buffers[encoded.buffer].data = np.array([7, 7], dtype=np.uint8)
    encoded.shape = np.array([2], dtype=np.int32)
    path = _write(tmp_path / "bad.tflite", pack(model))
    with pytest.raises(UserError, match=r"FILL data for subgraph 0 tensor \d+ .* needs one 1-byte value"):
        inspect_tflite(path)
    unregister(fill_codec.CODEC)
    inspect_tflite(path)  # a decode type no codec knows is not checked


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
