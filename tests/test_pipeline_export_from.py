"""`python -m edge_gmp.pipeline --export-from models/fastgrnn`: the committed release's weights exported, verified
and delivered again without training, as the pipeline now writes a new run (the path that re-exported the
released MobileNet); the refusals are in test_trained_run.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_gmp.export.c_array import read_c_array

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "models" / "fastgrnn"
DELIVERED = ROOT / "export" / "fastgrnn-har2"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, har, har_cache_dir: Path) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("export-from") / "run"
    env = {**os.environ, "EDGE_GMP_CACHE": str(har_cache_dir)}  # reuse the session's HAR-2 reconstruction
    proc = subprocess.run([sys.executable, "-m", "edge_gmp.pipeline", "--export-from", str(RELEASED), "--out",
                           str(out), "--quiet"], capture_output=True, text=True, env=env, timeout=1800, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout + proc.stderr


def test_the_training_record_is_the_stored_one(exported: tuple[Path, str]) -> None:
    out, _ = exported
    stored = json.loads((RELEASED / "metrics.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "model.pt").read_bytes() == (RELEASED / "model.pt").read_bytes()
    for key in ("dense_test_accuracy", "pruned_test_accuracy", "history", "best_epoch", "layers", "machine",
                "train_seconds", "normalization"):
        assert metrics[key] == stored[key], key
    assert metrics["exported_from"]["from"] == str(RELEASED) and not metrics["failures"]
    assert "timings" in metrics and "train" not in metrics["timings"]


def test_the_deliverable_is_the_pipelines_and_matches_the_release(exported: tuple[Path, str]) -> None:
    out, _ = exported
    deliverable = out / "export" / "fastgrnn-har2"
    manifest = json.loads((deliverable / "manifest.json").read_text())
    released = json.loads((DELIVERED / "manifest.json").read_text())
    data = (deliverable / manifest["files"]["tflite"]).read_bytes()
    assert read_c_array(deliverable / manifest["files"]["c_source"]) == data
    assert manifest["device_file"]["file"] == manifest["files"]["tflite"]
    assert manifest["device_file"]["identical_outputs"]["identical"]
    assert manifest["device_file"]["identical_outputs"]["samples"] == manifest["test_samples"]
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((deliverable / name).read_bytes()).hexdigest() == digest, name
    assert manifest["test_accuracy"] == released["test_accuracy"]
    assert manifest["float_test_accuracy"] == released["float_test_accuracy"]


def test_the_card_names_the_training_and_the_export(exported: tuple[Path, str]) -> None:
    out, _ = exported
    card = (out / "MODEL_CARD.md").read_text()
    assert "python -m edge_gmp.pipeline --preset fastgrnn-har2\npython -m edge_gmp.pipeline --export-from" in card
    assert f"exported again from `{RELEASED}` without training" in card
