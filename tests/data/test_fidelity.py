"""The rebuild-fidelity measurement: recovers known scales, shifts and matches on synthetic windows, and finds
every real walking window among the rebuilt ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_gmp.data import CHANNELS, HarData
from edge_gmp.data.fidelity import (
    BANDS_HZ,
    band_powers,
    best_lag,
    compare_channels,
    load_real_windows,
    match_windows,
    round_significant,
    summary_error,
)

REAL_WINDOWS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "uci-har" / \
    "uci_har_real_train_windows.npz"


def _noise_windows(n: int, seed: int = 0, length: int = 128, channels: int = 9) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, length, channels))


def test_known_scale_is_recovered() -> None:
    real = _noise_windows(50)
    rebuilt = real / 1.25
    result = compare_channels(real, rebuilt)
    assert [c.channel for c in result] == list(CHANNELS)
    for channel in result:
        assert channel.rms_ratio == pytest.approx(1.25)
        assert channel.relative_rms_error == pytest.approx(0.2)  # real - real / 1.25 = 0.2 real
        np.testing.assert_allclose(channel.band_bias_db, 20 * np.log10(1.25), rtol=1e-6)
        np.testing.assert_allclose(channel.band_abs_db, 20 * np.log10(1.25), rtol=1e-6)
    assert summary_error(result) == pytest.approx(0.2)
    identical = compare_channels(real, real)
    assert summary_error(identical) == 0.0 and all(c.rms_ratio == 1.0 for c in identical)


@pytest.mark.parametrize("shift", [-3, 0, 2])
def test_known_shift_is_recovered(shift: int) -> None:
    series = _noise_windows(20, seed=1, length=200, channels=3)
    real = series[:, 20:148]
    rebuilt = series[:, 20 + shift:148 + shift]  # rebuilt[t] = real[t + shift]
    assert best_lag(real, rebuilt, max_lag=5) == -shift


def test_matching_finds_each_window_within_its_activity() -> None:
    real = _noise_windows(30, seed=2)
    activity = np.repeat([1, 4, 6], 10)
    order = np.random.default_rng(3).permutation(30)
    rebuilt = real[order] + 0.01 * _noise_windows(30, seed=4)
    decoy = real[:5].copy()  # identical windows, but of another activity: never a match
    candidates = np.concatenate([rebuilt, decoy])
    candidate_activity = np.r_[activity[order], np.full(5, 2)]
    match = match_windows(real, activity, candidates, candidate_activity)
    np.testing.assert_array_equal(order[match.index], np.arange(30))
    np.testing.assert_allclose(match.distance, 0.01, rtol=0.2)  # RMS over the total_acc channels
    assert match.clear().all() and (match.runner_up > 50 * match.distance).all()
    single = match_windows(real[:1], activity[:1], rebuilt[:1], activity[order][:1])
    assert single.runner_up[0] == np.inf


def test_band_powers_place_tones_in_their_bands() -> None:
    t = np.arange(128) / 50.0
    tones = np.stack([np.sin(2 * np.pi * f * t) for f in (0.8, 3.0, 12.0, 23.0)], axis=-1)[None]
    power = band_powers(tones)
    assert power.shape == (1, len(BANDS_HZ), 4)
    np.testing.assert_array_equal(power[0].argmax(axis=0), np.arange(4))
    assert power[0, 1, 1] == pytest.approx(0.5, rel=0.05)  # a unit sine carries variance 1/2


def test_round_significant() -> None:
    np.testing.assert_array_equal(round_significant(np.array([1.01649, -0.0036554, 0.0, 1234.5])),
                                  [1.016, -0.003655, 0.0, 1234.0])


def test_load_real_windows_checks_the_channel_order(tmp_path: Path) -> None:
    path = tmp_path / "real.npz"
    np.savez(path, X=np.zeros((2, 128, 9), np.float32), y=np.array([0, 5], np.int8),
             channels=np.array(CHANNELS[::-1]))
    with pytest.raises(ValueError, match="channel order"):
        load_real_windows(path)


def test_rebuild_reproduces_real_walking_windows(har: HarData) -> None:
    """Every real walking window of the shared yardstick is one of the rebuilt windows, up to its rounding."""
    if not REAL_WINDOWS.is_file():
        pytest.skip(f"real UCI HAR windows not found at {REAL_WINDOWS}")
    real, activity = load_real_windows(REAL_WINDOWS)
    walking = activity <= 3
    real, activity = real[walking], activity[walking]
    match = match_windows(real, activity, har.x_train, har.activity_train)
    assert (match.distance < 1e-3).all() and match.clear().all()
    result = compare_channels(real, round_significant(har.x_train[match.index]))
    assert summary_error(result) < 1e-3
    assert all(c.rms_ratio == pytest.approx(1.0, abs=1e-3) for c in result)
