"""HAR-2: UCI HAR windows (128 steps x 9 channels) in two classes, rebuilt offline from the raw HAPT recordings
("hapt", default) or read from the official archive ("uci"); validation holds out whole training subjects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_gmp.data.augment import SeriesAugment
from edge_gmp.data.dataset import load_har2, split_by_subject
from edge_gmp.data.layout import ACTIVITIES, CHANNELS, POSITIVE_ACTIVITIES, WINDOW
from edge_gmp.data.normalize import Normalizer, fit_normalizer
from edge_gmp.data.registry import (
    DatasetSpec,
    LabelledSet,
    PreparedData,
    as_tensors,
    register_dataset,
    seeded_subset,
)
from edge_gmp.errors import DataError
from edge_gmp.fields import check_field_types

SENSOR_TRIPLETS = tuple(tuple(CHANNELS.index(f"{sensor}_{axis}") for axis in "xyz")
                        for sensor in ("body_acc", "body_gyro", "total_acc"))
CLASSES = (
    "/".join(ACTIVITIES[a].lower() for a in sorted(set(ACTIVITIES) - POSITIVE_ACTIVITIES)),
    "/".join(ACTIVITIES[a].lower() for a in sorted(POSITIVE_ACTIVITIES)),
)


@dataclass(frozen=True)
class Har2Options:
    """``val_subjects``: training subjects held out (whole) for model selection. ``augment_*``: training-batch
    augmentation (see :class:`edge_gmp.data.augment.SeriesAugment`; noise and scale in normalised units, shift
    in samples, warp a relative speed change, rotate a maximum angle in degrees); all 0 (the default) trains on the
    windows as they are."""

    val_subjects: int = 4
    augment_noise: float = 0.0
    augment_scale: float = 0.0
    augment_shift: int = 0
    augment_shift_mode: str = "edge"
    augment_warp: float = 0.0
    augment_rotate: float = 0.0

    def __post_init__(self) -> None:
        check_field_types(self, "data")  # types first (ints stay ints, numbers become floats), then ranges
        if not 1 <= self.val_subjects <= 10:
            raise ValueError(f"val_subjects must be in [1, 10], got {self.val_subjects}")
        try:
            self.augmentation()
        except DataError as exc:
            raise ValueError(str(exc)) from exc

    def augmentation(self, normalizer: Normalizer | None = None) -> SeriesAugment:
        """The training augmentation; rotation works in sensor units, so it needs the ``normalizer``."""
        statistics = {} if normalizer is None else {"mean": tuple(normalizer.mean), "std": tuple(normalizer.std)}
        return SeriesAugment(noise=self.augment_noise, scale=self.augment_scale,
                             shift=self.augment_shift, shift_mode=self.augment_shift_mode,
                             warp=self.augment_warp, rotate=self.augment_rotate,
                             triplets=SENSOR_TRIPLETS, **statistics)


def prepare(cfg: Any, seed: int) -> PreparedData:
    har = load_har2(source=cfg.source, path=cfg.path, download=cfg.download)
    train, val = split_by_subject(har, val_subjects=cfg.options.val_subjects, seed=seed)
    train = train.select(seeded_subset(len(train), cfg.train_limit, seed))
    test = seeded_subset(len(har.y_test), cfg.test_limit, seed + 1)
    norm = fit_normalizer(train.x)
    augmentation = cfg.options.augmentation(norm)
    return PreparedData("har2", har.source, *as_tensors(norm.apply(train.x), train.y),
                        *as_tensors(norm.apply(val.x), val.y),
                        *as_tensors(norm.apply(har.x_test[test]), har.y_test[test]), norm.to_dict(), CLASSES,
                        augment=augmentation if augmentation.enabled else None)


def test_set(source: str, path: str | None, download: bool) -> LabelledSet:
    har = load_har2(source=source, path=path, download=download)
    return LabelledSet(np.asarray(har.x_test, dtype=np.float32), np.asarray(har.y_test, dtype=np.int64),
                       har.source, lambda: fit_normalizer(har.x_train).to_dict())


def to_inputs(x: np.ndarray, statistics: Mapping[str, Any] | None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x if statistics is None else np.asarray(Normalizer.from_dict(dict(statistics)).apply(x), np.float32)


def describe(metrics: Mapping[str, Any]) -> str:
    n = metrics["samples"]
    return (f"HAR-2 (binary UCI HAR), source `{metrics['data_source']}`, {WINDOW} steps × 9 channels; "
            f"{n['train']:,} train / {n['val']:,} validation / {n['test']:,} test windows; classes: "
            + ", ".join(f"{i} = {c}" for i, c in enumerate(metrics["classes"]))
            + ". Validation subjects are held out of training; the test set is the official test subjects. "
            "Inputs are normalised per channel with the training statistics in `metrics.json` "
            "(`normalization`) and in the device manifest.")


register_dataset(DatasetSpec(
    name="har2", display="HAR-2", sources=("hapt", "uci"), downloadable="uci", options=Har2Options,
    prepare=prepare, test_set=test_set, to_inputs=to_inputs, describe=describe,
    usage="normalise each sample with `normalization` ((x - mean) / std per channel, sensor units: total and "
          "body acceleration in g, angular velocity in rad/s)",
    path_hint="the 'UCI HAR Dataset' folder or its zip (source uci), or the HAPT pickle (source hapt)",
    source_for_path=lambda path: "hapt" if str(path).endswith(".pkl.gz") else "uci"))
