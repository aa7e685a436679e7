"""One call from a data config to model-ready tensors: load, hold out validation, normalise, augment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edge_gmp.data.augment import augment_batch
from edge_gmp.data.cifar import load_cifar10
from edge_gmp.data.dataset import load_har2, split_by_subject
from edge_gmp.data.image_normalize import fit_image_normalizer
from edge_gmp.data.layout import ACTIVITIES, POSITIVE_ACTIVITIES
from edge_gmp.data.normalize import fit_normalizer

HAR2_CLASSES = (
    "/".join(ACTIVITIES[a].lower() for a in sorted(set(ACTIVITIES) - POSITIVE_ACTIVITIES)),
    "/".join(ACTIVITIES[a].lower() for a in sorted(POSITIVE_ACTIVITIES)),
)


@dataclass
class PreparedData:
    """Normalised float32 tensors in the model's layout (HAR-2: (N, 128, 9); images: NCHW) and labels."""

    dataset: str
    source: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    normalization: dict[str, Any]
    classes: tuple[str, ...]
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)


def _subset(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded random ``limit``-subset of ``range(n)`` (all of them when unset), in order."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed + 7919).choice(n, size=limit, replace=False))


def _har2(cfg: Any, seed: int) -> PreparedData:
    har = load_har2(source=cfg.source, path=cfg.path, download=cfg.download)
    train, val = split_by_subject(har, val_subjects=cfg.val_subjects, seed=seed)
    train = train.select(_subset(len(train), cfg.train_limit, seed))
    test = _subset(len(har.y_test), cfg.test_limit, seed + 1)
    norm = fit_normalizer(train.x)
    return PreparedData("har2", har.source, *_tensors(norm.apply(train.x), train.y),
                        *_tensors(norm.apply(val.x), val.y),
                        *_tensors(norm.apply(har.x_test[test]), har.y_test[test]), norm.to_dict(), HAR2_CLASSES)


def _cifar10(cfg: Any, seed: int) -> PreparedData:
    data = load_cifar10(source=cfg.source, path=cfg.path, download=cfg.download)
    order = np.random.default_rng(seed).permutation(len(data.y_train))
    val_idx, train_idx = np.sort(order[:cfg.val_images]), np.sort(order[cfg.val_images:])
    train_idx = train_idx[_subset(len(train_idx), cfg.train_limit, seed)]
    test = _subset(len(data.y_test), cfg.test_limit, seed + 1)
    norm = fit_image_normalizer(data.x_train[train_idx])
    return PreparedData("cifar10", data.source,
                        *_tensors(norm.apply(data.x_train[train_idx]), data.y_train[train_idx]),
                        *_tensors(norm.apply(data.x_train[val_idx]), data.y_train[val_idx]),
                        *_tensors(norm.apply(data.x_test[test]), data.y_test[test]),
                        norm.to_dict(), tuple(data.classes), augment=augment_batch)


def prepare_data(cfg: Any, seed: int = 0) -> PreparedData:
    """``cfg`` is a DataConfig; validation is held out of the training set with ``seed`` (by subject for
    HAR-2, by image for CIFAR-10); normalisation statistics come from the remaining training data only."""
    if cfg.dataset == "har2":
        return _har2(cfg, seed)
    return _cifar10(cfg, seed)
