"""MobileNet-V1 on a CIFAR-10 subset through the same pipeline: SGD recipe, Global MP with floors over every
convolution, classifier export (NCHW -> NHWC), verification in all three runtimes, STM32F746 budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_gmp.export import read_c_array
from edge_gmp.pipeline import main

TINY = ["--preset", "mobilenetv1-cifar10", "--epochs", "1", "--prune-epochs", "1", "--finetune-epochs", "1",
        "--set", "data.train_limit=2000", "--set", "data.val_images=500", "--set", "data.test_limit=500",
        "--set", "prune.frequency=4", "--min-accuracy", "0.0", "--quiet"]  # one epoch on 2,000 images is near chance


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory: pytest.TempPathFactory, cifar_archive: Path,
              cifar_cache_dir: Path) -> tuple[int, Path, str]:
    root = tmp_path_factory.mktemp("cifar_pipeline")
    env = {**os.environ, "EDGE_GMP_CACHE": str(cifar_cache_dir)}
    out = root / "run"
    proc = subprocess.run([sys.executable, "-m", "edge_gmp.pipeline", *TINY, "--data-path", str(cifar_archive),
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=1800)
    return proc.returncode, out, proc.stdout + proc.stderr


@pytest.mark.slow
def test_mobilenet_pipeline_end_to_end(cifar_run) -> None:
    code, out, output = cifar_run
    assert code == 0, output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "mobilenet_v1" and metrics["dataset"] == "cifar10"
    assert metrics["samples"] == {"train": 2000, "val": 500, "test": 500}
    assert len(metrics["classes"]) == 10
    n = metrics["prunable_parameters"]
    assert round(metrics["sparsity"] * n) == round(0.9 * n)
    assert len(metrics["layers"]) == 28  # stem + 13 depthwise + 13 pointwise + classifier, all pruned
    assert all(row["kept"] >= 1 for row in metrics["layers"])
    runtimes = {a["name"]: {r["runtime"]: r for r in a["runtimes"]} for a in metrics["artifacts"]}
    assert runtimes["onnx classifier"]["onnxruntime"]["accuracy"] == pytest.approx(metrics["pruned_test_accuracy"])
    for name in ("tflite classifier float32", "tflite classifier int8"):
        assert runtimes[name]["tflm"]["status"] == "ok" and runtimes[name]["litert"]["status"] == "ok"
    assert runtimes["tflite classifier int8_sparse"]["tflm"]["status"] == "unsupported"
    assert metrics["budget"]["device"]["id"] == "stm32f746-disco"
    macs = metrics["macs_per_sample"]
    assert macs["pruned_model"]["effective"] < 0.5 * macs["dense_model"]["effective"]


@pytest.mark.slow
def test_mobilenet_deliverable_is_nhwc_int8(cifar_run) -> None:
    _, out, _ = cifar_run
    deliverable = out / "export" / "mobilenetv1-cifar10"
    manifest = json.loads((deliverable / "manifest.json").read_text())
    data = (deliverable / manifest["files"]["tflite"]).read_bytes()
    assert read_c_array(deliverable / manifest["files"]["c_source"]) == data
    (tensor,) = manifest["tensors"]["inputs"]
    assert tensor["shape"] == [1, 32, 32, 3] and tensor["dtype"] == "int8" and tensor["layout"].startswith("NHWC")
    assert manifest["classes"][0] == "airplane" and manifest["normalization"]["pixel_scale"] == 255.0
    # 90 % of the weights are zero: the device file stores them for TFLM_DECODE, proven identical to the dense
    # int8 file (shipped beside it) on every test image, and the flash budget is judged on it
    device = manifest["device_file"]
    assert device["compressed"] and device["identical_outputs"]["identical"] and b"TFLM_DECODE" in data
    assert manifest["bytes"] == len(data) < device["dense_bytes"] // 2
    assert (deliverable / device["dense_file"]).stat().st_size == device["dense_bytes"]
    assert manifest["budget"]["rows"][0] == {**manifest["budget"]["rows"][0], "budget": "flash", "needed": len(data)}
    card = (out / "MODEL_CARD.md").read_text()
    assert "CIFAR-10" in card and "SGD (momentum 0.9)" in card


def test_cifar_without_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["--preset", "mobilenetv1-cifar10", "--out", str(out), "--quiet"]) == 2
    assert "--data-path" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_width_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        cifar_archive: Path) -> None:
    out = tmp_path / "run"
    argv = ["--preset", "mobilenetv1-cifar10", "--set", "model.width=0.3", "--data-path", str(cifar_archive)]
    assert main([*argv, "--out", str(out), "--quiet"]) == 2
    assert "width" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_validate_cli_measures_cifar_accuracy_in_tflm(cifar_run, cifar_archive: Path, cifar_cache_dir: Path) -> None:
    _, out, _ = cifar_run
    deliverable = out / "export" / "mobilenetv1-cifar10"
    manifest = json.loads((deliverable / "manifest.json").read_text())
    env = {**os.environ, "EDGE_GMP_CACHE": str(cifar_cache_dir)}
    proc = subprocess.run([sys.executable, "-m", "edge_gmp.validate", str(deliverable / manifest["files"]["tflite"]),
                           "--device", "stm32f746-disco", "--dataset", "cifar10", "--data-path", str(cifar_archive),
                           "--limit", "100", "--min-accuracy", "0.0", "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["accuracy_samples"] == 100 and 0.0 <= report["accuracy"] <= 1.0
    assert report["arena_bytes"] == manifest["arena_bytes"]
    assert "manifest" in report["accuracy_note"]


def _missing_class_folder(root: Path) -> Path:
    from PIL import Image

    for split in ("train", "test"):
        (root / split / "airplane").mkdir(parents=True)  # nine classes missing
        Image.new("RGB", (32, 32)).save(root / split / "airplane" / "0.png")
    return root


BAD_DATA = {
    "not_an_archive": (lambda tmp: (tmp / "cifar.tar.gz").write_bytes(b"hello") and tmp / "cifar.tar.gz",
                       "truncated or corrupt"),
    "missing_classes": (lambda tmp: _missing_class_folder(tmp / "folder"), "missing"),
    "official_bad_checksum": (lambda tmp: (tmp / "cifar-10-python.tar.gz").write_bytes(b"x" * 100)
                              and tmp / "cifar-10-python.tar.gz", "MD5"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_cifar_data_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    monkeypatch.setenv("EDGE_GMP_CACHE", str(tmp_path / "cache"))
    make, message = BAD_DATA[case]
    source = make(tmp_path)
    extra = ["--source", "official"] if case.startswith("official") else []
    out = tmp_path / "run"
    assert main(["--preset", "mobilenetv1-cifar10", "--data-path", str(source), *extra, "--out", str(out),
                 "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
