"""Saving and loading model weights safely.

A course checkpoint is a plain dict saved by ``torch.save``::

    {"format": "pixels-from-nothing/1", "name": "srcnn-x3", "state_dict": {...}, "meta": {...}}

with the sha256 of the file beside it (``NAME.pt.sha256``). Loading uses
``torch.load(weights_only=True)`` (no code is ever unpickled), checks the sha256 and the format
marker, and refuses anything else with a message that says what to do. The shipped models'
records, loading and saving are in :mod:`course_utils.zoo`; the tables of ``checkpoints/README.md``
are written by ``python -m course_tools.checkpoint_tables``.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import torch

from .download import sha256sum

__all__ = ["FORMAT", "TORCH_MIN", "CheckpointError", "torch_too_old", "check_torch", "save_checkpoint", "load_checkpoint", "load_weights",
           "read_sha256"]

FORMAT = "pixels-from-nothing/1"
# The oldest torch whose torch.load(weights_only=True) has no known way to run code or corrupt
# memory from a crafted file: CVE-2025-32434 (GHSA-53q9-r3pm-6pq6, fixed in 2.6.0) and
# GHSA-63cw-57p8-fm3p (CVE-2026-24747, torch <= 2.9.1, fixed in 2.10.0). pyproject.toml says the same.
TORCH_MIN = (2, 10)


def torch_too_old(version: str) -> bool:
    """True when the torch ``version`` string ("2.9.1+cu121", "2.10.0a0", ...) is below TORCH_MIN."""
    m = re.match(r"(\d+)\.(\d+)", version)
    return m is not None and (int(m[1]), int(m[2])) < TORCH_MIN


def check_torch(version: str | None = None) -> None:
    """Raise :class:`CheckpointError` saying what to do when torch is older than TORCH_MIN
    (the course loads checkpoints with ``weights_only=True``, unsafe before it)."""
    version = version or torch.__version__
    if torch_too_old(version):
        need = ".".join(map(str, TORCH_MIN))
        raise CheckpointError(
            f"torch {version} is too old to load checkpoints safely: torch.load(weights_only=True) "
            f"before {need} can run code from a crafted file (CVE-2025-32434, CVE-2026-24747). "
            f"Upgrade: pip install 'torch>={need}' (then restart the kernel).")


class CheckpointError(RuntimeError):
    """A file is not a usable course checkpoint."""


def save_checkpoint(path: str | Path, state_dict: dict, name: str, meta: dict | None = None,
                    extra: dict | None = None, half: bool = False) -> str:
    """Write a checkpoint atomically and its ``.sha256`` beside it; return the sha256.

    Args:
        state_dict: ``model.state_dict()`` (tensors only).
        meta: plain facts (numbers, strings, lists): command, steps, time, scores.
        extra: more tensors/state dicts to resume training (optimizer, history).
        half: store the float32 tensors of ``state_dict`` as float16 (half the size;
            :func:`load_checkpoint` gives them back as float32). Use it only when it was measured
            not to change the model's results (the course's rule: PSNR within 0.01 dB).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if half:
        state_dict = {k: v.half() if v.dtype == torch.float32 else v for k, v in state_dict.items()}
    obj = {"format": FORMAT, "name": name, "state_dict": state_dict, "meta": meta or {}}
    if half:
        obj["stored"] = "float16"
    if extra:
        obj["extra"] = extra
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    digest = sha256sum(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def load_checkpoint(path: str | Path, name: str | None = None, expected_sha256: str | None = None,
                    map_location="cpu") -> dict:
    """Load and check a course checkpoint; return its dict (``state_dict``, ``meta``, ...).

    The sha256 is compared with ``expected_sha256`` or, if not given, with ``PATH.sha256``
    when that file exists. Raises :class:`CheckpointError` with what to do otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint. Train it (train=True) or restore "
                              "the file from the course repository.")
    side = path.with_name(path.name + ".sha256")
    if expected_sha256 is None and side.is_file():
        expected_sha256 = read_sha256(side)
    if expected_sha256 is not None:
        actual = sha256sum(path)
        if actual != expected_sha256:
            raise CheckpointError(f"{path}: sha256 is {actual}, expected {expected_sha256}. The "
                                  "file is damaged or not the course's: delete it and retrain, or "
                                  "restore it with `git checkout -- checkpoints/`.")
    check_torch()
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a checkpoint this course can load safely "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:200]}). Course "
                              "checkpoints hold tensors only; delete the file and retrain.") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "state_dict" not in obj:
        raise CheckpointError(f"{path}: not a Pixels-from-Nothing checkpoint (no '{FORMAT}' "
                              "marker). Load a plain state_dict yourself with "
                              "torch.load(path, weights_only=True), or retrain with train=True.")
    if name is not None and obj.get("name") != name:
        raise CheckpointError(f"{path}: holds {obj.get('name')!r}, not {name!r}.")
    if obj.get("stored") == "float16":
        obj["state_dict"] = {k: v.float() if v.dtype == torch.float16 else v
                             for k, v in obj["state_dict"].items()}
    return obj


def read_sha256(side: str | Path) -> str:
    """The sha256 written in a ``NAME.pt.sha256`` file (``"<64 hex digits>  NAME.pt"``).

    Raises :class:`CheckpointError` naming the file when it is empty or malformed.
    """
    side = Path(side)
    try:
        words = side.read_text(errors="replace").split()
    except OSError as e:
        raise CheckpointError(f"{side}: cannot read it ({e.strerror}).") from None
    digest = words[0].lower() if words else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise CheckpointError(
            f"{side}: {'empty' if not words else 'malformed'}; it should hold the checkpoint's "
            "sha256 (64 hex digits, then the file name). Restore it with "
            "`git checkout -- checkpoints/`, or delete the checkpoint and this file and retrain.")
    return digest


def load_weights(model: torch.nn.Module, state_dict: dict, path: str | Path = "the checkpoint"
                 ) -> torch.nn.Module:
    """``model.load_state_dict(state_dict)``, with a :class:`CheckpointError` naming ``path``
    when the names or shapes do not fit the model (e.g. a checkpoint of another architecture)
    or a weight is NaN/inf. Returns the model."""
    bad = [k for k, v in state_dict.items()
           if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path}: the weights {', '.join(bad[:3])} hold NaN or inf values; "
                              "the training diverged or the file is damaged. Retrain it (lower "
                              "learning rate) or restore the course's file.")
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as e:
        detail = " ".join(str(e).split())[:300]
        raise CheckpointError(f"{path}: its weights do not fit {type(model).__name__} ({detail}). "
                              "It belongs to another architecture or version: retrain it "
                              "(train=True) or restore the course's file.") from None
    return model
