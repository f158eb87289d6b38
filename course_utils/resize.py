"""MATLAB-compatible bicubic resizing in PyTorch.

Published super-resolution tables (SRCNN, VDSR, FSRCNN, ESPCN, SRResNet...) were all computed
with MATLAB's ``imresize(x, s, 'bicubic')``. PIL, OpenCV and ``torch.nn.functional.interpolate``
use other kernels, borders or antialiasing and give PSNRs that differ by up to a few tenths of a
dB. This module reproduces MATLAB's algorithm:

* Keys' cubic kernel with a = -0.5,
* when shrinking (scale < 1) the kernel is widened by 1/scale (antialiasing),
* pixel centres mapped by u = x / scale + 0.5 * (1 - 1 / scale) (1-based, as in MATLAB),
* symmetric (mirror, edge repeated) border padding,
* separable: one 1-D pass per axis, the axis with the smaller scale first.

Everything is a matrix product with a small weight matrix, so it is batched, works on any device
and is differentiable with respect to the image.
"""
from __future__ import annotations

import math

import torch

__all__ = ["cubic", "resize_weights", "imresize"]


def cubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel (a = -0.5 is MATLAB's and the usual "bicubic").

    Args:
        x: distances (any shape, float).
    Returns:
        kernel values, same shape; 1 at 0, 0 at every other integer, 0 for |x| >= 2.
    """
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (a + 2) * ax3 - (a + 3) * ax2 + 1
    far = a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a
    return torch.where(ax <= 1, near, torch.where(ax < 2, far, torch.zeros_like(ax)))


def resize_weights(
    in_len: int, out_len: int, scale: float, antialias: bool = True, dtype=torch.float64
) -> torch.Tensor:
    """The (out_len x in_len) matrix W of one 1-D MATLAB bicubic pass: y = W @ x.

    Rows sum to 1. Borders are handled by folding the weights of outside samples onto their
    mirror images (MATLAB's symmetric padding), so no explicit padding is needed.
    """
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale
    x = torch.arange(1, out_len + 1, dtype=dtype)
    u = x / scale + 0.5 * (1 - 1 / scale)  # position in input coordinates (1-based)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=dtype)[None, :]  # (out, taps), 1-based
    dist = u[:, None] - idx
    if scale < 1 and antialias:
        w = scale * cubic(dist * scale)
    else:
        w = cubic(dist)
    w = w / w.sum(dim=1, keepdim=True)
    # symmetric padding: 0 -> 1, -1 -> 2, in_len+1 -> in_len, ...
    period = 2 * in_len
    j = torch.remainder(idx - 1, period)
    j = torch.where(j >= in_len, period - 1 - j, j).long()
    W = torch.zeros(out_len, in_len, dtype=dtype)
    W.scatter_add_(1, j, w)
    return W


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize images like MATLAB's ``imresize(x, scale, 'bicubic')``.

    Args:
        x: float tensor (N, C, H, W) or (C, H, W), any range (no clamping, no rounding).
        scale: the factor, e.g. 1/3 to shrink by 3, 2 to enlarge by 2. The output size is
            ceil(H * scale) x ceil(W * scale), as in MATLAB.
        size: (H_out, W_out) instead of scale; the scale of each axis is then H_out / H.
        antialias: widen the kernel when shrinking (MATLAB's default).
    Returns:
        the resized tensor, same dtype and device, (N, C, H_out, W_out).
    """
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError("imresize expects a float tensor in NCHW (or CHW) layout; "
                        "convert uint8 images with x.float() / 255 first.")
    squeeze = x.dim() == 3
    if squeeze:
        x = x[None]
    if x.dim() != 4:
        raise ValueError(f"imresize expects (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale= or size=")
    h, w = x.shape[-2:]
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        sh = sw = float(scale)
        oh, ow = math.ceil(h * sh - 1e-9), math.ceil(w * sw - 1e-9)
    else:
        oh, ow = int(size[0]), int(size[1])
        sh, sw = oh / h, ow / w
    # MATLAB resizes along the dimension with the smaller scale first (height on ties).
    order = ["h", "w"] if sh <= sw else ["w", "h"]
    y = x
    for axis in order:
        if axis == "h" and (oh != h or sh != 1):
            W = resize_weights(h, oh, sh, antialias).to(device=x.device, dtype=x.dtype)
            y = torch.einsum("oh,nchw->ncow", W, y)
        if axis == "w" and (ow != w or sw != 1):
            W = resize_weights(w, ow, sw, antialias).to(device=x.device, dtype=x.dtype)
            y = torch.einsum("ow,nchw->ncho", W, y)
    return y[0] if squeeze else y
