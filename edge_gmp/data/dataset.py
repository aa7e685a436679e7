"""Public HAR-2 API: load (cached), split off validation subjects, count windows."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_gmp.data import cache, hapt, uci
from edge_gmp.data.layout import ACTIVITIES, TEST_SUBJECTS, HarData
from edge_gmp.errors import DataError

SOURCES = ("hapt", "uci")


def load_har2(source: str = "hapt", path: str | os.PathLike | None = None, download: bool = False,
              cache_dir: str | os.PathLike | None = None) -> HarData:
    """HAR-2 windows from ``source``: "hapt" (offline, rebuilt from the raw HAPT recordings shipped on PyPI)
    or "uci" (the official windows from ``path``: directory or zip; or fetched with ``download=True``).
    Processed arrays are cached under ``cache_dir`` (default ``$EDGE_GMP_CACHE`` or ``~/.cache/edge_gmp``)."""
    directory = cache.resolve_cache_dir(cache_dir)
    if source == "hapt":
        if download:
            raise DataError("--download applies to --source uci; the 'hapt' data ships with the "
                            f"{hapt.HAPT_DISTRIBUTION} package")
        located = hapt.locate_hapt(path)
        digest = uci.sha256_file(located)
        build = hapt.build_hapt
    elif source == "uci":
        if path is not None:
            located, fix = uci.locate_source(path), uci.GIVEN_PATH_FIX
        elif download:
            located, fix = uci.download(directory / "downloads"), uci.DOWNLOAD_FIX
        elif (directory / "downloads" / uci.DOWNLOAD_NAME).is_file():
            located, fix = directory / "downloads" / uci.DOWNLOAD_NAME, uci.DOWNLOAD_FIX
        else:
            raise DataError("--source uci needs --data-path (the 'UCI HAR Dataset' folder or zip) or --download")
        digest = uci.source_digest(located, fix)
        build = uci.build_uci
    else:
        raise DataError(f"unknown HAR-2 source {source!r}; use one of {', '.join(SOURCES)}")

    cached_file = cache.cache_path(directory, source, digest)
    data = cache.load(cached_file, source, digest)
    if data is None:
        data = build(located, digest)
        try:
            cache.save(cached_file, data)
        except OSError:  # a read-only cache only costs time
            pass
    return data


@dataclass(frozen=True)
class Split:
    """Windows of some subjects: ``x`` (N, 128, 9) float32, ``y`` 0/1, ``activity`` 1-6, ``subject``."""

    x: np.ndarray
    y: np.ndarray
    activity: np.ndarray
    subject: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    @property
    def subjects(self) -> list[int]:
        return sorted(int(s) for s in np.unique(self.subject))

    def select(self, mask: np.ndarray) -> Split:
        return Split(x=self.x[mask], y=self.y[mask], activity=self.activity[mask], subject=self.subject[mask])


def as_split(data: HarData, split: str = "train") -> Split:
    """The "train" or "test" windows of ``data`` as a ``Split``."""
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    return Split(x=getattr(data, f"x_{split}"), y=getattr(data, f"y_{split}"),
                 activity=getattr(data, f"activity_{split}"), subject=getattr(data, f"subject_{split}"))


def split_by_subject(data: HarData | Split, val_subjects: int | Sequence[int] | None = None,
                     val_fraction: float | None = None, seed: int = 0) -> tuple[Split, Split]:
    """(train, validation) from the training windows of ``data``, holding out whole subjects: the ids in
    ``val_subjects`` when it is a sequence, else that many subjects (or ``val_fraction`` of them; default 4)
    drawn with ``seed``. The test set is never used."""
    pool = as_split(data) if isinstance(data, HarData) else data
    subjects = pool.subjects
    if val_subjects is not None and val_fraction is not None:
        raise DataError("give val_subjects or val_fraction, not both")
    if isinstance(val_subjects, Sequence | np.ndarray):
        chosen = sorted({int(s) for s in val_subjects})
        unknown = sorted(set(chosen) - set(subjects))
        if unknown:
            raise DataError(f"validation subjects {unknown} are not among the training subjects {subjects}")
    else:
        if val_fraction is not None:
            if not 0 < val_fraction < 1:
                raise DataError(f"val_fraction must be in (0, 1), got {val_fraction}")
            count = max(1, round(val_fraction * len(subjects)))
        else:
            count = 4 if val_subjects is None else int(val_subjects)
        if not 1 <= count < len(subjects):
            raise DataError(f"cannot hold out {count} of {len(subjects)} training subjects for validation")
        rng = np.random.default_rng(seed)
        chosen = sorted(int(s) for s in rng.choice(subjects, size=count, replace=False))
    if len(chosen) >= len(subjects) or not chosen:
        raise DataError("validation must hold out at least one and not all training subjects")
    in_val = np.isin(pool.subject, chosen)
    return pool.select(~in_val), pool.select(in_val)


def _activity_counts(activity: np.ndarray) -> dict[int, int]:
    counts = np.bincount(np.asarray(activity, dtype=np.int64), minlength=len(ACTIVITIES) + 1)
    return {code: int(counts[code]) for code in ACTIVITIES}


def window_counts(data: HarData) -> dict[str, dict[int, int]]:
    """{"train"|"test": {activity code 1-6: windows}}."""
    return {"train": _activity_counts(data.activity_train), "test": _activity_counts(data.activity_test)}


def official_counts(npz_path: str | os.PathLike) -> dict[str, dict[int, int]]:
    """The same table from an npz of official labels (``y_train``/``y_test`` 0-5 = code - 1; subjects)."""
    try:
        with np.load(Path(npz_path), allow_pickle=False) as npz:
            y_train, y_test = np.asarray(npz["y_train"]), np.asarray(npz["y_test"])
            subject_test = np.asarray(npz["subject_test"])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"cannot read official labels from {npz_path}: {exc}") from exc
    if set(np.unique(subject_test).tolist()) != set(TEST_SUBJECTS):
        raise DataError(f"{npz_path}: its test subjects are not the official ones")
    return {"train": _activity_counts(y_train.astype(np.int64) + 1),
            "test": _activity_counts(y_test.astype(np.int64) + 1)}
