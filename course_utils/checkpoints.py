"""Saving and loading model weights safely.

A course checkpoint is a plain dict saved by ``torch.save``::

    {"format": "pixels-from-nothing/1", "name": "srcnn-x3", "state_dict": {...}, "meta": {...}}

with the sha256 of the file beside it (``NAME.pt.sha256``). Loading uses
``torch.load(weights_only=True)`` (no code is ever unpickled), checks the sha256 and the format
marker, and refuses anything else with a message that says what to do.

    python -m course_utils.checkpoints      # the table of checkpoints/README.md, from the metas
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import torch

from .download import sha256sum

__all__ = ["FORMAT", "CheckpointError", "save_checkpoint", "load_checkpoint", "table"]

FORMAT = "pixels-from-nothing/1"


class CheckpointError(RuntimeError):
    """A file is not a usable course checkpoint."""


def save_checkpoint(path: str | Path, state_dict: dict, name: str, meta: dict | None = None,
                    extra: dict | None = None) -> str:
    """Write a checkpoint atomically and its ``.sha256`` beside it; return the sha256.

    Args:
        state_dict: ``model.state_dict()`` (tensors only).
        meta: plain facts (numbers, strings, lists): command, steps, time, scores.
        extra: more tensors/state dicts to resume training (optimizer, history).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {"format": FORMAT, "name": name, "state_dict": state_dict, "meta": meta or {}}
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
        expected_sha256 = side.read_text().split()[0]
    if expected_sha256 is not None:
        actual = sha256sum(path)
        if actual != expected_sha256:
            raise CheckpointError(f"{path}: sha256 is {actual}, expected {expected_sha256}. The "
                                  "file is damaged or not the course's: delete it and retrain, or "
                                  "restore it with `git checkout -- checkpoints/`.")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a checkpoint this course can load safely "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200]}). Course "
                              "checkpoints hold tensors only; delete the file and retrain.") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "state_dict" not in obj:
        raise CheckpointError(f"{path}: not a Pixels-from-Nothing checkpoint (no '{FORMAT}' "
                              "marker). Load a plain state_dict yourself with "
                              "torch.load(path, weights_only=True), or retrain with train=True.")
    if name is not None and obj.get("name") != name:
        raise CheckpointError(f"{path}: holds {obj.get('name')!r}, not {name!r}.")
    return obj


def table(folder: str | Path) -> str:
    """A markdown table of every checkpoint in ``folder``, made from the files themselves.

    One row per ``*.pt``: its command, steps, wall time and held-out score (from ``meta``) and
    its sha256 (checked on loading). ``checkpoints/README.md`` holds this table; a test keeps the
    two equal, so the README cannot drift from the files.
    """
    rows = ["| file | command | steps | wall time | held-out PSNR (dB) | sha256 |",
            "| --- | --- | --- | --- | --- | --- |"]
    for path in sorted(Path(folder).glob("*.pt")):
        meta = load_checkpoint(path)["meta"]
        digest = path.with_name(path.name + ".sha256").read_text().split()[0]
        command = " && ".join(f"`{c.strip()}`" for c in meta["command"].split("&&"))
        val = f"{meta['val_psnr']:.2f}" if "val_psnr" in meta else "– (judged by eye)"
        rows.append(f"| {path.name} | {command} | {meta['steps']} | {meta['seconds']:.0f} s | "
                    f"{val} | {digest[:8]}…{digest[-4:]} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(table(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent
                           / "checkpoints") + "\n")
