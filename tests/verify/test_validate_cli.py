import hashlib
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from edge_gmp import validate


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_gmp.validate", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_fits_exit_0_and_json(models):
    r = cli(models.int8, "--device", "nano33ble")
    assert r.returncode == 0, r.stderr
    assert "OK: every budget holds" in r.stdout and "64-bit host" in r.stdout
    r = cli(models.int8, "--device", "STM32F746-Disco", "--json")
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"] and report["arena_bytes"] > 0
    assert report["model"]["bytes"] == models.int8.stat().st_size
    assert [row["budget"] for row in report["budget"]["rows"]] == ["flash", "ram"]


def test_budget_that_cannot_hold_exits_1(models):
    r = cli(models.float32, "--device", "uno")
    assert r.returncode == 1, r.stderr
    assert "FAIL: flash over budget by" in r.stdout and "FAIL: ram over budget by" in r.stdout


def test_user_devices_file(models, tmp_path):
    boards = tmp_path / "boards.toml"
    size = models.int8.stat().st_size
    boards.write_text(f'[device.tiny]\nname = "Tiny"\nflash_bytes = {size + 10}\nsram_bytes = 100000\n'
                      'flash_reserve_bytes = 0\nram_reserve_bytes = 0\n')
    assert cli(models.int8, "--device", "tiny", "--devices", boards).returncode == 0
    boards.write_text(boards.read_text().replace(f"{size + 10}", f"{size - 10}"))
    r = cli(models.int8, "--device", "TINY", "--devices", boards)
    assert r.returncode == 1 and "flash over budget by 10 B" in r.stdout
    boards.write_text(boards.read_text().replace("sram_bytes = 100000", "sram_bytes = -1"))
    r = cli(models.int8, "--device", "tiny", "--devices", boards)
    assert r.returncode == 2 and "sram_bytes must be a non-negative integer" in r.stderr


def test_bad_input_exits_2(models, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(np.random.default_rng(1).bytes(3000))
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(models.int8.read_bytes()[:5000])
    cases = [((junk, "--device", "pico"), "not a TFLite flatbuffer"),
             ((trunc, "--device", "pico"), "truncated or corrupt"),
             ((tmp_path / "none.tflite", "--device", "pico"), "model file not found"),
             ((models.int8, "--device", "arduino-mega"), "unknown device 'arduino-mega'"),
             ((models.topk, "--device", "pico"), "no kernel for op TOPK_V2"),
             ((models.sparse, "--device", "pico"), "sparse-encoded"),
             ((models.int8, "--device", "pico", "--min-accuracy", "1.5", "--dataset", "har2"), r"[0, 1]"),
             ((models.int8, "--device", "pico", "--min-accuracy", "0.9"), "needs --dataset"),
             ((models.int8, "--device", "pico", "--dataset", "cifar10"), "needs --data-path")]
    for args, msg in cases:
        r = cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_non_finite_model_exits_1(models):
    r = cli(models.nan, "--device", "pico")
    assert r.returncode == 1 and "non-finite" in r.stdout


@pytest.fixture
def toy_set(models, tmp_path):
    """The verify models' samples served as a user's own dataset (tests/plugins/toy_dataset.py, from an .npz):
    raw values 2 x + 1, labelled with the float model's own predictions on x."""
    from plugins import toy_dataset  # noqa: F401  (registers "toy-windows")

    from edge_gmp.runtimes import open_session
    from edge_gmp.verify import run_samples

    ref = run_samples(open_session("onnxruntime", models.onnx), [models.samples])[0]
    raw = models.samples * 2 + 1
    path = tmp_path / "toy.npz"

    def write(y_test: np.ndarray, x_test: np.ndarray = raw) -> Path:
        np.savez(path, x_train=raw, y_train=np.zeros(len(raw), np.int64), x_test=x_test, y_test=y_test)
        return path

    write(ref.argmax(1))
    return types.SimpleNamespace(path=path, raw=raw, labels=ref.argmax(1), write=write)


def test_accuracy_budget_with_fitted_normaliser(models, toy_set, capsys):
    args = [str(models.float32), "--device", "pico", "--dataset", "toy-windows", "--data-path", str(toy_set.path)]
    assert validate.main([*args, "--normalization", "fit", "--min-accuracy", "0.99", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == 1.0 and report["accuracy_samples"] == 24
    assert "fitted on the training split" in report["accuracy_note"]
    toy_set.write(1 - toy_set.labels)
    assert validate.main([*args, "--normalization", "fit", "--min-accuracy", "0.5", "--limit", "8"]) == 1
    assert "FAIL: accuracy 0.0000 is 0.5000 below" in capsys.readouterr().out


def test_streaming_model_uses_its_own_manifest_only(models, toy_set, capsys, tmp_path):
    path = tmp_path / "stream.tflite"
    path.write_bytes(models.stream.read_bytes())
    norm = {"mean": [1.0] * 9, "std": [2.0] * 9}
    windows = toy_set.raw[:5]
    toy_set.write(models.stream_reference((windows - 1) / 2).argmax(1), windows)
    args = [str(path), "--device", "esp32", "--dataset", "toy-windows", "--data-path", str(toy_set.path),
            "--min-accuracy", "1", "--limit", "5"]
    (tmp_path / "manifest.json").write_text(json.dumps({"normalization": norm, "sha256": {"stream.tflite": "0" * 64}}))
    validate.main(args)
    assert "does not name this model's SHA-256" in capsys.readouterr().out  # another file's manifest: ignored
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps({"normalization": norm, "sha256": {"stream.tflite": digest}}))
    assert validate.main(args) == 0
    out = capsys.readouterr().out
    assert "accuracy  1.0000 on 5 test samples" in out and "manifest.json" in out
