"""The compiled C of the released device files against TFLite Micro on whole test sets.

    python benchmarks/codegen.py [--models fastgrnn-har2,mobilenetv1-cifar10-distilled] [--limit N]
        [--data-path ../shared/data/cifar10/cifar10-jpeg.tar.gz]

Per model: the generated library's constant bytes (weights + index data + per-channel parameters) beside the
TFLM_DECODE file, its memory plan beside TFLM's arena, kept and dense MACs, and whether its raw outputs are
identical to TFLite Micro's on every test sample (FastGRNN: every step of every window); a dense build of the
same generator (every weight stored and multiplied) for comparison. Host times are this machine's, called through
Python bindings on both sides (a relative figure, not a microcontroller's). Prints a table and writes
benchmarks/results/codegen.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.atomic import write_text_atomic
from edge_gmp.codegen.build import profile_layers
from edge_gmp.codegen.generate import generate
from edge_gmp.codegen.session import CompiledSession
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import markdown_table, text_table
from edge_gmp.runtimes import open_session
from edge_gmp.verify.datasets import load_test_set
from edge_gmp.verify.equivalence import compare_traces, quantize_inputs, trace, trace_session

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODELS = {"fastgrnn-har2": ("har2", "export/fastgrnn-har2/fastgrnn_har2.tflite"),
          "mobilenetv1-cifar10-distilled": ("cifar10", "export/mobilenetv1-cifar10-distilled/"
                                                       "mobilenetv1_cifar10_distilled.tflite")}
HEADERS = ("model", "build", "const B", "arena B", "kept MACs", "of dense", "host us", "C us", "identical to TFLM on")


def _accuracy(outputs: tuple[np.ndarray, ...], labels: np.ndarray, streaming: bool) -> float:
    logits = min(outputs, key=lambda o: o.shape[2])  # the class scores: the smallest output
    last = logits[:, -1 if streaming else 0]
    return float((last.argmax(axis=1) == labels).mean())


def _build(path: Path, build: str, raw: list[np.ndarray], reference) -> dict[str, Any]:
    library = generate(path, "model", formats=("dense",) if build == "dense" else None)
    with tempfile.TemporaryDirectory() as tmp, CompiledSession(path, library, "model", tmp) as session:
        start = time.perf_counter()
        got = trace_session(session, raw)
        seconds = time.perf_counter() - start
        host_us = session.time_us(200)
        layer_us = profile_layers(session, raw, reference.streaming)
    check = compare_traces(reference, got)
    r = library.report
    return {"build": build, "const_bytes": r["weight_bytes"] + r["param_bytes"], "weight_bytes": r["weight_bytes"],
            "param_bytes": r["param_bytes"], "arena_bytes": r["arena_bytes"], "row_scratch_bytes":
            r["row_scratch_bytes"], "kept_macs": r["kept_macs"], "dense_macs": r["dense_macs"],
            "host_us": host_us, "c_us": sum(layer_us), "layer_us": layer_us, "trace_seconds": seconds,
            "identical": check.to_dict(), "layers": r["layers"]}


def measure(name: str, limit: int | None, data_path: str | None) -> dict[str, Any]:
    dataset, model = MODELS[name]
    path = ROOT / model
    test = load_test_set(dataset, path, data_path=data_path if dataset == "cifar10" else None, limit=limit)
    raw = quantize_inputs(path, [test.x])
    start = time.perf_counter()
    reference = trace(path, raw)
    tflm_seconds = time.perf_counter() - start
    with open_session("tflm", path) as session:
        tflm_us = session.time_us(200)
    manifest = json.loads((path.parent / "manifest.json").read_text())
    builds = [_build(path, build, raw, reference) for build in ("sparse", "dense")]
    return {"model": name, "file": model, "file_bytes": path.stat().st_size, "tflm_arena_bytes":
            manifest.get("ram_bytes"), "samples": len(test.y), "accuracy_tflm": _accuracy(reference.outputs, test.y,
                                                                                          reference.streaming),
            "tflm_host_us": tflm_us, "tflm_trace_seconds": tflm_seconds, "builds": builds}


def _rows(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = [(result["model"], f"TFLM ({Path(result['file']).name})", result["file_bytes"],
             result["tflm_arena_bytes"], "", "", f"{result['tflm_host_us']:.0f}", "", "reference")]
    for b in result["builds"]:
        same = b["identical"]
        what = (f"{same['samples']:,} x {same['steps']} steps" if same["streaming"] else f"{same['samples']:,}")
        rows.append((result["model"], f"compiled C, {b['build']}", b["const_bytes"], b["arena_bytes"],
                     b["kept_macs"], f"{b['kept_macs'] / b['dense_macs']:.1%}", f"{b['host_us']:.0f}",
                     f"{b['c_us']:.1f}",
                     ("yes: " if same["identical"] else "NO: ") + what))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    p.add_argument("--limit", type=int, help="test samples per model (default: the whole test set)")
    p.add_argument("--data-path", default=str(ROOT.parent / "shared/data/cifar10/cifar10-jpeg.tar.gz"),
                   help="the CIFAR-10 archive or folder")
    args = p.parse_args(argv)
    results = [measure(name, args.limit, args.data_path) for name in args.models.split(",")]
    rows = [row for result in results for row in _rows(result)]
    print(text_table(HEADERS, rows))
    machine = describe_machine()
    command = "python benchmarks/codegen.py" + " ".join(f" {a}" for a in (argv or sys.argv[1:]))
    if args.limit is None:
        RESULTS.mkdir(exist_ok=True)
        write_text_atomic(RESULTS / "codegen.json", json.dumps({"command": command, "machine": machine,
                                                                "results": results}, indent=2))
        notes = [f"`{command}` on {machine}, {time.strftime('%Y-%m-%d')}.", "",
                 "const B: weights, index data and per-channel parameters of the generated C (for TFLM: the "
                 "device file); arena B: the generated memory plan (TFLM: its measured arena incl. decompression); "
                 "host us: one invocation on this machine through Python bindings (median of 200); C us: the "
                 "generated layers alone (their sum, timed inside the C, mean of 20 runs). Host figures, relative "
                 "only: not a microcontroller's."]
        write_text_atomic(RESULTS / "codegen.md", "# Compiled C against TFLite Micro\n\n" + "\n".join(notes)
                          + "\n\n" + markdown_table(HEADERS, rows) + "\n")
    return 0 if all(b["identical"]["identical"] for r in results for b in r["builds"]) else 1


if __name__ == "__main__":
    sys.exit(main())
