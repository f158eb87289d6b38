"""Where the course's checkout is (no torch: the tools import this, not course_utils.profiles)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def repo_root() -> Path:
    """The course's top folder (the one holding course_tools/, course_utils/, solutions/)."""
    return ROOT
