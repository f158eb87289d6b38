"""Colour conversions used by the super-resolution protocol (ITU-R BT.601, as MATLAB's rgb2ycbcr)."""
from __future__ import annotations

import torch

__all__ = ["rgb_to_y", "rgb_to_ycbcr", "ycbcr_to_rgb"]

# Rows: Y, Cb, Cr; inputs R, G, B in [0, 1]; outputs in [0, 255] before the offset.
_M = torch.tensor([[65.481, 128.553, 24.966],
                   [-37.797, -74.203, 112.0],
                   [112.0, -93.786, -18.214]], dtype=torch.float64)
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64)


def _check_rgb(x: torch.Tensor, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} expects an RGB batch of shape (N, 3, H, W), got {tuple(x.shape)}")


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3, H, W) in [0, 1] -> YCbCr (N, 3, H, W) in [0, 1] (Y in [16, 235] / 255)."""
    _check_rgb(x, "rgb_to_ycbcr")
    M = _M.to(x.device, x.dtype)
    off = _OFFSET.to(x.device, x.dtype)
    return (torch.einsum("kc,nchw->nkhw", M, x) + off[None, :, None, None]) / 255.0


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """Luma Y of BT.601: (N, 3, H, W) in [0, 1] -> (N, 1, H, W) in [16/255, 235/255].

    Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255. A single-channel input (N, 1, H, W) is
    returned unchanged: the papers' protocol uses a grayscale image directly as Y.
    """
    if x.dim() == 4 and x.shape[1] == 1:
        return x
    return rgb_to_ycbcr(x)[:, :1]


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`: (N, 3, H, W) YCbCr in [0, 1] -> RGB (not clamped)."""
    _check_rgb(x, "ycbcr_to_rgb")
    Minv = torch.linalg.inv(_M).to(x.device, x.dtype)
    off = _OFFSET.to(x.device, x.dtype)[None, :, None, None]
    return torch.einsum("kc,nchw->nkhw", Minv, x * 255.0 - off)
