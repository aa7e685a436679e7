"""Torch CPU threads for training: the pipeline's loop at 1 and 2 threads, per model, samples per second.

    python benchmarks/threads.py [--steps 30] [--repeats 3]

Each model trains (edge_gmp.train.train, one dense epoch of --steps batches of 128, validation on 128 samples)
at each thread count; the median of --repeats timings is reported with the machine's load average when it
ran, because a second thread only helps when the second core is free. Writes benchmarks/results/threads.json
(a run appends to the file, so quiet and loaded measurements sit side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from edge_gmp.config import PruneConfig, TrainConfig
from edge_gmp.models import create_model
from edge_gmp.prune import ONESHOT
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import text_table
from edge_gmp.train import train

RESULTS = Path(__file__).resolve().parent / "results" / "threads.json"
CASES = {"fastgrnn (hidden 64)": ("fastgrnn", {"hidden": 64}, (128, 9), 2, "adam"),
         "mobilenet_v1 (width 0.25)": ("mobilenet_v1", {"width": 0.25}, (3, 32, 32), 10, "sgd")}


def samples_per_second(case: str, threads: int, steps: int) -> float:
    name, params, shape, classes, optimizer = CASES[case]
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(steps * 128 + 128, *shape, generator=g)
    y = torch.randint(0, classes, (len(x),), generator=g)
    model = create_model(name, **params)
    cfg = TrainConfig(epochs=1, batch_size=128, lr=0.01, optimizer=optimizer, threads=threads)
    prune = PruneConfig(sparsity=0.0, schedule=ONESHOT, prune_epochs=0, finetune_epochs=0)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        train(model, (x[:-128], y[:-128]), (x[-128:], y[-128:]), cfg, prune, Path(tmp), progress=False)
        return steps * 128 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows, load = [], os.getloadavg()[0]
    for case in CASES:
        speeds = {t: statistics.median(samples_per_second(case, t, args.steps) for _ in range(args.repeats))
                  for t in (1, 2)}
        rows.append({"model": case, "samples_per_second": speeds, "faster": min(speeds, key=lambda t: -speeds[t])})
        print(f"{case}: 1 thread {speeds[1]:,.0f}/s, 2 threads {speeds[2]:,.0f}/s", flush=True)
    run = {"machine": describe_machine(), "cpu_count": os.cpu_count(), "load_average_1min_before": load,
           "load_average_1min_after": os.getloadavg()[0], "steps": args.steps, "repeats": args.repeats, "rows": rows}
    previous = json.loads(RESULTS.read_text())["runs"] if RESULTS.is_file() else []
    RESULTS.write_text(json.dumps({"runs": [*previous, run]}, indent=2) + "\n")
    print(text_table(("model", "1 thread /s", "2 threads /s", "faster"),
                     [(r["model"], f"{r['samples_per_second'][1]:,.0f}", f"{r['samples_per_second'][2]:,.0f}",
                       r["faster"]) for r in rows]))
    print(f"load average (1 min): {load:.2f} before, {run['load_average_1min_after']:.2f} after")


if __name__ == "__main__":
    main()
