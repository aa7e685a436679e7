"""Training throughput: what the pipeline's loop costs over a plain PyTorch loop on the same model and data.

    python benchmarks/train_speed.py [--steps 40] [--batch-size 128] [--repeats 3] [--compile]

For MobileNet-V1 (width 0.25, 0.5) on 32x32 images and FastGRNN (hidden 64) on 128x9 windows, in one process:
- plain: index a batch from the in-memory tensor, forward, backward, SGD/Adam step (the floor);
- channels-last: the same with the model and batches in channels-last layout (images only; the pipeline's layout);
- + augmentation: the pipeline's batched random crop + flip (images only), channels-last from here on;
- + masking: Global MP masks at 90 % held the pipeline's way (gradients, weights and optimizer state masked);
- pipeline: ``edge_gmp.train.train`` itself for the same number of steps (pruning phase, validation excluded);
- compiled (with --compile, images only): the channels-last case through ``torch.compile`` (inductor), timed after
  its compilation, which is reported separately: is compiling worth it on this CPU. Set
  TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 for a cold compile time (the command written with the results says so).
Each figure is the median of --repeats timings. Prints images (windows) per second and writes
benchmarks/results/train_speed.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from edge_gmp.config import PruneConfig, TrainConfig
from edge_gmp.data.augment import augment_batch
from edge_gmp.models import create_model
from edge_gmp.prune import ONESHOT, OneShot, prunable_parameters
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import text_table
from edge_gmp.train import MaskedTraining, make_optimizer, train
from edge_gmp.train.loop import training_layout

RESULTS = Path(__file__).resolve().parent / "results"
CASES = {  # name -> (model name, config, sample shape, classes, optimizer)
    "mobilenet_v1 w0.25": ("mobilenet_v1", {"width": 0.25}, (3, 32, 32), 10, "sgd"),
    "mobilenet_v1 w0.5": ("mobilenet_v1", {"width": 0.5}, (3, 32, 32), 10, "sgd"),
    "fastgrnn h64": ("fastgrnn", {"hidden": 64}, (128, 9), 2, "adam"),
}


def _steps_per_second(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int, cfg: TrainConfig,
                      augment: bool, masking: MaskedTraining | None, layout: torch.memory_format) -> float:
    model.to(memory_format=layout)
    optimizer = make_optimizer(model, cfg)
    generator = torch.Generator().manual_seed(0)
    model.train()
    started = None
    for step in range(steps + 3):  # 3 warm-up steps
        if step == 3:
            started = time.perf_counter()
        idx = torch.randint(0, len(x), (batch,), generator=generator)
        inputs = (augment_batch(x[idx], generator) if augment else x[idx]).contiguous(memory_format=layout)
        loss = nn.functional.cross_entropy(model(inputs), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if masking is not None:
            masking.before_optimizer_step()
        optimizer.step()
        if masking is not None:
            masking.after_optimizer_step(optimizer)
    return steps / (time.perf_counter() - started)


def _compiled(model_name: str, params: dict, x: torch.Tensor, y: torch.Tensor, batch: int, steps: int,
              cfg: TrainConfig, repeats: int) -> tuple[float, float]:
    """Samples per second of the compiled channels-last model (median), and the seconds its first steps took."""
    torch.manual_seed(0)
    model = torch.compile(create_model(model_name, **params))
    layout = training_layout(x)
    started = time.perf_counter()
    _steps_per_second(model, x, y, batch, 1, cfg, False, None, layout)  # compiles forward and backward
    compile_seconds = time.perf_counter() - started
    rate = statistics.median(_steps_per_second(model, x, y, batch, steps, cfg, False, None, layout) * batch
                             for _ in range(repeats))
    return rate, compile_seconds


def measure(name: str, batch: int, steps: int, repeats: int, compile_model: bool = False) -> dict:
    model_name, params, shape, classes, optimizer = CASES[name]
    images = len(shape) == 3
    cfg = TrainConfig(epochs=1, batch_size=batch, lr=0.01, optimizer=optimizer, seed=0,
                      threads=torch.get_num_threads())  # the pipeline loop on as many threads as the others
    n = batch * (steps + 3)
    x, y = torch.randn(n, *shape), torch.randint(0, classes, (n,))
    rates = {}
    for label, augment, masked, pipeline_layout in (
            ("plain", False, False, False), ("channels-last", False, False, True),
            ("+ augmentation", images, False, True), ("+ masking", images, True, True)):
        if label in ("channels-last", "+ augmentation") and not images:
            continue
        layout = training_layout(x) if pipeline_layout else torch.contiguous_format
        timings = []
        for _ in range(repeats):
            torch.manual_seed(0)
            model = create_model(model_name, **params)
            masking = None
            if masked:
                masking = MaskedTraining(model, OneShot(0.9, 0), PruneConfig().floor)
                masking.update(0)
            timings.append(_steps_per_second(model, x, y, batch, steps, cfg, augment, masking, layout) * batch)
        rates[label] = statistics.median(timings)
    # the pipeline's own loop: one epoch of `steps` steps in the pruning phase (validation set of one batch)
    prune = dataclasses.replace(PruneConfig(), sparsity=0.9, schedule=ONESHOT, prune_epochs=1, finetune_epochs=0)
    x_train, y_train = x[:batch * steps], y[:batch * steps]
    timings = []
    for _ in range(repeats):
        torch.manual_seed(0)
        model = create_model(model_name, **params)
        with tempfile.TemporaryDirectory() as run_dir:
            result = train(model, (x_train, y_train), (x[:batch], y[:batch]), cfg, prune, Path(run_dir),
                           progress=False, augment=augment_batch if images else None, pretrained=True)
        timings.append(len(x_train) / result.history[0]["seconds"])
    rates["pipeline loop"] = statistics.median(timings)
    row = {"case": name, "prunable_weights": sum(p.numel() for p in prunable_parameters(model).values()),
           "samples_per_second": rates}
    if compile_model and images:
        rates["compiled"], row["compile_seconds"] = _compiled(model_name, params, x, y, batch, steps, cfg, repeats)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--compile", action="store_true", help="add torch.compile of the channels-last case")
    args = parser.parse_args()
    rows = [measure(name, args.batch_size, args.steps, args.repeats, args.compile) for name in args.cases.split(",")]
    labels = ["plain", "channels-last", "+ augmentation", "+ masking", "pipeline loop"]
    if args.compile:
        labels.append("compiled")
    table = [(r["case"], *(f"{r['samples_per_second'][k]:,.0f}" if k in r["samples_per_second"] else "-"
                           for k in labels),
              f"{r['samples_per_second']['pipeline loop'] / r['samples_per_second']['plain']:.0%}") for r in rows]
    print(text_table(("case", *labels, "pipeline / plain"), table))
    for r in rows:
        if "compile_seconds" in r:
            print(f"{r['case']}: compiling took {r['compile_seconds']:.0f} s")
    cold = os.environ.get("TORCHINDUCTOR_FORCE_DISABLE_CACHES") == "1"
    command = (("TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 " if cold else "")
               + f"python benchmarks/train_speed.py --steps {args.steps} --batch-size {args.batch_size} "
               f"--repeats {args.repeats} --cases '{args.cases}'" + (" --compile" if args.compile else ""))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_speed.json").write_text(json.dumps({
        "command": command,
        "machine": describe_machine(), "unit": "training samples per second", "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
