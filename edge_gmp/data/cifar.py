"""Public CIFAR-10 API: ``load_cifar10`` from an image folder or the official archive, with the decoded arrays
cached as ``.npz`` keyed by the source's checksum and ``CODE_VERSION``."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_gmp.atomic import atomic_path
from edge_gmp.data import cifar_folder, cifar_official
from edge_gmp.data.cache import resolve_cache_dir
from edge_gmp.data.cifar_folder import CIFAR10_CLASSES, SIZE
from edge_gmp.errors import DataError

SOURCES = ("folder", "official")
CODE_VERSION = 1  # bump whenever the arrays a source yields change (decoding, order, layout)
_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True, eq=False)
class ImageData:
    """CIFAR-10 images: ``x_*`` uint8 (N, 32, 32, 3) NHWC RGB, ``y_*`` int64 labels indexing ``classes``;
    ``source`` is "folder" or "official" and ``source_sha256`` hashes that input (archive or files)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str
    source_sha256: str

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if (x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (SIZE, SIZE, 3) or y.dtype != np.int64
                    or y.shape != (len(x),) or (len(y) and not 0 <= y.min() <= y.max() < len(self.classes))):
                raise DataError(f"inconsistent CIFAR-10 {split} arrays: x {x.dtype} {x.shape}, y {y.dtype} {y.shape}")


def cache_path(cache_dir: Path, source: str, source_sha256: str) -> Path:
    return cache_dir / f"cifar10-{source}-{source_sha256[:16]}-v{CODE_VERSION}.npz"


def _save(path: Path, data: ImageData) -> None:
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as file:
        np.savez(file, **{name: getattr(data, name) for name in _ARRAYS}, classes=np.array(data.classes),
                 source=np.str_(data.source), source_sha256=np.str_(data.source_sha256),
                 code_version=np.int64(CODE_VERSION))


def _load(path: Path, source: str, source_sha256: str) -> ImageData | None:
    """The cached arrays, or None when the file is missing, stale or unreadable (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        # our own handle: np.load leaks the one it opens when the zip turns out to be damaged
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as npz:
            if (str(npz["source"]) != source or str(npz["source_sha256"]) != source_sha256
                    or int(npz["code_version"]) != CODE_VERSION
                    or tuple(str(c) for c in npz["classes"]) != CIFAR10_CLASSES):
                return None
            return ImageData(**{name: npz[name] for name in _ARRAYS}, classes=CIFAR10_CLASSES, source=source,
                             source_sha256=source_sha256)
    except Exception:  # a damaged zip/npy raises many types; it is rebuilt, never trusted
        return None


def load_cifar10(source: str = "folder", path: str | os.PathLike | None = None, download: bool = False,
                 cache_dir: str | os.PathLike | None = None) -> ImageData:
    """CIFAR-10 from ``source``: "folder" (``path``: a ``{train,test}/<class>/*.png|jpg`` directory or its
    .tar/.tar.gz) or "official" (``path``: ``cifar-10-python.tar.gz``, or fetched with ``download=True``; MD5
    checked). Folder images are in class then file-name order, official ones in batch order. Decoded arrays
    are cached under ``cache_dir`` (default ``$EDGE_GMP_CACHE`` or ``~/.cache/edge_gmp``)."""
    directory = resolve_cache_dir(cache_dir)
    if source == "folder":
        if download:
            raise DataError("--download applies to --source official; give an image folder as --data-path")
        if path is None:
            raise DataError("--source folder needs --data-path (a CIFAR-10 image folder or its .tar/.tar.gz)")
        digest, build = cifar_folder.folder_source(path)
    elif source == "official":
        located = cifar_official.locate_official(path, download, directory)
        digest = cifar_official.verify_md5(located)
        build = functools.partial(cifar_official.read_official, located)
    else:
        raise DataError(f"unknown CIFAR-10 source {source!r}; use one of {', '.join(SOURCES)}")

    cached_file = cache_path(directory, source, digest)
    data = _load(cached_file, source, digest)
    if data is None:
        data = ImageData(*build(), classes=CIFAR10_CLASSES, source=source, source_sha256=digest)
        try:
            _save(cached_file, data)
        except OSError:  # a read-only cache only costs time
            pass
    return data
