"""Every command's --help, and what a short run of each prints, fits 120 columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_gmp.report.summary import summary_text
from edge_gmp.report.tables import WIDTH

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "fastgrnn_step_int8.tflite"
COMMANDS = ("pipeline", "sweep", "compress", "validate", "release")


def _run(module: str, *args: str, env: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in (env or os.environ).items() if k != "COLUMNS"}  # argparse's own width: a plain pipe
    proc = subprocess.run([sys.executable, "-m", f"edge_gmp.{module}", *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def _too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > WIDTH]


@pytest.mark.parametrize("module", COMMANDS)
def test_help_fits(module: str) -> None:
    text = _run(module, "--help")
    assert not _too_wide(text)
    assert "(default: None)" not in text


@pytest.mark.parametrize("release", ["fastgrnn", "mobilenet_v1"])
def test_the_pipelines_closing_summary_fits(release: str) -> None:
    metrics = json.loads((ROOT / "models" / release / "metrics.json").read_text())
    assert not _too_wide(summary_text(metrics))


def test_compress_and_validate_fit(tmp_path: Path) -> None:
    out = tmp_path / "compressed.tflite"
    assert not _too_wide(_run("compress", str(FIXTURE), str(out), "--samples", "5"))
    assert not _too_wide(_run("validate", str(out), "--board", "nano33ble"))
    assert not _too_wide(_run("validate", str(FIXTURE), "--board", "nano33ble"))


def test_a_short_training_run_fits(tmp_path: Path, har, har_cache_dir: Path) -> None:
    env = {**os.environ, "EDGE_GMP_CACHE": str(har_cache_dir), "OMP_NUM_THREADS": "1"}
    text = _run("pipeline", "--epochs", "1", "--prune-epochs", "1", "--finetune-epochs", "0", "--hidden", "8",
                "--set", "data.train_limit=300", "--set", "data.test_limit=100", "--no-export",
                "--out", str(tmp_path / "run"), env=env)
    assert "PyTorch test accuracy" in text and not _too_wide(text)
