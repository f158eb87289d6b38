"""What a student notebook raises where an answer is still to be written.

``release`` replaces each answer with ``# YOUR CODE HERE`` and a ``raise YourTurn("5.1")``. Run All
in a fresh student notebook then stops at the first unfinished exercise with one short line
("Exercise 5.1 is yours to write: ...") instead of a long ``NotImplementedError`` traceback.
``YourTurn`` *is* a ``NotImplementedError``, so nbgrader-style graders treat it as an unanswered
exercise.

``use_course_version`` is the hook for notebooks that let a student skip an exercise with the
course's implementation: the grader reports the exercises listed in ``USED_COURSE_VERSION``.
"""
from __future__ import annotations

__all__ = ["YourTurn", "use_course_version", "USED_COURSE_VERSION"]

USED_COURSE_VERSION: list[str] = []


class YourTurn(NotImplementedError):
    """An exercise whose answer is not written yet (``label`` like ``"5.1"``)."""

    def __init__(self, label: str = ""):
        self.label = label
        what = f"Exercise {label}" if label else "This exercise"
        super().__init__(f"{what} is yours to write: replace `# YOUR CODE HERE` and the lines "
                         "after it with your answer, run that cell, then run its check.")

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of the traceback: one red line."""
        return [f"\x1b[1;31m{self}\x1b[0m"]


def use_course_version(label: str) -> None:
    """Record that exercise ``label`` (e.g. ``"5.2"``) used the course's implementation."""
    if label not in USED_COURSE_VERSION:
        USED_COURSE_VERSION.append(label)
