"""The committed MobileNet-V1 (models/mobilenet_v1/) and its device deliverable (export/mobilenetv1-cifar10-distilled/:
the compressed TFLM_DECODE file, its C array and the dense int8 file beside it), re-run in PyTorch, onnxruntime,
LiteRT and TFLite Micro on all 10,000 CIFAR-10 test images (the offline copy in ../shared) against the figures
their card, metrics and manifest claim."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_gmp.data import ImageNormalizer, load_cifar10
from edge_gmp.export import read_c_array
from edge_gmp.models import create_model
from edge_gmp.runtimes import open_session
from edge_gmp.verify import evaluate_classifier, measure_arena

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models" / "mobilenet_v1"
EXPORT_DIR = ROOT / "export" / "mobilenetv1-cifar10-distilled"


@pytest.fixture(scope="module")
def metrics() -> dict:
    return json.loads((MODEL_DIR / "metrics.json").read_text())


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((EXPORT_DIR / "manifest.json").read_text())


@pytest.fixture(scope="module")
def test_images(manifest: dict, cifar_archive: Path, cifar_cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """All test images, normalised with the manifest's statistics, NCHW (the model's own layout)."""
    data = load_cifar10("folder", cifar_archive, cache_dir=cifar_cache_dir)
    x = ImageNormalizer.from_dict(manifest["normalization"]).apply(data.x_test)
    return np.asarray(x, np.float32), np.asarray(data.y_test)


def _artifact(metrics: dict, name: str) -> dict:
    return next(a for a in metrics["artifacts"] if a["name"] == name)


def test_released_files_are_complete(metrics: dict, manifest: dict) -> None:
    for name in ("model.pt", "metrics.json", "MODEL_CARD.md", "config.toml", "classifier.onnx"):
        assert (MODEL_DIR / name).is_file(), name
    for role in ("tflite", "c_source", "c_header"):
        assert (EXPORT_DIR / manifest["files"][role]).is_file(), role
    assert (EXPORT_DIR / manifest["device_file"]["dense_file"]).is_file()
    assert metrics["failures"] == [] and manifest["budget"]["ok"]
    assert manifest["budget"]["device"]["id"] == "stm32f746-disco"
    assert metrics["sparsity"] == pytest.approx(0.9, abs=1e-6) and metrics["samples"]["test"] == 10_000
    assert all(row["kept"] >= 1 for row in metrics["layers"]) and len(metrics["layers"]) == 28
    (tensor,) = manifest["tensors"]["inputs"]
    assert tensor["shape"] == [1, 32, 32, 3] and tensor["dtype"] == "int8"


def test_device_file_is_the_compressed_one_and_the_c_array_holds_it(manifest: dict) -> None:
    data = (EXPORT_DIR / manifest["files"]["tflite"]).read_bytes()
    dense = (EXPORT_DIR / manifest["device_file"]["dense_file"]).read_bytes()
    assert read_c_array(EXPORT_DIR / manifest["files"]["c_source"]) == data
    assert manifest["bytes"] == len(data) < len(dense) == manifest["device_file"]["dense_bytes"]
    assert manifest["device_file"]["file"] == manifest["files"]["tflite"]
    assert manifest["device_file"]["compressed"] and manifest["device_file"]["identical_outputs"]["identical"]
    assert manifest["device_file"]["identical_outputs"]["samples"] == 10_000
    assert b"TFLM_DECODE" in data and b"TFLM_DECODE" not in dense
    assert set(manifest["sha256"]) == {manifest["files"]["tflite"], manifest["device_file"]["dense_file"]}
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((EXPORT_DIR / name).read_bytes()).hexdigest() == digest, name


def test_metrics_and_manifest_agree(metrics: dict, manifest: dict) -> None:
    dense = _artifact(metrics, "tflite classifier int8")
    compressed = _artifact(metrics, "tflite classifier int8 compressed")
    assert {r["runtime"]: r["accuracy"] for r in dense["runtimes"]} == manifest["test_accuracy"]
    assert compressed["bytes"] == manifest["bytes"] == metrics["device_file"]["bytes"]
    assert dense["bytes"] == manifest["device_file"]["dense_bytes"]
    assert compressed["arena_bytes"] == manifest["ram_bytes"] == metrics["budget"]["rows"][1]["needed"]
    label = "artifact"  # the manifest names the file as shipped, metrics as the run wrote it
    assert {k: v for k, v in metrics["budget"].items() if k != label} == \
        {k: v for k, v in manifest["budget"].items() if k != label}
    assert manifest["budget"][label].startswith("mobilenetv1_cifar10_distilled.tflite ")
    assert metrics["exported_from"]["command"].startswith("python -m edge_gmp.pipeline --export-from")


@pytest.mark.slow
def test_checkpoint_reproduces_accuracy(metrics: dict, test_images) -> None:
    state = torch.load(MODEL_DIR / "model.pt", weights_only=True)
    model = create_model(state["model_name"], **{k: v for k, v in state["model_config"].items() if k != "name"})
    model.load_state_dict(state["state_dict"])
    model.eval()
    params = dict(model.named_parameters())
    for name, mask in state["masks"].items():
        assert torch.all(params[name].detach()[~mask] == 0), name
    x, y = test_images
    with torch.no_grad():
        predictions = torch.cat([model(torch.from_numpy(x[i:i + 1000])).argmax(1) for i in range(0, len(x), 1000)])
    assert float((predictions.numpy() == y).mean()) == pytest.approx(metrics["pruned_test_accuracy"], abs=1e-9)


@pytest.mark.slow
def test_onnx_in_onnxruntime(metrics: dict, test_images) -> None:
    accuracy, _ = evaluate_classifier(open_session("onnxruntime", MODEL_DIR / "classifier.onnx"), *test_images)
    assert accuracy == pytest.approx(metrics["pruned_test_accuracy"], abs=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["litert", "tflm"])
def test_dense_device_model_in_litert_and_tflm(runtime: str, manifest: dict, test_images) -> None:
    path = EXPORT_DIR / manifest["device_file"]["dense_file"]
    kwargs = {"arena_bytes": measure_arena(path)} if runtime == "tflm" else {}
    accuracy, logits = evaluate_classifier(open_session(runtime, path, **kwargs), *test_images)
    assert np.isfinite(logits).all()
    assert accuracy == pytest.approx(manifest["test_accuracy"][runtime], abs=1e-9)


@pytest.mark.slow
def test_compressed_device_file_in_tflm_gives_the_dense_files_outputs(manifest: dict, test_images) -> None:
    logits = {}
    for role, path in (("device", EXPORT_DIR / manifest["files"]["tflite"]),
                       ("dense", EXPORT_DIR / manifest["device_file"]["dense_file"])):
        session = open_session("tflm", path, arena_bytes=manifest["arena_bytes"] if role == "device" else None)
        accuracy, logits[role] = evaluate_classifier(session, *test_images)
        assert accuracy == pytest.approx(manifest["test_accuracy"]["tflm"], abs=1e-9)
    assert np.array_equal(logits["device"], logits["dense"])


def test_arena_is_the_manifests(metrics: dict, manifest: dict) -> None:
    assert manifest["device_file"]["ram_mode"] == "decoded tensors in the arena"
    assert measure_arena(EXPORT_DIR / manifest["files"]["tflite"]) == manifest["arena_bytes"]
    dense = EXPORT_DIR / manifest["device_file"]["dense_file"]
    assert measure_arena(dense) == _artifact(metrics, "tflite classifier int8")["arena_bytes"]


def test_card_states_the_measured_figures(metrics: dict, manifest: dict) -> None:
    card = (MODEL_DIR / "MODEL_CARD.md").read_text()
    assert f"{metrics['pruned_test_accuracy']:.2%}" in card
    assert f"{manifest['test_accuracy']['tflm']:.2%}" in card
    assert f"{manifest['bytes']:,}" in card and f"{manifest['device_file']['dense_bytes']:,}" in card
    assert "python -m edge_gmp.pipeline --preset mobilenetv1-cifar10" in card
    assert "python -m edge_gmp.pipeline --export-from models/mobilenet_v1" in card
