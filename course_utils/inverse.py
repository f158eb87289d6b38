"""Super-resolution as a linear inverse problem (notebook 04): the forward model and the solvers.

* ``H(x, g, scale, offset)``: the camera, x^LR = S B x^HR: a separable blur B with the 1-D kernel g
  (correlation, zero padding), then the sub-sampling S that keeps one pixel in ``scale`` along each
  axis, at ``offset`` (default: the centre of each block, ``scale // 2``);
* ``H_T(y, g, scale, offset)``: its adjoint B^T S^T (zeros between the samples, then the transposed
  blur), so that <H x, y> = <x, H_T y>;
* ``grad``/``grad_T``: forward differences (0 at the far border) and their adjoint;
* ``cg(A, b, ...)``: conjugate gradient for a symmetric positive semi-definite operator;
* ``tv_objective``/``tv_gradient``: ||H x - y||^2 + tau sum sqrt(|grad x|^2 + eps^2) and its gradient.

Images are float (N, 1, H, W), float64 in notebook 04; nothing here builds a matrix. These are the
course's versions of notebook 04's exercises (4.1 ``H_T``, 4.2 ``cg``, 4.3 ``tv_gradient``) and of
the operators the notebook writes out.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["blur", "decimate", "H", "H_T", "grad", "grad_T", "cg", "tv_objective", "tv_gradient"]


def blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """B x: correlation of ``x`` (N, 1, H, W) with the 1-D kernel ``g`` (odd length) along the
    width, then the height, zero padding; same shape as ``x``."""
    r = len(g) // 2
    x = F.conv2d(x, g.view(1, 1, 1, -1).to(x.dtype), padding=(0, r))
    return F.conv2d(x, g.view(1, 1, -1, 1).to(x.dtype), padding=(r, 0))


def decimate(x: torch.Tensor, scale: int, offset: tuple[int, int] | None = None) -> torch.Tensor:
    """S x: the pixels offset, offset + scale, ... along each axis (default offset: the centre of
    the block, (scale // 2, scale // 2))."""
    oy, ox = offset if offset is not None else (scale // 2, scale // 2)
    return x[..., oy::scale, ox::scale]


def H(x: torch.Tensor, g: torch.Tensor, scale: int, offset: tuple[int, int] | None = None) -> torch.Tensor:
    """The forward model S B: (N, 1, H, W) -> (N, 1, H/scale, W/scale)."""
    return decimate(blur(x, g), scale, offset)


def H_T(y: torch.Tensor, g: torch.Tensor, scale: int, offset: tuple[int, int] | None = None) -> torch.Tensor:
    """The adjoint B^T S^T of :func:`H`: (N, 1, h, w) -> (N, 1, h*scale, w*scale), y's dtype.

    S^T puts y back at the sampled positions and zeros elsewhere; B^T is the transposed
    convolution with the same kernel and padding (a correlation with the flipped kernel).
    """
    oy, ox = offset if offset is not None else (scale // 2, scale // 2)
    n, c, h, w = y.shape
    x = torch.zeros(n, c, h * scale, w * scale, dtype=y.dtype, device=y.device)
    x[..., oy::scale, ox::scale] = y
    r = len(g) // 2
    x = F.conv_transpose2d(x, g.view(1, 1, -1, 1).to(y.dtype), padding=(r, 0))
    return F.conv_transpose2d(x, g.view(1, 1, 1, -1).to(y.dtype), padding=(0, r))


def grad(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) -> (N, 2, H, W): vertical and horizontal forward differences, 0 at the far border."""
    dy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    dx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0))
    return torch.cat([dy, dx], dim=1)


def grad_T(p: torch.Tensor) -> torch.Tensor:
    """The adjoint of :func:`grad` (minus the divergence): (N, 2, H, W) -> (N, 1, H, W)."""
    dy, dx = p[:, :1, :-1, :], p[:, 1:, :, :-1]
    return (F.pad(dy, (0, 0, 1, 0)) - F.pad(dy, (0, 0, 0, 1))
            + F.pad(dx, (1, 0, 0, 0)) - F.pad(dx, (0, 1, 0, 0)))


def cg(A: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, x0: torch.Tensor | None = None,
       iters: int = 100, tol: float = 1e-10, callback: Callable | None = None) -> tuple[torch.Tensor, list[float]]:
    """Conjugate gradient for A x = b, A a symmetric positive semi-definite operator (a function).

    ``b`` any shape (inner products sum over all entries); starts from ``x0`` (zeros if None; not
    modified); at most ``iters`` iterations, stops when ||r_k|| <= tol ||r_0|| (at once if r_0 = 0);
    ``callback(x)`` after each iteration. Returns ``(x, res)``, res the residual norms ||b - A x_k||
    as floats from ||r_0||. From 0 on the normal equations it converges to the minimum-norm solution.
    """
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - A(x)
    rr = (r * r).sum()
    res = [rr.sqrt().item()]
    if res[0] == 0:
        return x, res
    p = r.clone()
    for _ in range(iters):
        Ap = A(p)
        alpha = rr / (p * Ap).sum()
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = (r * r).sum()
        res.append(rr_new.sqrt().item())
        if callback is not None:
            callback(x)
        if res[-1] <= tol * res[0]:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, res


def tv_objective(x: torch.Tensor, y: torch.Tensor, tau: float, eps: float, g: torch.Tensor, scale: int,
                 offset: tuple[int, int] | None = None) -> torch.Tensor:
    """||H x - y||^2 + tau sum_p sqrt(|grad x(p)|^2 + eps^2) (the smoothed total variation), a scalar."""
    return ((H(x, g, scale, offset) - y) ** 2).sum() + tau * torch.sqrt((grad(x) ** 2).sum(1) + eps**2).sum()


def tv_gradient(x: torch.Tensor, y: torch.Tensor, tau: float, eps: float, g: torch.Tensor, scale: int,
                offset: tuple[int, int] | None = None) -> torch.Tensor:
    """The gradient of :func:`tv_objective` at ``x``:
    2 H^T(H x - y) + tau grad^T(grad x / sqrt(|grad x|^2 + eps^2)), the norm over the 2 directions."""
    p = grad(x)
    p = p / torch.sqrt((p**2).sum(1, keepdim=True) + eps**2)
    return 2 * H_T(H(x, g, scale, offset) - y, g, scale, offset) + tau * grad_T(p)
