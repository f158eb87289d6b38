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

The kernel is a parameter (``kernel``, ``radius``): ``nearest_kernel`` and ``linear_kernel`` (radius
1) give nearest-neighbour and bilinear interpolation on the same pixel centres and borders.
``interp_matrix`` and ``resample`` are notebook 03's names for an integer enlargement with any
kernel (the course's versions of its exercises 3.2 and 3.3).
"""
from __future__ import annotations

import math

import torch

__all__ = ["nearest_kernel", "linear_kernel", "cubic", "resize_weights", "imresize", "interp_matrix", "resample"]


def nearest_kernel(t: torch.Tensor) -> torch.Tensor:
    """The nearest-neighbour kernel: 1 on -1/2 <= t < 1/2 (half-open: one sample is chosen even
    half-way), else 0; same shape and dtype as ``t`` (radius 1)."""
    return ((t >= -0.5) & (t < 0.5)).to(t.dtype)


def linear_kernel(t: torch.Tensor) -> torch.Tensor:
    """The linear (tent) kernel max(0, 1 - |t|); same shape and dtype as ``t`` (radius 1)."""
    return (1 - t.abs()).clamp(min=0)


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
    in_len: int, out_len: int, scale: float, antialias: bool = True, dtype=torch.float64,
    kernel=cubic, radius: int = 2,
) -> torch.Tensor:
    """The (out_len x in_len) matrix W of one 1-D MATLAB bicubic pass: y = W @ x.

    Rows sum to 1. Borders are handled by folding the weights of outside samples onto their
    mirror images (MATLAB's symmetric padding), so no explicit padding is needed. ``kernel`` (a
    function of the distance, zero for |t| >= ``radius``) replaces the cubic: ``nearest_kernel``
    or ``linear_kernel`` with radius 1.
    """
    kernel_width = 2.0 * radius
    if scale < 1 and antialias:
        kernel_width /= scale
    x = torch.arange(1, out_len + 1, dtype=dtype)
    u = x / scale + 0.5 * (1 - 1 / scale)  # position in input coordinates (1-based)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=dtype)[None, :]  # (out, taps), 1-based
    dist = u[:, None] - idx
    if scale < 1 and antialias:
        w = scale * kernel(dist * scale)
    else:
        w = kernel(dist)
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
    kernel=cubic,
    radius: int = 2,
) -> torch.Tensor:
    """Resize images like MATLAB's ``imresize(x, scale, 'bicubic')``.

    Args:
        x: float tensor (N, C, H, W) or (C, H, W), any range (no clamping, no rounding).
        scale: the factor, e.g. 1/3 to shrink by 3, 2 to enlarge by 2. The output size is
            ceil(H * scale) x ceil(W * scale), as in MATLAB.
        size: (H_out, W_out) instead of scale; the scale of each axis is then H_out / H.
        antialias: widen the kernel when shrinking (MATLAB's default).
        kernel, radius: the interpolation kernel and its radius (default: Keys' cubic, 2).
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
            W = resize_weights(h, oh, sh, antialias, kernel=kernel, radius=radius).to(device=x.device, dtype=x.dtype)
            y = torch.einsum("oh,nchw->ncow", W, y)
        if axis == "w" and (ow != w or sw != 1):
            W = resize_weights(w, ow, sw, antialias, kernel=kernel, radius=radius).to(device=x.device, dtype=x.dtype)
            y = torch.einsum("ow,nchw->ncho", W, y)
    return y[0] if squeeze else y


def interp_matrix(n_in: int, scale: int, kernel, radius: int) -> torch.Tensor:
    """The (n_in * scale, n_in) float64 matrix of one 1-D enlargement by the integer ``scale``.

    Row i holds the weights kernel(u_i - k) of output pixel i, at u_i = (i + 1/2)/scale - 1/2 in
    input pixels; taps outside the signal are mirrored onto it (-1 -> 0, n -> n - 1), their weights
    added. ``kernel`` is zero for |t| >= ``radius`` (notebook 03, exercise 3.2).
    """
    return resize_weights(n_in, n_in * scale, scale, kernel=kernel, radius=radius)


def resample(x: torch.Tensor, scale: int, kernel, radius: int) -> torch.Tensor:
    """Images ``x`` (N, C, h, w), any range, enlarged by the integer ``scale`` with a separable
    ``kernel`` of ``radius``: (N, C, h * scale, w * scale), x's dtype, no clamping (notebook 03,
    exercise 3.3). With Keys' cubic (radius 2) this is :func:`imresize`."""
    return imresize(x, scale, kernel=kernel, radius=radius)
