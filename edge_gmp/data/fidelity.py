"""How close rebuilt HAR windows come to real ones: match each real window to a rebuilt one, then compare them.

Matching: for every real window, the nearest rebuilt window of the same activity on the total_acc channels
(they carry gravity, so they tell windows apart even at rest); ``second / best`` distance says how sure the
match is. Comparison of matched pairs, per channel: RMS error relative to the real window's RMS (pooled over
windows), the RMS ratio real / rebuilt (scale) and the mean absolute difference of log band powers (dB) in
the bands of ``BANDS_HZ``. The summary is the mean relative RMS error over channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_gmp.data.layout import CHANNELS, SAMPLE_RATE_HZ

TOTAL_ACC = (6, 7, 8)
BANDS_HZ = ((0.0, 1.0), (1.0, 5.0), (5.0, 20.0), (20.0, 25.01))  # the last one holds the Nyquist bin
POWER_FLOOR = 1e-9  # below the 4-significant-digit rounding of the real windows (unit^2); keeps log finite
CLEAR_MARGIN = 2.0  # a match is clear when the runner-up is at least this many times farther away


@dataclass(frozen=True)
class WindowMatch:
    """For each real window: ``index`` of the nearest candidate, its RMS ``distance`` and the runner-up's."""

    index: np.ndarray
    distance: np.ndarray
    runner_up: np.ndarray

    def clear(self, margin: float = CLEAR_MARGIN) -> np.ndarray:
        """Which matches are clear: the runner-up is at least ``margin`` times farther than the best."""
        return self.runner_up >= margin * self.distance


@dataclass(frozen=True)
class ChannelFidelity:
    """Per-channel comparison of real windows with their matched rebuilt windows."""

    channel: str
    relative_rms_error: float
    rms_ratio: float  # real / rebuilt; > 1 means the rebuild is too weak
    band_abs_db: tuple[float, ...]  # mean |dB difference| of band power, one per BANDS_HZ
    band_bias_db: tuple[float, ...]  # dB of the pooled band power real / rebuilt; > 0: rebuild too weak


def load_real_windows(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, 128, 9) float64, activity 1-6) from the shared ``uci_har_real_train_windows.npz``."""
    with np.load(path, allow_pickle=False) as npz:
        channels = tuple(str(c) for c in npz["channels"])
        if channels != CHANNELS:
            raise ValueError(f"{path}: channel order {channels} differs from {CHANNELS}")
        return npz["X"].astype(np.float64), npz["y"].astype(np.int64) + 1


def _nearest_two(queries: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index of the nearest candidate, its RMS distance and the second nearest's, for flattened rows."""
    squared = (queries ** 2).sum(1)[:, None] + (candidates ** 2).sum(1)[None] - 2.0 * queries @ candidates.T
    rms = np.sqrt(np.maximum(squared, 0.0) / queries.shape[1])
    order = np.argsort(rms, axis=1)[:, :2]
    rows = np.arange(len(rms))
    runner_up = rms[rows, order[:, 1]] if rms.shape[1] > 1 else np.full(len(rms), np.inf)
    return order[:, 0], rms[rows, order[:, 0]], runner_up


def match_windows(real: np.ndarray, real_activity: np.ndarray, rebuilt: np.ndarray, rebuilt_activity: np.ndarray,
                  channels: tuple[int, ...] = TOTAL_ACC) -> WindowMatch:
    """Nearest rebuilt window of the same activity for every real window, on ``channels``."""
    index = np.full(len(real), -1, dtype=np.int64)
    distance = np.full(len(real), np.inf)
    runner_up = np.full(len(real), np.inf)
    for activity in np.unique(real_activity):
        queries = np.flatnonzero(real_activity == activity)
        candidates = np.flatnonzero(rebuilt_activity == activity)
        if len(candidates) == 0:
            continue
        flat_real = real[queries][..., list(channels)].reshape(len(queries), -1).astype(np.float64)
        flat_rebuilt = rebuilt[candidates][..., list(channels)].reshape(len(candidates), -1).astype(np.float64)
        nearest, distance[queries], runner_up[queries] = _nearest_two(flat_real, flat_rebuilt)
        index[queries] = candidates[nearest]
    return WindowMatch(index=index, distance=distance, runner_up=runner_up)


def band_powers(x: np.ndarray, fs: float = SAMPLE_RATE_HZ) -> np.ndarray:
    """(N, T, C) windows -> (N, len(BANDS_HZ), C) power (unit^2) per band of the mean-removed, Hann-tapered
    window."""
    taper = np.hanning(x.shape[1])[None, :, None]
    centred = x - x.mean(axis=1, keepdims=True)
    # one-sided and scaled so that the bands add up to the window's variance (Parseval)
    spectrum = 2.0 * np.abs(np.fft.rfft(centred * taper, axis=1)) ** 2 / (x.shape[1] * (taper ** 2).sum())
    frequency = np.fft.rfftfreq(x.shape[1], d=1.0 / fs)
    return np.stack([spectrum[:, (frequency >= low) & (frequency < high)].sum(axis=1) for low, high in BANDS_HZ],
                    axis=1)


def compare_channels(real: np.ndarray, rebuilt: np.ndarray, fs: float = SAMPLE_RATE_HZ) -> list[ChannelFidelity]:
    """Per-channel fidelity of ``rebuilt`` (N, T, C) against the ``real`` windows it was matched to."""
    real, rebuilt = np.asarray(real, dtype=np.float64), np.asarray(rebuilt, dtype=np.float64)
    error_energy = ((real - rebuilt) ** 2).sum(axis=(0, 1))
    real_energy, rebuilt_energy = (real ** 2).sum(axis=(0, 1)), (rebuilt ** 2).sum(axis=(0, 1))
    real_bands, rebuilt_bands = band_powers(real, fs), band_powers(rebuilt, fs)
    abs_db = np.abs(10.0 * np.log10((real_bands + POWER_FLOOR) / (rebuilt_bands + POWER_FLOOR))).mean(axis=0)
    bias_db = 10.0 * np.log10((real_bands.sum(axis=0) + POWER_FLOOR) / (rebuilt_bands.sum(axis=0) + POWER_FLOOR))
    names = CHANNELS if real.shape[2] == len(CHANNELS) else tuple(f"ch{c}" for c in range(real.shape[2]))
    return [ChannelFidelity(channel=names[c],
                            relative_rms_error=float(np.sqrt(error_energy[c] / real_energy[c])),
                            rms_ratio=float(np.sqrt(real_energy[c] / rebuilt_energy[c])),
                            band_abs_db=tuple(float(v) for v in abs_db[:, c]),
                            band_bias_db=tuple(float(v) for v in bias_db[:, c]))
            for c in range(real.shape[2])]


def summary_error(channels: list[ChannelFidelity]) -> float:
    """The one-number distance: mean relative RMS error over channels."""
    return float(np.mean([c.relative_rms_error for c in channels]))


def round_significant(x: np.ndarray, digits: int = 4) -> np.ndarray:
    """``x`` rounded to ``digits`` significant digits, as the real windows were stored."""
    x = np.asarray(x, dtype=np.float64)
    magnitude = np.floor(np.log10(np.where(x == 0.0, 1.0, np.abs(x))))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(x * scale) / scale


def best_lag(real: np.ndarray, rebuilt: np.ndarray, max_lag: int) -> int:
    """The lag L (samples, |L| <= ``max_lag``) for which ``rebuilt[t + L]`` best matches ``real[t]`` over the
    windows ``real``/``rebuilt`` (N, T, C): how far the rebuilt grid or filter delay is off."""
    length = real.shape[1]
    errors = []
    for lag in range(-max_lag, max_lag + 1):
        lo, hi = max(0, -lag), min(length, length - lag)
        errors.append(np.mean((real[:, lo:hi] - rebuilt[:, lo + lag:hi + lag]) ** 2))
    return int(np.argmin(errors)) - max_lag
