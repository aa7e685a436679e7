"""Processed HAR-2 arrays cached as ``.npz``, keyed by the source's SHA-256 and ``CODE_VERSION``."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np

from edge_gmp.atomic import atomic_path
from edge_gmp.data.layout import CHANNELS, WINDOW, HarData

CODE_VERSION = 2  # bump whenever the windows a source yields change (filters, window rules, channel order)
CACHE_ENV = "EDGE_GMP_CACHE"
_ARRAYS = tuple(f.name for f in dataclasses.fields(HarData) if f.name not in ("source", "source_sha256"))


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$EDGE_GMP_CACHE``, else ``~/.cache/edge_gmp``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "edge_gmp"


def cache_path(cache_dir: Path, source: str, source_sha256: str) -> Path:
    return cache_dir / f"har2-{source}-{source_sha256[:16]}-v{CODE_VERSION}.npz"


def save(path: Path, data: HarData) -> None:
    arrays = {name: getattr(data, name) for name in _ARRAYS}
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as file:
        np.savez(file, **arrays, source=np.str_(data.source), source_sha256=np.str_(data.source_sha256),
                 code_version=np.int64(CODE_VERSION))


def _valid(data: HarData) -> bool:
    for split in ("train", "test"):
        x = getattr(data, f"x_{split}")
        n = len(x)
        if x.dtype != np.float32 or x.shape[1:] != (WINDOW, len(CHANNELS)):
            return False
        for name in ("y", "activity", "subject"):
            column = getattr(data, f"{name}_{split}")
            if column.dtype != np.int64 or column.shape != (n,):
                return False
    return True


def load(path: Path, source: str, source_sha256: str) -> HarData | None:
    """The cached arrays, or None when the file is missing, stale, corrupt or does not match the source."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if (str(npz["source"]) != source or str(npz["source_sha256"]) != source_sha256
                    or int(npz["code_version"]) != CODE_VERSION):
                return None
            arrays = {name: npz[name] for name in _ARRAYS}
            data = HarData(**arrays, source=source, source_sha256=source_sha256)
    except Exception as exc:  # a damaged zip/npy raises many types; it is rebuilt, never trusted
        warnings.warn(f"ignoring unreadable cache {path} ({type(exc).__name__}: {exc}); rebuilding it",
                      stacklevel=2)
        return None
    return data if _valid(data) else None
