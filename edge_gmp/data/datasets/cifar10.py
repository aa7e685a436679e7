"""CIFAR-10: 32x32 RGB images in 10 classes from an image folder or its archive ("folder", default) or the
official python archive ("official"); validation holds out random training images; training augments with
random crops and flips."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.data.augment import augment_batch
from edge_gmp.data.cifar import load_cifar10
from edge_gmp.data.image_normalize import ImageNormalizer, fit_image_normalizer
from edge_gmp.data.registry import (
    DatasetSpec,
    LabelledSet,
    PreparedData,
    as_tensors,
    register_dataset,
    seeded_subset,
)
from edge_gmp.fields import check_field_types


@dataclass(frozen=True)
class Cifar10Options:
    """``val_images``: training images held out (at random, seeded) for model selection."""

    val_images: int = 5000

    def __post_init__(self) -> None:
        check_field_types(self, "data")
        if not 0 < self.val_images < 50000:
            raise ValueError(f"val_images must be in [1, 49999], got {self.val_images}")


def prepare(cfg: Any, seed: int) -> PreparedData:
    data = load_cifar10(source=cfg.source, path=cfg.path, download=cfg.download)
    order = np.random.default_rng(seed).permutation(len(data.y_train))
    val_images = cfg.options.val_images
    val_idx, train_idx = np.sort(order[:val_images]), np.sort(order[val_images:])
    train_idx = train_idx[seeded_subset(len(train_idx), cfg.train_limit, seed)]
    test = seeded_subset(len(data.y_test), cfg.test_limit, seed + 1)
    norm = fit_image_normalizer(data.x_train[train_idx])
    return PreparedData("cifar10", data.source,
                        *as_tensors(norm.apply(data.x_train[train_idx]), data.y_train[train_idx]),
                        *as_tensors(norm.apply(data.x_train[val_idx]), data.y_train[val_idx]),
                        *as_tensors(norm.apply(data.x_test[test]), data.y_test[test]),
                        norm.to_dict(), tuple(data.classes), augment=augment_batch)


def test_set(source: str, path: str | None, download: bool) -> LabelledSet:
    data = load_cifar10(source=source, path=path, download=download)
    return LabelledSet(data.x_test, np.asarray(data.y_test, dtype=np.int64), data.source,
                       lambda: fit_image_normalizer(data.x_train).to_dict())


def to_inputs(x: np.ndarray, statistics: Mapping[str, Any] | None) -> np.ndarray:
    """uint8 NHWC images -> float32 NCHW: pixel values 0-255 as they are, or normalised with the statistics."""
    if statistics is None:
        return np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 3, 1, 2))
    return ImageNormalizer.from_dict(dict(statistics)).apply(x)


def describe(metrics: Mapping[str, Any]) -> str:
    n = metrics["samples"]
    return (f"CIFAR-10, source `{metrics['data_source']}`; {n['train']:,} train / {n['val']:,} validation / "
            f"{n['test']:,} test images; classes: "
            + ", ".join(f"{i} = {c}" for i, c in enumerate(metrics["classes"]))
            + ". Validation images are held out of the training set; pixels are scaled to [0, 1] and normalised "
            "per channel with the training statistics in `metrics.json` and the device manifest.")


register_dataset(DatasetSpec(
    name="cifar10", display="CIFAR-10", sources=("folder", "official"), downloadable="official",
    options=Cifar10Options, prepare=prepare, test_set=test_set, to_inputs=to_inputs, describe=describe,
    usage="normalise the image with `normalization` ((pixel / 255 - mean) / std per RGB channel)",
    needs_path=("folder",),
    path_hint="an image folder train/<class>/*.png|jpg and test/... or its .tar.gz (source folder), or "
              "cifar-10-python.tar.gz (source official)",
    source_for_path=lambda path: "official" if Path(path).name == "cifar-10-python.tar.gz" else "folder"))
