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
import json
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_gmp.atomic import write_text_atomic
from edge_gmp.cli import (
    OneLineParser,
    add_config_arguments,
    config_from_args,
    description,
    print_error,
    print_interrupted,
)
from edge_gmp.config import RUNS_ROOT, RunConfig, dump_toml
from edge_gmp.data.prepare import prepare_data
from edge_gmp.errors import ConfigError, UserError
from edge_gmp.prune import SCHEDULES
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.plots import write_plots
from edge_gmp.report.study import study_report
from edge_gmp.workflow.sweep_cells import (
    DEFAULT_SPARSITIES,
    METHOD_VARIANTS,
    Cell,
    dense_model,
    plan,
    run_cell,
    write_json,
)

__all__ = ["METHOD_VARIANTS", "Cell", "main", "plan", "run_sweep"]


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
    write_json(report_dir / "results.json", summary)
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
    parser = OneLineParser(prog="python -m edge_gmp.sweep", description=description(__doc__),
                                     epilog="The cells use the preset's dense and pruning recipe; change it with "
                                            "the same options as python -m edge_gmp.pipeline.")
    parser.add_argument("--methods", default=",".join(METHOD_VARIANTS),
                        help=f"comma-separated, from {', '.join(METHOD_VARIANTS)} (default: all)")
    parser.add_argument("--schedules", default=",".join(SCHEDULES), help="gradual, oneshot or both (default)")
    parser.add_argument("--sparsities", default=",".join(map(str, DEFAULT_SPARSITIES)),
                        help="comma-separated target sparsities in [0, 1) (default: "
                             f"{','.join(map(str, DEFAULT_SPARSITIES))})")
    parser.add_argument("--seeds", help="comma-separated training seeds (default: the config's train.seed)")
    parser.add_argument("--out", help="sweep directory (default: runs/sweep-<preset name>)")
    parser.add_argument("--export", action="store_true",
                        help="also export each cell's integer device artifact and measure it in LiteRT and TFLite "
                             "Micro")
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
        out = Path(args.out) if args.out else RUNS_ROOT / f"sweep-{base.name}"
        given = [a for a in (sys.argv[1:] if argv is None else argv) if a not in ("--report-only", "--quiet")]
        command = shlex.join(["python", "-m", "edge_gmp.sweep", *given])
        summary = run_sweep(base, cells, out, export=args.export, progress=not args.quiet, command=command,
                            layer_sparsity=args.layer_sparsity,
                            report_dir=Path(args.report_dir) if args.report_dir else None,
                            report_only=args.report_only)
    except UserError as exc:
        print_error(exc)
        return 2
    except KeyboardInterrupt:
        again = shlex.join(["python", "-m", "edge_gmp.sweep", *(sys.argv[1:] if argv is None else argv)])
        return print_interrupted(f"finished cells are kept and an interrupted one resumes from its checkpoint; "
                                 f"continue with the same command: {again}")
    if summary["failed"]:
        print(f"FAILED cells ({len(summary['failed'])}), see cells/<id>/error.txt:", file=sys.stderr)
        for failure in summary["failed"]:
            print(f"  - {failure['id']}: {failure['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
