"""Image normalisation (fit, apply, dict round trip) and batch augmentation (random padded crop and flip)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edge_gmp.data import ImageNormalizer, Normalizer, augment_batch, fit_image_normalizer
from edge_gmp.errors import DataError


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (37, 32, 32, 3), dtype=np.uint8)
    x[..., 2] //= 4  # channels with different statistics
    return x


def test_fit_and_apply(images: np.ndarray) -> None:
    norm = fit_image_normalizer(images)
    scaled = images.astype(np.float64) / 255
    np.testing.assert_allclose(norm.mean, scaled.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(norm.std, scaled.std(axis=(0, 1, 2)), rtol=1e-6)
    reference = (scaled - norm.mean) / norm.std
    nchw = norm.apply(images)
    assert nchw.dtype == np.float32 and nchw.shape == (37, 3, 32, 32)
    np.testing.assert_allclose(nchw, reference.transpose(0, 3, 1, 2), atol=1e-5)
    np.testing.assert_allclose(norm.apply(images, to_nchw=False), reference, atol=1e-5)
    np.testing.assert_allclose(nchw.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(nchw.std(axis=(0, 2, 3)), 1, atol=1e-4)


def test_dict_round_trip(images: np.ndarray) -> None:
    norm = fit_image_normalizer(images)
    stats = json.loads(json.dumps(norm.to_dict()))  # as saved beside a model / in a device manifest
    assert stats["pixel_scale"] == 255.0 and len(stats["mean"]) == len(stats["std"]) == 3
    again = ImageNormalizer.from_dict(stats)
    assert isinstance(again, ImageNormalizer) and isinstance(again, Normalizer)
    np.testing.assert_array_equal(again.mean, norm.mean)
    np.testing.assert_array_equal(again.std, norm.std)
    np.testing.assert_array_equal(again.apply(images), norm.apply(images))


def test_bad_normalizer_input(images: np.ndarray) -> None:
    norm = fit_image_normalizer(images)
    with pytest.raises(DataError, match="uint8 NHWC"):
        norm.apply(images.astype(np.float32) / 255)  # already scaled: would be scaled twice
    with pytest.raises(DataError, match="3 channels"):
        norm.apply(images[..., :2])
    with pytest.raises(DataError, match="uint8 NHWC"):
        fit_image_normalizer(images[:0])
    with pytest.raises(DataError, match="pixel_scale"):
        ImageNormalizer.from_dict({**norm.to_dict(), "pixel_scale": 1.0})
    with pytest.raises(DataError, match="'mean' and 'std'"):
        ImageNormalizer.from_dict({"std": [1, 1, 1]})


def _batch(b: int = 64, c: int = 3, h: int = 32, w: int = 32) -> torch.Tensor:
    return torch.arange(1, b * c * h * w + 1, dtype=torch.float32).reshape(b, c, h, w)  # all values unique, > 0


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_augment_is_reproducible() -> None:
    x = _batch()
    out = augment_batch(x, _generator(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, augment_batch(x, _generator(0)))
    assert not torch.equal(out, augment_batch(x, _generator(1)))
    assert torch.equal(augment_batch(x, _generator(0), padding=0, flip=False), x)


def _window(image: torch.Tensor, dy: int, dx: int, mirror: bool) -> torch.Tensor:
    crop = image[:, dy:dy + 8, dx:dx + 8]
    return crop.flip(-1) if mirror else crop


def test_augment_crops_and_flips_the_padded_image() -> None:
    """Each output is a window of the zero-padded input at some offset, mirrored or not; over a batch every
    kind occurs."""
    x = _batch(b=256, c=2, h=8, w=8)
    out = augment_batch(x, _generator(5), padding=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    seen = set()
    for i in range(len(x)):
        found = [(dy, dx, mirror) for dy in range(5) for dx in range(5) for mirror in (False, True)
                 if torch.equal(out[i], _window(padded[i], dy, dx, mirror))]
        assert len(found) == 1, f"image {i} is not one crop of its padded input"
        seen.add(found[0])
    assert {mirror for _, _, mirror in seen} == {False, True}
    assert {(dy, dx) for dy, dx, _ in seen} == {(dy, dx) for dy in range(5) for dx in range(5)}
    assert (out == 0).any() and set(out.unique().tolist()) <= set(x.unique().tolist()) | {0.0}


def test_augment_bad_input() -> None:
    with pytest.raises(DataError, match=r"\(B, C, H, W\)"):
        augment_batch(torch.zeros(3, 32, 32), _generator(0))
