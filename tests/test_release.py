"""The committed reference FastGRNN (models/fastgrnn/) and its device deliverable (export/fastgrnn-har2/:
the compressed TFLM_DECODE file, its C array and the dense int16x8 file beside it), re-run in PyTorch,
onnxruntime, LiteRT and TFLite Micro on the full HAR-2 test set against the figures their card and manifest
claim; and the release command's own checks."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_gmp.data import HarData, Normalizer
from edge_gmp.errors import UserError
from edge_gmp.export import read_c_array
from edge_gmp.models import create_model
from edge_gmp.release import main as release_main
from edge_gmp.release import release
from edge_gmp.runtimes import open_session
from edge_gmp.verify import evaluate_classifier, evaluate_streaming, measure_arena, streaming_indices

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models" / "fastgrnn"
EXPORT_DIR = ROOT / "export" / "fastgrnn-har2"


@pytest.fixture(scope="module")
def metrics() -> dict:
    return json.loads((MODEL_DIR / "metrics.json").read_text())


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((EXPORT_DIR / "manifest.json").read_text())


@pytest.fixture(scope="module")
def test_windows(har: HarData, manifest: dict) -> tuple[np.ndarray, np.ndarray]:
    x = Normalizer.from_dict(manifest["normalization"]).apply(har.x_test)
    return np.asarray(x, np.float32), np.asarray(har.y_test)


def test_released_files_are_complete(metrics: dict, manifest: dict) -> None:
    for name in ("model.pt", "metrics.json", "MODEL_CARD.md", "config.toml", "fastgrnn_sequence.onnx",
                 "fastgrnn_step.onnx"):
        assert (MODEL_DIR / name).is_file(), name
    for role in ("tflite", "c_source", "c_header"):
        assert (EXPORT_DIR / manifest["files"][role]).is_file(), role
    assert (EXPORT_DIR / manifest["device_file"]["dense_file"]).is_file()
    assert metrics["failures"] == [] and manifest["budget"]["ok"]
    assert metrics["sparsity"] >= 0.8 and metrics["pruned_test_accuracy"] >= 0.93
    assert metrics["machine"] and "torch thread" in metrics["machine"]


def test_device_file_is_the_compressed_one_and_the_c_array_holds_it(manifest: dict) -> None:
    data = (EXPORT_DIR / manifest["files"]["tflite"]).read_bytes()
    dense = (EXPORT_DIR / manifest["device_file"]["dense_file"]).read_bytes()
    assert read_c_array(EXPORT_DIR / manifest["files"]["c_source"]) == data
    assert manifest["bytes"] == len(data) < len(dense) == manifest["device_file"]["dense_bytes"]
    assert manifest["device_file"]["compressed"] and manifest["device_file"]["identical_outputs"]["identical"]
    assert b"TFLM_DECODE" in data and b"TFLM_DECODE" not in dense
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((EXPORT_DIR / name).read_bytes()).hexdigest() == digest, name


def test_checkpoint_loads_weights_only_and_reproduces_accuracy(metrics: dict, test_windows) -> None:
    state = torch.load(MODEL_DIR / "model.pt", weights_only=True)
    model = create_model(state["model_name"], **{k: v for k, v in state["model_config"].items() if k != "name"})
    model.load_state_dict(state["state_dict"])
    model.eval()
    for name, mask in state["masks"].items():
        assert torch.all(dict(model.named_parameters())[name].detach()[~mask] == 0)
    x, y = test_windows
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    assert accuracy == pytest.approx(metrics["pruned_test_accuracy"], abs=1e-9)


@pytest.mark.slow
def test_onnx_sequence_in_onnxruntime(metrics: dict, test_windows) -> None:
    session = open_session("onnxruntime", MODEL_DIR / "fastgrnn_sequence.onnx")
    accuracy, _ = evaluate_classifier(session, *test_windows)
    assert accuracy == pytest.approx(metrics["pruned_test_accuracy"], abs=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["litert", "tflm"])
def test_dense_device_model_in_litert_and_tflm(runtime: str, manifest: dict, test_windows) -> None:
    path = EXPORT_DIR / manifest["device_file"]["dense_file"]
    kwargs = {"arena_bytes": measure_arena(path)} if runtime == "tflm" else {}
    session = open_session(runtime, path, **kwargs)
    accuracy, logits = evaluate_streaming(session, *test_windows, **streaming_indices(session))
    assert np.isfinite(logits).all()
    assert accuracy == pytest.approx(manifest["test_accuracy"][runtime], abs=1e-9)


@pytest.mark.slow
def test_compressed_device_file_in_tflm_gives_the_dense_files_outputs(manifest: dict, test_windows) -> None:
    x, y = test_windows
    logits = {}
    for role, path in (("device", EXPORT_DIR / manifest["files"]["tflite"]),
                       ("dense", EXPORT_DIR / manifest["device_file"]["dense_file"])):
        session = open_session("tflm", path, arena_bytes=manifest["arena_bytes"] if role == "device" else None)
        accuracy, logits[role] = evaluate_streaming(session, x, y, **streaming_indices(session))
        assert accuracy == pytest.approx(manifest["test_accuracy"]["tflm"], abs=1e-9)
    assert np.array_equal(logits["device"], logits["dense"])


def test_arena_is_the_manifests(manifest: dict) -> None:
    assert manifest["device_file"]["ram_mode"] == "decoded tensors in the arena"
    assert measure_arena(EXPORT_DIR / manifest["files"]["tflite"]) == manifest["arena_bytes"]


def test_card_states_the_measured_accuracies(metrics: dict, manifest: dict) -> None:
    card = (MODEL_DIR / "MODEL_CARD.md").read_text()
    assert f"{metrics['pruned_test_accuracy']:.2%}" in card
    assert f"{manifest['test_accuracy']['tflm']:.2%}" in card
    assert f"{manifest['bytes']:,}" in card and "torch thread" in card and "training augmentation: rotate 30.0" in card
    assert "python -m edge_gmp.pipeline" in card


def _fake_run(tmp_path: Path, failures: list[str]) -> Path:
    """A run directory assembled from the released files (what the pipeline wrote for them)."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("model.pt", "MODEL_CARD.md", "config.toml"):
        shutil.copy2(MODEL_DIR / name, run / name)
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "failures": failures}))
    (run / "artifacts").mkdir()
    for onnx in MODEL_DIR.glob("*.onnx"):
        shutil.copy2(onnx, run / "artifacts" / onnx.name)
    shutil.copytree(EXPORT_DIR, run / "export" / metrics["preset"])
    return run


def test_release_copies_a_verified_run(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, [])
    paths = release(run, tmp_path / "models", tmp_path / "export")
    assert sorted(p.name for p in paths["model"].iterdir()) == sorted(p.name for p in MODEL_DIR.iterdir())
    assert sorted(p.name for p in paths["export"].iterdir()) == sorted(p.name for p in EXPORT_DIR.iterdir())
    roots = ["--models-root", str(tmp_path / "models"), "--export-root", str(tmp_path / "export")]
    assert release_main([str(run), *roots]) == 0  # replacing a release leaves no staging dirs
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["fastgrnn"]  # the model's registry name
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["fastgrnn-har2"]  # the preset's name


def test_a_release_of_another_preset_of_the_model_replaces_the_old_deliverable(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, [])
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "export" / "fastgrnn-har2").rename(run / "export" / "fastgrnn-other")
    (run / "metrics.json").write_text(json.dumps({**metrics, "preset": "fastgrnn-other"}))
    release(run, tmp_path / "models", tmp_path / "export")
    (run / "export" / "fastgrnn-other").rename(run / "export" / "fastgrnn-har2")
    (run / "metrics.json").write_text(json.dumps(metrics))
    paths = release(run, tmp_path / "models", tmp_path / "export")
    assert paths["removed"] == tmp_path / "export" / "fastgrnn-other"
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["fastgrnn-har2"]


def test_release_refuses_failed_or_missing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _fake_run(tmp_path, ["ram over budget by 1 KiB"])
    with pytest.raises(UserError, match="ram over budget"):
        release(run, tmp_path / "models", tmp_path / "export")
    assert not (tmp_path / "models").exists()
    assert release_main([str(tmp_path / "nowhere")]) == 2
    assert "holds no run" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "checkpoint.pt").write_bytes(b"x")
    assert release_main([str(unfinished)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"python -m edge_gmp.pipeline --out {unfinished} --resume" in err
