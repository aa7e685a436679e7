"""The FastGRNN HAR-2 training recipes before and after the seed-robustness work, over several seeds: float test
accuracy of the dense and the pruned model, mean ± half-range and worst seed, and training time.

    python benchmarks/fastgrnn_recipe.py [--presets fastgrnn-har2,fastgrnn-har2-paper] [--seeds 0,1,2]
        [--runs-dir runs/recipe] [--threads 1] [--screening screening.json]

For each preset it trains the old recipe (the preset as it was released, kept below) and the preset as it is now,
once per seed, with ``python -m edge_gmp.pipeline --no-export`` run in-process (a run directory that already
holds its metrics.json is read, not retrained). Prints the table and writes benchmarks/results/fastgrnn_recipe.json
and .md. ``--screening`` adds the table of every recipe tried on the way (a JSON object: "note" and "entries", see
``screening_rows``); without it the screening already in the .json is kept.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import torch

from edge_gmp.config import RunConfig, config_from_dict, load_config, merge
from edge_gmp.pipeline import run
from edge_gmp.report.machine import describe_machine
from edge_gmp.report.tables import markdown_table, text_table

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"fastgrnn-har2": "pruned mean >= 95.5 %, worst seed >= 95.0 %", "fastgrnn-har2-paper": "pruned >= 95.0 %"}

# The presets as released before this work (edge_gmp/presets/*.toml at commit 067f829), export left out.
OLD_PRESETS = {
    "fastgrnn-har2": """
name = "fastgrnn-har2"
[model]
name = "fastgrnn"
hidden = 64
[data]
dataset = "har2"
source = "hapt"
val_subjects = 4
[train]
epochs = 60
batch_size = 128
lr = 0.01
[prune]
sparsity = 0.8
schedule = "gradual"
prune_epochs = 20
finetune_epochs = 20
frequency = 20
lr = 0.005
floor_percent = 0.05
""",
    "fastgrnn-har2-paper": """
name = "fastgrnn-har2-paper"
[model]
name = "fastgrnn"
hidden = 80
rank_w = 5
rank_u = 40
[data]
dataset = "har2"
source = "hapt"
val_subjects = 4
[train]
epochs = 100
batch_size = 100
lr = 0.003
[prune]
sparsity = 0.8
schedule = "gradual"
prune_epochs = 30
finetune_epochs = 30
frequency = 20
lr = 0.005
floor_percent = 0.05
""",
}
RESULT_HEADERS = ("preset", "recipe", "seeds", "dense (mean ± half-range)", "dense worst",
                  "pruned (mean ± half-range)", "pruned worst", "per seed pruned", "train s / run")
SCREENING_HEADERS = ("preset", "recipe", "changes against the old preset", "seeds", "dense (mean ± half-range)",
                     "pruned (mean ± half-range)", "pruned worst", "per seed pruned")


def recipe_config(preset: str, recipe: str, seed: int) -> RunConfig:
    """``recipe`` "old" (the released preset above) or "new" (the preset file now), at ``seed``, no export."""
    overrides = {"train": {"seed": seed}, "export": {"enabled": False}}
    if recipe == "new":
        return load_config(preset, overrides=overrides)
    return config_from_dict(merge(tomllib.loads(OLD_PRESETS[preset]), overrides), f"old {preset}")


def train_once(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """One seed's figures: test accuracies (dense, pruned), sparsity, training seconds. Reads ``run_dir``'s
    metrics.json instead when an earlier call finished there."""
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        run(config, run_dir, progress=False)
    metrics = json.loads(metrics_path.read_text())
    return {"seed": config.train.seed, "dense": metrics["dense_test_accuracy"],
            "pruned": metrics["pruned_test_accuracy"], "sparsity": metrics["sparsity"],
            "train_seconds": metrics["train_seconds"], "test_windows": metrics["samples"]["test"],
            "run_dir": str(run_dir)}


def spread(values: list[float]) -> dict[str, float]:
    """Mean, half-range and worst of accuracies (fractions)."""
    return {"mean": sum(values) / len(values), "half_range": (max(values) - min(values)) / 2, "worst": min(values)}


def summarize(preset: str, recipe: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"preset": preset, "recipe": recipe, "config": recipe_config(preset, recipe, 0).to_dict(),
            "runs": runs, "dense": spread([r["dense"] for r in runs]), "pruned": spread([r["pruned"] for r in runs]),
            "train_seconds": sum(r["train_seconds"] for r in runs) / len(runs)}


def _pct(s: dict[str, float]) -> str:
    return f"{s['mean']:.2%} ± {s['half_range'] * 100:.2f}"


def result_row(r: dict[str, Any]) -> tuple[Any, ...]:
    per_seed = " / ".join(f"{x['pruned']:.2%}" for x in r["runs"])
    return (r["preset"], r["recipe"], ",".join(str(x["seed"]) for x in r["runs"]), _pct(r["dense"]),
            f"{r['dense']['worst']:.2%}", _pct(r["pruned"]), f"{r['pruned']['worst']:.2%}", per_seed,
            f"{r['train_seconds']:.0f}")


def screening_rows(screening: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows of the screening: each entry {"preset", "recipe", "changes", "runs": [{"seed", "dense", "pruned"}]}."""
    rows = []
    for entry in screening:
        runs = sorted(entry["runs"], key=lambda r: r["seed"])
        dense, pruned = spread([r["dense"] for r in runs]), spread([r["pruned"] for r in runs])
        rows.append((entry["preset"], entry["recipe"], entry["changes"], ",".join(str(r["seed"]) for r in runs),
                     _pct(dense), _pct(pruned), f"{pruned['worst']:.2%}",
                     " / ".join(f"s{r['seed']} {r['pruned']:.2%}" for r in runs)))
    return rows


def markdown(results: dict[str, Any]) -> str:
    lines = ["# FastGRNN on HAR-2: old and new training recipes over seeds", "",
             f"Command: `{results['command']}`  ", f"Machine: {results['machine']}  ",
             f"Targets: {'; '.join(f'`{p}` {t}' for p, t in TARGETS.items())}.", "",
             "Float test accuracy (PyTorch) on the whole rebuilt HAR-2 test set, dense (end of the dense phase) "
             "and pruned (the returned model), mean ± half the range over the seeds and the worst seed; train s "
             "is the training time of one run (all epochs).", "",
             markdown_table(RESULT_HEADERS, [result_row(r) for r in results["results"]]), ""]
    for r in results["results"]:
        if r["recipe"] == "new":
            lines += [f"`{r['preset']}` now: " + ", ".join(f"{section}.{k} = {v}" for section in ("data", "train",
                      "prune") for k, v in r["config"][section].items() if k not in ("dataset", "source", "seed",
                                                                                      "device", "download")), ""]
    screening = results.get("screening") or {}
    if screening.get("entries"):
        lines += ["## Screening: every recipe tried (the search that led to the choice)", "", screening["note"], "",
                  markdown_table(SCREENING_HEADERS, screening_rows(screening["entries"])), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="fastgrnn-har2,fastgrnn-har2-paper")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--recipes", default="old,new")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/recipe"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the figures were taken with 1)")
    parser.add_argument("--screening", type=Path, default=None, help="a JSON file of the screening to include")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    results = []
    for preset in args.presets.split(","):
        for recipe in args.recipes.split(","):
            runs = [train_once(recipe_config(preset, recipe, seed), args.runs_dir / f"{preset}-{recipe}-s{seed}")
                    for seed in seeds]
            results.append(summarize(preset, recipe, runs))
            print(text_table(RESULT_HEADERS, [result_row(results[-1])]), flush=True)
    out_json = args.results / "fastgrnn_recipe.json"
    previous = json.loads(out_json.read_text()) if out_json.is_file() else {}
    screening = (json.loads(args.screening.read_text()) if args.screening
                 else previous.get("screening", {"note": "", "entries": []}))
    document = {"command": "python " + shlex.join(sys.argv), "machine": describe_machine(),
                "wall_seconds": time.perf_counter() - started, "results": results, "screening": screening}
    args.results.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(document, indent=2) + "\n")
    (args.results / "fastgrnn_recipe.md").write_text(markdown(document))
    print("\n" + text_table(RESULT_HEADERS, [result_row(r) for r in results]))


if __name__ == "__main__":
    main()
