"""The official UCI HAR windows (``UCI HAR Dataset/{train,test}/Inertial Signals/*.txt``), read from an
extracted directory, the inner ``UCI HAR Dataset.zip`` or the zip UCI serves today (nesting the inner zip).

Archives are checked against the published SHA-256 of the UCI download (``OUTER_SHA256``) or of the inner zip
(``INNER_SHA256``) before use; a mismatch is a ``DataError``. An extracted directory has no official hash: its
``source_sha256`` is a digest of the files read.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_gmp.atomic import atomic_path
from edge_gmp.data.layout import ALL_SUBJECTS, CHANNELS, WINDOW, HarData
from edge_gmp.errors import DataError

URL = "https://archive.ics.uci.edu/static/public/240/human+activity+recognition+using+smartphones.zip"
OUTER_SHA256 = "c00b803081a5c797cd5e4b83700a9810b38d53d9d84e01917e090e1fdbc81031"  # 61,005,872 bytes
INNER_SHA256 = "2045e435c955214b38145fb5fa00776c72814f01b203fec405152dac7d5bfeb0"  # 60,999,314 bytes
DOWNLOAD_NAME = "human+activity+recognition+using+smartphones.zip"
ROOT = "UCI HAR Dataset"
INNER_ZIP = "UCI HAR Dataset.zip"

ReadFile = Callable[[str], bytes]  # path relative to the dataset root -> bytes


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _relative_paths(split: str) -> list[str]:
    signals = [f"{split}/Inertial Signals/{channel}_{split}.txt" for channel in CHANNELS]
    return [*signals, f"{split}/y_{split}.txt", f"{split}/subject_{split}.txt"]


def _numbers(read: ReadFile, relative: str, dtype: type) -> np.ndarray:
    raw = read(relative)
    try:
        return np.array(raw.split(), dtype=dtype)
    except ValueError as exc:
        raise DataError(f"{ROOT}/{relative} is corrupt: {exc}") from exc


def _read_split(read: ReadFile, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    activity = _numbers(read, f"{split}/y_{split}.txt", np.int64)
    subject = _numbers(read, f"{split}/subject_{split}.txt", np.int64)
    n = len(activity)
    if n == 0 or len(subject) != n:
        raise DataError(f"{ROOT}/{split}: {n} labels but {len(subject)} subject ids")
    if not np.isin(activity, range(1, 7)).all() or not np.isin(subject, sorted(ALL_SUBJECTS)).all():
        raise DataError(f"{ROOT}/{split}: activity codes must be 1-6 and subjects 1-30")
    x = np.empty((n, WINDOW, len(CHANNELS)), dtype=np.float32)
    for c, relative in enumerate(_relative_paths(split)[: len(CHANNELS)]):
        values = _numbers(read, relative, np.float64)
        if values.size != n * WINDOW:
            raise DataError(f"{ROOT}/{relative} holds {values.size} values; expected {n} windows x {WINDOW} "
                            f"(truncated or corrupt file)")
        x[:, :, c] = values.reshape(n, WINDOW)
    if not np.isfinite(x).all():
        raise DataError(f"{ROOT}/{split}: non-finite values in the inertial signals")
    return x, activity, subject


def read_windows(read: ReadFile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, activity, subject) of train then test, in file order."""
    parts = [_read_split(read, split) for split in ("train", "test")]
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))  # type: ignore[return-value]


def _directory_reader(root: Path) -> tuple[ReadFile, Callable[[], str]]:
    digest = hashlib.sha256()

    def read(relative: str) -> bytes:
        file = root / relative
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise DataError(f"missing UCI HAR file {file}: {exc.strerror or exc}") from exc
        digest.update(relative.encode() + b"\0" + data)
        return data

    return read, digest.hexdigest


def _zip_reader(archive: zipfile.ZipFile) -> ReadFile:
    names = set(archive.namelist())

    def read(relative: str) -> bytes:
        name = f"{ROOT}/{relative}"
        if name not in names:
            raise DataError(f"{name} is missing from the archive")
        try:
            return archive.read(name)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise DataError(f"cannot extract {name}: {exc}") from exc

    return read


def _open_dataset_zip(path: Path) -> zipfile.ZipFile:
    """The zip holding ``UCI HAR Dataset/...``, unwrapping the nested inner zip of today's UCI download."""
    try:
        archive = zipfile.ZipFile(path)
        names = set(archive.namelist())
        if f"{ROOT}/train/y_train.txt" in names:
            return archive
        with archive:
            if INNER_ZIP in names:
                return zipfile.ZipFile(io.BytesIO(archive.read(INNER_ZIP)))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable zip archive: {exc}") from exc
    raise DataError(f"{path} contains neither {ROOT}/ nor {INNER_ZIP}")


DOWNLOAD_FIX = "delete it and download it again (--download)"  # for the file in the cache's downloads/
GIVEN_PATH_FIX = f"give --data-path the '{ROOT}' folder, its zip or the official {DOWNLOAD_NAME}"


def verify_archive(path: Path, expected: tuple[str, ...] | None = None, fix: str = DOWNLOAD_FIX) -> str:
    """SHA-256 of ``path``; a ``DataError`` (ending in ``fix``) unless it is in ``expected`` (default: an
    official archive)."""
    expected = expected or (OUTER_SHA256, INNER_SHA256)
    digest = sha256_file(path)
    if digest not in expected:
        raise DataError(f"{path} is not the official UCI HAR archive (its SHA-256 is {digest}); {fix}")
    return digest


def download(target_dir: Path, url: str = URL) -> Path:
    """The UCI download in ``target_dir``, fetched atomically and hash-checked unless already there."""
    target = target_dir / DOWNLOAD_NAME
    if target.is_file():
        try:
            verify_archive(target, (OUTER_SHA256,))
            return target
        except DataError:
            target.unlink()
    digest = hashlib.sha256()
    try:
        with atomic_path(target) as tmp:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                for block in iter(lambda: response.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != OUTER_SHA256:
                raise DataError(f"downloaded {url} has SHA-256 {digest.hexdigest()}, expected "
                                f"{OUTER_SHA256}; the file was discarded")
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"cannot download {url}: {exc}") from exc
    return target


def locate_source(path: str | os.PathLike) -> Path:
    """The dataset directory (holding ``train/`` and ``test/``) or an archive, from a user-given path."""
    candidate = Path(path).expanduser()
    if candidate.is_file():
        return candidate
    for root in (candidate, candidate / ROOT):
        if (root / "train").is_dir() and (root / "test").is_dir():
            return root
    for archive in (candidate / DOWNLOAD_NAME, candidate / INNER_ZIP):
        if archive.is_file():
            return archive
    raise DataError(f"no UCI HAR data at {candidate}: expected '{ROOT}/' with train/ and test/, "
                    f"'{INNER_ZIP}' or the UCI download; or use --download")


def source_digest(source: Path, fix: str = DOWNLOAD_FIX) -> str:
    """Cache key of a located source: the verified archive hash (``fix``: what to do when it is not official),
    or a digest of a directory's files."""
    if source.is_file():
        return verify_archive(source, fix=fix)
    read, hexdigest = _directory_reader(source)
    for split in ("train", "test"):
        for relative in _relative_paths(split):
            read(relative)
    return hexdigest()


def build_uci(source: Path, source_sha256: str) -> HarData:
    """Read the official windows from a located (and, for archives, verified) source."""
    if source.is_file():
        with _open_dataset_zip(source) as archive:
            x, activity, subject = read_windows(_zip_reader(archive))
    else:
        x, activity, subject = read_windows(_directory_reader(source)[0])
    return HarData.from_windows(x, activity, subject, source="uci", source_sha256=source_sha256)
