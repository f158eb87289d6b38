"""What a student notebook raises where an answer is still to be written.

``release`` replaces each answer with ``# YOUR CODE HERE`` and a ``raise YourTurn("5.1")``. Run All
in a fresh student notebook then stops at the first unfinished exercise with one short line
("Exercise 5.1 is yours to write: ...") instead of a long ``NotImplementedError`` traceback.
``YourTurn`` *is* a ``NotImplementedError``, so nbgrader-style graders treat it as an unanswered
exercise.

**Stuck? Continue with the course's version.** Every exercise cell ends with a commented switch,
visible in the student notebook::

    # Stuck? Uncomment the next line to go on with the course's version (the grader will see it).
    # extract_subimages = course_utils.course_version("5.1")

Uncommented, it binds the name to the course's implementation (:data:`COURSE_VERSIONS` says where it
lives), prints one line saying so and records the label in ``USED_COURSE_VERSION``; the check then
passes on the course's code, the rest of the notebook runs, and the grader gives that exercise no
points and says why. Nothing is imported from the course's answers unless a student flips a switch.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["YourTurn", "course_version", "use_course_version", "USED_COURSE_VERSION", "COURSE_VERSIONS"]

USED_COURSE_VERSION: list[str] = []

# Exercise label -> "module:attribute" of the course's implementation of that exercise's answer.
# One section per notebook; the switch test (tests/test_mutations.py) runs every entry through the
# exercise's full check, hidden tests included.
COURSE_VERSIONS: dict[str, str] = {
    # 00 welcome
    "0.1": "course_utils.metrics:psnr",
    # 01 Gaussian generation
    # 02 GANs
    # 03 interpolation
    # 04 inverse problems
    # 05 SRCNN
    "5.1": "course_utils.data:extract_subimages",
    "5.2": "course_utils.models:SRCNN",
    # 06 VDSR
    "6.1": "course_utils.models:VDSR",
    "6.2": "course_utils.train:clip_adjustable_",
    # 07 FSRCNN
    "7.1": "course_utils.models:FSRCNN",
    "7.2": "course_utils.models:deconv_as_conv",
    "7.3": "course_utils.models:fsrcnn_to_scale",
    # 08 SRGAN
    # 09 Gatys
    # 10 Johnson
    # 11 PixelCNN SR
}


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


def course_version(label: str) -> Any:
    """The course's implementation of exercise ``label`` (e.g. ``"5.1"``), for a student who is stuck.

    Records the label (the grader reports it and gives the exercise no points) and prints one line.
    Raises ``KeyError`` naming the known labels when ``label`` has no course version.
    """
    if label not in COURSE_VERSIONS:
        raise KeyError(f"no course version of Exercise {label!r}; known: {', '.join(sorted(COURSE_VERSIONS))}")
    module, _, name = COURSE_VERSIONS[label].partition(":")
    obj = getattr(importlib.import_module(module), name)
    use_course_version(label)
    print(f"Exercise {label}: going on with the course's version ({COURSE_VERSIONS[label]}); "
          "the grader will see this. Come back to it when you can.")
    return obj
