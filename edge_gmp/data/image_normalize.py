"""Per-channel standardisation of uint8 RGB images, fitted on the [0, 1]-scaled training pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_gmp.data.normalize import MIN_STD, Normalizer
from edge_gmp.errors import DataError

PIXEL_SCALE = 255.0  # normalised = (pixel / PIXEL_SCALE - mean) / std
_CHUNK = 1024  # images per step: bounds temporaries (a few MB for CIFAR)


def _check_images(x: np.ndarray, channels: int | None = None) -> None:
    if x.dtype != np.uint8 or x.ndim != 4 or x.size == 0 or (channels is not None and x.shape[-1] != channels):
        raise DataError(f"expected uint8 NHWC images{f' with {channels} channels' if channels else ''}, got "
                        f"{x.dtype} {x.shape}: image statistics (of pixels 0-255 / 255) apply to raw images only")


@dataclass(frozen=True, eq=False)
class ImageNormalizer(Normalizer):
    """A ``Normalizer`` whose ``mean``/``std`` are per RGB channel of pixels scaled to [0, 1]; ``apply`` takes
    uint8 NHWC images and returns float32 NCHW (torch's layout), or NHWC with ``to_nchw=False``."""

    def apply(self, x: np.ndarray, to_nchw: bool = True) -> np.ndarray:
        x = np.asarray(x)
        _check_images(x, len(self.mean))
        n, h, w, c = x.shape
        out = np.empty((n, c, h, w) if to_nchw else (n, h, w, c), dtype=np.float32)
        stat_shape = (c, 1, 1) if to_nchw else (c,)
        scale = (1.0 / (PIXEL_SCALE * self.std)).astype(np.float32).reshape(stat_shape)
        shift = (self.mean / self.std).astype(np.float32).reshape(stat_shape)
        for start in range(0, n, _CHUNK):  # in chunks: no float copy of the whole input, cache-friendly
            block = out[start:start + _CHUNK]
            block[...] = x[start:start + _CHUNK].transpose(0, 3, 1, 2) if to_nchw else x[start:start + _CHUNK]
            block *= scale
            block -= shift
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "pixel_scale": PIXEL_SCALE}

    @classmethod
    def from_dict(cls, stats: dict[str, Any]) -> ImageNormalizer:
        try:
            scale = float(stats.get("pixel_scale", PIXEL_SCALE))
        except (AttributeError, TypeError, ValueError) as exc:
            raise DataError(f"image normalization stats need 'mean', 'std' and a numeric 'pixel_scale' ({exc})") \
                from exc
        if scale != PIXEL_SCALE:
            raise DataError(f"pixel_scale {scale} is not supported: image stats are for uint8 pixels / 255")
        return super().from_dict(stats)  # type: ignore[return-value]


def fit_image_normalizer(x_train: np.ndarray) -> ImageNormalizer:
    """Exact per-channel mean/std of uint8 NHWC training images on [0, 1]-scaled pixels (from histograms)."""
    x = np.asarray(x_train)
    _check_images(x)
    channels = x.shape[-1]
    counts = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, len(x), _CHUNK):
        flat = x[start:start + _CHUNK].reshape(-1, channels)
        for channel in range(channels):
            counts[channel] += np.bincount(flat[:, channel], minlength=256)
    counts = counts.astype(np.float64)
    values = np.arange(256) / PIXEL_SCALE
    mean = counts @ values / counts.sum(axis=1)
    var = (counts * (values - mean[:, None]) ** 2).sum(axis=1) / counts.sum(axis=1)
    return ImageNormalizer(mean=mean, std=np.maximum(np.sqrt(var), MIN_STD))
