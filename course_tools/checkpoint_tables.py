"""The tables of ``checkpoints/README.md`` and the size budget of the shipped checkpoints.

    python -m course_tools.checkpoint_tables [FOLDER]   # both tables, to paste into the README

The first table is the registry (:data:`course_utils.zoo.REGISTRY`); the second is made from the
files themselves (their meta: command, steps, wall time, held-out score; their sha256). Tests keep
``checkpoints/README.md`` equal to them and ``checkpoints/`` within the budget.
"""
from __future__ import annotations

import sys
from pathlib import Path

from course_utils.checkpoints import load_checkpoint, read_sha256
from course_utils.zoo import REGISTRY

__all__ = ["MAX_FILE_BYTES", "MAX_TOTAL_BYTES", "budget_problems", "models_table", "table", "main"]

# Size budget of the checkpoints shipped in the repository (a test keeps checkpoints/ within it).
MAX_FILE_BYTES = 8_000_000
MAX_TOTAL_BYTES = 40_000_000


def budget_problems(folder: str | Path, max_file: int = MAX_FILE_BYTES,
                    max_total: int = MAX_TOTAL_BYTES) -> list[str]:
    """What breaks the size budget of the ``*.pt`` files in ``folder`` (empty list: none)."""
    files = sorted(Path(folder).glob("*.pt"))
    problems = [f"{f.name} is {f.stat().st_size / 1e6:.1f} MB, over the {max_file / 1e6:.0f} MB "
                "per-file budget (store it in float16 if that keeps PSNR within 0.01 dB)"
                for f in files if f.stat().st_size > max_file]
    total = sum(f.stat().st_size for f in files)
    if total > max_total:
        problems.append(f"the checkpoints total {total / 1e6:.1f} MB, over the "
                        f"{max_total / 1e6:.0f} MB budget")
    return problems


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
        digest = read_sha256(path.with_name(path.name + ".sha256"))
        command = " && ".join(f"`{c.strip()}`" for c in meta["command"].split("&&"))
        val = f"{meta['val_psnr']:.2f}" if "val_psnr" in meta else "– (judged by eye)"
        rows.append(f"| {path.name} | {command} | {meta['steps']} | {meta['seconds']:.0f} s | "
                    f"{val} | {digest[:8]}…{digest[-4:]} |")
    return "\n".join(rows)


def models_table() -> str:
    """A markdown table of :data:`course_utils.zoo.REGISTRY` (the first table of
    ``checkpoints/README.md``)."""
    rows = ["| model | architecture | kind | scales | input | channels | stored as | "
            "paper (Set5) | training defaults |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in REGISTRY.items():
        paper = ", ".join(f"x{s} {v[0]:.2f} dB" for (ds, s), v in sorted(r.paper.items())
                          if ds == "Set5") or "–"
        train = ", ".join(f"{k} {v}" for k, v in r.train.items() if v is not None)
        scales = ", ".join(f"x{s}" for s in r.scales) or "–"
        rows.append(f"| {name} | {r.description} | {r.kind} | {scales} | {r.input} | "
                    f"{r.channels} | {r.storage} | {paper} | {train} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from course_utils.profiles import default_checkpoint_dir
    folder = Path(argv[0]) if argv else default_checkpoint_dir()
    sys.stdout.write(models_table() + "\n\n" + table(folder) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
