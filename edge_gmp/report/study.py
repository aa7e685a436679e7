"""The pruning study's Markdown report, from a sweep's ``results.json`` summary."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from edge_gmp.prune import GRADUAL, SCHEDULES, study_methods
from edge_gmp.report.tables import markdown_table
from edge_gmp.runtimes import device_runtime

METHOD_LABELS = {name: m.label for name, m in study_methods().items()}  # the study's order


@dataclass(frozen=True)
class Stat:
    """One value over seeds."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def pct(self) -> str:
        text = f"{self.mean:.2%}"
        if len(self.values) > 1:
            text += f" ± {(self.high - self.low) / 2:.2%}"
        return text


def label(method: str, schedule: str | None = None) -> str:
    name = METHOD_LABELS.get(method, method)
    return name if schedule is None else f"{name} ({schedule})"


def grid(cells: Iterable[dict[str, Any]], key: str = "test_accuracy") -> dict[tuple[str, str, float], Stat]:
    """``cells[key]`` over seeds, by (method, schedule, sparsity)."""
    grouped: dict[tuple[str, str, float], list[float]] = {}
    for cell in cells:
        value = cell.get(key)
        if value is not None:
            grouped.setdefault((cell["method"], cell["schedule"], cell["sparsity"]), []).append(float(value))
    return {k: Stat(tuple(v)) for k, v in grouped.items()}


def int8_accuracy(cell: dict[str, Any]) -> float | None:
    """The exported device artifact's accuracy in the device runtime, when the cell was exported."""
    export = cell.get("export") or {}
    return (export.get("accuracy") or {}).get(device_runtime())


def axes(summary: dict[str, Any]) -> tuple[list[str], list[str], list[float]]:
    """Methods (in the study's order), schedules and sparsities present in the results."""
    cells = summary["cells"]
    methods = [m for m in METHOD_LABELS if any(c["method"] == m for c in cells)]
    methods += sorted({c["method"] for c in cells} - set(methods))
    schedules = [s for s in SCHEDULES if any(c["schedule"] == s for c in cells)]
    return methods, schedules, sorted({c["sparsity"] for c in cells})


def layer_sparsity(summary: dict[str, Any]) -> float | None:
    _, _, sparsities = axes(summary)
    chosen = summary.get("layer_sparsity")
    return chosen if chosen is not None else (sparsities[-1] if sparsities else None)


def layer_rows(summary: dict[str, Any], sparsity: float) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Per-layer kept weights at ``sparsity`` for each method (first seed, gradual schedule if present)."""
    methods, schedules, _ = axes(summary)
    schedule = schedules[0] if schedules else GRADUAL
    chosen = {}
    for method in methods:
        found = [c for c in summary["cells"] if c["method"] == method and c["schedule"] == schedule
                 and c["sparsity"] == sparsity]
        if found:
            chosen[method] = min(found, key=lambda c: c["seed"])
    if not chosen:
        return [], []
    names = [row["name"] for row in next(iter(chosen.values()))["layers"]]
    sizes = [row["size"] for row in next(iter(chosen.values()))["layers"]]
    rows = []
    for i, (name, size) in enumerate(zip(names, sizes, strict=True)):
        kept = [chosen[m]["layers"][i]["kept"] for m in chosen]
        rows.append((name, size, *(f"{k:,} ({k / size:.1%})" for k in kept)))
    return [label(m) for m in chosen], rows


def _dense_line(summary: dict[str, Any]) -> str:
    dense = summary["dense"]
    stat = Stat(tuple(d["test_accuracy"] for d in dense))
    seeds = ", ".join(f"seed {d['seed']}: {d['test_accuracy']:.2%}" for d in dense)
    return f"Dense model: {stat.pct()} ({seeds}; {dense[0]['source']})."


def _recipe(summary: dict[str, Any]) -> str:
    cfg = summary["config"]
    train, prune = cfg["train"], cfg["prune"]
    return (f"Each cell starts from the dense weights, prunes over {prune['prune_epochs']} epochs (gradual: "
            f"polynomial schedule, updated every {prune['frequency']} steps; one-shot: all at once, then the same "
            f"epochs at the final sparsity) and fine-tunes {prune['finetune_epochs']} more, lr {prune['lr']} "
            f"(cosine), batch {train['batch_size']}; the reported model is {_selection(train)} — the test set "
            f"is never used for selection. Every rule prunes exactly "
            f"round(s·N) of the N prunable weights. Floors (Minimum Threshold) apply to the rules that use them "
            f"(Global MP + floors, SNIP): {_floor(prune)} per layer.")


def _selection(train: dict[str, Any]) -> str:
    if train.get("select", "best") == "average":
        return "the average of the weights after every epoch at the final sparsity"
    return "the best validation epoch at the final sparsity"


def _floor(prune: dict[str, Any]) -> str:
    return f"{prune['floor_count']} weights" if prune.get("floor_count") else f"{prune['floor_percent']} % of all"


def _method_by_sparsity(summary: dict[str, Any], value: Callable[[dict[str, Any]], float],
                        cell_text: Callable[[Stat], str]) -> str:
    """A table: one row per method x schedule, one column per sparsity, ``cell_text`` of ``value`` over seeds."""
    methods, schedules, sparsities = axes(summary)
    stats = grid([{**c, "_v": value(c)} for c in summary["cells"]], "_v")
    rows = []
    for method in methods:
        for schedule in schedules:
            rows.append((label(method, schedule), *("-" if (method, schedule, s) not in stats
                                                     else cell_text(stats[(method, schedule, s)]) for s in sparsities)))
    return markdown_table(("method", *(f"{s:.1%}" for s in sparsities)), rows)


def _dense_drops(summary: dict[str, Any]) -> dict[tuple[str, str, float], Stat]:
    """Accuracy minus the same seed's dense accuracy, per cell key: a cell run on fewer seeds is compared with
    the dense models it started from, not with the mean over every seed."""
    return grid([{**c, "_v": c["test_accuracy"] - c["dense_test_accuracy"]} for c in summary["cells"]], "_v")


def accuracy_table(summary: dict[str, Any]) -> str:
    methods, schedules, sparsities = axes(summary)
    stats, drops = grid(summary["cells"]), _dense_drops(summary)
    rows = []
    for method in methods:
        for schedule in schedules:
            rows.append((label(method, schedule),
                         *("-" if (method, schedule, s) not in stats else
                           f"{stats[(method, schedule, s)].pct()} ({drops[(method, schedule, s)].mean * 100:+.2f})"
                           for s in sparsities)))
    return markdown_table(("method", *(f"{s:.1%}" for s in sparsities)), rows)


def baselines(methods: list[str]) -> list[str]:
    """The rules Global MP is compared with: every rule of the study that is not a Global MP variant."""
    return [m for m in methods if not m.startswith("gmp")]


def comparison_lines(summary: dict[str, Any]) -> list[str]:
    """Global MP + floors against each baseline and against dense, per schedule and sparsity (points)."""
    methods, schedules, sparsities = axes(summary)
    if "gmp" not in methods:
        return []
    stats, drops = grid(summary["cells"]), _dense_drops(summary)
    rows = []
    for schedule in schedules:
        for s in sparsities:
            ours = stats.get(("gmp", schedule, s))
            if ours is None:
                continue
            others = [(ours.mean - stats[(m, schedule, s)].mean) * 100 for m in baselines(methods)
                      if (m, schedule, s) in stats]
            rows.append((schedule, f"{s:.1%}", f"{drops[('gmp', schedule, s)].mean * 100:+.2f}",
                         *(f"{(ours.mean - stats[(m, schedule, s)].mean) * 100:+.2f}"
                           if (m, schedule, s) in stats else "-" for m in methods if m != "gmp"),
                         f"{min(others):+.2f}" if others else "-"))
    headers = ("schedule", "sparsity", "vs dense", *(f"vs {label(m)}" for m in methods if m != "gmp"),
               "vs best baseline")
    return [markdown_table(headers, rows)]


def collapse_table(summary: dict[str, Any]) -> str:
    """Every cell at the highest sparsity, and any other cell that lost a whole layer."""
    if not summary["cells"]:
        return "No cell has finished."
    top = max(c["sparsity"] for c in summary["cells"])
    shown = [c for c in summary["cells"] if c["sparsity"] == top or c["collapsed_layers"]]
    rows = []
    for c in sorted(shown, key=lambda c: (c["sparsity"], c["method"], c["schedule"], c["seed"])):
        worst = min(c["layers"], key=lambda r: r["kept"] / r["size"])
        rows.append((label(c["method"], c["schedule"]), f"{c['sparsity']:.1%}", c["seed"],
                     len(c["collapsed_layers"]), ", ".join(c["collapsed_layers"]) or "-",
                     f"{worst['name']}: {worst['kept']:,}/{worst['size']:,}", f"{c['test_accuracy']:.2%}"))
    return markdown_table(("method", "sparsity", "seed", "collapsed layers", "which", "fewest kept (fraction)",
                           "accuracy"), rows)


def macs_table(summary: dict[str, Any]) -> str:
    dense_macs = summary["dense"][0]["macs"]["dense"]
    return _method_by_sparsity(summary, lambda c: c["macs"]["effective"],
                               lambda stat: f"{stat.mean:,.0f} ({stat.mean / dense_macs:.1%})")


def export_table(summary: dict[str, Any]) -> str | None:
    exported = [c for c in summary["cells"] if c.get("export")]
    if not exported:
        return None
    rows = []
    for c in sorted(exported, key=lambda c: (c["method"], c["schedule"], c["sparsity"], c["seed"])):
        e = c["export"]
        accuracy = int8_accuracy(c)
        rows.append((label(c["method"], c["schedule"]), f"{c['sparsity']:.1%}", c["seed"], f"{c['test_accuracy']:.2%}",
                     "-" if accuracy is None else f"{accuracy:.2%}", e["bytes"], e.get("device_bytes"),
                     e["gzip_bytes"], e.get("info_limit_bytes"), e.get("sparse_encoded_bytes"),
                     e["arena_bytes"], e.get("device_ram_bytes"), "; ".join(e["problems"]) or "ok"))
    return markdown_table(("method", "sparsity", "seed", "float", "device TFLM", "integer file", "device file",
                           "gzip", "info limit", "sparse-encoded (not on TFLM)", "arena", "device RAM", "checks"), rows)


def study_report(summary: dict[str, Any], plots: Sequence[str] = ()) -> str:
    """The whole report: setup, accuracy table, comparison, collapse, per-layer, MACs, sizes, failures."""
    methods, schedules, sparsities = axes(summary)
    n = summary["samples"]
    unit = summary["dense"][0]["macs"].get("unit", "per sample")
    lines = [
        f"# Pruning study: {summary['model']} on {summary['dataset']} (preset `{summary['preset']}`)",
        "",
        f"Reproduce: `{summary['command']}`  ",
        f"Machine: {summary['machine']}  ",
        f"Data ({summary['data_source']}): {n['train']:,} train / {n['val']:,} validation / {n['test']:,} test "
        "samples; accuracies are float (PyTorch) test accuracy on the whole test set.",
        "",
        _dense_line(summary) + " " + _recipe(summary),
        "",
        "## Accuracy against sparsity",
        "Test accuracy (mean ± half the range over seeds) and, in brackets, its difference in points from the "
        "dense model of the same seed (mean over seeds).",
        "",
        accuracy_table(summary),
    ]
    if "accuracy_vs_sparsity.png" in plots:
        lines += ["", "![accuracy against sparsity](accuracy_vs_sparsity.png)"]
    comparison = comparison_lines(summary)
    if comparison:
        lines += ["", "## Global MP with floors against the others",
                  "Points of test accuracy that Global MP + floors is above (+) or below (−) each rule, same "
                  "schedule and sparsity (means over seeds; vs dense: against the same seed's dense model); the "
                  "last column against the best of the other rules "
                  f"({', '.join(label(m) for m in baselines(axes(summary)[0]))}), whichever that is.",
                  "", *comparison]
    lines += ["", "## Layer collapse",
              "A layer has collapsed when it keeps no weight at all (its output is then constant). Shown: every "
              "cell at the highest sparsity and any cell with a collapsed layer; the last columns name the layer "
              "left with the smallest fraction of its weights.", "", collapse_table(summary)]
    at = layer_sparsity(summary)
    headers, rows = layer_rows(summary, at) if at is not None else ([], [])
    if rows:
        lines += ["", f"## Kept weights per layer at {at:.1%} sparsity",
                  f"First seed, {schedules[0]} schedule.", "",
                  markdown_table(("layer", "size", *headers), rows)]
        name = f"layers_{at * 100:g}.png"
        if name in plots:
            lines += ["", f"![kept fraction per layer]({name})"]
    lines += ["", f"## Multiply-accumulates ({unit})",
              f"Effective MACs count only non-zero weights (dense model: {summary['dense'][0]['macs']['dense']:,}).",
              "", macs_table(summary)]
    if "macs_vs_accuracy.png" in plots:
        lines += ["", "![MACs against accuracy](macs_vs_accuracy.png)"]
    exports = export_table(summary)
    lines += ["", "## Sizes"]
    if exports:
        lines += ["Each cell's device artifact (the integer file TFLite Micro runs; stored with TFLM_DECODE "
                  "where that is smaller and gives identical outputs), exported and run on the whole test set. "
                  "\"integer file\" is the dense integer flatbuffer, \"device file\" what is flashed; the gzip and "
                  "information-limit columns show how far a denser encoding could go. TFLite's sparse-encoded "
                  "file is listed for reference only: TFLite Micro cannot run it.", "", exports]
    else:
        lines += ["Without `--export` the study reports the information limit of the prunable weights at int8 "
                  "(non-zeros × 8 bits + positions at the entropy bound), which depends only on the sparsity; "
                  "TFLite Micro runs the integer flatbuffer, with pruned weights stored for TFLM_DECODE where that "
                  "is smaller (`--export` measures it)."]
    if "accuracy_vs_size.png" in plots:
        lines += ["", "![accuracy against size](accuracy_vs_size.png)"]
    if summary["failed"]:
        lines += ["", "## Failed cells", *(f"- `{f['id']}`: {f['error']}" for f in summary["failed"])]
    if summary.get("not_run"):
        lines += ["", f"## Not run yet ({len(summary['not_run'])} cells)", ", ".join(summary["not_run"])]
    return "\n".join(lines) + "\n"
