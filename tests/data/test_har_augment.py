"""Sensor-window augmentation: each transform does what it says, seeded and vectorised; HAR-2 options wire it."""

from __future__ import annotations

import math

import pytest
import torch

from edge_gmp.config import DataConfig
from edge_gmp.data.augment import SeriesAugment, augment_series
from edge_gmp.data.datasets.har2 import SENSOR_TRIPLETS
from edge_gmp.data.prepare import prepare_data
from edge_gmp.errors import ConfigError, DataError


def _batch(b: int = 6, t: int = 128, c: int = 9, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, c, generator=torch.Generator().manual_seed(seed))


def _apply(spec: SeriesAugment, x: torch.Tensor, seed: int = 1) -> torch.Tensor:
    return spec(x, torch.Generator().manual_seed(seed))


def test_all_off_returns_the_batch_itself() -> None:
    x = _batch()
    assert not SeriesAugment().enabled
    assert _apply(SeriesAugment(), x) is x


def test_same_seed_same_result_other_seed_other_result() -> None:
    spec = SeriesAugment(noise=0.1, scale=0.1, shift=8, warp=0.1)
    x = _batch()
    assert torch.equal(_apply(spec, x, seed=3), _apply(spec, x, seed=3))
    assert not torch.equal(_apply(spec, x, seed=3), _apply(spec, x, seed=4))
    assert _apply(spec, x).shape == x.shape and _apply(spec, x).dtype == x.dtype


def test_each_window_draws_its_own_transform() -> None:
    x = _batch(b=1).expand(8, -1, -1).contiguous()
    out = _apply(SeriesAugment(scale=0.2, shift=8), x)
    assert len({tuple(window.flatten()[:20].tolist()) for window in out}) > 1


def test_circular_shift_is_an_exact_roll() -> None:
    x = _batch(b=16)
    out = _apply(SeriesAugment(shift=5, shift_mode="circular"), x)
    for window, shifted in zip(x, out, strict=True):
        assert any(torch.equal(torch.roll(window, s, dims=0), shifted) for s in range(-5, 6))


def test_edge_shift_moves_the_window_and_repeats_its_edge_sample() -> None:
    x = _batch(b=32)
    out = _apply(SeriesAugment(shift=5), x)
    moved = 0
    for window, shifted in zip(x, out, strict=True):
        s = next(s for s in range(-5, 6) if torch.equal(shifted[max(s, 0):128 + min(s, 0)],
                                                        window[max(-s, 0):128 - max(s, 0)]))
        edge = window[0] if s > 0 else window[-1]
        assert all(torch.equal(row, edge) for row in (shifted[:s] if s > 0 else shifted[128 + s:]))
        moved += s != 0
    assert moved > 0


def test_scale_multiplies_each_channel_by_one_factor() -> None:
    x = _batch().abs() + 0.5
    ratio = _apply(SeriesAugment(scale=0.1), x) / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-6)
    assert not torch.allclose(ratio[:, 0, 0], ratio[:, 0, 1])
    assert 0.5 < float(ratio.min()) and float(ratio.max()) < 1.5


def test_noise_has_the_given_standard_deviation() -> None:
    x = _batch(b=64)
    assert abs(float((_apply(SeriesAugment(noise=0.2), x) - x).std()) - 0.2) < 0.005


def test_warp_keeps_the_last_sample_and_resamples_linearly() -> None:
    ramp = torch.arange(128, dtype=torch.float32).reshape(1, 128, 1).expand(16, 128, 2).contiguous()
    out = _apply(SeriesAugment(warp=0.2), ramp)
    assert torch.allclose(out[:, -1], ramp[:, -1])
    steps = out[:, 60:].diff(dim=1)[..., 0]  # a ramp read at speed r climbs r per sample
    speeds = steps.mean(1)
    assert torch.allclose(steps, speeds[:, None], atol=1e-4)
    assert float(speeds.min()) >= 0.8 - 1e-5 and float(speeds.max()) <= 1.2 + 1e-5 and float(speeds.std()) > 0.01


def _rotation_spec(degrees: float) -> SeriesAugment:
    mean = tuple(0.1 * c for c in range(9))
    std = tuple(0.5 + 0.2 * c for c in range(9))
    return SeriesAugment(rotate=degrees, triplets=SENSOR_TRIPLETS, mean=mean, std=std)


def test_rotation_turns_every_sensor_by_the_same_rotation_in_sensor_units() -> None:
    spec = _rotation_spec(20.0)
    mean, std = torch.tensor(spec.mean), torch.tensor(spec.std)
    x = _batch(b=8)
    sensor, rotated = x * std + mean, _apply(spec, x) * std + mean
    found = []
    for triplet in SENSOR_TRIPLETS:
        before, after = sensor[..., list(triplet)], rotated[..., list(triplet)]
        assert torch.allclose(before.norm(dim=2), after.norm(dim=2), atol=1e-4)  # lengths kept
        solution = torch.linalg.lstsq(before, after).solution  # after = before @ R^T per window
        assert torch.allclose(before @ solution, after, atol=1e-4)
        found.append(solution)
    assert torch.allclose(found[0], found[1], atol=1e-4) and torch.allclose(found[0], found[2], atol=1e-4)
    cos_angle = (found[0].diagonal(dim1=1, dim2=2).sum(1) - 1) / 2
    assert float(cos_angle.min()) >= math.cos(math.radians(20.0)) - 1e-4 and float(cos_angle.min()) < 0.9999


def test_rotation_needs_the_normalisation() -> None:
    with pytest.raises(DataError, match="mean and std"):
        _apply(SeriesAugment(rotate=10.0, triplets=SENSOR_TRIPLETS), _batch())


def test_the_batch_keeps_its_dtype_and_device() -> None:
    x = _batch().to(torch.float64)
    spec = _rotation_spec(10.0)
    out = _apply(SeriesAugment(noise=0.1, scale=0.1, shift=3, warp=0.1, rotate=10.0, triplets=SENSOR_TRIPLETS,
                               mean=spec.mean, std=spec.std), x)
    assert out.dtype == torch.float64 and out.device == x.device


@pytest.mark.parametrize("bad", [{"noise": -0.1}, {"scale": -1.0}, {"shift": -2}, {"warp": 1.0},
                                 {"shift_mode": "reflect"}, {"rotate": 200.0}, {"triplets": ((0, 1),)},
                                 {"mean": (0.0,), "std": ()}])
def test_bad_augmentation_values(bad: dict) -> None:
    with pytest.raises(DataError):
        SeriesAugment(**bad)
    with pytest.raises(DataError, match=r"\(B, T, C\)"):
        augment_series(torch.zeros(4, 9), torch.Generator(), SeriesAugment(noise=0.1))


@pytest.mark.parametrize("bad", [{"augment_noise": -0.1}, {"augment_shift": 2.5}, {"augment_warp": 1.5},
                                 {"augment_shift_mode": "mirror"}, {"augment_noise": True},
                                 {"augment_scale": "0.1"}, {"augment_rotate": -5}])
def test_bad_har2_augmentation_options(bad: dict) -> None:
    with pytest.raises(ConfigError):
        DataConfig(options=bad)


def test_har2_options_switch_the_augmentation_on(har, har_cache_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_GMP_CACHE", str(har_cache_dir))
    assert prepare_data(DataConfig(train_limit=64, test_limit=16), seed=0).augment is None
    options = {"augment_noise": 0.05, "augment_shift": 4, "augment_shift_mode": "circular"}
    data = prepare_data(DataConfig(train_limit=64, test_limit=16, options=options), seed=0)
    assert (data.augment.noise, data.augment.shift, data.augment.shift_mode) == (0.05, 4, "circular")
    assert data.augment.mean == tuple(data.normalization["mean"]) and data.augment.triplets == SENSOR_TRIPLETS
    batch = data.x_train[:8]
    assert not torch.equal(data.augment(batch, torch.Generator().manual_seed(0)), batch)
