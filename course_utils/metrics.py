"""Image quality metrics, and the protocol published super-resolution tables use.

``psnr`` and ``ssim`` are the plain definitions. ``sr_metrics`` applies the papers' protocol:
Y channel (BT.601), SR rounded to 8-bit levels, ``scale`` pixels shaved at every border.
``average_power_spectrum`` is notebook 08's frequency analysis of a *set* of images (each normalised,
then averaged; one image's raw spectrum for a log-log plot is ``plots.radial_power_spectrum``).
"""
from __future__ import annotations

import math

import torch

from .color import rgb_to_y

__all__ = ["psnr", "ssim", "shave", "quantize", "to_y8", "sr_metrics", "average_power_spectrum"]


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(data_range^2 / mean((x - y)^2)).

    Args:
        x, y: tensors of the same shape, values in [0, data_range].
    Returns:
        PSNR of the whole tensor (one number; inf when x == y).
    """
    if x.shape != y.shape:
        raise ValueError(f"psnr needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    mse = torch.mean((x.double() - y.double()) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> float:
    """Structural similarity of Wang et al. (2004) with the reference settings.

    Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, population covariances,
    the mean of the SSIM map over the valid area. Computed by scikit-image.

    Args:
        x, y: (1, 1, H, W), (1, H, W) or (H, W) tensors in [0, data_range] (one channel).
    """
    # imported here, not with the module: scikit-image brings SciPy (and its BLAS's buffers, ~50 MB of
    # address space) into every kernel that imports the metrics, most of which never compute an SSIM
    from skimage.metrics import structural_similarity

    a = x.detach().double().cpu().squeeze().numpy()
    b = y.detach().double().cpu().squeeze().numpy()
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"ssim expects two single-channel images of the same size, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    return float(structural_similarity(a, b, data_range=data_range, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False,
                                       K1=0.01, K2=0.03))


def shave(x: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels on each side of (..., H, W)."""
    if border <= 0:
        return x
    return x[..., border:-border, border:-border]


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round an image in [0, 1] to the nearest of the 256 8-bit levels (clamped), as saving does."""
    return torch.round(x.clamp(0, 1) * 255) / 255


def to_y8(x: torch.Tensor) -> torch.Tensor:
    """Y channel at 8-bit levels, as MATLAB's ``rgb2ycbcr`` on a uint8 image gives it.

    (1, 3, H, W) RGB or (1, 1, H, W) Y in [0, 1] -> (1, 1, H, W) Y in [0, 1] on the 256 levels.
    RGB is rounded to 8 bits first (an SR result is saved as an 8-bit image).
    """
    return quantize(rgb_to_y(quantize(x)))


def sr_metrics(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> tuple[float, float]:
    """PSNR (dB) and SSIM of one super-resolved image, the way published SR tables compute them.

    Protocol: both images taken to Y at 8-bit levels (:func:`to_y8`; a single-channel image is
    already Y), ``scale`` pixels shaved at each border, PSNR and SSIM on Y in [0, 255].

    Args:
        sr, hr: (1, C, H, W) with C = 3 (RGB) or 1 (Y), values in [0, 1], same size.
        scale: the upscaling factor (pixels shaved at each border).
    """
    if sr.shape[-2:] != hr.shape[-2:]:
        raise ValueError(f"SR and HR sizes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}; "
                         "mod-crop HR to the scale before degrading it.")
    y_sr = shave(to_y8(sr.double()), scale) * 255
    y_hr = shave(to_y8(hr.double()), scale) * 255
    return psnr(y_sr, y_hr, 255.0), ssim(y_sr, y_hr, 255.0)


def average_power_spectrum(x: torch.Tensor, normalize: bool = True
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The radially averaged power spectrum of a set of images, each normalised, then averaged.

    Each image (channels averaged) has its mean removed, its 2-D power |FFT|^2 computed and, with
    ``normalize=True``, divided by its sum (each image's spectrum sums to 1, so bright and dark or
    smooth and rough images count equally: the method of the report "Recovering high frequency
    geometric details", Figure 10); the power is then averaged over rings of radius
    |f| = sqrt(fx^2 + fy^2) (cycles per pixel, ring width 1/n for n = min(H, W)) and over images.

    Args:
        x: (N, C, H, W) or (H, W) images (any range; e.g. in [0, 1]).
    Returns:
        (freqs, power): ``freqs`` (n // 2 + 1,) the rings' radii in cycles/pixel from 0 to 0.5
        (Nyquist), ``power`` (n // 2 + 1,) the mean power per frequency of each ring (0 at f = 0,
        the mean removed). Plot ``power`` on a log scale.
    """
    if x.dim() == 2:
        x = x[None, None]
    if x.dim() != 4:
        raise ValueError(f"average_power_spectrum expects (N, C, H, W) or (H, W), got {tuple(x.shape)}")
    img = x.double().mean(dim=1)
    img = img - img.mean(dim=(-2, -1), keepdim=True)
    p = torch.fft.fft2(img).abs().pow(2)
    if normalize:
        p = p / p.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-300)
    H, W = img.shape[-2:]
    n = min(H, W)
    dev = p.device
    fy = torch.fft.fftfreq(H, dtype=torch.float64, device=dev)[:, None]
    fx = torch.fft.fftfreq(W, dtype=torch.float64, device=dev)[None, :]
    ring = torch.round(torch.sqrt(fx ** 2 + fy ** 2) * n).long()
    bins = n // 2 + 1
    # the corners beyond Nyquist along an axis go to an extra bin (index `bins`), dropped below
    idx = ring.clamp(max=bins).flatten()
    counts = torch.zeros(bins + 1, dtype=torch.float64, device=dev).index_add_(
        0, idx, torch.ones_like(idx, dtype=torch.float64))[:bins]
    sums = torch.zeros(p.shape[0], bins + 1, dtype=torch.float64, device=dev).index_add_(
        1, idx, p.reshape(p.shape[0], -1).to(torch.float64))[:, :bins]
    power = (sums / counts.clamp_min(1)).mean(dim=0)
    return torch.arange(bins, dtype=torch.float64, device=dev) / n, power
