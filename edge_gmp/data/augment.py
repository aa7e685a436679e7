"""Training augmentation of a whole batch at once: random crop of a zero-padded image and random horizontal
flip, drawn from a ``torch.Generator`` so that a seed reproduces it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_gmp.errors import DataError

if TYPE_CHECKING:
    import torch


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
