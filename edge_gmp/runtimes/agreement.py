"""Compare a runtime's outputs with a reference: top-1 agreement and max |Δ|."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    samples: int
    top1: float  # fraction of samples whose argmax (over the flattened sample) matches
    max_abs: float  # max |reference - candidate|
    ref_max_abs: float  # max |reference|, for relative tolerances
    ties: int = 0  # differing samples whose reference top-2 gap is within 2 max |Δ|: a near tie, not an error

    def problems(self, max_abs: float | None = None, min_top1: float = 1.0, count_ties: bool = False) -> list[str]:
        """Human-readable reasons this comparison fails the tolerances (empty list: it passes). With
        ``count_ties``, a near tie flipped by rounding within ``max_abs`` counts as agreeing."""
        out = []
        top1 = self.top1 + (self.ties / self.samples if count_ties and self.samples else 0.0)
        if top1 < min_top1:
            out.append(f"top-1 agreement {top1:.4f} < {min_top1:.4f} "
                       f"({round((1 - top1) * self.samples)} of {self.samples} samples differ"
                       + (", near ties excluded)" if count_ties else ")"))
        if max_abs is not None and not self.max_abs <= max_abs:
            out.append(f"max |Δ| {self.max_abs:.3g} > {max_abs:.3g}")
        return out


def compare_outputs(reference: np.ndarray, candidate: np.ndarray) -> Agreement:
    """``reference`` and ``candidate`` are (N, ...) with the same shape (N samples)."""
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise ValueError(f"shapes differ: reference {ref.shape} vs candidate {cand.shape}")
    n = ref.shape[0] if ref.ndim else 1
    a, b = ref.reshape(n, -1), cand.reshape(n, -1)
    if a.size == 0:
        return Agreement(n, 1.0, 0.0, 0.0)
    same = np.argmax(a, axis=1) == np.argmax(b, axis=1)
    diff = np.abs(a - b)
    max_abs = float(np.max(diff)) if np.isfinite(diff).all() else float("inf")
    return Agreement(n, float(np.mean(same)), max_abs, float(np.max(np.abs(a))), _near_ties(a[~same], max_abs))


def _near_ties(reference: np.ndarray, max_abs: float) -> int:
    """Samples whose two largest reference values lie within 2 max |Δ|: rounding alone can swap them."""
    if reference.size == 0 or reference.shape[1] < 2 or not np.isfinite(max_abs):
        return 0
    top2 = np.sort(reference, axis=1)[:, -2:]
    return int(np.sum(top2[:, 1] - top2[:, 0] <= 2 * max_abs))
