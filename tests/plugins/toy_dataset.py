"""A dataset in one file: labelled windows (N, T, D) from an .npz (``x_train``, ``y_train``, ``x_test``,
``y_test``) or, without a path, a seeded synthetic two-class set. Registering it is all the pipeline,
``validate`` and the reports need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_gmp.data.normalize import Normalizer, fit_normalizer
from edge_gmp.data.registry import (
    DatasetSpec,
    LabelledSet,
    PreparedData,
    as_tensors,
    available_datasets,
    register_dataset,
    seeded_subset,
)
from edge_gmp.errors import DataError

NAME = "toy-windows"
STEPS, FEATURES = 16, 4


@dataclass(frozen=True)
class ToyOptions:
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, STEPS, FEATURES)).astype(np.float32) * 2.0 + 5.0
    x[:, :, 0] += np.where(y == 1, 3.0, -3.0)[:, None]
    return x, y.astype(np.int64)


def _arrays(source: str, path: str | None) -> dict[str, np.ndarray]:
    if source == "synthetic":
        (x_train, y_train), (x_test, y_test) = synthetic(600, 1), synthetic(200, 2)
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    try:
        with np.load(str(path), allow_pickle=False) as npz:
            return {k: np.asarray(npz[k]) for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: not an npz with x_train, y_train, x_test, y_test ({exc})") from exc


def prepare(cfg: Any, seed: int) -> PreparedData:
    data = _arrays(cfg.source, cfg.path)
    order = np.random.default_rng(seed).permutation(len(data["y_train"]))
    n_val = max(1, round(cfg.options.val_fraction * len(order)))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    train = train[seeded_subset(len(train), cfg.train_limit, seed)]
    test = seeded_subset(len(data["y_test"]), cfg.test_limit, seed + 1)
    norm = fit_normalizer(data["x_train"][train])
    return PreparedData(NAME, cfg.source, *as_tensors(norm.apply(data["x_train"][train]), data["y_train"][train]),
                        *as_tensors(norm.apply(data["x_train"][val]), data["y_train"][val]),
                        *as_tensors(norm.apply(data["x_test"][test]), data["y_test"][test]),
                        norm.to_dict(), ("low", "high"))


def test_set(source: str, path: str | None, download: bool) -> LabelledSet:
    data = _arrays(source, path)
    return LabelledSet(data["x_test"].astype(np.float32), data["y_test"].astype(np.int64), source,
                       lambda: fit_normalizer(data["x_train"]).to_dict())


def to_inputs(x: np.ndarray, statistics: Mapping[str, Any] | None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x if statistics is None else Normalizer.from_dict(dict(statistics)).apply(x)


if NAME not in available_datasets():
    register_dataset(DatasetSpec(
        name=NAME, display="Toy windows", sources=("synthetic", "npz"), options=ToyOptions, prepare=prepare,
        test_set=test_set, to_inputs=to_inputs, needs_path=("npz",), path_hint="an .npz of labelled windows",
        describe=lambda m: f"toy windows ({m['samples']['train']} train samples)",
        usage="normalise each sample with `normalization` ((x - mean) / std per channel)",
        source_for_path=lambda path: "npz"))
