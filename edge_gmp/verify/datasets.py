"""Labelled test sets for on-device accuracy checks, prepared the way the pipeline trained on them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edge_gmp.errors import UserError
from edge_gmp.runtimes.base import Session

DATASETS = ("har2", "cifar10")
HAR_WINDOW, HAR_CHANNELS = 128, 9


def _manifest_stats(model_path: Path) -> dict[str, Any] | None:
    manifest = model_path.parent / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("normalization")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise UserError(f"{manifest} is not a valid JSON object: {exc}") from exc


def _manifest_normalization(model_path: Path) -> dict[str, Any] | None:
    norm = _manifest_stats(model_path)
    if norm is None:
        return None
    manifest = model_path.parent / "manifest.json"
    try:
        mean = np.asarray(norm["mean"], dtype=np.float32).reshape(-1)
        std = np.asarray(norm["std"], dtype=np.float32).reshape(-1)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{manifest}: 'normalization' needs 'mean' and 'std' lists ({exc})") from exc
    if mean.shape != (HAR_CHANNELS,) or std.shape != (HAR_CHANNELS,) or not (std > 0).all():
        raise UserError(f"{manifest}: normalization mean/std must be {HAR_CHANNELS} values, std > 0")
    return norm


def _normalize(data: Any, x_train: np.ndarray, x_test: np.ndarray,
               stats: dict[str, Any] | None) -> np.ndarray:
    if stats is None:
        return np.asarray(data.fit_normalizer(x_train).apply(x_test), dtype=np.float32)
    normalizer_cls = getattr(data, "Normalizer", None)
    if normalizer_cls is not None and hasattr(normalizer_cls, "from_dict"):
        return np.asarray(normalizer_cls.from_dict(stats).apply(x_test), dtype=np.float32)
    mean = np.asarray(stats["mean"], dtype=np.float32)
    std = np.asarray(stats["std"], dtype=np.float32)
    return ((x_test - mean) / std).astype(np.float32)


def _evenly_spaced(n: int, limit: int | None) -> np.ndarray:
    """``limit`` indices spread over ``range(n)`` (test sets stored by class or subject stay balanced)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def _har2(model_path: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        from edge_gmp import data
    except ImportError as exc:
        raise UserError(f"the HAR-2 loader (edge_gmp.data) is not available: {exc}") from exc
    stats = _manifest_normalization(model_path)
    har = data.load_har2(source="hapt")
    pick = _evenly_spaced(len(har.y_test), limit)
    x = np.asarray(har.x_test[pick], dtype=np.float32)
    y = np.asarray(har.y_test[pick], dtype=np.int64)
    x = _normalize(data, np.asarray(har.x_train, dtype=np.float32), x, stats)
    note = "normalisation from manifest.json" if stats else "normalisation fitted on the training windows"
    return x, y, note


def _cifar10(model_path: Path, limit: int | None, data_path: str | os.PathLike | None,
             ) -> tuple[np.ndarray, np.ndarray, str]:
    from edge_gmp.data import ImageNormalizer, fit_image_normalizer, load_cifar10

    if data_path is None:
        raise UserError("--dataset cifar10 needs --data-path: an image folder train/<class>/..., test/<class>/... "
                        "(or its .tar.gz), or the official cifar-10-python.tar.gz")
    source = "official" if Path(data_path).name == "cifar-10-python.tar.gz" else "folder"
    cifar = load_cifar10(source=source, path=data_path)
    pick = _evenly_spaced(len(cifar.y_test), limit)
    stats = _manifest_stats(model_path)
    norm = ImageNormalizer.from_dict(stats) if stats else fit_image_normalizer(cifar.x_train)
    note = "normalisation from manifest.json" if stats else "normalisation fitted on the training images"
    return norm.apply(cifar.x_test[pick]), np.asarray(cifar.y_test[pick], dtype=np.int64), note


def load_test_set(dataset: str, model_path: str | os.PathLike, limit: int | None = None,
                  data_path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(x_test, y_test, note) normalised as in training: ``manifest.json`` beside the model if it has a
    ``normalization`` entry, else statistics fitted on the training data. ``limit`` takes that many test
    samples evenly spread over the set. CIFAR-10 comes from ``data_path`` (images as float NCHW)."""
    if dataset == "har2":
        return _har2(Path(model_path), limit)
    if dataset == "cifar10":
        return _cifar10(Path(model_path), limit, data_path)
    raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def _base(name: str) -> str:
    return name.lower().split(":")[0].removeprefix("serving_default_")


def streaming_indices(session: Session, features: int = HAR_CHANNELS) -> dict[str, int] | None:
    """Index arguments for evaluate_streaming when ``session`` looks like a (x_t, h) -> (h_next, logits)
    cell, else None. The input with ``features`` elements is x_t; the output sized like h is h_next
    (names decide when sizes tie, else the order h_next, logits)."""
    if len(session.inputs) != 2 or len(session.outputs) != 2:
        return None
    sizes = [t.size for t in session.inputs]
    if sizes[0] == sizes[1]:
        x_index = 1 if _base(session.inputs[0].name) == "h" else 0
    elif features in sizes:
        x_index = sizes.index(features)
    else:
        return None
    h_index = 1 - x_index
    out_sizes = [t.size for t in session.outputs]
    h_size = sizes[h_index]
    logit_named = [i for i, t in enumerate(session.outputs) if "logit" in t.name.lower()]
    if out_sizes.count(h_size) == 1:
        h_next = out_sizes.index(h_size)
    elif len(logit_named) == 1:
        h_next = 1 - logit_named[0]
    elif h_size in out_sizes:
        h_next = 0
    else:
        return None
    return {"x_index": x_index, "h_index": h_index, "h_next_index": h_next, "logits_index": 1 - h_next}
