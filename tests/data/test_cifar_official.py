"""The official cifar-10-python.tar.gz reader on a tiny synthetic archive in the official layout (no network)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from edge_gmp.data import cifar_official, load_cifar10
from edge_gmp.data.cifar_official import BATCH_DIR, DOWNLOAD_NAME, TEST_BATCH, TRAIN_BATCHES
from edge_gmp.errors import DataError

COUNTS = {**dict.fromkeys(TRAIN_BATCHES, 3), TEST_BATCH: 4}


def _batch(x: np.ndarray, y: np.ndarray, protocol: int) -> bytes:
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), 3072)  # the official CHW row layout
    return pickle.dumps({b"batch_label": b"synthetic", b"labels": [int(v) for v in y], b"data": rows,
                         b"filenames": [b"img.png"] * len(x)}, protocol=protocol)


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind == tarfile.REGTYPE:
        info.size = len(data)
    elif kind == tarfile.SYMTYPE:
        info.linkname = "../../etc/passwd"
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def make_official(target: Path, protocol: int = 2, batches: dict[str, bytes] | None = None,
                  extra: tuple[tuple[str, bytes], ...] = ()) -> dict[str, np.ndarray]:
    """A cifar-10-python.tar.gz-shaped archive; the arrays a loader must return."""
    rng = np.random.default_rng(1)
    arrays = {name: (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n))
              for name, n in COUNTS.items()}
    payloads = {name: _batch(x, y, protocol) for name, (x, y) in arrays.items()} | (batches or {})
    with tarfile.open(target, "w:gz") as tar:
        _add(tar, BATCH_DIR, kind=tarfile.DIRTYPE)
        _add(tar, f"{BATCH_DIR}/batches.meta", pickle.dumps({b"label_names": [b"airplane"]}, protocol=2))
        _add(tar, f"{BATCH_DIR}/readme.html", b"<html></html>")
        for name, payload in payloads.items():
            _add(tar, f"{BATCH_DIR}/{name}", payload)
        for name, kind in extra:
            _add(tar, name, kind=kind)
    return {"x_train": np.concatenate([arrays[n][0] for n in TRAIN_BATCHES]),
            "y_train": np.concatenate([arrays[n][1] for n in TRAIN_BATCHES]),
            "x_test": arrays[TEST_BATCH][0], "y_test": arrays[TEST_BATCH][1]}


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _accept(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make ``path`` pass as the official archive."""
    monkeypatch.setattr(cifar_official, "OFFICIAL_MD5", _md5(path))


def _check(data, expected: dict[str, np.ndarray]) -> None:
    assert data.source == "official" and data.x_train.shape == (15, 32, 32, 3) and data.x_test.shape == (4, 32, 32, 3)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
    for name, array in expected.items():
        np.testing.assert_array_equal(getattr(data, name), array)


def _nothing_in(directory: Path) -> bool:
    return not any(p.is_file() for p in directory.rglob("*"))


@pytest.mark.parametrize("protocol", [2, 4])
def test_reads_official_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, protocol: int) -> None:
    archive = tmp_path / "in" / DOWNLOAD_NAME
    archive.parent.mkdir()
    expected = make_official(archive, protocol)
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match=f"has MD5 {_md5(archive)}, expected c58f30108f718f92721af3b95e74349a"):
        load_cifar10("official", archive, cache_dir=cache_dir)  # the real constant refuses a synthetic file
    assert _nothing_in(cache_dir)
    _accept(monkeypatch, archive)
    data = load_cifar10("official", archive, cache_dir=cache_dir)
    _check(data, expected)
    assert data.source_sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(cifar_official, "read_official", _not_called)  # cached now: not read again
    _check(load_cifar10("official", archive.parent, cache_dir=cache_dir), expected)  # folder holding it


def _not_called(*args) -> None:
    raise AssertionError("the cache was not used")


def test_known_checksum_is_pinned() -> None:
    assert cifar_official.OFFICIAL_MD5 == "c58f30108f718f92721af3b95e74349a"
    assert cifar_official.URL == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def _copying_fetch(source: Path, calls: list[str], fail: bool = False):
    def fetch(url: str, target: Path) -> None:
        calls.append(url)
        shutil.copyfile(source, target)
        if fail:
            raise ConnectionResetError("connection reset mid-download")

    return fetch


def test_download_is_verified_and_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "served.tar.gz"
    expected = make_official(served)
    calls: list[str] = []
    monkeypatch.setattr(cifar_official, "fetch", _copying_fetch(served, calls))
    cache_dir = tmp_path / "cache"
    downloads = cache_dir / "downloads"
    with pytest.raises(DataError, match="downloaded https://www.cs.toronto.edu/.* has MD5 .* expected c58f3"):
        load_cifar10("official", download=True, cache_dir=cache_dir)
    assert _nothing_in(downloads) and calls == [cifar_official.URL]  # the bad download was discarded

    _accept(monkeypatch, served)
    _check(load_cifar10("official", download=True, cache_dir=cache_dir), expected)
    assert [p.name for p in downloads.iterdir()] == [DOWNLOAD_NAME]  # in place, no temporary file left
    assert oct((downloads / DOWNLOAD_NAME).stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    _check(load_cifar10("official", cache_dir=cache_dir), expected)  # the verified download is found again
    _check(load_cifar10("official", download=True, cache_dir=cache_dir), expected)
    assert len(calls) == 2  # an already verified download is not fetched again


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_download_failures_leave_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "served.tar.gz"
    make_official(served)
    _accept(monkeypatch, served)
    calls: list[str] = []
    monkeypatch.setattr(cifar_official, "fetch", _copying_fetch(served, calls, fail=True))
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match="cannot download .*connection reset"):
        load_cifar10("official", download=True, cache_dir=cache_dir)
    assert _nothing_in(cache_dir)

    stale = cache_dir / "downloads" / DOWNLOAD_NAME  # a damaged earlier download is replaced
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(served.read_bytes()[:1000])
    monkeypatch.setattr(cifar_official, "fetch", _copying_fetch(served, calls))
    load_cifar10("official", download=True, cache_dir=cache_dir)
    assert stale.read_bytes() == served.read_bytes()


def test_needs_a_path_or_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs --data-path .* or --download"):
        load_cifar10("official", cache_dir=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_cifar10("official", tmp_path / "nowhere.tar.gz", cache_dir=tmp_path)
    with pytest.raises(DataError, match=f"{DOWNLOAD_NAME} does not exist"):
        load_cifar10("official", tmp_path, cache_dir=tmp_path)  # a folder without the archive


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _bad_data_batch() -> bytes:
    return pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2)


BAD_ARCHIVES = {  # name -> (keyword arguments of make_official, message)
    "code-in-pickle": ({"batches": {"data_batch_2": pickle.dumps({b"x": _Exploit()}, protocol=2)}},
                       r"refusing to unpickle (posix|nt)\.system"),
    "garbled-pickle": ({"batches": {TEST_BATCH: b"\x80\x02}q\x00(garbage"}}, "test_batch is not a readable"),
    "wrong-shape": ({"batches": {"data_batch_5": _bad_data_batch()}}, "data_batch_5 is not a CIFAR-10 batch"),
    "bad-labels": ({"batches": {TEST_BATCH: pickle.dumps({b"data": np.zeros((1, 3072), np.uint8),
                                                          b"labels": [10]}, protocol=2)}}, "labels"),
    "symlink": ({"extra": ((f"{BATCH_DIR}/data_batch_6", tarfile.SYMTYPE),)}, "unsafe member .* link"),
    "dotdot": ({"extra": ((f"{BATCH_DIR}/../../x", tarfile.REGTYPE),)}, r"unsafe member .*'\.\.'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_bad_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    kwargs, message = BAD_ARCHIVES[case]
    archive = tmp_path / DOWNLOAD_NAME
    make_official(archive, **kwargs)
    _accept(monkeypatch, archive)
    with pytest.raises(DataError, match=message):
        load_cifar10("official", archive, cache_dir=tmp_path / "cache")
    assert _nothing_in(tmp_path / "cache")


def test_missing_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / DOWNLOAD_NAME
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, f"{BATCH_DIR}/data_batch_1", b"")
    _accept(monkeypatch, archive)
    with pytest.raises(DataError, match="lacks cifar-10-batches-py/data_batch_2, .*test_batch"):
        load_cifar10("official", archive, cache_dir=tmp_path / "cache")


def test_truncated_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / DOWNLOAD_NAME
    make_official(archive)
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(DataError, match="MD5"):  # the real constant catches it first
        load_cifar10("official", archive, cache_dir=tmp_path / "cache")
    _accept(monkeypatch, archive)
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_cifar10("official", archive, cache_dir=tmp_path / "cache")
    assert _nothing_in(tmp_path / "cache")
