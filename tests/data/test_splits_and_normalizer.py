"""Validation held out by subject, train-only normalisation, and the counts CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_gmp.data import HarData, Normalizer, as_split, fit_normalizer, split_by_subject
from edge_gmp.data.har import main
from edge_gmp.errors import DataError


def test_validation_is_held_out_by_subject(har: HarData) -> None:
    train, val = split_by_subject(har, val_subjects=4, seed=0)
    assert len(val.subjects) == 4 and not set(train.subjects) & set(val.subjects)
    assert set(train.subjects) | set(val.subjects) == set(har.subject_train.tolist())
    assert len(train) + len(val) == len(har.y_train)  # the test set is never touched
    assert not set(val.subjects) & set(har.subject_test.tolist())
    assert train.x.shape[1:] == (128, 9) and val.y.dtype == np.int64
    np.testing.assert_array_equal(val.y, np.isin(val.activity, [2, 4, 6]))


def test_split_is_deterministic(har: HarData) -> None:
    first = split_by_subject(har, val_subjects=4, seed=7)[1].subjects
    assert split_by_subject(har, val_subjects=4, seed=7)[1].subjects == first
    others = {tuple(split_by_subject(har, val_subjects=4, seed=s)[1].subjects) for s in range(5)}
    assert len(others) > 1


def test_split_options(har: HarData) -> None:
    train, val = split_by_subject(har, val_subjects=[1, 3], seed=0)
    assert val.subjects == [1, 3] and 1 not in train.subjects
    assert len(split_by_subject(har, val_fraction=0.2)[1].subjects) == 4  # 20 % of 21 subjects
    assert split_by_subject(as_split(har), val_subjects=2)[1].subjects  # a Split works as input too
    with pytest.raises(DataError, match="not among the training subjects"):
        split_by_subject(har, val_subjects=[2])  # a test subject
    with pytest.raises(DataError):
        split_by_subject(har, val_subjects=21)
    with pytest.raises(DataError):
        split_by_subject(har, val_subjects=2, val_fraction=0.1)


def test_normalizer_uses_training_windows_only(har: HarData) -> None:
    train, _ = split_by_subject(har, val_subjects=4, seed=0)
    normalizer = fit_normalizer(train.x)
    assert normalizer.mean.shape == normalizer.std.shape == (9,) and normalizer.mean.dtype == np.float32
    flat = train.x.reshape(-1, 9).astype(np.float64)
    np.testing.assert_allclose(normalizer.mean, flat.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(normalizer.std, flat.std(0), rtol=1e-5)
    scaled = normalizer.apply(train.x).reshape(-1, 9)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(scaled.std(0), 1, atol=1e-3)
    everything = fit_normalizer(np.concatenate([har.x_train, har.x_test]))
    assert not np.allclose(everything.mean, normalizer.mean, rtol=0, atol=1e-6)


def test_normalizer_json_round_trip() -> None:
    normalizer = fit_normalizer(np.random.default_rng(0).normal(3.0, 2.0, size=(50, 128, 9)))
    restored = Normalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
    np.testing.assert_array_equal(restored.mean, normalizer.mean)
    np.testing.assert_array_equal(restored.std, normalizer.std)
    with pytest.raises(DataError):
        Normalizer.from_dict({"mean": [0.0] * 9})
    with pytest.raises(DataError):
        Normalizer.from_dict({"mean": [0.0] * 9, "std": [0.0] * 9})
    constant = fit_normalizer(np.ones((4, 128, 9)))  # a flat channel does not divide by zero
    assert np.isfinite(constant.apply(np.ones((1, 128, 9)))).all()


def test_cli_table(har: HarData, har_cache_dir: Path, official_npz: Path,
                   capsys: pytest.CaptureFixture) -> None:
    assert main(["--cache-dir", str(har_cache_dir), "--compare-official", str(official_npz)]) == 0
    out = capsys.readouterr().out
    assert "WALKING_UPSTAIRS" in out and "official" in out and "HAR-2 class 1" in out
    walking = next(line for line in out.splitlines() if line.startswith("test   WALKING "))
    assert walking.split()[3:6] == ["496", "496", "+0"]


def test_cli_data_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--source", "uci", "--path", str(tmp_path / "missing"), "--cache-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "no UCI HAR data" in captured.err and "Traceback" not in captured.err and captured.out == ""
