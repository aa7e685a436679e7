"""A finished run or a released model read back (its ``config.toml``, ``model.pt`` and ``metrics.json``) so that
the export stages run again on the same trained weights, without training: ``python -m edge_gmp.pipeline
--export-from DIR``. The training record (dense accuracy, history, selected epoch, the machine that trained it)
is the stored one; everything after training is measured again."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from edge_gmp.config import RunConfig, load_config
from edge_gmp.data.registry import PreparedData
from edge_gmp.errors import UserError
from edge_gmp.models import create_model
from edge_gmp.train import TrainResult, load_into
from edge_gmp.train.checkpoint import read_model_file
from edge_gmp.workflow.run_dir import recipe_differences
from edge_gmp.workflow.run_record import RunRecord, build_record

TRAINED_FILES = ("config.toml", "model.pt", "metrics.json")
RECORD_KEYS = ("preset", "pruned_test_accuracy", "normalization", "history", "best_epoch", "best_val_accuracy")
ACCURACY_SLACK = 0.001  # the weights' own test accuracy may move by float rounding on another machine, no more


@dataclass
class TrainedRun:
    """What a finished run stored: its directory, configuration, metrics, ``model.pt`` contents and card."""

    source: Path
    config: RunConfig
    metrics: dict[str, Any]
    model_file: dict[str, Any]
    card: str

    def training_command(self) -> str:
        """The command that trained it, from its card's Reproduce block (the preset's command if none)."""
        match = re.search(r"## Reproduce\n```\n(.+?)\n", self.card)
        return match.group(1) if match else f"python -m edge_gmp.pipeline --preset {self.config.name}"


def _metrics(path: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"--export-from: {path} is unreadable ({exc})") from exc
    missing = [key for key in RECORD_KEYS if key not in metrics] if isinstance(metrics, dict) else list(RECORD_KEYS)
    if missing:
        raise UserError(f"--export-from: {path} is not a finished run's metrics (missing {', '.join(missing)})")
    return metrics


def load_trained_run(source: str | Path) -> TrainedRun:
    """Read ``source`` (a finished run directory or a released model's folder). UserError when a file is missing
    or unreadable."""
    path = Path(source)
    if not path.is_dir():
        raise UserError(f"--export-from {path}: not a directory (give a finished run directory or a released "
                        "model's folder, e.g. models/fastgrnn)")
    missing = [name for name in TRAINED_FILES if not (path / name).is_file()]
    if missing:
        raise UserError(f"--export-from {path}: no {', '.join(missing)} (a finished run directory holds "
                        f"{', '.join(TRAINED_FILES)})")
    model_file = read_model_file(path / "model.pt", "--export-from: ")
    if not isinstance(model_file.get("masks"), dict):
        raise UserError(f"--export-from: {path / 'model.pt'} holds no pruning masks")
    card = path / "MODEL_CARD.md"
    config = load_config(path=path / "config.toml")
    return TrainedRun(path, config, _metrics(path / "metrics.json"), model_file,
                      card.read_text() if card.is_file() else "")


def export_config(trained: TrainedRun, overrides: dict[str, Any]) -> RunConfig:
    """The run's configuration with ``overrides`` (where the data is, export options, torch threads); UserError
    when they change how the model was trained."""
    config = load_config(path=trained.source / "config.toml", overrides=overrides)
    check_same_training(trained, config)
    return config


def check_same_training(trained: TrainedRun, config: RunConfig) -> None:
    """UserError when ``config`` changes what trained the model (model, training or pruning settings)."""
    differences = recipe_differences(trained.config, config, ("model", "train", "prune"))
    if differences:
        raise UserError(f"--export-from exports {trained.source}'s trained weights; its model, training and pruning "
                        f"settings cannot change ({'; '.join(differences)}); data and export options can")


def _check_data(trained: TrainedRun, data: PreparedData) -> None:
    stored = trained.metrics["normalization"]
    same = set(stored) == set(data.normalization) and all(
        math.isclose(a, b, rel_tol=1e-6) for key in stored for a, b in
        zip(_flat(stored[key]), _flat(data.normalization[key]), strict=True))
    if not same or data.counts != trained.metrics.get("samples", data.counts):
        raise UserError(f"--export-from: the data differ from those {trained.source} was trained on (normalisation "
                        f"{stored} vs {data.normalization}; samples {trained.metrics.get('samples')} vs "
                        f"{data.counts}); point data.path at the same copy of the data set")


def _flat(value: Any) -> list[float]:
    return [float(v) for v in value] if isinstance(value, list | tuple) else [float(value)]


def trained_record(trained: TrainedRun, config: RunConfig, data: PreparedData) -> RunRecord:
    """The run's record for its stored weights: the test set measured again, the training part as stored."""
    _check_data(trained, data)
    model = create_model(config.model_name, config.model)
    load_into(model, trained.model_file["state_dict"], str(trained.source / "model.pt"))
    stored = trained.metrics
    masks: dict[str, Tensor] = trained.model_file["masks"]
    result = TrainResult(model=model.eval(), masks=masks, dense_state={}, history=stored["history"],
                         best_epoch=stored["best_epoch"], best_val_accuracy=stored["best_val_accuracy"])
    record = build_record(config, data, result, stored.get("dense_test_accuracy"))
    if abs(record.pruned_test_accuracy - stored["pruned_test_accuracy"]) > ACCURACY_SLACK:
        raise UserError(f"--export-from: {trained.source}'s weights score {record.pruned_test_accuracy:.4f} on the "
                        f"test set, its metrics say {stored['pruned_test_accuracy']:.4f}: another model or data set")
    record.macs_per_sample.update({k: v for k, v in stored.get("macs_per_sample", {}).items() if k != "pruned_model"})
    record.dense_weights_from = stored.get("dense_weights_from")
    record.machine = stored.get("machine", "not recorded")
    return record
