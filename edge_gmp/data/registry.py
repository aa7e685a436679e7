"""Datasets register by name, as models do. Each declares its sources, its own ``[data]`` options, how to
prepare model-ready train/validation/test tensors for training, how to load a labelled test set in natural
units for ``validate``, how inputs are normalised, and how it is described in reports.

Adding a dataset is one module in ``edge_gmp/data/datasets/`` that calls :func:`register_dataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_gmp.errors import ConfigError
from edge_gmp.fields import build_options

if TYPE_CHECKING:  # torch is imported where tensors are made: `import edge_gmp.data` stays light
    import torch

Augment = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]


@dataclass
class PreparedData:
    """Normalised float32 tensors in the model's layout and labels, ready for training and evaluation."""

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
    augment: Augment | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


@dataclass(frozen=True, eq=False)
class LabelledSet:
    """A test set in its natural units (sensor units, or uint8 pixels) with labels, and the normalisation
    statistics fitted on the same source's training split (computed on demand)."""

    x: np.ndarray
    y: np.ndarray
    source: str
    fit_statistics: Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    - ``sources``: where the data can come from; the first is the default. ``downloadable``: the source that
      ``--download`` fetches (checksum-verified), if any. ``needs_path``: sources that need ``data.path``.
    - ``options``: a frozen dataclass of the dataset's own ``[data]`` options (validated in its __post_init__).
    - ``prepare(config, seed)``: :class:`PreparedData` for training (``config`` is the run's DataConfig).
    - ``test_set(source, path, download)``: the labelled test split in natural units, for ``validate``.
    - ``to_inputs(x, statistics)``: natural units -> float32 model inputs; ``statistics=None`` keeps the
      natural units (pixels stay 0-255), else the normalisation of :attr:`PreparedData.normalization`.
    - ``describe(metrics)``: a paragraph for the model card; ``usage``: how a device normalises its inputs.
    - ``source_for_path(path)``: the source a data path alone implies (e.g. an official archive's name).
    """

    name: str
    display: str
    sources: tuple[str, ...]
    options: type
    prepare: Callable[[Any, int], PreparedData]
    test_set: Callable[[str, str | None, bool], LabelledSet]
    to_inputs: Callable[[np.ndarray, Mapping[str, Any] | None], np.ndarray]
    describe: Callable[[Mapping[str, Any]], str]
    usage: str
    downloadable: str | None = None
    needs_path: tuple[str, ...] = ()
    path_hint: str = ""
    source_for_path: Callable[[str], str] | None = None

    def source_of(self, path: str | None) -> str:
        """The source a user means by giving ``path`` alone (default: the dataset's first source)."""
        if path is not None and self.source_for_path is not None:
            return self.source_for_path(path)
        return self.sources[0]


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"dataset {spec.name!r} is already registered")
    if not spec.sources or (spec.downloadable is not None and spec.downloadable not in spec.sources):
        raise ValueError(f"dataset {spec.name!r}: sources must be non-empty and include the downloadable one")
    _REGISTRY[spec.name] = spec
    return spec


def _load_builtins() -> None:
    """The datasets shipped in ``edge_gmp.data.datasets`` register on import; a caller that only imported this
    module (e.g. the report) still finds them."""
    import importlib

    importlib.import_module("edge_gmp.data.datasets")


def available_datasets() -> tuple[str, ...]:
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def dataset_spec(name: str) -> DatasetSpec:
    if name not in _REGISTRY:
        _load_builtins()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; available: {', '.join(available_datasets())}")
    return _REGISTRY[name]


def dataset_options(name: str, values: Mapping[str, Any] | Any | None) -> Any:
    """The dataset's options instance from a mapping of ``[data]`` values (or an instance, returned as is)."""
    cls = dataset_spec(name).options
    if isinstance(values, cls):
        return values
    return build_options(cls, dict(values or {}), "data", f"dataset {name!r}")


def seeded_subset(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded random ``limit``-subset of ``range(n)`` (all of them when unset), in order."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed + 7919).choice(n, size=limit, replace=False))


def as_tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
