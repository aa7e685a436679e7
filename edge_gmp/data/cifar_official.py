"""The official ``cifar-10-python.tar.gz``: MD5-checked before use (a local copy too), read in place, and its
pickled batches loaded by an unpickler that can build nothing but numpy arrays."""

from __future__ import annotations

import io
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np

from edge_gmp.atomic import atomic_path
from edge_gmp.data.cifar_archive import file_digests, read_tar
from edge_gmp.data.cifar_folder import CIFAR10_CLASSES, SIZE, Arrays
from edge_gmp.data.safe_pickle import ALLOWED, AllowlistUnpickler
from edge_gmp.errors import DataError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"  # 170,498,071 bytes, as published on the CIFAR page
DOWNLOAD_NAME = "cifar-10-python.tar.gz"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
# numpy array reconstruction, plus the latin-1 `_codecs.encode` that protocol-2 pickles use for bytes
_GLOBALS = {key: ALLOWED[key] for key in (("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
                                          ("numpy._core.multiarray", "_reconstruct"), ("numpy", "dtype"),
                                          ("_codecs", "encode"))}


def verify_md5(path: Path, what: str | None = None) -> str:
    """SHA-256 of ``path`` (the cache key); a ``DataError`` unless its MD5 is ``OFFICIAL_MD5``."""
    md5, sha256 = file_digests(path, "md5", "sha256")
    if md5 != OFFICIAL_MD5:
        raise DataError(f"{what or path} has MD5 {md5}, expected {OFFICIAL_MD5} (the official {DOWNLOAD_NAME}); "
                        f"it is incomplete or another file: delete it and download it again")
    return sha256


def fetch(url: str, target: Path) -> None:
    """Stream ``url`` into ``target``: the only network access of the CIFAR-10 readers."""
    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def download(target_dir: Path, url: str = URL) -> Path:
    """The MD5-verified archive in ``target_dir``: kept if already valid, else fetched and placed atomically."""
    target = target_dir / DOWNLOAD_NAME
    if target.is_file():
        try:
            verify_md5(target)
            return target
        except DataError:
            target.unlink()
    try:
        with atomic_path(target, suffix=".part") as tmp:
            fetch(url, tmp)
            verify_md5(tmp, what=f"downloaded {url}")  # on a mismatch the temporary file is removed
    except OSError as exc:  # urllib.error.URLError is an OSError
        raise DataError(f"cannot download {url}: {exc}; check the network, or download it by hand and give "
                        "it as --data-path") from exc
    return target


def locate_official(path: str | os.PathLike | None, download_missing: bool, cache_dir: Path) -> Path:
    """The archive at ``path`` (or in that folder), else the verified download in ``<cache_dir>/downloads``."""
    if path is not None:
        candidate = Path(path).expanduser()
        if candidate.is_dir():
            candidate = candidate / DOWNLOAD_NAME
        if not candidate.is_file():
            raise DataError(f"{candidate} does not exist: give --data-path the official {DOWNLOAD_NAME} (or the "
                            f"folder holding it), or use --download")
        return candidate
    if download_missing:
        return download(cache_dir / "downloads")
    if (cache_dir / "downloads" / DOWNLOAD_NAME).is_file():
        return cache_dir / "downloads" / DOWNLOAD_NAME
    raise DataError(f"--source official needs --data-path (the {DOWNLOAD_NAME} archive) or --download")


class _BatchUnpickler(AllowlistUnpickler):
    allowed = _GLOBALS
    refusal = "a CIFAR-10 batch holds only numpy arrays, lists and bytes (the file is not an official batch)"


def read_batch(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(x NHWC uint8, y int64) from one pickled batch: b"data" (N, 3072) uint8 in CHW order, b"labels"."""
    try:  # the batches are Python 2 pickles: "bytes" keeps their str keys and pixel buffers as bytes
        batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except DataError:
        raise
    except Exception as exc:  # truncated or garbled streams raise many types
        raise DataError(f"{name} is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})") from exc
    pixels = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        labels = None
    if (not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2
            or pixels.shape[1] != 3 * SIZE * SIZE or labels is None or labels.shape != (len(pixels),)
            or not np.isin(labels, range(len(CIFAR10_CLASSES))).all()):
        raise DataError(f"{name} is not a CIFAR-10 batch: expected a dict with b'data' (N, 3072) uint8 and N "
                        f"b'labels' in 0-9; delete the archive and download it again")
    x = pixels.reshape(-1, 3, SIZE, SIZE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels


def read_official(path: Path) -> Arrays:
    """(x_train, y_train, x_test, y_test) from a verified archive, train batches 1-5 in order."""
    names = {(BATCH_DIR, name) for name in (*TRAIN_BATCHES, TEST_BATCH)}
    files = read_tar(path, lambda parts: parts in names)
    missing = sorted("/".join(parts) for parts in names - files.keys())
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}: it is not a complete {DOWNLOAD_NAME}")
    train = [read_batch(files[(BATCH_DIR, name)], name) for name in TRAIN_BATCHES]
    x_test, y_test = read_batch(files[(BATCH_DIR, TEST_BATCH)], TEST_BATCH)
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test
