"""Adding a dataset and a model is one file each plus a config: tests/plugins/toy_dataset.py and
tests/plugins/toy_model.py go through the whole pipeline (train, prune, export, verify in every runtime,
device file, budget, model card), and validate measures the result on the dataset by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugins import toy_dataset, toy_model  # noqa: F401  (register "toy-windows" and "toy_mlp")

from edge_gmp import validate
from edge_gmp.export.bundle import manifest_file_names
from edge_gmp.pipeline import main

pytestmark = pytest.mark.slow

CONFIG = """
name = "toy"

[model]
name = "toy_mlp"
hidden = 32

[data]
dataset = "toy-windows"
val_fraction = 0.25

[train]
epochs = 4
batch_size = 32
lr = 0.01

[prune]
sparsity = 0.7
prune_epochs = 2
finetune_epochs = 2
frequency = 5

[export]
device = "pico"
min_accuracy = 0.8
calibration_samples = 200
"""


def test_a_new_dataset_and_model_run_the_whole_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "toy.toml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    assert main(["--config", str(config), "--out", str(out)]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    table = "artifact" + printed.split("\nartifact", 1)[1].split("`same class`")[0]
    assert max(len(line) for line in table.splitlines()) <= 120  # the summary table fits a terminal
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "toy-windows" and metrics["model"] == "toy_mlp"
    assert metrics["pruned_test_accuracy"] > 0.9 and not metrics["failures"]
    runtimes = {(a["name"], r["runtime"]): r for a in metrics["artifacts"] for r in a["runtimes"]}
    assert runtimes[("tflite classifier int8", "tflm")]["status"] == "ok"
    assert "toy windows" in (out / "MODEL_CARD.md").read_text()
    device = out / "export" / "toy" / "toy.tflite"
    manifest = json.loads((device.parent / "manifest.json").read_text())
    assert manifest_file_names(manifest) <= {p.name for p in device.parent.iterdir()}
    args = [str(device), "--board", "pico", "--dataset", "toy-windows", "--min-accuracy", "0.8"]
    assert validate.main(args) == 0  # the manifest beside it names the file's SHA-256: its normalisation is used
    assert "normalisation from manifest.json" in " ".join(capsys.readouterr().out.split())  # the report wraps
