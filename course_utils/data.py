"""Datasets: named collections of images, and super-resolution training pairs.

* ``get_images(name, cfg)``: the images of Set5, Set14, T91, ... from the data folder or the
  mirror, or the built-in images when the dataset is not available offline (said once, with why).
* ``dataset_path(name, cfg)``: a registry dataset's folder, or None. Every lookup is recorded
  (``record_data_source``) so that the test run can tell real data from stand-ins.
* ``SRPatches``: an endless, resumable stream of random (LR, HR) patch pairs with flips/rot90.
* ``sr_pair``: one mod-cropped HR image and its bicubic LR, for evaluation.
* ``extract_subimages``: SRCNN's aligned sub-images of (x^ILR, x^HR), 33x33 with stride 14.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from torch.utils.data import IterableDataset

from .degrade import bicubic_down, bicubic_up, mod_crop
from .download import locate
from .images import builtin_names, list_images, load_builtin, load_image

__all__ = ["warn_once", "record_data_source", "locate_dataset",
           "dataset_path", "get_images", "split_train_val", "sr_pair", "augment", "extract_subimages",
           "SRPatches"]

# Built-in stand-ins when a dataset is absent: evaluation sets and a training set never overlap.
BUILTIN_EVAL = ["astronaut", "coffee", "chelsea", "rocket", "camera"]
BUILTIN_TRAIN = ["china", "flower", "motorcycle", "immunohistochemistry", "coins", "moon",
                 "page", "text", "hubble"]
# Paintings' stand-in (notebooks 09-10): colourful, textured built-ins, not paintings.
BUILTIN_STYLES = ["immunohistochemistry", "hubble"]
_FALLBACK = {"Set5": BUILTIN_EVAL, "Set14": BUILTIN_EVAL, "T91": BUILTIN_TRAIN,
             "styles": BUILTIN_STYLES}
_said: set[str] = set()


def warn_once(key: str, msg: str) -> None:
    """Warn with ``msg`` the first time ``key`` is seen in this session, then stay quiet."""
    if key not in _said:
        _said.add(key)
        warnings.warn(msg, stacklevel=3)


def record_data_source(dataset: str, real: bool, source: str) -> None:
    """Append ``{"notebook", "dataset", "real", "source"}`` as one JSON line to the file named by
    ``COURSE_DATA_LOG`` (the test run sets it, see conftest.py; unset: do nothing).

    ``real`` is False when a built-in stand-in is used instead of ``dataset``. ``notebook`` comes
    from ``COURSE_NOTEBOOK`` (set by the test run for each notebook's kernel).
    """
    log = os.environ.get("COURSE_DATA_LOG")
    if not log:
        return
    rec = {"notebook": os.environ.get("COURSE_NOTEBOOK", ""), "dataset": dataset, "real": real,
           "source": source}
    try:
        with open(log, "a") as f:
            f.write(json.dumps(rec) + "\n")
    except OSError as e:
        warn_once("data-log", f"cannot write the data-source log {log} ({e.strerror}).")


def locate_dataset(name: str, cfg) -> tuple[Path | None, str]:
    """(folder, "data folder" or "mirror") of a registry dataset, or (None, why it is not
    available); the outcome is recorded with :func:`record_data_source`."""
    folder, how = locate(name, cfg.data_dir, cfg.mirror)
    if folder is None:
        source = f"not available: {how}"
    else:
        source = f"{folder}, copied from the mirror" if how == "mirror" else str(folder)
    record_data_source(name, folder is not None, source)
    return folder, how


def dataset_path(name: str, cfg) -> Path | None:
    """The folder of a registry dataset, from ``cfg.data_dir`` or ``cfg.mirror``; None if it is
    not available (absent, unreadable mirror, unwritable data folder; the reason is recorded)."""
    return locate_dataset(name, cfg)[0]


def get_images(name: str, cfg=None, mode: str = "rgb", fallback: bool = True
               ) -> tuple[list[torch.Tensor], list[str], str]:
    """Load a collection of images.

    Args:
        name: a registry dataset (``"Set5"``, ``"Set14"``, ``"T91"``), a folder path, or
            ``"builtin"`` (the built-in evaluation images).
        cfg: the notebook's ``setup()`` result (for the data folder and mirror).
        mode: ``"rgb"``, ``"y"`` or ``"auto"`` (see :func:`course_utils.images.load_image`).
        fallback: when the dataset is absent, use built-in images instead (and say so once).
    Returns:
        (images, names, source): each image (1, C, H, W) float32 in [0, 1]; ``source`` says where
        they came from, e.g. ``"Set5"`` or ``"built-in stand-in for Set5"``, for titles and tables.
    """
    if name == "builtin":
        return [load_builtin(n, mode) for n in BUILTIN_EVAL], list(BUILTIN_EVAL), "built-in images"
    folder, why = Path(name), "no data folder or mirror given (cfg=None)"
    if not folder.is_dir():
        folder, why = locate_dataset(name, cfg) if cfg is not None else (None, why)
    if folder is None:
        if not fallback or name not in _FALLBACK:
            raise FileNotFoundError(f"dataset {name!r} is not available offline ({why}). Fetch it "
                                    f"with `python data_scripts/download.py {name}` (or --mirror DIR).")
        warn_once(f"{name}: {why}", f"{name} is not available ({why}): using built-in "
                  f"images instead ({', '.join(_FALLBACK[name])}). Numbers will not be "
                  f"comparable to the papers'. Run `python data_scripts/download.py {name}`.")
        names = _FALLBACK[name]
        return [load_builtin(n, mode) for n in names], list(names), f"built-in stand-in for {name}"
    files = list_images(folder)
    return [load_image(f, mode) for f in files], [f.stem for f in files], folder.name


def split_train_val(images: list, names: list[str], n_val: int = 2, seed: int = 0):
    """Hold out ``n_val`` training images for validation (never Set5/Set14)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(images), generator=g).tolist()
    val, train = perm[:n_val], perm[n_val:]
    return ([images[i] for i in train], [names[i] for i in train],
            [images[i] for i in val], [names[i] for i in val])


def sr_pair(hr: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hr, lr): HR mod-cropped to ``scale`` and its bicubic LR (both (1, C, ., .) in [0, 1])."""
    hr = mod_crop(hr, scale)
    return hr, bicubic_down(hr, scale).clamp(0, 1)


def extract_subimages(ilr: torch.Tensor, hr: torch.Tensor, size: int = 33, stride: int = 14
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """SRCNN's training pairs (notebook 05, Exercise 5.1): the ``size`` x ``size`` sub-images of
    ``ilr`` and ``hr`` (both (1, C, H, W), same size) whose top-left corners are 0, stride,
    2 stride, ... while they fit inside the image, row by row; returns (inputs, targets), each
    (N, C, size, size), same dtype."""
    H, W = hr.shape[-2:]
    corners = [(t, l) for t in range(0, H - size + 1, stride) for l in range(0, W - size + 1, stride)]
    return (torch.stack([ilr[0, :, t:t + size, l:l + size] for t, l in corners]),
            torch.stack([hr[0, :, t:t + size, l:l + size] for t, l in corners]))


def augment(*xs: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Apply the same random flip and rot90 (one of the 8 dihedral transforms) to each tensor."""
    r = torch.randint(0, 8, (1,), generator=generator).item()
    out = []
    for x in xs:
        if r & 1:
            x = x.flip(-1)
        out.append(torch.rot90(x, r >> 1, dims=(-2, -1)))
    return out


class SRPatches(IterableDataset):
    """An endless, reproducible stream of random (input, target) patch pairs for SR training.

    Item ``i`` of the stream picks an image, a random HR patch of ``patch`` x ``patch`` pixels
    (a multiple of ``scale``) and a random flip/rot90, all from a generator seeded with
    ``(seed, i)``, and is

    * ``input``: the bicubic LR patch (C, patch/scale, patch/scale), or, with ``interpolate=True``,
      that LR patch enlarged back by bicubic (C, patch, patch) - the "ILR" input of SRCNN/VDSR;
    * ``target``: the HR patch (C, patch, patch).

    Iterating yields items ``position, position + 1, ...`` (``length`` of them per pass, e.g. per
    pass of a DataLoader) and advances ``position``: the next pass continues the stream instead of
    replaying it, nothing is ever permuted, and ``state_dict()``/``load_state_dict()`` save and
    restore the position (``course_utils.train.train_loop`` stores it with its checkpoint, so a
    resumed run sees the patches an uninterrupted run would have seen). ``ds[i]`` gives item ``i``.
    Use it with ``DataLoader(ds, batch_size=B)`` (no ``shuffle``: the patches are already random;
    ``num_workers=0``, so the position is counted in this process).

    LR is computed from the whole mod-cropped image once (no border effects inside patches).
    ``scale`` may be a list: each item then draws one of the scales (multi-scale training, VDSR);
    this needs ``interpolate=True`` so sizes agree.

    Args:
        images: list of (1, C, H, W) HR tensors in [0, 1], e.g. from :func:`get_images` with mode="y".
        scale: int or list of ints.
        patch: HR patch size in pixels.
        length: items per pass (``len(ds)``); the stream itself never ends.
        seed: makes the stream of patches reproducible.
    """

    def __init__(self, images: list[torch.Tensor], scale: int | list[int], patch: int = 33,
                 interpolate: bool = False, length: int = 10_000, augment: bool = True,
                 seed: int = 0):
        self.scales = list(scale) if isinstance(scale, (list, tuple)) else [int(scale)]
        if len(self.scales) > 1 and not interpolate:
            raise ValueError("multi-scale patches need interpolate=True (inputs of one size)")
        self.patch, self.interpolate, self.length, self.augment = patch, interpolate, length, augment
        self.seed = seed
        self.position = 0
        self.pairs: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        for s in self.scales:
            if patch % s and not interpolate:
                raise ValueError(f"patch={patch} is not a multiple of scale {s}")
            pairs = []
            for img in images:
                hr, lr = sr_pair(img, s)
                if min(hr.shape[-2:]) < patch:
                    continue
                inp = bicubic_up(lr, s).clamp(0, 1) if interpolate else lr
                pairs.append((inp[0], hr[0]))
            if not pairs:
                raise ValueError(f"no image is larger than the patch size {patch}")
            self.pairs[s] = pairs

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        for _ in range(self.length):
            i = self.position
            self.position += 1
            yield self[i]

    def state_dict(self) -> dict:
        """The stream's position (items handed out so far) and its seed."""
        return {"position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"this stream has seed {self.seed}, the saved one {state['seed']}")
        self.position = int(state["position"])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        s = self.scales[torch.randint(len(self.scales), (1,), generator=g).item()]
        pairs = self.pairs[s]
        inp, hr = pairs[torch.randint(len(pairs), (1,), generator=g).item()]
        H, W = hr.shape[-2:]
        step = 1 if self.interpolate else s
        top = torch.randint(0, (H - self.patch) // step + 1, (1,), generator=g).item() * step
        left = torch.randint(0, (W - self.patch) // step + 1, (1,), generator=g).item() * step
        t = hr[:, top:top + self.patch, left:left + self.patch]
        if self.interpolate:
            x = inp[:, top:top + self.patch, left:left + self.patch]
        else:
            p = self.patch // s
            x = inp[:, top // s:top // s + p, left // s:left // s + p]
        if self.augment:
            x, t = augment(x, t, generator=g)
        return x.contiguous(), t.contiguous()


def builtin_check() -> list[str]:  # used by notebook 00's environment check
    """Names of built-in images that load here (all should)."""
    ok = []
    for n in builtin_names():
        try:
            load_builtin(n)
            ok.append(n)
        except Exception:  # pragma: no cover - a broken scikit-image install
            pass
    return ok
