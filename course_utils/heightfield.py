"""Synthetic ocean surfaces from the Phillips spectrum (Tessendorf, "Simulating Ocean Water", 1999).

Notebook 08's transfer-learning section (the report "Recovering high frequency geometric details",
section 5) super-resolves *height fields* h(x, z): 128 x 128 patches of a synthetic ocean, each
converted to an 8-bit depth image. This module makes them, reproducibly and with no download.

**The spectrum.** A wave vector k (rad/m) with |k| = k, the wind's unit direction w, its speed V
(m/s), g = 9.81 m/s^2 and L = V^2 / g (the largest wave a wind of speed V makes)::

    P(k) = A exp(-1 / (k L)^2) / k^4 |k^ . w|^p exp(-(k l)^2),   P(0) = 0

* ``exp(-1/(kL)^2)/k^4``: the radial profile; along the wind it peaks at k = 1 / (sqrt(2) L).
* ``|k^ . w|^p`` (p = 2, Tessendorf's): waves travel along the wind; none across it.
* ``exp(-(k l)^2)`` with l = ``small`` * L damps the tiny ripples (Tessendorf's suggestion).

**The surface.** h~0(k) = (xi_r + i xi_i) sqrt(P(k) / 2) with xi ~ N(0, 1) (seeded); at time t,
h~(k, t) = h~0(k) e^{i w(k) t} + conj(h~0(-k)) e^{-i w(k) t} with the deep-water dispersion
w(k) = sqrt(g k); this is Hermitian, so h = IFFT(h~) is real. The patch covers ``size`` x ``size``
metres on an n x n grid (periodic: it tiles). Heights are in metres up to the arbitrary A.

**Depth images.** :func:`to_depth_image` maps each field linearly to [0, 1] (its own min -> 0,
max -> 1), i.e. 8-bit grey levels after rounding (the report's "grayscale image in [0, 255]"), and
returns the scale so heights can be recovered; :func:`height_mse` measures the error in height
units with the dataset's mean scaling, as the report does; :func:`depth_psnr` is the mean
per-image PSNR of depth images with a border shave.

**The dataset.** :func:`ocean_dataset` draws ``count`` surfaces for a split ("train", "dev",
"test"): sample i of a split has its own seed (the splits never share one), a wind speed uniform
in ``speeds`` and a direction uniform in [0, 2 pi). Same arguments, same tensors.

**Augmentation.** :func:`random_warp` applies a random homography (each image corner moved by up
to ``strength`` of the half-width; an affine map when the moves are restricted) with bilinear
resampling and reflected borders: the "randomized affine and homography transformations" of the
SRResNet transfer-learning report, for fine-tuning on a small set of surfaces.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["G", "AMPLITUDE", "SPLITS", "phillips", "wave_vectors", "ocean_surface", "to_depth_image",
           "height_mse", "depth_psnr", "ocean_dataset", "homography_from_corners", "random_warp"]

G = 9.81  # m/s^2
AMPLITUDE = 1e-6  # A: with it a 100 m patch under 8-24 m/s winds spans about 1-3 m of height
SPLITS = {"train": 0, "dev": 1, "test": 2}
_SPLIT_STRIDE = 1_000_003  # sample i of split s has seed base + s * stride + i


def wave_vectors(n: int = 128, size: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(kx, kz): the FFT's wave vectors (rad/m) of an n x n grid covering ``size`` metres,
    each (n, n) float64, ordered like ``torch.fft.fft2``'s output (kx varies along columns)."""
    k1 = 2 * math.pi * torch.fft.fftfreq(n, d=size / n, dtype=torch.float64)
    kz, kx = torch.meshgrid(k1, k1, indexing="ij")
    return kx, kz


def phillips(kx: torch.Tensor, kz: torch.Tensor, wind_speed: float = 20.0,
             wind_direction: float = 0.0, amplitude: float = AMPLITUDE, small: float = 1e-3,
             power: int = 2) -> torch.Tensor:
    """The Phillips spectrum P(k) at wave vectors (kx, kz) in rad/m (same shape; 0 at k = 0).

    Args:
        wind_speed: V in m/s (> 0); the largest waves have length ~ L = V^2 / g.
        wind_direction: the wind's direction in radians (0: along +x).
        amplitude: A (the heights scale as sqrt(A)).
        small: the damping length l as a fraction of L (waves much shorter than l vanish).
        power: p in |k^ . w|^p (2 in Tessendorf's paper; larger: more aligned waves).
    """
    if wind_speed <= 0:
        raise ValueError(f"wind_speed must be positive (m/s), got {wind_speed}")
    L = wind_speed ** 2 / G
    k2 = kx ** 2 + kz ** 2
    k = k2.sqrt()
    safe = torch.where(k > 0, k, torch.ones_like(k))
    cos = (kx * math.cos(wind_direction) + kz * math.sin(wind_direction)) / safe
    p = amplitude * torch.exp(-1.0 / (safe * L) ** 2) / safe ** 4 * cos.abs() ** power
    p = p * torch.exp(-k2 * (small * L) ** 2)
    return torch.where(k > 0, p, torch.zeros_like(p))


def ocean_surface(n: int = 128, size: float = 100.0, wind_speed: float = 20.0,
                  wind_direction: float = 0.0, seed: int = 0, t: float = 0.0,
                  amplitude: float = AMPLITUDE, small: float = 1e-3, power: int = 2) -> torch.Tensor:
    """One height field h (n, n) float32 (metres, up to A) drawn from the Phillips spectrum.

    Args:
        n: grid points per side (128 in the report). size: the patch's side in metres.
        wind_speed, wind_direction, amplitude, small, power: see :func:`phillips`.
        seed: the Gaussian draws (a private generator: the global RNG is untouched).
        t: time in seconds (the waves move with w(k) = sqrt(g k)).
    Same arguments, same field; different seeds, independent fields.
    """
    if n < 4:
        raise ValueError(f"n must be at least 4 grid points, got {n}")
    kx, kz = wave_vectors(n, size)
    P = phillips(kx, kz, wind_speed, wind_direction, amplitude, small, power)
    g = torch.Generator().manual_seed(int(seed))
    xi = torch.randn(2, n, n, generator=g, dtype=torch.float64)
    h0 = torch.complex(xi[0], xi[1]) * (P / 2).sqrt()
    # h0(-k): index -i mod n along both axes
    h0_neg = torch.roll(torch.flip(h0, dims=(0, 1)), shifts=(1, 1), dims=(0, 1))
    omega = (G * (kx ** 2 + kz ** 2).sqrt()).sqrt()
    ht = h0 * torch.exp(1j * omega * t) + h0_neg.conj() * torch.exp(-1j * omega * t)
    h = torch.fft.ifft2(ht) * n * n
    return h.real.float()


def to_depth_image(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Depth images of height fields: each field mapped linearly to [0, 1] and rounded to
    8-bit levels (k / 255).

    Args:
        h: (n, n), (N, n, n) or (N, 1, n, n) heights.
    Returns:
        (images (N, 1, n, n) float32 in [0, 1], lo (N,), span (N,)) with
        h ~= lo + span * image (to within span / 510, the rounding). A flat field gives 0.
    """
    x = h.reshape(-1, *h.shape[-2:]).double()
    lo = x.amin(dim=(-2, -1))
    span = x.amax(dim=(-2, -1)) - lo
    img = (x - lo[:, None, None]) / span.clamp_min(1e-12)[:, None, None]
    img = torch.round(img * 255) / 255
    return img[:, None].float(), lo.float(), span.float()


def height_mse(sr: torch.Tensor, hr: torch.Tensor, span: float | torch.Tensor) -> float:
    """The height-field MSE of depth images (N, 1, n, n) in [0, 1]: mean((sr - hr)^2) * span^2,
    with ``span`` the dataset's mean height range (the report's "mean scaling of the dataset";
    a tensor of per-image spans (N,) scales each image by its own)."""
    err = (sr.double() - hr.double()).pow(2).mean(dim=(-3, -2, -1))
    span = torch.as_tensor(span, dtype=torch.float64)
    return float((err * span ** 2).mean())


def depth_psnr(sr: torch.Tensor, hr: torch.Tensor, shave: int = 0) -> float:
    """The mean PSNR (dB) of depth images, the way notebook 08 scores height fields.

    Each image i of sr and hr (N, 1, n, n) in [0, 1] (peak 1) loses ``shave`` pixels on every side
    (the scale factor, as for photos), then PSNR_i = 10 log10(1 / mean((sr_i - hr_i)^2)); the
    result is the mean of the N values (not the PSNR of the pooled error: an image scored
    exactly counts as inf). Clamp or quantize ``sr`` first if the output should be.
    """
    if sr.shape != hr.shape or sr.dim() != 4:
        raise ValueError(f"depth_psnr needs two (N, 1, n, n) batches of the same shape, got {tuple(sr.shape)} "
                         f"and {tuple(hr.shape)}")
    if shave < 0 or 2 * shave >= min(sr.shape[-2:]):
        raise ValueError(f"shave must be >= 0 and leave pixels of the {tuple(sr.shape[-2:])} images, got {shave}")
    if shave:
        sr, hr = sr[..., shave:-shave, shave:-shave], hr[..., shave:-shave, shave:-shave]
    mse = (sr.double() - hr.double()).pow(2).mean(dim=(-3, -2, -1))
    return float((10 * torch.log10(1 / mse)).mean())


def ocean_dataset(split: str = "train", count: int = 64, n: int = 128, size: float = 100.0,
                  speeds: tuple[float, float] = (8.0, 24.0), seed: int = 0, heights: bool = True,
                  chunk: int = 256, **kwargs) -> dict:
    """``count`` depth images of ocean surfaces for ``split`` ("train", "dev" or "test").

    Sample i draws its wind speed uniformly in ``speeds`` (m/s), its direction uniformly in
    [0, 2 pi) and its Gaussian field from seed ``seed + SPLITS[split] * 1000003 + i``, so the three
    splits never share a surface and sample i is the same whatever ``count``. ``kwargs`` go to
    :func:`ocean_surface` (``amplitude``, ``small``, ``power``, ``t``).

    Memory: the surfaces are made ``chunk`` at a time and each chunk is turned into depth images
    at once (the conversion is per image, so the result does not depend on ``chunk``), so the peak
    is the returned tensors plus one chunk's float64 work. ``heights=False`` leaves the height
    fields out (the models see only the depth images; ``lo + span * image`` recovers them to
    within the rounding): 16,000 surfaces of 128 x 128 are then 1 GB (the images) instead of 2 GB.

    Returns:
        ``{"images": (count, 1, n, n) float32 in [0, 1] (8-bit levels), "heights": (count, n, n)
        (only with ``heights=True``), "lo": (count,), "span": (count,), "wind_speed": (count,),
        "wind_direction": (count,), "seeds": [...]}``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    images = torch.empty(count, 1, n, n)
    lo, span = torch.empty(count), torch.empty(count)
    h_all = torch.empty(count, n, n) if heights else None
    vs, dirs, seeds = [], [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # 128 x 128 fields: threads only add overhead (10x on a busy 2-core CPU)
    try:
        for start in range(0, count, chunk):
            part = []
            for i in range(start, min(count, start + chunk)):
                s = seed + SPLITS[split] * _SPLIT_STRIDE + i
                g = torch.Generator().manual_seed(s)
                v = speeds[0] + (speeds[1] - speeds[0]) * torch.rand(1, generator=g, dtype=torch.float64).item()
                d = 2 * math.pi * torch.rand(1, generator=g, dtype=torch.float64).item()
                part.append(ocean_surface(n, size, v, d, seed=s, **kwargs))
                vs.append(v)
                dirs.append(d)
                seeds.append(s)
            h = torch.stack(part)
            stop = start + len(part)
            images[start:stop], lo[start:stop], span[start:stop] = to_depth_image(h)
            if h_all is not None:
                h_all[start:stop] = h
    finally:
        torch.set_num_threads(threads)
    out = {"images": images, "heights": h_all, "lo": lo, "span": span,
           "wind_speed": torch.tensor(vs), "wind_direction": torch.tensor(dirs), "seeds": seeds}
    if h_all is None:
        del out["heights"]
    return out


def homography_from_corners(dst: torch.Tensor) -> torch.Tensor:
    """The 3 x 3 homography H (float64, H[2, 2] = 1) mapping the corners of [-1, 1]^2 -
    (-1, -1), (1, -1), (1, 1), (-1, 1) - to ``dst`` (4, 2), in homogeneous coordinates:
    H @ (x, y, 1) ~ (x', y', 1). Solved exactly from the 8 equations of the 4 correspondences."""
    src = torch.tensor([[-1., -1.], [1., -1.], [1., 1.], [-1., 1.]], dtype=torch.float64)
    dst = dst.to(torch.float64)
    A, b = [], []
    for (x, y), (u, v) in zip(src.tolist(), dst.tolist()):
        A.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        A.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    h = torch.linalg.solve(torch.tensor(A, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    return torch.cat([h, torch.ones(1, dtype=torch.float64)]).reshape(3, 3).to(dst.device)


def random_warp(x: torch.Tensor, strength: float = 0.1, affine: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Warp each image of ``x`` (N, C, H, W) by its own random homography; same shape and dtype.

    Each corner of the image (in [-1, 1] coordinates) moves by a uniform random offset in
    [-strength, strength] per axis (``affine=True``: the fourth corner follows the other three,
    so lines stay parallel). Output pixel p reads the input at H(p) by bilinear interpolation
    (``F.grid_sample``, ``align_corners=False``, reflected borders), so every output value is a
    convex combination of input values: images in [0, 1] stay in [0, 1]. ``strength=0`` returns
    the input unchanged (to rounding). ``generator`` makes the warps reproducible.
    """
    if x.dim() != 4:
        raise ValueError(f"random_warp expects (N, C, H, W) images, got shape {tuple(x.shape)}")
    if not 0 <= strength < 0.5:
        raise ValueError(f"strength must be in [0, 0.5) (a fraction of the half-width), got {strength}")
    n, _, h, w = x.shape
    corners = torch.tensor([[-1., -1.], [1., -1.], [1., 1.], [-1., 1.]], dtype=torch.float64)
    ys = (torch.arange(h, dtype=torch.float64) * 2 + 1) / h - 1   # pixel centres, align_corners=False
    xs = (torch.arange(w, dtype=torch.float64) * 2 + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(-1, 3)   # (HW, 3)
    grids = []
    for _ in range(n):
        off = (torch.rand(4, 2, generator=generator, dtype=torch.float64) * 2 - 1) * strength
        if affine:
            off[2] = off[1] + off[3] - off[0]   # a parallelogram: the affine case
        H = homography_from_corners(corners + off)
        q = pts @ H.T
        grids.append((q[:, :2] / q[:, 2:]).reshape(h, w, 2))
    grid = torch.stack(grids).to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
