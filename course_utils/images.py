"""Reading and writing image files, and the built-in images that need no download.

Every loader returns a float32 tensor (1, C, H, W) in [0, 1]. uint8 exists only at file
boundaries. Unusual files are converted rather than refused: grayscale, 16-bit, palette,
CMYK and RGBA (alpha dropped, said once). A file that is not a readable image raises
:class:`ImageError` naming the file.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .color import rgb_to_y

__all__ = ["ImageError", "unreadable", "IMAGE_SUFFIXES", "load_image", "save_image", "to_numpy",
           "list_images", "builtin_names", "load_builtin"]

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm", ".ppm", ".webp", ".gif")
_warned_alpha: set[str] = set()


class ImageError(ValueError):
    """A file could not be read as an image; the message names the file and what to do."""


def _pil_to_array(img: Image.Image, path: str) -> np.ndarray:
    """PIL image of any mode -> float64 array (H, W) or (H, W, 3) in [0, 1]."""
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        if path not in _warned_alpha:
            _warned_alpha.add(path)
            warnings.warn(f"{path}: the alpha channel was dropped (transparent areas keep "
                          "their stored colour).", stacklevel=3)
        img = img.convert("RGB" if mode != "LA" else "L")
        mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img, dtype=np.float64) / 65535.0
    if mode == "I":  # 32-bit integer; PNG 16-bit files often open as this
        a = np.asarray(img, dtype=np.float64)
        return a / (65535.0 if a.max() > 255 else 255.0)
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        return np.clip(a / (255.0 if a.max() > 1 else 1.0), 0, 1)
    if mode == "1":
        return np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    if mode == "L":
        return np.asarray(img, dtype=np.float64) / 255.0
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def unreadable(e: PermissionError, fallback: str, write: bool = False) -> str:
    """The command-line message for a file or folder the user may not read (``fallback`` names
    it when the error does not); ``write=True`` where the failed access may also have been a
    write (a training run's work file, its folder)."""
    if write:
        return (f"{e.filename or fallback}: cannot read or write it ({e.strerror or e}); give "
                "yourself read and write permission (chmod u+rw, or u+rwx for a folder)")
    return (f"{e.filename or fallback}: cannot read it ({e.strerror or e}); give yourself read "
            "permission (chmod u+r, or u+rx for a folder)")


def load_image(path: str | Path, mode: str = "rgb") -> torch.Tensor:
    """Read an image file into a float32 tensor (1, C, H, W) in [0, 1].

    Args:
        path: file to read (PNG, BMP, JPEG, TIFF, PGM, ...; 8 or 16 bit).
        mode: ``"rgb"`` -> C = 3 (grayscale replicated); ``"y"`` -> C = 1, the BT.601 luma of an
            RGB file, a grayscale file as it is; ``"auto"`` -> C = 1 for grayscale files, else 3.
    Raises:
        ImageError: the file is missing, empty, truncated or not an image.
    """
    path = Path(path)
    if mode not in ("rgb", "y", "auto"):
        raise ValueError(f"mode must be 'rgb', 'y' or 'auto', got {mode!r}")
    if not path.is_file():
        raise ImageError(f"{path}: no such file. Check the name, or fetch the dataset with "
                         "`python data_scripts/download.py NAME`.")
    try:
        with warnings.catch_warnings():
            # a header claiming more than Image.MAX_IMAGE_PIXELS: refused below, not just warned
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                arr = _pil_to_array(img, str(path))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{path}: refused, its header claims a huge image ({e}). Such a file is "
                         "damaged or made to exhaust memory: remove it from the folder (a real "
                         "image this large must be cut into tiles first).") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e}). The file may be "
                         "truncated or corrupt: download it again (data_scripts/download.py checks "
                         "sha256) or remove it from the folder.") from None
    return _to_tensor(arr, mode)


def _to_tensor(arr: np.ndarray, mode: str) -> torch.Tensor:
    """(H, W) or (H, W, 3) array in [0, 1] -> (1, C, H, W) float32 with C set by ``mode``."""
    t = torch.from_numpy(arr).float()
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]
    if mode == "rgb" and t.shape[1] == 1:
        t = t.expand(1, 3, *t.shape[2:])
    elif mode == "y" and t.shape[1] == 3:
        t = rgb_to_y(t)
    return t.contiguous()


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) tensor in [0, 1] -> (H, W, C) or (H, W) float array for plotting."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_numpy takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.dim() == 3:
        x = x.permute(1, 2, 0)
        if x.shape[-1] == 1:
            x = x[..., 0]
    return x.clamp(0, 1).numpy()


def save_image(x: torch.Tensor, path: str | Path) -> None:
    """Write one image (1, C, H, W) in [0, 1] as an 8-bit file (format from the suffix)."""
    a = np.round(to_numpy(x) * 255).astype(np.uint8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def list_images(folder: str | Path) -> list[Path]:
    """The image files of a folder (by suffix), sorted by name. Raises if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


# Built-in images: shipped inside the scikit-image and scikit-learn wheels, so always offline.
_SKIMAGE = {"astronaut": "astronaut", "camera": "camera", "coffee": "coffee", "chelsea": "chelsea",
            "rocket": "rocket", "coins": "coins", "moon": "moon", "text": "text",
            "immunohistochemistry": "immunohistochemistry", "page": "page",
            "hubble": "hubble_deep_field", "motorcycle": "stereo_motorcycle",
            "brick": "brick", "grass": "grass", "gravel": "gravel"}  # textures (notebooks 09, 10)
_SKLEARN = {"china": "china.jpg", "flower": "flower.jpg"}


def builtin_names() -> list[str]:
    """Names accepted by :func:`load_builtin` (images that ship with scikit-image/scikit-learn)."""
    return list(_SKIMAGE) + list(_SKLEARN)


def load_builtin(name: str, mode: str = "rgb") -> torch.Tensor:
    """One built-in image as (1, C, H, W) float32 in [0, 1]; same ``mode`` as :func:`load_image`."""
    if name in _SKLEARN:
        from sklearn.datasets import load_sample_image
        arr = load_sample_image(_SKLEARN[name]).astype(np.float64) / 255.0
    elif name in _SKIMAGE:
        import skimage.data
        arr = getattr(skimage.data, _SKIMAGE[name])()
        if isinstance(arr, tuple):  # stereo pairs
            arr = arr[0]
        arr = arr.astype(np.float64) / (65535.0 if arr.dtype == np.uint16 else 255.0)
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
    else:
        raise KeyError(f"unknown built-in image {name!r}; choose from {builtin_names()}")
    return _to_tensor(arr, mode)
