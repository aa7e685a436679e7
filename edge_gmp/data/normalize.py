"""Per-channel standardisation fitted on training windows only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_gmp.errors import DataError

MIN_STD = 1e-6  # a constant channel is left centred rather than divided by ~0


@dataclass(frozen=True, eq=False)
class Normalizer:
    """``apply(x) = (x - mean) / std`` on the last axis; ``mean``/``std`` are float32 of shape (channels,)."""

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if mean.shape != std.shape or not np.isfinite(mean).all() or not (std > 0).all():
            raise DataError(f"normalizer needs finite means and positive stds of one length, got "
                            f"{mean.shape} / {std.shape}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape[-1] != self.mean.shape[0]:
            raise DataError(f"data has {x.shape[-1]} channels; the normalizer has {self.mean.shape[0]}")
        return (x - self.mean) / self.std

    def to_dict(self) -> dict[str, Any]:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, stats: dict[str, Any]) -> Normalizer:
        try:
            return cls(mean=np.asarray(stats["mean"], dtype=np.float32),
                       std=np.asarray(stats["std"], dtype=np.float32))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"normalization stats need 'mean' and 'std' lists of numbers ({exc})") from exc


def fit_normalizer(x_train: np.ndarray) -> Normalizer:
    """Per-channel mean/std of (N, T, C) training windows (accumulated in float64)."""
    x = np.asarray(x_train)
    if x.ndim < 2 or x.size == 0:
        raise DataError(f"cannot fit a normalizer on an array of shape {x.shape}")
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return Normalizer(mean=flat.mean(axis=0), std=np.maximum(flat.std(axis=0), MIN_STD))
