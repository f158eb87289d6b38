"""Saving and loading model weights safely.

A course checkpoint is a plain dict saved by ``torch.save``::

    {"format": "pixels-from-nothing/1", "name": "srcnn-x3", "state_dict": {...}, "meta": {...},
     "digest": "<sha256 of the content>"}

``digest`` is the sha256 of the content itself (every tensor's dtype, shape and bytes, every
number and string: :func:`content_digest`), stored inside the file, so the file and its digest
are written in one atomic step (a temporary ``.NAME.PID.part`` in the same folder, then
``os.replace``; a ``.part`` left by a killed writer is removed by the next save). The sha256 of
the whole file is also written beside it (``NAME.pt.sha256``) for the README's table and older
readers. Loading uses ``torch.load(weights_only=True)`` (no code is ever unpickled), checks the
inner digest (files of the first format, which have none, are checked against their
``.sha256``; a file with neither is refused), the format marker, and refuses anything else with a
message that says what to do.

The shipped models' records, loading and saving are in :mod:`course_utils.zoo`; the tables of
``checkpoints/README.md`` are written by ``python -m course_tools.checkpoint_tables``.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import torch

from .download import sha256sum

__all__ = ["FORMAT", "TORCH_MIN", "CheckpointError", "torch_too_old", "check_torch", "save_checkpoint",
           "load_checkpoint", "load_weights", "read_sha256", "content_digest"]

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
    """Write a checkpoint, its content digest inside it, atomically; then its ``.sha256``
    beside it (the file's sha256, for the README's table); return the file's sha256.

    Args:
        state_dict: ``model.state_dict()`` (tensors only, on any device: they are stored from the
            CPU, so the file loads on a machine without that device).
        meta: plain facts (numbers, strings, lists): command, steps, time, scores.
        extra: more tensors/state dicts to resume training (optimizer, history).
        half: store the float32 tensors of ``state_dict`` as float16 (half the size;
            :func:`load_checkpoint` gives them back as float32). Use it only when it was measured
            not to change the model's results (the course's rule: PSNR within 0.01 dB).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = {k: v.detach().cpu() for k, v in state_dict.items()}
    if half:
        state_dict = {k: v.half() if v.dtype == torch.float32 else v for k, v in state_dict.items()}
    obj = {"format": FORMAT, "name": name, "state_dict": state_dict, "meta": meta or {}}
    if half:
        obj["stored"] = "float16"
    if extra:
        obj["extra"] = extra
    obj["digest"] = content_digest(obj)
    _clean_stale_parts(path)
    _atomic_write(path, lambda f: torch.save(obj, f))
    digest = sha256sum(path)
    _atomic_write(path.with_name(path.name + ".sha256"),
                  lambda f: f.write(f"{digest}  {path.name}\n".encode()))
    return digest


def _atomic_write(path: Path, write) -> Path:
    """``write(binary file)`` into ``.NAME.PID.XXXX.part`` beside ``path``, then ``os.replace``
    it onto ``path`` (readers see the old file or the new one, never half of one)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _clean_stale_parts(path: Path) -> list[Path]:
    """Remove the ``.part`` files of ``path`` left by writers that no longer run (killed while
    saving); return them. A part of a live process (a concurrent save) is left alone."""
    removed = []
    for part in path.parent.glob(f".{path.name}.*.part"):
        pid = part.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue
        try:
            part.unlink()
            removed.append(part)
        except OSError:
            pass
    for part in path.parent.glob("tmp*.part"):  # the first format's temporary names
        try:
            part.unlink()
            removed.append(part)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def content_digest(obj) -> str:
    """The sha256 of a checkpoint's content (its ``"digest"`` entry left out): dict keys in
    sorted order, every tensor's dtype, shape and bytes, every other value's ``repr``. The same
    content gives the same digest whatever the file's bytes (zip layout, torch version)."""
    h = hashlib.sha256()

    def walk(x):
        if isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=repr):
                if k == "digest" and x is obj:
                    continue
                h.update(repr(k).encode() + b":")
                walk(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[" if isinstance(x, list) else b"(")
            for v in x:
                walk(v)
                h.update(b",")
            h.update(b"]")
        elif torch.is_tensor(x):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(x).encode())

    walk(obj)
    return h.hexdigest()


def load_checkpoint(path: str | Path, name: str | None = None, expected_sha256: str | None = None,
                    map_location="cpu") -> dict:
    """Load and check a course checkpoint; return its dict (``state_dict``, ``meta``, ...).

    The file's sha256 is compared with ``expected_sha256`` when given (the registry's record of
    a shipped file). The content is checked against the digest stored inside the file; a file of
    the first format (no inner digest) against ``PATH.sha256``, and refused when that is missing.
    A ``PATH.sha256`` that disagrees with a file whose inner digest holds is stale (a save killed
    between the two files) and ignored. Raises :class:`CheckpointError` with what to do otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint. Train it (train=True) or restore "
                              "the file from the course repository.")
    side = path.with_name(path.name + ".sha256")
    if expected_sha256 is not None:  # a digest the caller holds (the registry's): the file's
        _check_file_sha256(path, expected_sha256)
    check_torch()
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or e}). Give yourself read "
                              "permission (chmod u+r) or copy the file somewhere readable.") from None
    except Exception as e:
        raise CheckpointError(f"{path}: not a checkpoint this course can load safely "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:200]}). Course "
                              "checkpoints hold tensors only; delete the file and retrain.") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "state_dict" not in obj:
        raise CheckpointError(f"{path}: not a Pixels-from-Nothing checkpoint (no '{FORMAT}' "
                              "marker). Load a plain state_dict yourself with "
                              "torch.load(path, weights_only=True), or retrain with train=True.")
    if "digest" in obj:
        if content_digest(obj) != obj["digest"]:
            raise CheckpointError(f"{path}: its content does not match the digest stored inside "
                                  "it: the file is damaged. Delete it and retrain, or restore it "
                                  "with `git checkout -- checkpoints/`.")
    elif expected_sha256 is None:  # the first format: the digest lives beside the file only
        if not side.is_file():
            raise CheckpointError(f"{path}: no digest inside it and no {side.name} beside it, so "
                                  "nothing says it is the file that was trained. Restore both "
                                  "with `git checkout -- checkpoints/`, or delete it and retrain.")
        _check_file_sha256(path, read_sha256(side))
    if name is not None and obj.get("name") != name:
        raise CheckpointError(f"{path}: holds {obj.get('name')!r}, not {name!r}.")
    if obj.get("stored") == "float16":
        obj["state_dict"] = {k: v.float() if v.dtype == torch.float16 else v
                             for k, v in obj["state_dict"].items()}
    return obj


def _check_file_sha256(path: Path, expected: str) -> None:
    try:
        actual = sha256sum(path)
    except PermissionError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or e}). Give yourself read "
                              "permission (chmod u+r) or copy the file somewhere readable.") from None
    if actual != expected:
        raise CheckpointError(f"{path}: sha256 is {actual}, expected {expected}. The "
                              "file is damaged or not the course's: delete it and retrain, or "
                              "restore it with `git checkout -- checkpoints/`.")


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
