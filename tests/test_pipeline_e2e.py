"""`python -m edge_gmp.pipeline` end to end on a tiny budget: train, prune, export, verify in all three
runtimes on the full HAR-2 test set, device deliverable, budget check; then a budget miss exits 1."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edge_gmp.export.bundle import manifest_file_names
from edge_gmp.export.c_array import read_c_array
from edge_gmp.pipeline import main

pytestmark = pytest.mark.slow

TINY = ["--epochs", "2", "--prune-epochs", "1", "--finetune-epochs", "1", "--hidden", "8",
        "--batch-size", "128", "--min-accuracy", "0.5", "--quiet"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, har, har_cache_dir: Path) -> tuple[int, Path, str]:
    out = tmp_path_factory.mktemp("pipeline") / "run"
    env = {**os.environ, "EDGE_GMP_CACHE": str(har_cache_dir)}  # reuse the session's HAR-2 reconstruction
    proc = subprocess.run([sys.executable, "-m", "edge_gmp.pipeline", *TINY, "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=1800)
    return proc.returncode, out, proc.stdout + proc.stderr


def test_tiny_run_succeeds_and_writes_a_self_describing_directory(tiny_run) -> None:
    code, out, output = tiny_run
    assert code == 0, output
    for name in ("config.toml", "metrics.json", "MODEL_CARD.md", "model.pt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    n = metrics["prunable_parameters"]
    assert round(metrics["sparsity"] * n) == round(0.8 * n)  # exactly round(s * N) weights pruned
    assert metrics["samples"]["test"] > 2900 and not metrics["failures"]
    state = torch.load(out / "model.pt", weights_only=True)
    assert set(state["masks"]) == {"W", "U", "classifier.weight"}


def test_every_artifact_verified_in_every_runtime_that_can_run_it(tiny_run) -> None:
    _, out, _ = tiny_run
    metrics = json.loads((out / "metrics.json").read_text())
    arts = {a["name"]: a for a in metrics["artifacts"]}
    assert {"onnx sequence", "onnx step", "tflite step float32", "tflite step int8", "tflite step int16x8",
            "tflite step float32_sparse", "tflite step int8_sparse"} <= set(arts)
    runtimes = {name: {r["runtime"]: r for r in a["runtimes"]} for name, a in arts.items()}
    assert set(runtimes["onnx step"]) == {"onnxruntime"}
    for name in ("tflite step float32", "tflite step int8", "tflite step int16x8"):
        assert {"litert", "tflm"} <= set(runtimes[name])
        assert runtimes[name]["tflm"]["status"] == "ok"
        assert arts[name]["arena_bytes"] > 0
    # sparse flatbuffers: LiteRT runs them, TFLite Micro cannot (no DENSIFY) and says so
    tflm_sparse = runtimes["tflite step float32_sparse"]["tflm"]
    assert tflm_sparse["status"] == "unsupported" and tflm_sparse["note"]
    assert runtimes["onnx sequence"]["onnxruntime"]["accuracy"] == pytest.approx(metrics["pruned_test_accuracy"])
    device = runtimes["tflite step int16x8"]  # the device artifact: int16 activations, int8 weights
    assert device["tflm"]["accuracy"] >= metrics["pruned_test_accuracy"] - 0.01
    assert metrics["device_file"]["dense_file"] == "fastgrnn_step_int16x8.tflite"


def test_deliverable_is_the_device_file_with_its_c_array(tiny_run) -> None:
    _, out, _ = tiny_run
    deliverable = out / "export" / "fastgrnn-har2"
    manifest = json.loads((deliverable / "manifest.json").read_text())
    tflite = deliverable / manifest["files"]["tflite"]
    data = tflite.read_bytes()
    assert read_c_array(deliverable / manifest["files"]["c_source"]) == data
    assert "alignas(16)" in (deliverable / manifest["files"]["c_source"]).read_text()
    assert manifest["bytes"] == len(data)
    assert manifest["budget"]["ok"] and manifest["budget"]["device"]["id"] == "nano33ble"
    judged = json.loads((out / "metrics.json").read_text())["budget"]["artifact"]
    assert judged == manifest["budget"]["artifact"] and judged.startswith(tflite.name)  # the card names it too
    assert f"Judged on {tflite.name}" in (out / "MODEL_CARD.md").read_text()
    assert manifest["precision"] == "int16x8" and manifest["tensors"]["inputs"][0]["dtype"] == "int16"
    assert hashlib.sha256(data).hexdigest() in manifest["sha256"].values()
    assert manifest_file_names(manifest) <= {p.name for p in deliverable.iterdir()}  # every file by its name here
    assert set(manifest["normalization"]) >= {"mean", "std"}
    assert not list(deliverable.glob("*.tmp*"))


def test_deliverable_holds_the_compiled_c_identical_to_tflm_on_the_whole_test_set(tiny_run) -> None:
    _, out, _ = tiny_run
    deliverable = out / "export" / "fastgrnn-har2"
    manifest = json.loads((deliverable / "manifest.json").read_text())
    compiled = manifest["compiled"]
    assert compiled["files"] == [f"fastgrnn_har2_compiled.{ext}" for ext in ("c", "h", "json", "elf")]
    assert all((deliverable / name).is_file() for name in compiled["files"])
    same = compiled["identical_to_tflm"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert same["identical"] and same["streaming"] and same["samples"] == metrics["samples"]["test"]
    assert same["steps"] == 128 and compiled["kept_macs"] < compiled["dense_macs"]
    assert "fastgrnn_har2_compiled_invoke" in (deliverable / "fastgrnn_har2_compiled.h").read_text()
    assert "codegen" in metrics["timings"] and "emulate" in metrics["timings"]
    target = manifest["target"]
    assert target["core"] == "cortex-m4" and target["identical_to_host"]["identical"] and not target["failures"]
    assert "fastgrnn_har2_compiled.elf" in compiled["files"] and (deliverable / "fastgrnn_har2_compiled.elf").is_file()
    assert 0 < target["flash_bytes"] < 64_000 and 0 < target["stack_bytes"]
    assert "estimate" in target["cycle_estimate_note"]


def test_card_and_summary_name_every_runtime(tiny_run) -> None:
    _, out, output = tiny_run
    card = (out / "MODEL_CARD.md").read_text()
    for word in ("onnxruntime", "litert", "tflm", "Arduino Nano 33 BLE", "python -m edge_gmp.pipeline",
                 "training augmentation: rotate 30.0"):
        assert word in card


def test_terminal_has_no_tensorflow_noise_and_fits_120_columns(tiny_run) -> None:
    _, _, output = tiny_run
    for marker in ("cuInit", "CUDA", "absl::", "oneDNN", "TF_ENABLE_ONEDNN_OPTS", "tensorflow/core", "XLA"):
        assert marker not in output, marker
    too_wide = [line for line in output.splitlines() if len(line) > 120 and "/" not in line]
    assert not too_wide, too_wide  # only lines naming a file may be longer (its path is the user's)


def test_budget_miss_exits_1_and_names_the_budget(tiny_run, har_cache_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Resuming the finished run retrains nothing (identical weights) and re-checks against an Uno."""
    _, out, _ = tiny_run
    before = json.loads((out / "metrics.json").read_text())
    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    assert main([*TINY, "--out", str(out), "--resume", "--device", "uno"]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "ram over budget" in err.lower()
    after = json.loads((out / "metrics.json").read_text())
    assert after["pruned_test_accuracy"] == before["pruned_test_accuracy"]
    assert not after["budget"]["ok"] and after["failures"]


def test_compiled_image_as_the_device_artifact_is_what_the_budget_judges(tiny_run, har_cache_dir: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """export.device_artifact = compiled: the whole firmware image against the board and a flash bar of the
    user's, with the run's accuracy in TFLite Micro (the compiled C is identical to it)."""
    _, out, _ = tiny_run
    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    image = ["--set", "export.device_artifact=compiled", "--device", "nano33ble"]
    assert main([*TINY, "--out", str(out), "--resume", *image, "--set", "export.max_flash_bytes=1000"]) == 1
    err = capsys.readouterr().err
    assert "flash bar over budget" in err
    metrics = json.loads((out / "metrics.json").read_text())
    rows = {r["budget"]: r for r in metrics["budget"]["rows"]}
    assert rows["flash"]["needed"] == rows["flash bar"]["needed"] == metrics["target"]["flash_bytes"]
    assert rows["ram"]["needed"] == metrics["target"]["ram_bytes"] and rows["flash bar"]["available"] == 1000
    assert rows["accuracy"]["available"] == metrics["budget"]["rows"][-1]["available"] > 0.5
    assert ".elf on the emulated cortex-m4" in metrics["budget"]["artifact"]
    manifest = json.loads((out / "export" / "fastgrnn-har2" / "manifest.json").read_text())
    assert manifest["device_artifact"] == "compiled" and manifest["budget"]["rows"] == metrics["budget"]["rows"]
    assert main([*TINY, "--out", str(out), "--resume", *image, "--set", "export.max_flash_bytes=100000"]) == 0
    assert json.loads((out / "metrics.json").read_text())["budget"]["ok"]




def test_init_from_prunes_given_dense_weights(tiny_run, tmp_path: Path, har_cache_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from the tiny run's dense weights (its checkpoint), skip dense training, prune with LAMP."""
    _, out, _ = tiny_run
    dense = json.loads((out / "metrics.json").read_text())["dense_test_accuracy"]
    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    run = tmp_path / "lamp"
    assert main([*TINY, "--no-export", "--init-from", str(out / "checkpoint.pt"), "--method", "lamp",
                 "--sparsity", "0.9", "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dense_test_accuracy"] == dense  # the same dense weights, not retrained
    assert [h["phase"] for h in metrics["history"]] == ["prune", "finetune"]
    assert metrics["pruning_method"] == "lamp" and metrics["dense_weights_from"] == str(out / "checkpoint.pt")
    n = metrics["prunable_parameters"]
    assert n - sum(row["kept"] for row in metrics["layers"]) == round(0.9 * n)
    assert "loaded from" in (run / "MODEL_CARD.md").read_text()
