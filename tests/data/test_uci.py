"""The official UCI HAR reader on tiny synthetic data in the official layout (no network)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edge_gmp.data import CHANNELS, load_har2, uci
from edge_gmp.errors import DataError

SPLITS = {  # split -> (activity codes, subjects) per window
    "train": ([1, 4, 6, 2], [1, 1, 3, 3]),
    "test": ([5, 3], [2, 9]),
}


def _signal(split: str, window: int, channel: int) -> np.ndarray:
    offset = 100.0 if split == "test" else 0.0
    return offset + 10.0 * channel + window + np.arange(128) / 1000.0


def write_uci_tree(root: Path) -> Path:
    dataset = root / "UCI HAR Dataset"
    for split, (activities, subjects) in SPLITS.items():
        signals = dataset / split / "Inertial Signals"
        signals.mkdir(parents=True)
        for c, channel in enumerate(CHANNELS):
            rows = [_signal(split, w, c) for w in range(len(activities))]
            lines = ["  " + " ".join(f"{v: .7e}" for v in row) for row in rows]
            (signals / f"{channel}_{split}.txt").write_text("\n".join(lines) + "\n")
        (dataset / split / f"y_{split}.txt").write_text("".join(f"{a}\n" for a in activities))
        (dataset / split / f"subject_{split}.txt").write_text("".join(f"{s}\n" for s in subjects))
    return dataset


def zip_tree(root: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(root.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(root.parent).as_posix())
    return target


def _check(data) -> None:
    assert data.source == "uci" and len(data.source_sha256) == 64
    assert data.x_train.shape == (4, 128, 9) and data.x_test.shape == (2, 128, 9)
    assert data.x_train.dtype == np.float32
    for c in range(9):  # channel order as in CHANNELS
        np.testing.assert_allclose(data.x_train[2, :, c], _signal("train", 2, c), rtol=1e-6)
        np.testing.assert_allclose(data.x_test[1, :, c], _signal("test", 1, c), rtol=1e-6)
    np.testing.assert_array_equal(data.activity_train, [1, 4, 6, 2])
    np.testing.assert_array_equal(data.y_train, [0, 1, 1, 1])
    np.testing.assert_array_equal(data.y_test, [0, 0])
    np.testing.assert_array_equal(data.subject_test, [2, 9])


def test_reads_directory(tmp_path: Path) -> None:
    dataset = write_uci_tree(tmp_path / "src")
    _check(load_har2(source="uci", path=dataset, cache_dir=tmp_path / "cache"))
    _check(load_har2(source="uci", path=dataset.parent, cache_dir=tmp_path / "cache"))  # parent folder too
    assert len(list((tmp_path / "cache").glob("har2-uci-*.npz"))) == 1


@pytest.mark.parametrize("nested", [False, True])
def test_reads_verified_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nested: bool) -> None:
    inner = zip_tree(write_uci_tree(tmp_path / "src"), tmp_path / "UCI HAR Dataset.zip")
    archive = inner
    if nested:  # today's UCI download: a zip holding "UCI HAR Dataset.zip"
        archive = tmp_path / uci.DOWNLOAD_NAME
        with zipfile.ZipFile(archive, "w") as outer:
            outer.write(inner, "UCI HAR Dataset.zip")
            outer.writestr("UCI HAR Dataset.names", "notes")
    digest = uci.sha256_file(archive)
    with pytest.raises(DataError, match="not the official UCI HAR archive"):
        load_har2(source="uci", path=archive, cache_dir=tmp_path / "cache")
    monkeypatch.setattr(uci, "OUTER_SHA256" if nested else "INNER_SHA256", digest)
    data = load_har2(source="uci", path=archive, cache_dir=tmp_path / "cache")
    _check(data)
    assert data.source_sha256 == digest


def test_truncated_signal_file(tmp_path: Path) -> None:
    dataset = write_uci_tree(tmp_path / "src")
    file = dataset / "test" / "Inertial Signals" / "body_gyro_y_test.txt"
    file.write_text(file.read_text()[:-500])
    with pytest.raises(DataError, match="body_gyro_y_test.txt"):
        load_har2(source="uci", path=dataset, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("relative", ["train/Inertial Signals/total_acc_z_train.txt", "test/y_test.txt"])
def test_missing_file(tmp_path: Path, relative: str) -> None:
    dataset = write_uci_tree(tmp_path / "src")
    (dataset / relative).unlink()
    with pytest.raises(DataError, match="missing"):
        load_har2(source="uci", path=dataset, cache_dir=tmp_path / "cache")


def test_bad_values(tmp_path: Path) -> None:
    dataset = write_uci_tree(tmp_path / "src")
    (dataset / "train" / "y_train.txt").write_text("1\n7\n1\n1\n")
    with pytest.raises(DataError, match="activity codes"):
        load_har2(source="uci", path=dataset, cache_dir=tmp_path / "cache")
    (dataset / "train" / "y_train.txt").write_text("1\nx\n1\n1\n")
    with pytest.raises(DataError, match="corrupt"):
        load_har2(source="uci", path=dataset, cache_dir=tmp_path / "cache")


def test_no_source_given(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--source uci needs --data-path .* or --download"):
        load_har2(source="uci", cache_dir=tmp_path)
    with pytest.raises(DataError, match="no UCI HAR data"):
        load_har2(source="uci", path=tmp_path / "empty", cache_dir=tmp_path)
    with pytest.raises(DataError, match="unknown HAR-2 source"):
        load_har2(source="mnist", cache_dir=tmp_path)


class _FakeResponse(io.BytesIO):
    def __enter__(self) -> _FakeResponse:
        return self


def test_download_checks_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inner = zip_tree(write_uci_tree(tmp_path / "src"), tmp_path / "UCI HAR Dataset.zip")
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as outer:
        outer.write(inner, "UCI HAR Dataset.zip")
    body = payload.getvalue()
    monkeypatch.setattr(uci.urllib.request, "urlopen", lambda url, timeout: _FakeResponse(body))
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match="SHA-256"):  # the real constant: this fake archive must be refused
        load_har2(source="uci", download=True, cache_dir=cache_dir)
    assert not any((cache_dir / "downloads").iterdir())  # nothing half-written or unverified is kept
    monkeypatch.setattr(uci, "OUTER_SHA256", hashlib.sha256(body).hexdigest())
    _check(load_har2(source="uci", download=True, cache_dir=cache_dir))
    assert (cache_dir / "downloads" / uci.DOWNLOAD_NAME).is_file()
    _check(load_har2(source="uci", cache_dir=cache_dir))  # the verified download is found again


def test_known_hashes_are_pinned() -> None:
    assert uci.OUTER_SHA256 == "c00b803081a5c797cd5e4b83700a9810b38d53d9d84e01917e090e1fdbc81031"
    assert uci.INNER_SHA256 == "2045e435c955214b38145fb5fa00776c72814f01b203fec405152dac7d5bfeb0"
