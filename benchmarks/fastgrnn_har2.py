"""FastGRNN on HAR-2 through the whole pipeline, per preset and seed: accuracy in PyTorch and on the device, the
device file's bytes, RAM and the board budget; mean ± half-range and the worst seed per preset.

    python benchmarks/fastgrnn_har2.py [--presets fastgrnn-har2,fastgrnn-har2-paper] [--seeds 0,1,2]
        [--threads 1,2] [--numerics native,mkl-compatible,scalar] [--set train.select=best]
        [--runs-dir runs/bench] [--jobs 2]
        [--teachers 'runs/bench/fastgrnn-har2-seed{seed}/model.pt']

Runs the pipeline for every preset x seed x torch thread count x numerics (``--jobs`` at a time, each in its own
process; without ``--threads``, the preset's), prints one table and writes benchmarks/results/fastgrnn_har2.json and .md
(or ``--results``; merged with earlier presets' results). A preset that distills from another model
(``train.distill_from``) needs ``--teachers``: each seed's teacher must have been trained on that seed's training
subjects, or it has seen the seed's validation subjects and model selection is fooled.

``--numerics`` samples the rounding a user on another machine meets without that machine: ``mkl-compatible``
makes MKL take its SSE2-compatible matrix kernels (``MKL_CBWR=COMPATIBLE``), ``scalar`` makes PyTorch's
element-wise kernels run without vector instructions (``ATEN_CPU_CAPABILITY=default``). Each changes the float
rounding of training, as an older or another vendor's CPU does, and each run stays deterministic.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from edge_gmp.config import load_config, merge, parse_assignment
from edge_gmp.pipeline import PipelineFailed, run
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import markdown_table, text_table
from edge_gmp.runtimes import device_runtime

RESULTS = Path(__file__).resolve().parent / "results"
NUMERICS = {"native": {}, "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
            "scalar": {"ATEN_CPU_CAPABILITY": "default"}}
HEADERS = ("preset", "seed", "threads", "numerics", "dense", "pruned", "device", "device loss", "int file",
           "device file", "paper weights", "RAM", "budget", "train s", "total s")
INDEX_BYTES_LIMIT = 256  # matrices with at most 256 elements index a non-zero in one byte, larger ones in two


def paper_weight_bytes(model_file: Path) -> int:
    """The FastGRNN paper's way of counting a sparse 8-bit model: each non-zero weight of a matrix as one byte
    plus its index (one byte for matrices up to 256 elements, else two), every other parameter one byte."""
    state = torch.load(model_file, weights_only=True)
    masks, total = state["masks"], 0
    for name, value in state["state_dict"].items():
        if name in masks:
            nonzero = int(torch.count_nonzero(value))
            total += nonzero * (1 + (1 if value.numel() <= INDEX_BYTES_LIMIT else 2))
        else:
            total += value.numel()
    return total


def _device_accuracy(metrics: dict[str, Any]) -> float | None:
    device_name = (metrics.get("device_file") or {}).get("dense_file", "")
    for art in metrics.get("artifacts", []):
        if Path(art["path"]).name == device_name:
            return next((r["accuracy"] for r in art["runtimes"] if r["runtime"] == device_runtime()), None)
    return None


def summarize(preset: str, seed: int, metrics: dict[str, Any], run_dir: Path, total: float) -> dict[str, Any]:
    budget, device = metrics.get("budget") or {}, metrics.get("device_file") or {}
    accuracy = _device_accuracy(metrics)
    return {
        "preset": preset, "seed": seed, "dense_accuracy": metrics["dense_test_accuracy"],
        "pruned_accuracy": metrics["pruned_test_accuracy"], "device_accuracy": accuracy,
        "device_loss_points": None if accuracy is None else 100 * (metrics["pruned_test_accuracy"] - accuracy),
        "integer_file_bytes": device.get("dense_bytes"), "device_file_bytes": device.get("bytes"),
        "device_ram_bytes": device.get("ram_bytes"), "paper_weight_bytes": paper_weight_bytes(run_dir / "model.pt"),
        "sparsity": metrics["sparsity"],
        "budget": f"{budget['device']['id']} {'ok' if budget['ok'] else 'FAILED'}" if budget else "-",
        "train_seconds": metrics["train_seconds"], "total_seconds": total, "failures": metrics.get("failures", []),
        "machine": metrics.get("machine"), "timings": metrics.get("timings")
    }


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2%}"


def _row(r: dict[str, Any]) -> tuple[Any, ...]:
    loss = "-" if r["device_loss_points"] is None else f"{r['device_loss_points']:+.2f}"
    return (r["preset"], r["seed"], r.get("threads", "-"), r.get("numerics", "native"), _pct(r["dense_accuracy"]),
            _pct(r["pruned_accuracy"]), _pct(r["device_accuracy"]),
            loss, r["integer_file_bytes"], r["device_file_bytes"], r["paper_weight_bytes"], r["device_ram_bytes"],
            r["budget"], f"{r['train_seconds']:.0f}", f"{r['total_seconds']:.0f}")


def spread(values: list[float]) -> str:
    """mean ± half the range, in percent."""
    return f"{100 * sum(values) / len(values):.2f} ± {50 * (max(values) - min(values)):.2f}"


def summary_rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    out = []
    for preset in sorted({r["preset"] for r in rows}):
        mine = [r for r in rows if r["preset"] == preset]
        devices = [r["device_accuracy"] for r in mine if r["device_accuracy"] is not None]
        losses = [r["device_loss_points"] for r in mine if r["device_loss_points"] is not None]
        out.append((preset, len(mine), spread([r["dense_accuracy"] for r in mine]),
                    spread([r["pruned_accuracy"] for r in mine]), spread(devices) if devices else "-",
                    f"{100 * min(devices):.2f}" if devices else "-",
                    f"{max(losses):+.2f}" if losses else "-", max(r["device_file_bytes"] or 0 for r in mine)))
    return out


SUMMARY_HEADERS = ("preset", "seeds", "dense % (mean ± half-range)", "pruned %", "device %", "worst device %",
                   "worst device loss (pts)", "largest device file")


def _teacher_lines(rows: list[dict[str, Any]]) -> list[str]:
    taught = [r for r in rows if r.get("teacher")]
    if not taught:
        return []
    return ["Distilled runs and their teachers (each trained on the same seed's training subjects): "
            + "; ".join(f"{r['preset']} seed {r['seed']} <- `{r['teacher']}`" for r in taught) + ".", ""]


def _change_lines(rows: list[dict[str, Any]]) -> list[str]:
    changed = sorted({(r["preset"], " ".join(r["changes"])) for r in rows if r.get("changes")})
    return [f"Changed from the committed preset: {'; '.join(f'{p}: {c}' for p, c in changed)}.", ""] if changed else []


def write_results(rows: list[dict[str, Any]], stem: Path) -> None:
    """Every row with the command that ran it (runs of several invocations merge into one file)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    machine = rows[-1]["machine"] or describe_machine()
    commands = list(dict.fromkeys(r["command"] for r in rows))
    stem.with_suffix(".json").write_text(json.dumps({"machine": machine, "commands": commands,
                                                            "results": rows}, indent=2) + "\n")
    md = ["# FastGRNN on HAR-2 through the pipeline", "",
          f"{'; '.join(f'`{c}`' for c in commands)} on {machine}. Accuracies on the full rebuilt HAR-2 test set "
          "(2,973 windows); pruned = "
          "PyTorch float; device = the device artifact (int16x8 streaming step, h_next's integers copied into h) "
          "in TFLite Micro; device loss = pruned - device; int file = that flatbuffer; device file = the same with "
          "its pruned weights stored for TFLM_DECODE (identical outputs proven on every test window and step); "
          "paper weights = non-zero weights as int8 plus their indices and every other parameter as one byte (the "
          "FastGRNN paper's count); RAM = TFLite Micro arena of the device file, 64-bit host.", "",
          *_teacher_lines(rows), *_change_lines(rows),
          markdown_table(SUMMARY_HEADERS, summary_rows(rows)), "", markdown_table(HEADERS, [_row(r) for r in rows]),
          ""]
    stem.with_suffix(".md").write_text("\n".join(md))


def run_one(preset: str, seed: int, threads: int | None, runs_dir: str, teachers: str | None,
            changes: tuple[str, ...] = (), numerics: str = "native") -> dict[str, Any]:
    """One pipeline run (in a worker process started with ``numerics``' environment); its summary row."""
    overrides: dict[str, Any] = {}
    for text in changes:
        overrides = merge(overrides, parse_assignment(text))
    overrides = merge(overrides, {"train": {"seed": seed} | ({} if threads is None else {"threads": threads})})
    if teachers is not None and load_config(preset).train.distill_from is not None:
        overrides["train"]["distill_from"] = teachers.format(seed=seed)
    config = load_config(preset, overrides=overrides)
    run_dir = Path(runs_dir) / (f"{preset}-seed{seed}" + ("" if threads is None else f"-threads{threads}")
                                + ("" if numerics == "native" else f"-{numerics}"))
    started = time.perf_counter()
    try:
        metrics = run(config, run_dir, progress=False, overwrite=True)
    except PipelineFailed as exc:
        metrics = json.loads((exc.out_dir / "metrics.json").read_text())
    row = summarize(preset, seed, metrics, run_dir, time.perf_counter() - started)
    row["teacher"] = config.train.distill_from
    row["threads"], row["changes"], row["numerics"] = config.train.threads, list(changes), numerics
    return row


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What a row is a run of: replaced by a new run of the same key, kept beside runs of other keys."""
    threads = row.get("threads") or load_config(row["preset"]).train.threads  # rows from before --threads
    return row["preset"], row["seed"], threads, row.get("numerics", "native")


def run_all(jobs: list[tuple[Any, ...]], numerics: list[str], workers: int) -> list[dict[str, Any]]:
    """Every job under every numerics variant; a variant's environment is set before its workers start."""
    rows = []
    for variant in numerics:
        saved = {k: os.environ.get(k) for k in NUMERICS[variant]}
        os.environ.update(NUMERICS[variant])
        try:
            spawn = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=spawn) as pool:
                for row in pool.map(run_one, *zip(*[(*job, variant) for job in jobs], strict=True)):
                    rows.append(row)
                    print(text_table(HEADERS, [_row(row)]), flush=True)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return rows


def _check_teachers(presets: list[str], seeds: list[int], teachers: str | None) -> None:
    for preset in presets:
        if load_config(preset).train.distill_from is None:
            continue
        if teachers is None:
            sys.exit(f"{preset} distills from another model; give --teachers PATTERN with {{seed}} (e.g. "
                     "'runs/bench/fastgrnn-har2-seed{seed}/model.pt'), one teacher per seed trained on that seed's "
                     "training subjects")
        missing = [teachers.format(seed=s) for s in seeds if not Path(teachers.format(seed=s)).is_file()]
        if missing:
            sys.exit(f"teacher files not found: {', '.join(missing)} (run this benchmark for their preset first)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="fastgrnn-har2")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--runs-dir", default="runs/bench")
    parser.add_argument("--threads", help="torch thread counts to sample, e.g. 1,2 (default: the preset's)")
    parser.add_argument("--numerics", default="native",
                        help=f"rounding variants to sample, comma-separated from {', '.join(NUMERICS)}")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="change the preset for every run (repeatable); recorded with the results")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (each uses its own threads)")
    parser.add_argument("--results", type=Path, default=RESULTS / "fastgrnn_har2",
                        help="where the results go: this path with .json and with .md as its suffix")
    parser.add_argument("--teachers", help="teacher model per seed, a path with {seed}, for distilling presets")
    args = parser.parse_args()
    out_json = args.results.with_suffix(".json")
    stored = json.loads(out_json.read_text()) if out_json.is_file() else {}
    previous = [{"command": stored.get("command")} | r for r in stored.get("results", [])]
    presets, seeds = args.presets.split(","), [int(s) for s in args.seeds.split(",")]
    _check_teachers(presets, seeds, args.teachers)
    numerics = args.numerics.split(",")
    if unknown := [n for n in numerics if n not in NUMERICS]:
        parser.error(f"--numerics: unknown {', '.join(unknown)}; choose from {', '.join(NUMERICS)}")
    thread_counts = [None] if args.threads is None else [int(t) for t in args.threads.split(",")]
    ran = {(p, s, load_config(p).train.threads if t is None else t, n)
           for p in presets for s in seeds for t in thread_counts for n in numerics}
    rows = [r for r in previous if "seed" in r and _key(r) not in ran]  # earlier results of other runs stay
    jobs = [(preset, seed, threads, args.runs_dir, args.teachers, tuple(args.set))
            for preset in presets for seed in seeds for threads in thread_counts]
    command = shlex.join(["python", *sys.argv])
    rows += [row | {"command": command} for row in run_all(jobs, numerics, max(1, args.jobs))]
    write_results(rows, args.results)
    print("\n" + text_table(SUMMARY_HEADERS, summary_rows(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
