"""Training augmentation of a whole batch at once, drawn from a ``torch.Generator`` so that a seed reproduces it:

- images (:func:`augment_batch`): random crop of a zero-padded image and random horizontal flip;
- sensor windows (:func:`augment_series`): time warp, time shift, sensor rotation, per-channel scaling and
  Gaussian noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_gmp.errors import DataError

if TYPE_CHECKING:
    import torch

SHIFT_MODES = ("edge", "circular")


def augment_batch(x: torch.Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True) -> torch.Tensor:
    """Each image of a (B, C, H, W) batch cropped at a random offset from its ``padding``-pixel zero-padded
    copy, then mirrored left-right with probability 1/2 (if ``flip``). Padding is 0 in ``x``'s units (the
    channel mean when ``x`` is normalised). One gather for the batch: no Python loop over images."""
    import torch  # here, not at the top: `import edge_gmp.data` does not load torch

    if x.ndim != 4 or padding < 0:
        raise DataError(f"augment_batch needs a (B, C, H, W) batch and padding >= 0, got {tuple(x.shape)} "
                        f"and {padding}")
    b, c, h, w = x.shape
    draw = {"generator": generator, "device": generator.device}
    dy, dx = torch.randint(0, 2 * padding + 1, (2, b), **draw).to(x.device)
    mirror = ((torch.rand(b, **draw) < 0.5) & flip).to(x.device)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    rows = dy[:, None] + torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device).expand(b, w)
    cols = torch.where(mirror[:, None], cols.flip(1), cols) + dx[:, None]
    index = (rows[:, :, None] * (w + 2 * padding) + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    return padded.reshape(b, c, -1).gather(2, index).reshape(b, c, h, w)


@dataclass(frozen=True)
class SeriesAugment:
    """Random transforms of a (B, T, C) batch of normalised sensor windows, each window drawn on its own:

    - ``warp``: playback speed drawn uniformly from [1 - warp, 1 + warp] around the window's last sample (a
      faster or slower gait; linear interpolation, edge samples repeated where the warped window runs out);
    - ``shift``: the window moved by a whole number of samples in [-shift, shift], its ends filled with the edge
      sample (``shift_mode = "edge"``) or wrapped round (``"circular"``);
    - ``rotate``: the sensor turned by up to that many degrees about a random axis: each of ``triplets``
      (the channel indices of one 3-axis sensor) rotated by the window's one rotation, in sensor units
      (``mean`` + ``std`` * x, the normalisation's statistics per channel, needed for it);
    - ``scale``: every channel multiplied by its own 1 + scale * N(0, 1) (in normalised units: around the
      channel's training mean);
    - ``noise``: Gaussian noise of that standard deviation added to every sample.

    0 turns a transform off; all off returns ``x`` itself.
    """

    noise: float = 0.0
    scale: float = 0.0
    shift: int = 0
    shift_mode: str = "edge"
    warp: float = 0.0
    rotate: float = 0.0
    triplets: tuple[tuple[int, int, int], ...] = ()
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.noise < 0 or self.scale < 0 or self.shift < 0:
            raise DataError(f"augmentation noise, scale and shift must be >= 0, got {self.noise}, {self.scale}, "
                            f"{self.shift}")
        if not 0 <= self.warp < 1:
            raise DataError(f"augmentation warp must be in [0, 1), got {self.warp}")
        if self.shift_mode not in SHIFT_MODES:
            raise DataError(f"augmentation shift_mode must be one of {', '.join(SHIFT_MODES)}, "
                            f"got {self.shift_mode!r}")
        if not 0 <= self.rotate <= 180:
            raise DataError(f"augmentation rotate must be in [0, 180] degrees, got {self.rotate}")
        object.__setattr__(self, "triplets", tuple(tuple(int(i) for i in t) for t in self.triplets))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if any(len(t) != 3 for t in self.triplets) or len(self.mean) != len(self.std):
            raise DataError("augmentation triplets need 3 channels each, and mean and std one value per channel")

    @property
    def enabled(self) -> bool:
        return bool(self.noise or self.scale or self.shift or self.warp or self.rotate)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return augment_series(x, generator, self)


def augment_series(x: torch.Tensor, generator: torch.Generator, spec: SeriesAugment) -> torch.Tensor:
    """``x`` (B, T, C) transformed as ``spec`` says; random numbers come from ``generator`` only, in a fixed
    order (warp, shift, rotate, scale, noise; a transform that is off draws nothing). No Python loop over
    windows."""
    import torch

    if x.ndim != 3:
        raise DataError(f"augment_series needs a (B, T, C) batch, got {tuple(x.shape)}")
    if not spec.enabled:
        return x
    b, t, c = x.shape
    draw = {"generator": generator, "device": generator.device}
    if spec.warp or spec.shift:
        position = torch.arange(t, dtype=x.dtype, device=generator.device).expand(b, t)
        if spec.warp:
            speed = 1.0 + spec.warp * (2.0 * torch.rand(b, 1, **draw, dtype=x.dtype) - 1.0)
            position = (t - 1) - (t - 1 - position) * speed
        if spec.shift:
            position = position - torch.randint(-spec.shift, spec.shift + 1, (b, 1), **draw).to(x.dtype)
        x = _resample(x, position.to(x.device), circular=spec.shift_mode == "circular")
    if spec.rotate:
        x = _rotate(x, _random_rotations(b, spec.rotate, generator).to(x.device, x.dtype), spec)
    if spec.scale:
        x = x * (1.0 + spec.scale * torch.randn(b, 1, c, **draw, dtype=x.dtype).to(x.device))
    if spec.noise:
        x = x + spec.noise * torch.randn(b, t, c, **draw, dtype=x.dtype).to(x.device)
    return x


def _resample(x: torch.Tensor, position: torch.Tensor, circular: bool) -> torch.Tensor:
    """``x`` (B, T, C) read at fractional time ``position`` (B, T) by linear interpolation; positions outside
    [0, T - 1] wrap round when ``circular``, else take the edge sample."""
    import torch

    t = x.shape[1]
    if circular:
        position = torch.remainder(position, t)
    else:
        position = position.clamp(0, t - 1)
    below = position.floor()
    weight = (position - below).unsqueeze(2)
    lower = below.long()
    upper = torch.remainder(lower + 1, t) if circular else (lower + 1).clamp(max=t - 1)

    def gather(index: torch.Tensor) -> torch.Tensor:
        return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))

    return torch.lerp(gather(lower), gather(upper), weight)


def _random_rotations(count: int, max_degrees: float, generator: torch.Generator) -> torch.Tensor:
    """``count`` rotation matrices (count, 3, 3): axes uniform on the sphere, angles uniform in
    [-max_degrees, max_degrees] (Rodrigues' formula)."""
    import math

    import torch

    draw = {"generator": generator, "device": generator.device, "dtype": torch.float64}
    axis = torch.nn.functional.normalize(torch.randn(count, 3, **draw), dim=1)
    angle = math.radians(max_degrees) * (2.0 * torch.rand(count, 1, 1, **draw) - 1.0)
    zero = torch.zeros(count, dtype=torch.float64, device=generator.device)
    cross = torch.stack([zero, -axis[:, 2], axis[:, 1], axis[:, 2], zero, -axis[:, 0],
                         -axis[:, 1], axis[:, 0], zero], dim=1).reshape(count, 3, 3)
    identity = torch.eye(3, dtype=torch.float64, device=generator.device)
    return identity + angle.sin() * cross + (1.0 - angle.cos()) * (cross @ cross)


def _rotate(x: torch.Tensor, rotation: torch.Tensor, spec: SeriesAugment) -> torch.Tensor:
    """Each of ``spec.triplets`` of normalised ``x`` (B, T, C) rotated by its window's matrix in sensor units."""
    import torch

    if not spec.triplets or len(spec.mean) != x.shape[2]:
        raise DataError(f"rotation needs the sensor triplets and the mean and std of all {x.shape[2]} channels")
    mean = torch.tensor(spec.mean, dtype=x.dtype, device=x.device)
    std = torch.tensor(spec.std, dtype=x.dtype, device=x.device)
    sensor = x * std + mean
    for triplet in spec.triplets:
        index = torch.tensor(triplet, device=x.device)
        rotated = torch.einsum("bij,btj->bti", rotation, sensor.index_select(2, index))
        sensor = sensor.index_copy(2, index, rotated)
    return (sensor - mean) / std
