"""FastGRNN on HAR-2 through the whole pipeline, per preset: accuracy in every runtime, sizes, arena, time.

    python benchmarks/fastgrnn_har2.py [--presets fastgrnn-har2,fastgrnn-har2-paper] [--runs-dir runs/bench]

Runs ``python -m edge_gmp.pipeline --preset P`` (in-process) for each preset, prints one table and writes
benchmarks/results/fastgrnn_har2.json and .md (merged with earlier presets' results).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from edge_gmp.config import load_config
from edge_gmp.pipeline import PipelineFailed, run
from edge_gmp.report.tables import markdown_table, text_table

RESULTS = Path(__file__).resolve().parent / "results"
HEADERS = ("preset", "hidden", "sparsity", "dense", "pruned", "int8 TFLM", "int8 LiteRT", "int8 bytes",
           "int8 sparse bytes", "arena", "budget", "train s", "total s")


def _runtime_accuracy(metrics: dict[str, Any], artifact: str, runtime: str) -> float | None:
    for art in metrics.get("artifacts", []):
        if art["name"] == artifact:
            for r in art["runtimes"]:
                if r["runtime"] == runtime:
                    return r["accuracy"]
    return None


def _bytes(metrics: dict[str, Any], artifact: str) -> int | None:
    return next((a["bytes"] for a in metrics.get("artifacts", []) if a["name"] == artifact), None)


def summarize(preset: str, metrics: dict[str, Any], total_seconds: float) -> dict[str, Any]:
    budget = metrics.get("budget") or {}
    return {
        "preset": preset,
        "hidden": None,
        "sparsity": metrics["sparsity"],
        "dense_accuracy": metrics["dense_test_accuracy"],
        "pruned_accuracy": metrics["pruned_test_accuracy"],
        "int8_tflm_accuracy": _runtime_accuracy(metrics, "tflite step int8", "tflm"),
        "int8_litert_accuracy": _runtime_accuracy(metrics, "tflite step int8", "litert"),
        "int8_bytes": _bytes(metrics, "tflite step int8"),
        "int8_sparse_bytes": _bytes(metrics, "tflite step int8_sparse"),
        "arena_bytes": next((a["arena_bytes"] for a in metrics.get("artifacts", [])
                             if a["name"] == "tflite step int8"), None),
        "budget": f"{budget['device']['id']} {'ok' if budget['ok'] else 'FAILED'}" if budget else "-",
        "train_seconds": sum(h["seconds"] for h in metrics["history"]),
        "total_seconds": total_seconds,
        "failures": metrics.get("failures", []),
    }


def _row(r: dict[str, Any]) -> tuple[Any, ...]:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.2%}"
    return (r["preset"], r["hidden"], f"{r['sparsity']:.1%}", pct(r["dense_accuracy"]), pct(r["pruned_accuracy"]),
            pct(r["int8_tflm_accuracy"]), pct(r["int8_litert_accuracy"]), r["int8_bytes"], r["int8_sparse_bytes"],
            r["arena_bytes"], r["budget"], f"{r['train_seconds']:.0f}", f"{r['total_seconds']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="fastgrnn-har2")
    parser.add_argument("--runs-dir", default="runs/bench")
    args = parser.parse_args()

    out_json = RESULTS / "fastgrnn_har2.json"
    previous = json.loads(out_json.read_text()) if out_json.is_file() else {"results": []}
    results = {r["preset"]: r for r in previous["results"]}
    for preset in args.presets.split(","):
        config = load_config(preset)
        started = time.perf_counter()
        try:
            metrics = run(config, Path(args.runs_dir) / preset, progress=False)
        except PipelineFailed as exc:
            metrics = json.loads((exc.out_dir / "metrics.json").read_text())
        row = summarize(preset, metrics, time.perf_counter() - started)
        row["hidden"] = config.model.hidden
        row["command"] = f"python -m edge_gmp.pipeline --preset {preset}"
        results[preset] = row
        print(text_table(HEADERS, [_row(row)]), flush=True)

    machine = (f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
               f"torch {torch.__version__}")
    ordered = [results[k] for k in sorted(results)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"machine": machine, "results": ordered}, indent=2) + "\n")
    md = ["# FastGRNN on HAR-2 through the pipeline\n",
          f"Each row: `python benchmarks/fastgrnn_har2.py --presets <preset>` on {machine}. Accuracies on the full "
          "HAR-2 test set; int8 = the streaming step model (the device artifact), int8 sparse = TFLite's "
          "sparse encoding of it (not runnable on TFLite Micro); arena = smallest TFLite Micro arena, "
          "64-bit host.\n",
          markdown_table(HEADERS, [_row(r) for r in ordered]), ""]
    (RESULTS / "fastgrnn_har2.md").write_text("\n".join(md))
    print("\n" + text_table(HEADERS, [_row(r) for r in ordered]))


if __name__ == "__main__":
    main()
