"""One call from a data config to model-ready tensors: the dataset's own preparation (load, hold out
validation, normalise with training statistics, augmentation)."""

from __future__ import annotations

from typing import Any

from edge_gmp.data import datasets as _datasets  # noqa: F401  (registers every dataset)
from edge_gmp.data.registry import PreparedData, dataset_spec

__all__ = ["PreparedData", "prepare_data"]


def prepare_data(cfg: Any, seed: int = 0) -> PreparedData:
    """``cfg`` is a DataConfig; validation is held out of the training set with ``seed`` (how is the dataset's
    choice: by subject for HAR-2, by image for CIFAR-10); normalisation statistics come from the remaining
    training data only."""
    return dataset_spec(cfg.dataset).prepare(cfg, seed)
