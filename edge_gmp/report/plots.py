"""The pruning study's PNG plots (matplotlib, no display needed), from a sweep's summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_gmp.atomic import atomic_path
from edge_gmp.prune.schedule import GRADUAL, ONESHOT
from edge_gmp.report.study import Stat, axes, grid, int8_accuracy, label, layer_sparsity

MARKERS = {"gmp": "o", "gmp-nofloor": "x", "gmp-folded": "P", "uniform": "s", "random": "v", "lamp": "D"}
LINES = {GRADUAL: "-", ONESHOT: "--"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _dense(summary: dict[str, Any]) -> float:
    return Stat(tuple(d["test_accuracy"] for d in summary["dense"])).mean


def _errorbar(ax: Any, xs: list[float], stats: list[Stat], **style: Any) -> None:
    ys = [100 * s.mean for s in stats]
    if any(len(s.values) > 1 for s in stats):
        err = [[100 * (s.mean - s.low) for s in stats], [100 * (s.high - s.mean) for s in stats]]
        ax.errorbar(xs, ys, yerr=err, capsize=3, **style)
    else:
        ax.plot(xs, ys, **style)


def accuracy_vs_sparsity(summary: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    methods, schedules, sparsities = axes(summary)
    stats = grid(summary["cells"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in methods:
        for schedule in schedules:
            points = [(100 * s, stats[(method, schedule, s)]) for s in sparsities if (method, schedule, s) in stats]
            if points:
                _errorbar(ax, [p[0] for p in points], [p[1] for p in points], marker=MARKERS.get(method, "."),
                          linestyle=LINES.get(schedule, "-"), label=label(method, schedule))
    ax.axhline(100 * _dense(summary), color="grey", linestyle=":", label="dense")
    ax.set_xlabel("sparsity of the prunable weights (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{summary['model']} on {summary['dataset']}: accuracy against sparsity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def _device_bytes(cell: dict[str, Any]) -> int:
    """The bytes a microcontroller stores: the compressed device file where the cell has one (studies run before
    compression existed recorded only the dense flatbuffer's gzip size)."""
    export = cell["export"]
    return export.get("device_bytes") or export["gzip_bytes"]


def accuracy_vs_size(summary: dict[str, Any], path: Path) -> Path:
    """Measured device artifacts when the cells were exported (the device file's bytes, its accuracy in TFLite
    Micro; the dense integer flatbuffer as a vertical line); otherwise the int8 information limit of the
    prunable weights against float accuracy."""
    plt = _pyplot()
    methods, schedules, _ = axes(summary)
    exported = any(c.get("export") for c in summary["cells"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in methods:
        for schedule in schedules:
            cells = sorted((c for c in summary["cells"] if c["method"] == method and c["schedule"] == schedule
                            and (c.get("export") or not exported)), key=lambda c: c["sparsity"])
            if exported:
                points = [(_device_bytes(c), int8_accuracy(c)) for c in cells]
            else:
                points = [(c["info_limit_int8_bytes"], c["test_accuracy"]) for c in cells]
            points = [(x, 100 * y) for x, y in points if y is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker=MARKERS.get(method, "."), linestyle=LINES.get(schedule, "-"),
                        label=label(method, schedule))
    if exported:
        flat = max(c["export"]["bytes"] for c in summary["cells"] if c.get("export"))
        ax.axvline(flat, color="black", linestyle=":", label=f"dense integer flatbuffer ({flat:,} B)")
        compressed = any(c["export"].get("device_bytes") for c in summary["cells"] if c.get("export"))
        ax.set_xlabel("device file, weights stored for TFLM_DECODE (bytes)" if compressed
                      else "gzip -9 of the integer flatbuffer (bytes)")
        ax.set_ylabel("device test accuracy in TFLite Micro (%)")
    else:
        ax.set_xlabel("int8 information limit of the prunable weights (bytes)")
        ax.set_ylabel("test accuracy, float (%)")
    ax.set_xscale("log")
    ax.set_title(f"{summary['model']} on {summary['dataset']}: accuracy against size")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def layer_kept(summary: dict[str, Any], sparsity: float, path: Path) -> Path:
    plt = _pyplot()
    methods, schedules, _ = axes(summary)
    n_layers = len(summary["cells"][0]["layers"])
    fig, ax = plt.subplots(figsize=(max(7.0, 0.35 * n_layers), 4.5))
    names: list[str] = []
    plotted = [m for m in methods if any(c["method"] == m and c["sparsity"] == sparsity for c in summary["cells"])]
    width = 0.8 / max(1, len(plotted))
    for k, method in enumerate(plotted):
        cells = [c for c in summary["cells"] if c["method"] == method and c["sparsity"] == sparsity
                 and c["schedule"] == schedules[0]]
        if not cells:
            continue
        cell = min(cells, key=lambda c: c["seed"])
        names = [row["name"] for row in cell["layers"]]
        fractions = [max(row["kept"] / row["size"], 1e-5) for row in cell["layers"]]  # 0 drawn at the bottom
        ax.bar([i + (k - (len(plotted) - 1) / 2) * width for i in range(len(names))], [100 * f for f in fractions],
               width=width, label=label(method), hatch="//" if method == "gmp-nofloor" else None)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.removesuffix(".weight").removesuffix(".0") for n in names], rotation=90, fontsize=6)
    ax.set_ylabel("weights kept (%, log)")
    ax.set_title(f"kept fraction per layer at {sparsity:.1%} sparsity ({schedules[0]}; bars at the "
                 "bottom: layer collapsed)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return _save(fig, path)


def macs_vs_accuracy(summary: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    methods, schedules, sparsities = axes(summary)
    accuracy = grid(summary["cells"])
    macs = grid([{**c, "_m": c["macs"]["effective"]} for c in summary["cells"]], "_m")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in methods:
        for schedule in schedules:
            keys = [(method, schedule, s) for s in sparsities if (method, schedule, s) in accuracy]
            if keys:
                ax.plot([macs[k].mean for k in keys], [100 * accuracy[k].mean for k in keys],
                        marker=MARKERS.get(method, "."), linestyle=LINES.get(schedule, "-"),
                        label=label(method, schedule))
    dense = summary["dense"][0]["macs"]
    ax.scatter([dense["dense"]], [100 * _dense(summary)], color="black", marker="*", s=80, label="dense", zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel(f"effective multiply-accumulates ({dense.get('unit', 'per sample')}, non-zero weights only)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{summary['model']} on {summary['dataset']}: accuracy against MACs")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def write_plots(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Every plot the results allow, as PNGs in ``out_dir``."""
    if not summary["cells"]:
        return []
    out_dir = Path(out_dir)
    paths = [accuracy_vs_sparsity(summary, out_dir / "accuracy_vs_sparsity.png"),
             accuracy_vs_size(summary, out_dir / "accuracy_vs_size.png"),
             macs_vs_accuracy(summary, out_dir / "macs_vs_accuracy.png")]
    at = layer_sparsity(summary)
    if at is not None:
        paths.append(layer_kept(summary, at, out_dir / f"layers_{at * 100:g}.png"))
    return paths
