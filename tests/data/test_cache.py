"""Processed arrays are cached by source hash and CODE_VERSION; a corrupt cache is rebuilt."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edge_gmp.data import HarData, cache, hapt, load_har2


def _cache_file(directory: Path, data: HarData) -> Path:
    return cache.cache_path(directory, "hapt", data.source_sha256)


def test_second_load_uses_cache(har: HarData, har_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = _cache_file(har_cache_dir, har)
    assert cached.is_file() and f"v{cache.CODE_VERSION}" in cached.name
    mtime = cached.stat().st_mtime_ns

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(hapt, "build_hapt", no_rebuild)
    again = load_har2(cache_dir=har_cache_dir)
    assert cached.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.x_test, har.x_test)
    np.testing.assert_array_equal(again.subject_train, har.subject_train)
    assert (again.source, again.source_sha256) == (har.source, har.source_sha256)


def _counting_builder(har: HarData, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def build(path, digest):
        calls.append(1)
        return har

    monkeypatch.setattr(hapt, "build_hapt", build)
    return calls


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other-source"])
def test_corrupt_cache_is_rebuilt(har: HarData, har_cache_dir: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    good = _cache_file(har_cache_dir, har).read_bytes()
    target = _cache_file(tmp_path, har)
    if damage == "garbage":
        target.write_bytes(b"not an npz")
    elif damage == "truncated":
        target.write_bytes(good[: len(good) // 2])
    else:  # a valid npz that claims another source hash
        cache.save(target, dataclasses.replace(har, source_sha256="0" * 64))
    calls = _counting_builder(har, monkeypatch)
    with pytest.warns(UserWarning) if damage != "other-source" else contextlib.nullcontext():
        data = load_har2(cache_dir=tmp_path)
    assert calls == [1] and data is har
    assert cache.load(target, "hapt", har.source_sha256) is not None  # rewritten, valid
    load_har2(cache_dir=tmp_path)
    assert calls == [1]


def test_cache_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    assert cache.resolve_cache_dir() == Path.home() / ".cache" / "edge_gmp"
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "env"))
    assert cache.resolve_cache_dir() == tmp_path / "env"
    assert cache.resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_env_cache_dir_is_used(har: HarData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path))
    calls = _counting_builder(har, monkeypatch)
    load_har2()
    assert calls == [1] and _cache_file(tmp_path, har).is_file()
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
