"""Per-layer sparsity report, with a warning for layers that would collapse without the floor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from torch import Tensor

from edge_gmp.prune.masks import NO_FLOOR, global_magnitude_masks


@dataclass(frozen=True)
class LayerSparsity:
    name: str
    size: int
    kept: int
    kept_without_floor: int | None = None

    @property
    def sparsity(self) -> float:
        return 1.0 - self.kept / self.size

    @property
    def collapses_without_floor(self) -> bool:
        return self.kept_without_floor == 0

    def to_dict(self) -> dict:
        return {**asdict(self), "sparsity": self.sparsity}


def layer_report(masks: Mapping[str, Tensor], weights: Mapping[str, Tensor] | None = None,
                 sparsity: float | None = None) -> list[LayerSparsity]:
    """Size and kept weights per layer; with ``weights`` and ``sparsity``, also what plain Global MP keeps."""
    without = None
    if weights is not None and sparsity is not None:
        without = global_magnitude_masks(weights, sparsity, NO_FLOOR)
    return [
        LayerSparsity(name, m.numel(), int(m.sum()), None if without is None else int(without[name].sum()))
        for name, m in masks.items()
    ]


def overall_sparsity(masks: Mapping[str, Tensor]) -> float:
    total = sum(m.numel() for m in masks.values())
    return 1.0 - sum(int(m.sum()) for m in masks.values()) / total


def format_report(rows: list[LayerSparsity]) -> str:
    lines = [f"{'layer':<28} {'size':>9} {'kept':>9} {'sparsity':>9}"]
    for r in rows:
        note = "  <- collapses without the floor" if r.collapses_without_floor else ""
        lines.append(f"{r.name:<28} {r.size:>9} {r.kept:>9} {r.sparsity:>9.2%}{note}")
    size, kept = sum(r.size for r in rows), sum(r.kept for r in rows)
    lines.append(f"{'total':<28} {size:>9} {kept:>9} {1 - kept / size:>9.2%}")
    return "\n".join(lines)
