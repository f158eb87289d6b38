"""Degradations: how the course makes a low-resolution image from a high-resolution one.

The papers' model is x^LR = S B x^HR with B and S given by MATLAB's bicubic ``imresize`` (an
antialiasing blur and a subsampling in one step). ``mod_crop`` first makes H and W multiples
of the scale so that x^LR is exactly (H/s, W/s).
"""
from __future__ import annotations

import torch

from .resize import imresize

__all__ = ["mod_crop", "check_divisible", "bicubic_down", "bicubic_up", "add_noise"]


def mod_crop(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop (..., H, W) at the bottom/right so H and W are multiples of ``scale``."""
    h, w = x.shape[-2:]
    return x[..., : h - h % scale, : w - w % scale]


def check_divisible(x: torch.Tensor, scale: int, name: str = "image") -> None:
    """Raise a clear error when H or W of ``x`` is not a multiple of ``scale``."""
    h, w = x.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"{name} is {h}x{w}, not divisible by the scale {scale}: "
                         f"use mod_crop(x, {scale}) first (it gives {h - h % scale}x{w - w % scale}).")


def bicubic_down(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """x^LR = S B x^HR with MATLAB's bicubic: (N, C, H, W) -> (N, C, H/scale, W/scale).

    H and W must be multiples of ``scale`` (see :func:`mod_crop`). No clamping or rounding.
    """
    check_divisible(hr, scale, "the HR image")
    return imresize(hr, 1 / scale)


def bicubic_up(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The interpolated LR image ("ILR"): MATLAB bicubic enlargement by ``scale``."""
    return imresize(lr, scale)


def add_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + sigma * N(0, 1) noise (sigma in the units of x, e.g. 0.01 for 1% of the range)."""
    return x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
