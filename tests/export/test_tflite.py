"""onnx2tf + TFLiteConverter on tiny models (each conversion runs once per session, ~10-20 s)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx_agreement import onnx_agreement

from edge_gmp.errors import UserError
from edge_gmp.export import convert_onnx_to_tflite, step_calibration, tflite_weight_counts
from edge_gmp.runtimes import dequantize, quantize
from edge_gmp.runtimes.litert import load_interpreter, tensor_info
from edge_gmp.verify.checks import Candidate, check_artifacts

pytestmark = pytest.mark.slow


def _run_artifact(art, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run one batch-1 sample through a .tflite using only the artifact's recorded I/O mapping."""
    interp = load_interpreter(art.path)
    details_in, details_out = interp.get_input_details(), interp.get_output_details()
    for spec in art.inputs:
        detail = details_in[spec.index]
        assert detail["index"] == spec.tensor_index
        value = feeds[spec.onnx_name].transpose(spec.perm_from_onnx)
        interp.set_tensor(spec.tensor_index, quantize(value, tensor_info(detail)))
    interp.invoke()
    return {s.onnx_name: dequantize(interp.get_tensor(s.tensor_index), tensor_info(details_out[s.index]))
            for s in art.outputs}


def _ort(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))


def test_step_artifacts_written_and_serialisable(step_tflite):
    assert set(step_tflite) == {"float32", "int8", "float32_sparse", "int8_sparse"}
    for art in step_tflite.values():
        assert Path(art.path).stat().st_size == art.bytes > 0
        record = json.loads(json.dumps(art.to_dict()))
        assert record["kind"] == art.kind
        assert {s["onnx_name"] for s in record["inputs"]} == {"x_t", "h"}
        assert {s["onnx_name"] for s in record["outputs"]} == {"h_next", "logits"}
        assert art.input("x_t").shape == (1, 9) and art.input("h").shape == (1, 16)
        assert art.output("h_next").shape == (1, 16) and art.output("logits").shape == (1, 2)
        # the device artifact: builtin ops only, no GATHER (INT64 indices would stop TFLite Micro)
        assert "GATHER" not in art.ops and not art.micro_issues


def test_step_float32_parity(step_tflite, fastgrnn_onnx):
    art = step_tflite["float32"]
    rng = np.random.default_rng(7)
    for _ in range(20):
        feeds = {"x_t": rng.standard_normal((1, 9)).astype(np.float32),
                 "h": rng.uniform(-1, 1, (1, 16)).astype(np.float32)}
        ref, got = _ort(fastgrnn_onnx["step"], feeds), _run_artifact(art, feeds)
        for name in ("h_next", "logits"):
            assert np.max(np.abs(ref[name] - got[name])) <= 1e-4
        assert ref["logits"].argmax() == got["logits"].argmax()


def test_step_int8_full_integer(step_tflite, step_calib, fastgrnn_onnx):
    art = step_tflite["int8"]
    for spec in (*art.inputs, *art.outputs):
        assert spec.dtype == "int8" and spec.scale > 0 and -128 <= spec.zero_point <= 127
    first = {name: v[:200] for name, v in step_calib.items()}
    assert onnx_agreement(art, fastgrnn_onnx["step"], first)["logits"].top1 >= 0.95
    agree = []
    for k in range(0, 240, 4):
        feeds = {name: v[k:k + 1] for name, v in step_calib.items()}
        ref, got = _ort(fastgrnn_onnx["step"], feeds), _run_artifact(art, feeds)
        agree.append(ref["logits"].argmax() == got["logits"].argmax())
        assert np.max(np.abs(ref["h_next"] - got["h_next"])) < 0.05
    assert np.mean(agree) >= 0.95


def test_export_describes_and_does_not_judge(step_tflite):
    assert not {"valid", "note", "parity"} & set(step_tflite["int8_sparse"].to_dict())


def test_int8_sparse_matches_dense_in_verify(step_tflite, fastgrnn_model, windows):
    """The sparse files are judged against their dense twins in the verify loop, on whole windows: our CSR
    encoding keeps every non-zero (the converter's int8 1x16 blocks lost some of the 16x9 input matrix) and the
    int8 file gives its dense twin's outputs exactly."""
    dense, sparse = step_tflite["int8"], step_tflite["int8_sparse"]
    assert tflite_weight_counts(sparse.path)["nonzero"] == tflite_weight_counts(dense.path)["nonzero"]
    with torch.no_grad():
        logits = fastgrnn_model(torch.from_numpy(windows)).numpy()
    labels = logits.argmax(1)
    step = dense.output("logits").scale
    candidates = [Candidate("tflite step float32", step_tflite["float32"].path, "float32"),
                  Candidate("tflite step float32_sparse", step_tflite["float32_sparse"].path, "float32", sparse=True,
                            twin="tflite step float32"),
                  Candidate("tflite step int8", dense.path, "int8", shipped=False),
                  Candidate("tflite step int8_sparse", sparse.path, "int8", sparse=True, twin="tflite step int8",
                            output_step=step)]
    checks = {c.candidate.name: c for c in check_artifacts(candidates, windows, labels, logits, 1.0)}
    int8_sparse = checks["tflite step int8_sparse"]
    assert int8_sparse.valid and "matches int8" in int8_sparse.note, int8_sparse.note
    assert checks["tflite step float32_sparse"].valid, checks["tflite step float32_sparse"].note
    assert "matches float32" in checks["tflite step float32_sparse"].note
    assert checks["tflite step float32"].valid and not checks["tflite step float32"].problems


def test_float_sparse_keeps_weights(step_tflite, fastgrnn_model):
    dense = tflite_weight_counts(step_tflite["float32"].path)
    sparse = tflite_weight_counts(step_tflite["float32_sparse"].path)
    params = (fastgrnn_model.W, fastgrnn_model.U, fastgrnn_model.classifier.weight)
    nonzero = int(sum((p != 0).sum() for p in params))
    assert dense["nonzero"] == sparse["nonzero"] == nonzero
    assert sparse["stored"] < dense["stored"] == dense["elements"]


def test_convnet_converts_offline(convnet_onnx, tmp_path, monkeypatch):
    # onnx2tf would download a sample for 3-channel image inputs; make any download fail fast
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    cal = {"image": np.random.default_rng(0).random((200, 3, 32, 32), dtype=np.float32)}
    arts = {a.kind: a for a in convert_onnx_to_tflite(convnet_onnx, tmp_path, cal)}
    assert set(arts) == {"float32", "int8", "float32_sparse", "int8_sparse"}
    for art in arts.values():
        assert art.input("image").layout == "NHWC (1,32,32,3)"
        assert art.input("image").perm_from_onnx == (0, 2, 3, 1)
    feeds = {"image": cal["image"][:1]}
    ref, got = _ort(convnet_onnx, feeds), _run_artifact(arts["float32"], feeds)
    assert np.max(np.abs(ref["logits"] - got["logits"])) <= 1e-4
    assert onnx_agreement(arts["int8"], convnet_onnx, cal)["logits"].top1 >= 0.9


def test_calibration_checked_before_conversion(fastgrnn_onnx, step_calib, tmp_path):
    few = {k: v[:50] for k, v in step_calib.items()}
    with pytest.raises(UserError, match="at least 200"):
        convert_onnx_to_tflite(fastgrnn_onnx["step"], tmp_path, few)
    with pytest.raises(UserError, match="do not match"):
        convert_onnx_to_tflite(fastgrnn_onnx["step"], tmp_path, {"x_t": step_calib["x_t"]})
    with pytest.raises(UserError, match="shape"):
        swapped = {"x_t": step_calib["h"], "h": step_calib["h"]}
        convert_onnx_to_tflite(fastgrnn_onnx["step"], tmp_path, swapped)
    assert list(tmp_path.iterdir()) == []


def test_step_int8_runs_in_tflite_micro(step_tflite, step_calib):
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    art = step_tflite["int8"]
    micro = runtime.Interpreter.from_file(art.path)
    lite = load_interpreter(art.path)
    for k in range(0, 200, 20):
        for spec in art.inputs:
            q = quantize(step_calib[spec.onnx_name][k:k + 1], tensor_info(lite.get_input_details()[spec.index]))
            micro.set_input(q, spec.index)
            lite.set_tensor(spec.tensor_index, q)
        micro.invoke()
        lite.invoke()
        for spec in art.outputs:
            diff = micro.get_output(spec.index).astype(int) - lite.get_tensor(spec.tensor_index).astype(int)
            assert np.max(np.abs(diff)) <= 1


def test_low_rank_step_converts_with_factors(low_rank_model, low_rank_onnx, windows, tmp_path):
    cal = step_calibration(low_rank_model, windows, samples=200)
    arts = {a.kind: a for a in convert_onnx_to_tflite(low_rank_onnx["step"], tmp_path, cal)}
    assert onnx_agreement(arts["float32"], low_rank_onnx["step"], cal)["h_next"].max_abs <= 1e-4
    counts = tflite_weight_counts(arts["float32"].path)
    assert counts["elements"] == 16 * 3 + 3 * 9 + 16 * 4 + 4 * 16 + 2 * 16  # factors, not products
