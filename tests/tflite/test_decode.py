"""The built-in codecs as the readers see them: PRUNING decodes back to the dense values in Python, and the one
DECODE discovery gives the byte accounting and the arena figures the same tensors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tflite_micro.tensorflow.lite.micro.compression import decode

from edge_gmp.export.compression import byte_breakdown, compress_tflite
from edge_gmp.tflite import decoded_constants, load_checked
from edge_gmp.tflite.decode import HEADER_BYTES, codec_for, codecs, decoded_tensors

ROOT = Path(__file__).resolve().parents[2]
FASTGRNN = ROOT / "tests/fixtures/fastgrnn_step_int8.tflite"


def test_built_in_codecs_by_type_byte() -> None:
    assert [(c.name, c.type) for c in codecs()] == [("prune", int(decode.DecodeType.PRUNING)),
                                                    ("lut", int(decode.DecodeType.LUT))]
    assert codec_for(int(decode.DecodeType.HUFFMAN)) is None and HEADER_BYTES == decode.DecodeCommonMetadata.SIZE


def test_pruning_decodes_to_the_dense_values(tmp_path: Path) -> None:
    dense = FASTGRNN.read_bytes()
    path = tmp_path / "pruned.tflite"
    path.write_bytes(compress_tflite(dense, method="prune", keep_names=True).data)
    _, model = load_checked(path)
    _, original = load_checked(FASTGRNN)
    names = {t.name: i for i, t in enumerate(original.subgraphs[0].tensors)}
    decoded = decoded_constants(model)
    assert decoded and all(v is not None for v in decoded.values())
    for out, values in decoded.items():
        name = re.sub(rb"_decoded(_\d+)?$", b"", model.subgraphs[0].tensors[out].name)  # DECODE's copy
        tensor = original.subgraphs[0].tensors[names[name]]
        dense_values = np.frombuffer(bytes(original.buffers[tensor.buffer].data), dtype=values.dtype)
        np.testing.assert_array_equal(values, dense_values)


def test_accounting_and_arena_see_the_same_decode_pairs() -> None:
    data = compress_tflite(FASTGRNN.read_bytes()).data
    tensors = {(t.subgraph, t.encoded): t for t in decoded_tensors(data)}
    parts = byte_breakdown(data)
    payload = sum(parts[name] for codec in codecs() for name in set(codec.categories))
    assert tensors and payload + HEADER_BYTES * len(tensors) == sum(t.stored_bytes for t in tensors.values())
    assert {t.method for t in tensors.values()} <= {c.name for c in codecs()}
