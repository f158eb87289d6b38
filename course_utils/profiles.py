"""Profiles: one notebook, three sizes.

``setup()`` is the first call of every notebook. It picks a profile

* ``full`` - a GPU: the paper-sized runs,
* ``cpu``  - a laptop: the same code, smaller numbers (minutes, not hours),
* ``ci``   - the smoke run of the test suite (each notebook in under 2 minutes on 2 CPU cores),

from ``COURSE_PROFILE`` or automatically (``CI`` set -> ci, CUDA available -> full, else cpu),
chooses the device, seeds every random generator and finds the data and checkpoint folders.
Numbers that depend on the machine are then chosen with ``cfg.pick(full=..., cpu=..., ci=...)``.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["PROFILES", "Config", "setup", "repo_root", "default_data_dir", "default_checkpoint_dir"]

PROFILES = ("full", "cpu", "ci")
CURRENT: str | None = None      # the profile the last setup() chose (read by checks.claim)


def repo_root() -> Path:
    """The course's top folder (the one holding course_utils/)."""
    return Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """Where datasets go unless ``COURSE_DATA_DIR`` says otherwise.

    * a course folder (a git clone, ``pip install -e .``): ``data/`` inside it;
    * an installed package (``pip install .``; ``course_utils`` sits in site-packages, which may
      be read-only and is shared): a folder of the user's, ``$XDG_CACHE_HOME/pixels-from-nothing/data``
      (by default ``~/.cache/pixels-from-nothing/data``).
    """
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    if (root / "pyproject.toml").is_file() and (root / "course_utils").is_dir():
        return root / "data"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "pixels-from-nothing" / "data"



def default_checkpoint_dir() -> Path:
    """Where the shipped checkpoints are unless ``COURSE_CHECKPOINT_DIR`` says otherwise.

    * a course folder (a git clone, ``pip install -e .``): ``checkpoints/`` inside it;
    * an installed package (``pip install .``): the copy installed with it, the package data
      ``course_checkpoints`` (``site-packages/course_checkpoints/``, found without importing it).
    """
    env = os.environ.get("COURSE_CHECKPOINT_DIR")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    if (root / "pyproject.toml").is_file() and (root / "checkpoints").is_dir():
        return root / "checkpoints"
    installed = root / "course_checkpoints"  # beside course_utils/ in site-packages
    return installed if installed.is_dir() else root / "checkpoints"

@dataclass
class Config:
    """What ``setup()`` decided. ``pick`` chooses a number per profile."""

    profile: str
    device: torch.device
    seed: int
    data_dir: Path
    checkpoint_dir: Path
    mirror: Path | None

    def pick(self, full, cpu=None, ci=None):
        """The value for the current profile: ``cfg.pick(full=20_000, cpu=2_000, ci=20)``.

        ``cpu`` defaults to ``full`` and ``ci`` to ``cpu``.
        """
        cpu = full if cpu is None else cpu
        ci = cpu if ci is None else ci
        return {"full": full, "cpu": cpu, "ci": ci}[self.profile]

    @property
    def is_ci(self) -> bool:
        return self.profile == "ci"


def _choose_profile(profile: str | None) -> str:
    profile = profile or os.environ.get("COURSE_PROFILE", "").strip().lower() or None
    if profile is None:
        if os.environ.get("CI"):
            return "ci"
        return "full" if torch.cuda.is_available() else "cpu"
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: use one of {PROFILES} "
                         "(set COURSE_PROFILE or pass setup(profile=...))")
    return profile


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(profile: str | None = None, seed: int = 0, device: str | None = None,
          quiet: bool = False) -> Config:
    """Pick the profile and device, seed the RNGs, resolve folders; print one summary line.

    Args:
        profile: ``"full"``, ``"cpu"`` or ``"ci"``; default from ``COURSE_PROFILE`` or automatic.
        seed: the seed of every random generator (figures are reproducible).
        device: force a device (``"cpu"``, ``"cuda"``); default CUDA when available.
    Environment:
        COURSE_PROFILE;
        COURSE_DATA_DIR: where datasets are copied. Default: ``data/`` in the course folder (a
        clone or ``pip install -e .``); with a non-editable install (``pip install .``)
        ``$XDG_CACHE_HOME/pixels-from-nothing/data``, i.e. ``~/.cache/pixels-from-nothing/data``
        (see :func:`default_data_dir`). A read-only course folder: set it to a writable folder;
        COURSE_DATA_MIRROR: a local folder laid out like the course's data mirror;
        COURSE_CHECKPOINT_DIR: the folder of the shipped checkpoints (default: the course
        folder's ``checkpoints/``, or the copy a ``pip install .`` installed; see
        :func:`default_checkpoint_dir`).
    """
    global CURRENT
    profile = _choose_profile(profile)
    CURRENT = profile
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    seed_everything(seed)
    data_dir = default_data_dir()
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    cfg = Config(profile=profile, device=dev, seed=seed, data_dir=data_dir,
                 checkpoint_dir=default_checkpoint_dir(),
                 mirror=Path(mirror).expanduser() if mirror else None)
    if profile == "ci":
        # The smoke run uses small tensors on a small shared machine: one thread avoids threads
        # waiting on each other (measured 10-50x slower steps with two threads under load).
        torch.set_num_threads(1)
    if not quiet:
        print(f"profile={profile} | device={dev} | torch {torch.__version__} | seed={seed} | "
              f"data={data_dir}" + (f" | mirror={cfg.mirror}" if cfg.mirror else ""))
    return cfg
