"""One notebook reader/writer (nbformat) and one executor (nbclient) for the course's tools.

    nb = read_notebook(path)                 # nbformat 4, validated; NotebookError names the file
    write_notebook(nb, path)                 # atomic; the repository's format (dumps)
    seconds = execute(nb, cwd, env=..., timeout=900)   # a fresh python3 kernel, top to bottom

The release, the site, ``benchmarks/run_times.py`` and the mutation suite use them, so a notebook
is read, written and executed the same way everywhere. No torch (nor nbclient until ``execute``)
at import.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

__all__ = ["NotebookError", "read_notebook", "dumps", "write_notebook", "execute"]


class NotebookError(ValueError):
    """A file that is not a readable notebook (the message names it and says what to do)."""


def read_notebook(path: str | Path):
    """The notebook at ``path`` as an ``nbformat.NotebookNode`` (a dict) in nbformat 4, with
    multi-line sources joined into strings; raises :class:`NotebookError` naming the file when it
    cannot be read, is not JSON, or is not a valid notebook."""
    import nbformat
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise NotebookError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # JSON errors, nbformat.ValidationError, unknown versions
        detail = " ".join(str(e).split())[:300]
        raise NotebookError(f"{path}: not a valid notebook ({type(e).__name__}: {detail}); fix "
                            "or restore it (git checkout -- it)") from None
    return nb


def dumps(nb: dict) -> str:
    """The repository's notebook format: JSON, indent 1, sorted keys, UTF-8 text, final newline."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write_notebook(nb: dict, path: str | Path) -> None:
    """Write ``nb`` to ``path`` atomically (a temporary file in the same folder, then a rename):
    an interruption leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dumps(nb))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def execute(nb, cwd: str | Path, env: dict | None = None, timeout: int = 900,
            allow_errors: bool = False) -> float:
    """Run every cell of ``nb`` (in place: outputs filled) in a fresh ``python3`` kernel started
    in ``cwd`` with ``env`` (default: this process's environment); returns the wall time in
    seconds. ``timeout`` is per cell. A failing cell raises nbclient's ``CellExecutionError``
    unless ``allow_errors``."""
    from nbclient import NotebookClient
    t0 = time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(**({} if env is None else {"env": env}))
    return time.time() - t0
