"""``python -m edge_gmp.sweep``: Global MP against baselines over a grid of sparsities, on one code path.

    python -m edge_gmp.sweep --preset fastgrnn-har2 --methods gmp,gmp-nofloor,uniform,random,lamp \\
        --sparsities 0.5,0.8,0.9,0.95 [--schedules gradual,oneshot] [--seeds 0,1] [--export] [--out DIR]

One dense model per seed (trained here with the preset's recipe, or ``--init-from`` a trained one), then one
cell per method x schedule x sparsity x seed: start from the dense weights, prune and fine-tune with the
preset's pruning recipe; only the mask rule differs. A finished cell is never re-run, an interrupted one
resumes from its checkpoint, a crashed one is reported while the others still run. Writes ``results.json``,
``REPORT.md`` and PNG plots into the sweep directory. Exit status: 0 every cell finished, 1 some cell
failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edge_gmp.atomic import atomic_path, write_text_atomic
from edge_gmp.cli import add_config_arguments, config_from_args
from edge_gmp.config import RunConfig, dump_toml
from edge_gmp.data.prepare import PreparedData, prepare_data
from edge_gmp.deployment import measure_device_artifact
from edge_gmp.errors import ConfigError, UserError
from edge_gmp.export import information_limit_bits
from edge_gmp.models import create_model
from edge_gmp.models.macs import macs_report
from edge_gmp.prune import check_feasible, overall_sparsity, prunable_parameters
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.plots import write_plots
from edge_gmp.report.study import study_report
from edge_gmp.train import evaluate, load_dense_weights, load_into, predict, train
from edge_gmp.train.loop import CHECKPOINT

# Sweep method -> prune config values. Random and LAMP run as published (no floor).
METHOD_VARIANTS: dict[str, dict[str, Any]] = {
    "gmp": {"method": "gmp"},
    "gmp-nofloor": {"method": "gmp", "floor_percent": 0.0, "floor_count": None},
    "uniform": {"method": "uniform"},
    "random": {"method": "random", "floor_percent": 0.0, "floor_count": None},
    "lamp": {"method": "lamp", "floor_percent": 0.0, "floor_count": None},
}
SCHEDULES = ("gradual", "oneshot")
DEFAULT_SPARSITIES = (0.5, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class Cell:
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


def _write_json(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, default=str) + "\n")


def dense_model(base: RunConfig, data: PreparedData, seed: int, out: Path,
                log: Callable[..., None]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The seed's dense weights (trained once into ``out/dense-seed<seed>``, or ``train.init_from``) and
    their accuracy."""
    where = out / f"dense-seed{seed}"
    if (where / "dense.json").is_file() and (where / "model.pt").is_file():
        return torch.load(where / "model.pt", weights_only=True), json.loads((where / "dense.json").read_text())
    model = create_model(base.model_name, base.model)
    started = time.perf_counter()
    if base.train.init_from is not None:
        load_into(model, load_dense_weights(base.train.init_from), base.train.init_from)
        source, epochs = base.train.init_from, 0
    else:
        log(f"dense model, seed {seed}: {base.train.epochs} epochs")
        no_pruning = dataclasses.replace(base.prune, sparsity=0.0, schedule="oneshot", prune_epochs=0,
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
    with atomic_path(where / "model.pt", suffix=".pt") as tmp:
        torch.save(state, tmp)
    _write_json(where / "dense.json", info)
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
    logits = predict(result.model, data.x_test)
    accuracy = int((logits.argmax(1) == data.y_test).sum()) / len(data.y_test)
    layers = [{"name": n, "size": m.numel(), "kept": int(m.sum())} for n, m in result.masks.items()]
    prunable = sum(row["size"] for row in layers)
    nonzero = sum(row["kept"] for row in layers)
    record: dict[str, Any] = {
        **dataclasses.asdict(cell), "id": cell.id, "pruning_method": config.prune.method,
        "floor_per_layer": config.prune.floor.weights_per_layer(prunable),
        "achieved_sparsity": overall_sparsity(result.masks),
        "test_accuracy": accuracy, "dense_test_accuracy": dense_accuracy,
        "best_val_accuracy": max(h["val_accuracy"] for h in result.history if h["epoch"] == result.best_epoch),
        "best_epoch": result.best_epoch, "epochs": len(result.history), "train_seconds": seconds,
        "machine": describe_machine(),
        "layers": layers, "collapsed_layers": [row["name"] for row in layers if row["kept"] == 0],
        "min_kept_fraction": min(row["kept"] / row["size"] for row in layers),
        "prunable_weights": prunable, "nonzero_prunable": nonzero,
        "info_limit_int8_bytes": round(information_limit_bits(nonzero, prunable, 8) / 8),
        "macs": macs_report(result.model, data.x_test[:1]),
    }
    if export:
        record["export"] = measure_device_artifact(
            result.model, config.export, where / "artifacts", data.x_train.numpy(), data.x_test.numpy(),
            data.y_test.numpy(), logits.numpy(), accuracy, prunable, seed=cell.seed)
    with atomic_path(where / "model.pt", suffix=".pt") as tmp:
        torch.save({"model_name": config.model_name, "model_config": config.to_dict()["model"],
                    "state_dict": result.model.state_dict(), "masks": result.masks,
                    "normalization": data.normalization}, tmp)
    _write_json(where / "result.json", record)  # written last: marks the cell finished
    (where / CHECKPOINT).unlink(missing_ok=True)
    return record


def _check_same_sweep(out: Path, base: RunConfig) -> None:
    existing = out / "config.toml"
    if existing.is_file() and existing.read_text() != dump_toml(base):
        raise ConfigError(f"{out} holds a sweep with a different base config ({existing}); resume it with the "
                          "same preset and options, or choose another --out")


def run_sweep(base: RunConfig, cells: Sequence[Cell], out: Path, export: bool = False, progress: bool = True,
              command: str = "", layer_sparsity: float | None = None, report_dir: Path | None = None,
              report_only: bool = False) -> dict[str, Any]:
    """Run (or resume) every cell into ``out``; write results.json, REPORT.md and the plots into ``report_dir``
    (default ``out``); return the summary. ``report_only``: run nothing, report the cells finished so far."""
    log = print if progress else (lambda *_: None)
    _check_same_sweep(out, base)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.toml", dump_toml(base))
    data = prepare_data(base.data, seed=base.train.seed)
    log(f"{data.dataset} ({data.source}): {data.counts}; {len(cells)} cells into {out}")
    seeds = [s for s in dict.fromkeys(c.seed for c in cells)
             if not report_only or (out / f"dense-seed{s}" / "dense.json").is_file()]
    dense = {seed: dense_model(base, data, seed, out, log) for seed in seeds}
    results, failed, not_run = [], [], []
    for i, cell in enumerate(cells, 1):
        done = out / "cells" / cell.id / "result.json"
        if done.is_file():
            results.append(json.loads(done.read_text()))
            log(f"[{i}/{len(cells)}] {cell.id}: done earlier")
            continue
        if report_only:
            not_run.append(cell.id)
            continue
        state, info = dense[cell.seed]
        try:
            record = run_cell(cell, base, data, state, info["test_accuracy"], out, export)
        except Exception as exc:  # noqa: BLE001 - a crashed cell must not lose the others
            (out / "cells" / cell.id).mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "cells" / cell.id / "error.txt", traceback.format_exc())
            failed.append({"id": cell.id, "error": f"{type(exc).__name__}: {exc}"})
            log(f"[{i}/{len(cells)}] {cell.id}: FAILED ({type(exc).__name__}: {exc})")
            continue
        results.append(record)
        log(f"[{i}/{len(cells)}] {cell.id}: test {record['test_accuracy']:.4f} (dense {info['test_accuracy']:.4f}), "
            f"{len(record['collapsed_layers'])} collapsed layers, {record['train_seconds']:.0f} s")
    machines = dict.fromkeys(r.get("machine", describe_machine()) for r in [*results, *(i for _, i in dense.values())])
    summary = {"preset": base.name, "model": base.model_name, "dataset": data.dataset, "data_source": data.source,
               "samples": data.counts, "command": command, "machine": "; ".join(machines) or describe_machine(),
               "config": base.to_dict(), "dense": [info for _, info in dense.values()], "cells": results,
               "failed": failed, "not_run": not_run, "layer_sparsity": layer_sparsity}
    report_dir = Path(report_dir or out)
    _write_json(report_dir / "results.json", summary)
    plots = write_plots(summary, report_dir)
    write_text_atomic(report_dir / "REPORT.md", study_report(summary, [p.name for p in plots]))
    log(f"report: {report_dir / 'REPORT.md'}")
    return summary


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"--sparsities must be comma-separated fractions, e.g. 0.5,0.8,0.9, got {text!r}") from exc
    bad = [v for v in values if not 0.0 <= v < 1.0]
    if bad:
        raise ConfigError(f"sparsities must be in [0, 1), got {bad}")
    return values


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"--seeds must be comma-separated integers, got {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edge_gmp.sweep", description=__doc__.split("\n")[0],
                                     epilog="The cells use the preset's dense and pruning recipe; change it with "
                                            "the same options as python -m edge_gmp.pipeline.")
    parser.add_argument("--methods", default=",".join(METHOD_VARIANTS),
                        help=f"comma-separated, from {', '.join(METHOD_VARIANTS)} (default: all)")
    parser.add_argument("--schedules", default=",".join(SCHEDULES), help="gradual, oneshot or both (default)")
    parser.add_argument("--sparsities", default=",".join(map(str, DEFAULT_SPARSITIES)))
    parser.add_argument("--seeds", help="comma-separated training seeds (default: the config's train.seed)")
    parser.add_argument("--out", help="sweep directory (default: runs/sweep-<preset name>)")
    parser.add_argument("--export", action="store_true",
                        help="also export each cell's int8 device artifact and measure it in LiteRT and TFLite Micro")
    parser.add_argument("--report-dir", help="where results.json, REPORT.md and the plots go (default: --out)")
    parser.add_argument("--layer-sparsity", type=float,
                        help="sparsity of the per-layer plot and table (default: the highest in the grid)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: report the cells of this grid that have finished so far")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_config_arguments(parser, skip=("method", "sparsity", "schedule", "seed", "board", "min_accuracy"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        base = config_from_args(args)
        seeds = _ints(args.seeds) if args.seeds else [base.train.seed]
        sparsities = _floats(args.sparsities)
        cells = plan(base, [m.strip() for m in args.methods.split(",") if m.strip()],
                     [s.strip() for s in args.schedules.split(",") if s.strip()], sparsities, seeds)
        if args.layer_sparsity is not None and args.layer_sparsity not in sparsities:
            raise ConfigError(f"--layer-sparsity {args.layer_sparsity} is not one of --sparsities {sparsities}")
        out = Path(args.out) if args.out else Path("runs") / f"sweep-{base.name}"
        given = [a for a in (sys.argv[1:] if argv is None else argv) if a not in ("--report-only", "--quiet")]
        command = shlex.join(["python", "-m", "edge_gmp.sweep", *given])
        summary = run_sweep(base, cells, out, export=args.export, progress=not args.quiet, command=command,
                            layer_sparsity=args.layer_sparsity,
                            report_dir=Path(args.report_dir) if args.report_dir else None,
                            report_only=args.report_only)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if summary["failed"]:
        print(f"FAILED cells ({len(summary['failed'])}), see cells/<id>/error.txt:", file=sys.stderr)
        for failure in summary["failed"]:
            print(f"  - {failure['id']}: {failure['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
