"""python -m edge_gmp.compress: end to end on the committed FastGRNN, LUT on a converted Keras model, and every
input it must refuse (exit 2, one line on stderr, nothing written)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.compression import model_editor
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp import compress
from edge_gmp.export.compression import compress_tflite
from edge_gmp.verify.equivalence import compare_tflite, random_inputs
from edge_gmp.workflow import device_file

ROOT = Path(__file__).resolve().parents[1]
FASTGRNN = ROOT / "tests/fixtures/fastgrnn_step_int8.tflite"


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_gmp.compress", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def fastgrnn() -> Path:
    if not FASTGRNN.is_file():
        pytest.skip(f"{FASTGRNN} not present")
    return FASTGRNN


def test_fastgrnn_end_to_end(fastgrnn, tmp_path):
    out = tmp_path / "small.tflite"
    r = cli(fastgrnn, out)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.stat().st_size < fastgrnn.stat().st_size * 0.6
    text = r.stdout
    assert "identical raw outputs on 200 windows x 32 steps" in text and "alternate decompression buffer too" in text
    for header in ("tensor", "shape", "elements", "non-zeros", "method", "bytes before", "bytes after"):
        assert header in text
    assert "64x64" in text and " prune " in text and "not smaller" in text
    for category in ("weights", "indices", "kept_values", "lut_tables", "quantization", "names", "metadata",
                     "structure", "total"):
        assert f"\n{category} " in text
    assert "decoded tensors in the arena     arena" in text and "+ buffer 4,096 B = total" in text
    assert "smaller total: decoded tensors in the arena" in text
    same = compare_tflite(fastgrnn, out, random_inputs(fastgrnn, 10, seed=5, steps=64))
    assert same.identical and same.invocations == 640


def test_json_report(fastgrnn, tmp_path, capsys):
    out = tmp_path / "small.tflite"
    assert compress.main([str(fastgrnn), str(out), "--samples", "30", "--json", "--keep-names"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bytes_after"] == out.stat().st_size and report["bytes_before"] == fastgrnn.stat().st_size
    assert sum(report["breakdown"]["after"].values()) == report["bytes_after"]
    assert report["identical"]["identical"] and report["identical"]["samples"] == 30
    assert report["identical_with_buffer"]["identical"] and report["identical_with_buffer"]["samples"] == 20
    methods = {row["name"]: row["method"] for row in report["tensors"]}
    assert list(methods.values()).count("prune") == 2
    arena = report["arena"]
    assert arena["input_arena_bytes"] > 0 and arena["alternate_buffer"]["buffer_bytes"] == 4096
    assert arena["chosen"] == "decoded tensors in the arena"
    assert arena["in_arena"]["total_bytes"] <= arena["alternate_buffer"]["total_bytes"]
    assert "tensor_names" not in report["cuts"]  # --keep-names


def _lut_model(path: Path) -> Path:
    """A full-integer Keras Dense layer whose weights take 4 values: LUT stores 2 bits per weight."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    rng = np.random.default_rng(0)
    inp = tf.keras.Input((64,), batch_size=1)
    dense = tf.keras.layers.Dense(32)
    model = tf.keras.Model(inp, dense(inp))
    weights = rng.choice(np.array([-0.5, -0.25, 0.25, 0.5], np.float32), size=(64, 32))
    weights[0] = 0.5  # every output channel reaches 0.5: the same 4 int8 values per channel
    dense.set_weights([weights, np.zeros(32, np.float32)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = rng.standard_normal((32, 64)).astype(np.float32)
    converter.representative_dataset = lambda: ([s[None]] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def test_lut_method(tmp_path, capsys):
    source, out = _lut_model(tmp_path / "four_values.tflite"), tmp_path / "lut.tflite"
    capsys.readouterr()  # the converter's own output
    assert compress.main([str(source), str(out), "--method", "lut", "--samples", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = [row for row in report["tensors"] if row["method"] == "lut"]
    assert len(rows) == 1 and rows[0]["shape"] == [32, 64] and rows[0]["bytes_after"] < 32 * 64 / 3
    assert report["breakdown"]["after"]["lut_indices"] == 32 * 64 * 2 // 8
    assert report["identical"]["identical"] and out.stat().st_size < source.stat().st_size
    assert compress.main([str(source), str(tmp_path / "p.tflite"), "--method", "prune"]) == 2
    assert "nothing to compress" in capsys.readouterr().err


def _float_model() -> bytes:
    """y = concatenate([x, c]) with a dense float constant: nothing to compress."""
    values = np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32)
    t = schema.TensorType.FLOAT32
    x = model_editor.Tensor(shape=values.shape, dtype=t, name="x")
    c = model_editor.Tensor(shape=values.shape, dtype=t, data=values.tobytes(), name="c")
    y = model_editor.Tensor(shape=(128, 16), dtype=t, name="y")
    fb = schema.OperatorT()
    fb.builtinOptionsType = schema.BuiltinOptions.ConcatenationOptions
    fb.builtinOptions = schema.ConcatenationOptionsT()
    op = model_editor.Operator(opcode=schema.BuiltinOperator.CONCATENATION, inputs=[x, c], outputs=[y], _fb=fb)
    subgraph = model_editor.Subgraph(tensors=[x, c, y], operators=[op], inputs=[x], outputs=[y])
    return bytes(model_editor.Model(subgraphs=[subgraph]).build())


def test_bad_input_exits_2_with_one_line_and_writes_nothing(fastgrnn, tmp_path, capsys):
    files = {"junk.tflite": np.random.default_rng(1).bytes(3000), "trunc.tflite": fastgrnn.read_bytes()[:4000],
             "float.tflite": _float_model(), "compressed.tflite": compress_tflite(fastgrnn.read_bytes()).data}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder").mkdir()
    same = tmp_path / "junk.tflite"
    cases = [((tmp_path / "junk.tflite",), "not a TFLite flatbuffer"),
             ((tmp_path / "trunc.tflite",), "truncated or corrupt"),
             ((tmp_path / "missing.tflite",), "model file not found"),
             ((tmp_path / "float.tflite",), "nothing to compress"),
             ((tmp_path / "compressed.tflite",), "already compressed"),
             ((fastgrnn, "--samples", "0"), "--samples must be at least 1")]
    for args, message in cases:
        out = tmp_path / "out.tflite"
        assert compress.main([str(args[0]), str(out), *args[1:]]) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("error: "), (args, err)
        assert not out.exists()
    for source, target, message in ((fastgrnn, tmp_path / "folder", "is a directory"),
                                    (same, tmp_path / "folder" / ".." / "junk.tflite", "OUT must differ from IN")):
        before = target.read_bytes() if target.is_file() else None
        assert compress.main([str(source), str(target)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
        assert (target.read_bytes() if target.is_file() else None) == before
    assert list((tmp_path / "folder").iterdir()) == []


def _weight_changed(data: bytes) -> bytes:
    model = schema.Model.GetRootAs(data, 0)
    largest = max((model.Buffers(i).DataAsNumpy().tobytes() for i in range(model.BuffersLength())
                   if model.Buffers(i).DataLength()), key=len)
    offset = data.find(largest) + len(largest) // 2
    return data[:offset] + bytes([(data[offset] + 100) % 256]) + data[offset + 1:]


def test_outputs_that_differ_are_a_bug_and_nothing_is_written(fastgrnn, tmp_path, capsys, monkeypatch):
    def broken(data: bytes, **options: object):
        return dataclasses.replace(compress_tflite(data, **options), data=_weight_changed(data))

    monkeypatch.setattr(device_file, "compress_tflite", broken)
    out = tmp_path / "out.tflite"
    assert compress.main([str(fastgrnn), str(out), "--samples", "20"]) == 2
    err = capsys.readouterr().err
    assert "outputs differ from the input's" in err and "bug in edge_gmp's compressor" in err
    assert "first at sample" in err and err.count("\n") == 1 and not out.exists()


def test_help_lists_methods():
    r = cli("--help")
    assert r.returncode == 0 and "{auto,prune,lut}" in r.stdout and "--keep-names" in r.stdout
    r = cli(FASTGRNN, "out.tflite", "--method", "huffman")
    assert r.returncode == 2 and "invalid choice: 'huffman'" in r.stderr
