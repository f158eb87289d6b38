"""Data for the image-generation notebooks: faces, MNIST digits and 2-D toy distributions.

* ``load_faces(cfg)``: the ORL / AT&T "Olivetti" faces (40 people x 10 photos, 112 x 92 pixels)
  from the registry dataset ``olivetti``; without it, scikit-learn's bundled 8 x 8 digits
  (offline, said once).
* ``load_mnist(cfg, split)``: MNIST digits 28 x 28 (gzip IDX files, parsed and checked here).
  ``split="test"``: the 10k test split, registry dataset ``mnist``. ``split="train"``: the 60k
  training split, registry dataset ``mnist-train`` (data folder or mirror), else torchvision's
  own downloader (online only; it fails within seconds offline), else the test split.
  Last resort: scikit-learn's digits resized to 28 x 28.
* ``read_idx(path)``: one (gzipped) IDX file as a numpy array, magic number and sizes checked.
* ``toy_2d(n, kind)``: samples of a ring or a grid of Gaussians, the GAN's first playground.
* ``fit_gaussian(X)``, ``sample_gaussian(mu, E, lam, m)``, ``reconstruct_gaussian(X, mu, E, k)``:
  the Gaussian model of notebook 01 (mean, eigen-images by an SVD, sampler, projection on the
  first k eigen-images); the course's versions of its exercises 1.1-1.3.

Every image tensor is float32 (N, 1, H, W) in [0, 1].
"""
from __future__ import annotations

import gzip
import math
import re
from pathlib import Path

import numpy as np
import torch

from .data import locate_dataset, warn_once
from .download import socket_timeout
from .images import load_image
from .resize import imresize

__all__ = ["IDXError", "read_idx", "load_digits", "load_faces", "load_mnist", "toy_2d",
           "toy_2d_centers", "fit_gaussian", "sample_gaussian", "reconstruct_gaussian"]

# IDX magic numbers: 0x00000801 = unsigned bytes, 1 dimension (labels);
# 0x00000803 = unsigned bytes, 3 dimensions (images).
MAGIC_LABELS, MAGIC_IMAGES = 2049, 2051


class IDXError(ValueError):
    """An IDX file is damaged or is not the expected kind; the message says what to do."""


def read_idx(path: str | Path, expect_magic: int | None = None) -> np.ndarray:
    """Read a (gzipped) IDX file (the MNIST format) into a uint8 array.

    The header is a big-endian int32 magic number ``0x0000 08 D`` (08 = unsigned bytes, D = the
    number of dimensions), then D big-endian int32 sizes, then the bytes.

    Args:
        path: ``*.gz`` (gzip) or a raw IDX file.
        expect_magic: 2051 for images (N, 28, 28), 2049 for labels (N,); None accepts both.
    Returns:
        uint8 array whose shape is the header's sizes.
    Raises:
        IDXError: not gzip, wrong magic number, truncated or too long.
    """
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise IDXError(f"{path}: cannot be read as gzip ({e}). The file is damaged: delete it "
                       "and fetch it again (python data_scripts/download.py mnist).") from None
    if len(raw) < 4:
        raise IDXError(f"{path}: only {len(raw)} bytes, not an IDX file. Delete it and fetch it "
                       "again (python data_scripts/download.py mnist).")
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim == 0 or (expect_magic is not None and magic != expect_magic):
        want = f"{expect_magic}" if expect_magic is not None else "2049 or 2051"
        raise IDXError(f"{path}: magic number {magic}, expected {want} (IDX unsigned bytes). "
                       "This is not the MNIST file it should be: delete it and fetch it again.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header. Delete it and fetch it again.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape)
    if len(raw) != expected:
        raise IDXError(f"{path}: {len(raw)} bytes after decompression, the header {shape} "
                       f"implies {expected}. The file is truncated or damaged: delete it and "
                       "fetch it again (python data_scripts/download.py mnist).")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def load_digits(size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled digits (1797 images 8 x 8, offline) -> ((N, 1, s, s) in [0, 1], labels).

    ``size``: resize to size x size with the course's bicubic (clipped to [0, 1]); None keeps 8 x 8.
    """
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    if size is not None and size != 8:
        x = imresize(x, size=(size, size)).clamp(0, 1)
    return x.contiguous(), torch.from_numpy(d.target.astype(np.int64))


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))]


def load_faces(cfg, scale: float = 1.0, fallback: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The ORL / AT&T faces (registry dataset ``olivetti``), or scikit-learn's digits.

    Args:
        cfg: the notebook's ``setup()`` (data folder and mirror).
        scale: resize factor of the faces (e.g. 0.5 -> 56 x 46) with the course's bicubic; 1 keeps
            112 x 92. The 8 x 8 digits of the fallback are never resized.
        fallback: when the faces are absent, use the digits (warned once) instead of raising.
    Returns:
        (faces, person, source): faces (N, 1, H, W) float32 in [0, 1] (N = 400 for ORL, ordered
        person s1..s40, photos 1..10); person (N,) int64 in [0, 40) (the digit for the fallback);
        source, e.g. ``"ORL faces (olivetti)"`` or ``"scikit-learn digits (stand-in for faces)"``.
    """
    folder, why = locate_dataset("olivetti", cfg)
    if folder is None:
        if not fallback:
            raise FileNotFoundError(f"the olivetti faces are not available offline ({why}): run "
                                    "`python data_scripts/download.py olivetti` (or set "
                                    "COURSE_DATA_MIRROR=DIR).")
        warn_once(f"faces: {why}", f"The olivetti faces are not available ({why}): "
                   "using scikit-learn's 8x8 digits instead. Run "
                   "`python data_scripts/download.py olivetti` for the faces.")
        x, y = load_digits()  # already tiny: ``scale`` is not applied to the stand-in
        return x, y, "scikit-learn digits (stand-in for faces)"
    files = sorted(Path(folder).glob("s*/*.pgm"), key=_natural_key)
    if not files:
        raise FileNotFoundError(f"{folder}: no s*/N.pgm files; fetch the dataset again.")
    faces = torch.cat([load_image(f, mode="y") for f in files])
    person = torch.tensor([int(f.parent.name[1:]) - 1 for f in files])
    if scale != 1:
        faces = imresize(faces, scale=scale).clamp(0, 1)
    return faces.contiguous(), person, "ORL faces (olivetti)"


def _mnist_split(cfg, split: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The IDX files of ``split`` ("t10k" or "train") from the registry, or None (and why)."""
    folder, why = locate_dataset("mnist" if split == "t10k" else "mnist-train", cfg)
    if folder is None:
        return None, why
    x = read_idx(Path(folder) / f"{split}-images-idx3-ubyte.gz", MAGIC_IMAGES)
    y = read_idx(Path(folder) / f"{split}-labels-idx1-ubyte.gz", MAGIC_LABELS)
    if x.shape[0] != y.shape[0]:
        raise IDXError(f"{folder}: {x.shape[0]} images but {y.shape[0]} labels; fetch again.")
    return (torch.from_numpy(x).float().div(255)[:, None], torch.from_numpy(y.astype(np.int64))), ""


def _mnist_train_torchvision(cfg, timeout_s: float = 5.0):
    """The 60k training split through torchvision (cached in data_dir/torchvision), or None."""
    import torchvision

    root = Path(cfg.data_dir) / "torchvision"
    existed = root.exists()
    try:
        with socket_timeout(timeout_s):  # offline: fail within seconds, never hang
            ds = torchvision.datasets.MNIST(root, train=True, download=True)
    except Exception as e:  # DNS failure, timeout, checksum error, ...
        if not existed:  # leave no empty folders behind (torchvision creates MNIST/raw first)
            for d in (root / "MNIST" / "raw", root / "MNIST", root):
                try:
                    d.rmdir()
                except OSError:
                    break
        warn_once("mnist-train", f"torchvision could not download the MNIST training split "
                   f"({type(e).__name__}: {str(e).splitlines()[0][:120]}); using the 10k test "
                   "split from the course's data instead.")
        return None
    return ds.data.float().div(255)[:, None], ds.targets.long()


def load_mnist(cfg, split: str = "test", fallback: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """MNIST digits as ((N, 1, 28, 28) float32 in [0, 1], labels (N,) int64, source).

    Args:
        split: ``"test"`` (10k, registry dataset ``mnist``: data folder or mirror) or
            ``"train"`` (60k, registry dataset ``mnist-train``; without it torchvision's
            downloader (needs the network), else the test split).
        fallback: when MNIST is absent, use scikit-learn's digits resized to 28 x 28 (warned
            once) instead of raising.
    Raises:
        IDXError: a MNIST file is corrupt (never silently replaced by the fallback).
    """
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    if split == "train":
        got, _ = _mnist_split(cfg, "train")
        if got is not None:
            return got[0], got[1], "MNIST training split (60k)"
        got = _mnist_train_torchvision(cfg)
        if got is not None:
            return got[0], got[1], "MNIST training split (60k, torchvision)"
    got, why = _mnist_split(cfg, "t10k")
    if got is not None:
        return got[0], got[1], "MNIST test split (10k)"
    if not fallback:
        raise FileNotFoundError(f"MNIST is not available offline ({why}): run "
                                "`python data_scripts/download.py mnist` (or set COURSE_DATA_MIRROR).")
    warn_once(f"mnist: {why}", f"MNIST is not available ({why}): using "
               "scikit-learn's 8x8 digits resized to 28x28 instead. Run "
               "`python data_scripts/download.py mnist` for MNIST.")
    x, y = load_digits(size=28)
    return x, y, "scikit-learn digits resized to 28x28 (stand-in for MNIST)"


def toy_2d_centers(kind: str = "ring", n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """The centres of the toy mixture: (K, 2).

    ``ring``: ``n_modes`` points evenly spaced on a circle of ``radius``; ``grid``: a
    sqrt(n_modes) x sqrt(n_modes) grid spanning [-radius, radius]^2 (n_modes must be a square).
    """
    if kind == "ring":
        t = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
        return radius * torch.stack([t.cos(), t.sin()], 1)
    if kind == "grid":
        s = math.isqrt(n_modes)
        if s * s != n_modes:
            raise ValueError(f"a grid needs a square number of modes, got {n_modes}")
        g = torch.linspace(-radius, radius, s)
        return torch.cartesian_prod(g, g)
    raise ValueError(f"kind must be 'ring' or 'grid', got {kind!r}")


def toy_2d(n: int, kind: str = "ring", n_modes: int = 8, radius: float = 2.0, std: float = 0.05,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples (n, 2) of an equal-weight mixture of isotropic Gaussians N(c_k, std^2 Id)
    centred on :func:`toy_2d_centers`."""
    c = toy_2d_centers(kind, n_modes, radius)
    k = torch.randint(len(c), (n,), generator=generator)
    return c[k] + std * torch.randn(n, 2, generator=generator)


def fit_gaussian(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Gaussian model N(mu, Sigma) of images ``X`` (N, n), one image per row, by a thin SVD.

    Sigma = (1/N) sum (x_i - mu)(x_i - mu)^T = E diag(lam) E^T is never formed: with the centred
    rows X_c = U S V^T, E = V and lam = s^2 / N. Returns ``(mu, E, lam)``: the mean (n,), the
    eigenvectors as columns (n, r) with r = min(N, n), and the eigenvalues (r,), decreasing.
    ``X`` is not modified.
    """
    mu = X.mean(0)
    _, s, Vh = torch.linalg.svd(X - mu, full_matrices=False)
    return mu, Vh.T, s**2 / X.shape[0]


def sample_gaussian(mu: torch.Tensor, E: torch.Tensor, lam: torch.Tensor, m: int, k: int | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """``m`` samples (m, n) of the Gaussian model, x = mu + E_k Lambda_k^(1/2) z with z ~ N(0, Id_k).

    ``mu`` (n,), ``E`` (n, r), ``lam`` (r,) as :func:`fit_gaussian` returns them; ``k`` components
    kept (None: all r). The samples have mu's dtype and are not clipped.
    """
    k = E.shape[1] if k is None else k
    # drawn where the generator lives (a CPU generator by default), then moved to mu's device
    z = torch.randn(m, k, generator=generator, dtype=mu.dtype,
                    device=generator.device if generator is not None else mu.device).to(mu.device)
    return mu + (z * lam[:k].clamp(min=0).sqrt()) @ E[:, :k].T


def reconstruct_gaussian(X: torch.Tensor, mu: torch.Tensor, E: torch.Tensor, k: int) -> torch.Tensor:
    """Each row of ``X`` (m, n) projected on the first ``k`` eigen-images: mu + E_k E_k^T (x - mu).

    ``k`` = 0 gives the mean image; the result is (m, n).
    """
    Ek = E[:, :k]
    return mu + ((X - mu) @ Ek) @ Ek.T
