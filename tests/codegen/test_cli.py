"""python -m edge_gmp.codegen as a user meets it: files written on success, one line and exit 2 on bad input,
nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from edge_gmp.codegen.__main__ import main
from edge_gmp.codegen.host import CFLAGS, compiler
from edge_gmp.codegen.reference import Spec, graph_model


def test_writes_a_library_that_compiles_cleanly(tmp_path, fastgrnn_device_file, capsys):
    out = tmp_path / "lib"
    assert main([str(fastgrnn_device_file), "--out", str(out), "--samples", "20"]) == 0
    text = capsys.readouterr().out
    assert "identical raw outputs on 20 windows" in text
    assert max(len(line) for line in text.splitlines()) <= 120
    names = sorted(p.name for p in out.iterdir())
    assert names == ["fastgrnn_har2.c", "fastgrnn_har2.h", "fastgrnn_har2.json"]
    header = (out / "fastgrnn_har2.h").read_text()
    assert "int fastgrnn_har2_invoke(const int16_t *in0, const int16_t *in1, int16_t *out0, int16_t *out1);" in header
    obj = tmp_path / "x.o"
    result = subprocess.run([compiler(), *CFLAGS, "-pedantic", "-c", str(out / "fastgrnn_har2.c"), "-o", str(obj)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    report = json.loads((out / "fastgrnn_har2.json").read_text())
    assert report["identical_to_tflm"]["identical"] and report["kept_macs"] < report["dense_macs"]


def test_classifier_api_and_json(tmp_path, mobilenet_device_file, capsys):
    assert main([str(mobilenet_device_file), "--out", str(tmp_path), "--name", "net", "--samples", "5",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["identical_to_tflm"]["identical"]
    assert "int net_invoke(const int8_t *in, int8_t *out);" in (tmp_path / "net.h").read_text()


def _unsupported_model(tmp_path):
    specs = [Spec((1, 8), "int8", [0.1], [0]), Spec((1, 8), "int8", [0.1], [0])]
    path = tmp_path / "floor.tflite"
    path.write_bytes(graph_model([("HARD_SWISH", [0], [1], None)], specs, [0], [1]))
    return path


def _float_model(tmp_path):
    options = schema.AddOptionsT()
    path = tmp_path / "float.tflite"
    path.write_bytes(graph_model([("ADD", [0, 1], [2], options)], [Spec((4,), "float32")] * 3, [0, 1], [2]))
    return path


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    cases = [
        ([str(_unsupported_model(tmp_path)), "--out", str(out)], "operator 0 is HARD_SWISH"),
        ([str(_float_model(tmp_path)), "--out", str(out)], "float32 unquantised tensor"),
        ([str(tmp_path / "missing.tflite"), "--out", str(out)], "not found"),
        ([str(_unsupported_model(tmp_path)), "--out", str(out), "--samples", "-1"], "--samples must be >= 0"),
        ([str(_unsupported_model(tmp_path)), "--out", str(out), "--name", "1 x"], "not a C identifier"),
    ]
    for argv, words in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and "Traceback" not in err, err
        assert not out.exists()


def test_cli_runs_as_a_module(tmp_path):
    bad = tmp_path / "garbage.tflite"
    bad.write_bytes(np.arange(64, dtype=np.uint8).tobytes())
    result = subprocess.run([sys.executable, "-m", "edge_gmp.codegen", str(bad), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
