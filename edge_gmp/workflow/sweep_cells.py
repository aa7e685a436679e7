"""The pruning study's cells: the grid of mask rules x schedules x sparsities x seeds, the dense model each
seed starts from, and one cell run (prune + fine-tune from the dense weights, evaluate, optionally export)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edge_gmp.atomic import write_text_atomic
from edge_gmp.config import RunConfig
from edge_gmp.data.prepare import PreparedData
from edge_gmp.errors import ConfigError
from edge_gmp.export import information_limit_bits
from edge_gmp.models import create_model
from edge_gmp.models.macs import macs_report
from edge_gmp.prune import ONESHOT, SCHEDULES, check_feasible, prunable_parameters, study_methods
from edge_gmp.report.machine import describe_machine
from edge_gmp.train import CHECKPOINT, evaluate, load_dense_weights, load_into, save_torch, train
from edge_gmp.workflow.deployment import measure_device_artifact
from edge_gmp.workflow.run_record import build_record

# Sweep method -> prune config values (each rule applies its own floor policy; the study's variants are
# edge_gmp.prune.VARIANTS).
METHOD_VARIANTS: dict[str, dict[str, Any]] = {name: dict(m.settings) for name, m in study_methods().items()}
DEFAULT_SPARSITIES = (0.5, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class Cell:
    """One point of the study's grid: a method (rule or variant), a schedule, a sparsity and a seed."""

    method: str
    schedule: str
    sparsity: float
    seed: int

    @property
    def id(self) -> str:
        return f"{self.method}-{self.schedule}-{self.sparsity * 100:g}-seed{self.seed}"

    def configure(self, base: RunConfig) -> RunConfig:
        prune = dataclasses.replace(base.prune, sparsity=self.sparsity, schedule=self.schedule,
                                    **METHOD_VARIANTS[self.method])
        return dataclasses.replace(base, prune=prune, train=dataclasses.replace(base.train, seed=self.seed))


def plan(base: RunConfig, methods: Sequence[str], schedules: Sequence[str], sparsities: Sequence[float],
         seeds: Sequence[int]) -> list[Cell]:
    """Every cell of the grid, each checked (method, schedule, floor feasibility) before anything runs."""
    unknown = [m for m in methods if m not in METHOD_VARIANTS] + [s for s in schedules if s not in SCHEDULES]
    if unknown:
        raise ConfigError(f"unknown method/schedule {', '.join(unknown)}; methods: {', '.join(METHOD_VARIANTS)}; "
                          f"schedules: {', '.join(SCHEDULES)}")
    if not (methods and schedules and sparsities and seeds):
        raise ConfigError("the grid is empty: give at least one method, schedule, sparsity and seed")
    model = create_model(base.model_name, base.model)
    sizes = {n: p.numel() for n, p in prunable_parameters(model, base.prune.include, base.prune.exclude).items()}
    cells, problems = [], []
    for seed in seeds:
        for method in methods:
            for schedule in schedules:
                for sparsity in sparsities:
                    cell = Cell(method, schedule, float(sparsity), int(seed))
                    try:
                        check_feasible(sizes, cell.sparsity, cell.configure(base).prune.floor)
                    except ConfigError as exc:
                        problems.append(f"{method} at {cell.sparsity}: {exc}")
                    cells.append(cell)
    if problems:
        raise ConfigError("infeasible cells (lower --sparsities or --set prune.floor_percent=...):\n  "
                          + "\n  ".join(dict.fromkeys(problems)))
    return cells


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON, written atomically."""
    write_text_atomic(path, json.dumps(value, indent=2, default=str) + "\n")


def dense_model(base: RunConfig, data: PreparedData, seed: int, out: Path,
                log: Callable[..., None]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The seed's dense weights (trained once into ``out/dense-seed<seed>``, or ``train.init_from``) and
    their accuracy."""
    where = out / f"dense-seed{seed}"
    if (where / "dense.json").is_file() and (where / "model.pt").is_file():
        return torch.load(where / "model.pt", weights_only=True), json.loads((where / "dense.json").read_text())
    torch.manual_seed(seed)  # the initial weights are the seed's, as in the pipeline
    model = create_model(base.model_name, base.model)
    started = time.perf_counter()
    if base.train.init_from is not None:
        load_into(model, load_dense_weights(base.train.init_from), base.train.init_from)
        source, epochs = base.train.init_from, 0
    else:
        log(f"dense model, seed {seed}: {base.train.epochs} epochs")
        no_pruning = dataclasses.replace(base.prune, sparsity=0.0, schedule=ONESHOT, prune_epochs=0,
                                         finetune_epochs=0)
        where.mkdir(parents=True, exist_ok=True)
        model = train(model, (data.x_train, data.y_train), (data.x_val, data.y_val),
                      dataclasses.replace(base.train, seed=seed), no_pruning, where,
                      resume=(where / CHECKPOINT).is_file(), progress=False, augment=data.augment).model
        source, epochs = "trained here", base.train.epochs
    test_accuracy, _ = evaluate(model, data.x_test, data.y_test)
    val_accuracy, _ = evaluate(model, data.x_val, data.y_val)
    info = {"seed": seed, "source": source, "epochs": epochs, "machine": describe_machine(),
            "test_accuracy": test_accuracy, "val_accuracy": val_accuracy, "seconds": time.perf_counter() - started,
            "macs": macs_report(model, data.x_test[:1])}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    save_torch(where / "model.pt", state)
    write_json(where / "dense.json", info)
    (where / CHECKPOINT).unlink(missing_ok=True)
    log(f"dense model, seed {seed}: test accuracy {test_accuracy:.4f}")
    return state, info


def run_cell(cell: Cell, base: RunConfig, data: PreparedData, dense_state: dict[str, torch.Tensor],
             dense_accuracy: float, out: Path, export: bool = False) -> dict[str, Any]:
    """Prune + fine-tune one cell from the dense weights; its result (also written as ``result.json``)."""
    config = cell.configure(base)
    where = out / "cells" / cell.id
    where.mkdir(parents=True, exist_ok=True)
    model = create_model(config.model_name, config.model)
    load_into(model, dense_state, "the sweep's dense model")
    started = time.perf_counter()
    result = train(model, (data.x_train, data.y_train), (data.x_val, data.y_val), config.train, config.prune,
                   where, resume=(where / CHECKPOINT).is_file(), progress=False, augment=data.augment,
                   pretrained=True)
    seconds = time.perf_counter() - started
    record = build_record(config, data, result, dense_accuracy)
    layers = [{"name": row["name"], "size": row["size"], "kept": row["kept"]} for row in record.layers]
    cell_record: dict[str, Any] = {
        **dataclasses.asdict(cell), "id": cell.id, "pruning_method": config.prune.method,
        "floor_per_layer": record.floor_per_layer, "achieved_sparsity": record.sparsity,
        "test_accuracy": record.pruned_test_accuracy, "dense_test_accuracy": dense_accuracy,
        "best_val_accuracy": record.best_val_accuracy, "best_epoch": record.best_epoch,
        "epochs": len(record.history), "train_seconds": seconds, "machine": record.machine,
        "layers": layers, "collapsed_layers": record.collapsed_layers,
        "min_kept_fraction": min(row["kept"] / row["size"] for row in layers),
        "prunable_weights": record.prunable_parameters, "nonzero_prunable": sum(row["kept"] for row in layers),
        "info_limit_int8_bytes": round(information_limit_bits(sum(row["kept"] for row in layers),
                                                              record.prunable_parameters, 8) / 8),
        "macs": record.macs_per_sample["pruned_model"],
    }
    if export:
        cell_record["export"] = measure_device_artifact(record, data, config.export, where / "artifacts",
                                                        seed=cell.seed)
    save_torch(where / "model.pt", record.model_file(config))
    write_json(where / "result.json", cell_record)  # written last: marks the cell finished
    (where / CHECKPOINT).unlink(missing_ok=True)
    return cell_record
