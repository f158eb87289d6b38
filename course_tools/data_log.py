"""The test run's data log: which data each notebook used, and stand-ins used by mistake.

The notebooks' kernels log every dataset lookup (``course_utils.data.record_data_source``, one JSON
line each, to the file named by ``COURSE_DATA_LOG``); the test run (``conftest.py``) reads the log at
the end, lists the data each notebook used, and fails if a notebook used a built-in stand-in for a
dataset that the data folder or the mirror holds. No torch at import.
"""
from __future__ import annotations

import json
from pathlib import Path

from course_utils.download import status

__all__ = ["read_data_log", "check_data_log"]


def read_data_log(log: str | Path) -> list[dict]:
    """The records of :func:`record_data_source` in ``log`` (none if the file does not exist)."""
    try:
        lines = Path(log).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def check_data_log(records: list[dict], data_dir: Path, mirror: Path | None
                   ) -> tuple[list[str], list[str]]:
    """Summarise which data each notebook used; find stand-ins used while the real data was there.

    Only records made inside a notebook (``notebook`` not empty) count. Returns (summary lines,
    problems); a problem is a dataset a notebook replaced by a stand-in although ``data_dir`` or
    ``mirror`` holds it.
    """
    used: dict[str, dict[str, str]] = {}
    problems = []
    for r in records:
        if not r.get("notebook"):
            continue
        where = r["source"] if r["real"] else "STAND-IN"
        used.setdefault(r["notebook"], {}).setdefault(r["dataset"], where)
        if not r["real"]:
            available = status(r["dataset"], data_dir, mirror)
            if available != "absent":
                problems.append(f"{r['notebook']} used a built-in stand-in for {r['dataset']} "
                                f"although the {available} has it ({r['source']})")
    summary = [f"{nb}: " + ", ".join(f"{d} ({w})" for d, w in sorted(ds.items()))
               for nb, ds in sorted(used.items())]
    return summary, list(dict.fromkeys(problems))
