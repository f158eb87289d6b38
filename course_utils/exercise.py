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

An exercise that asks for several functions in one cell binds them all at once: its entry names
them separated by commas (``"module:a,b"``) and the switch reads
``# a, b = course_utils.course_version("2.2")``.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["YourTurn", "course_version", "use_course_version", "USED_COURSE_VERSION", "COURSE_VERSIONS"]

USED_COURSE_VERSION: list[str] = []

# Exercise label -> "module:attribute" of the course's implementation of that exercise's answer
# ("module:a,b,c" when the exercise defines several names: course_version then returns a tuple).
# One section per notebook; the switch test (tests/test_mutations.py) runs every entry through the
# exercise's full check, hidden tests included.
COURSE_VERSIONS: dict[str, str] = {
    # 00 welcome
    "0.1": "course_utils.metrics:psnr",
    # 01 Gaussian generation
    "1.1": "course_utils.gen_data:fit_gaussian",
    "1.2": "course_utils.gen_data:sample_gaussian",
    "1.3": "course_utils.gen_data:reconstruct_gaussian",
    # 02 GANs
    "2.1": "course_utils.train:d_loss",
    "2.2": "course_utils.train:g_loss_minimax,g_loss_nonsat",
    "2.3": "course_utils.models:DCGANGenerator",
    "2.4": "course_utils.train:gan_train_step",
    # 03 interpolation
    "3.1": "course_utils.resize:nearest_kernel,linear_kernel,cubic",
    "3.2": "course_utils.resize:interp_matrix",
    "3.3": "course_utils.resize:resample",
    # 04 inverse problems
    "4.1": "course_utils.inverse:H_T",
    "4.2": "course_utils.inverse:cg",
    "4.3": "course_utils.inverse:tv_gradient",
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
    "8.1": "course_utils.srgan:ResidualBlock",
    "8.2": "course_utils.srgan:Upsampler",
    "8.3": "course_utils.features:perceptual_loss",
    # 09 Gatys
    "9.1": "course_utils.features:gram",
    "9.2": "course_utils.features:gatys_loss",
    # 10 Johnson
    "10.1": "course_utils.stylize:ResidualBlock",
    "10.2": "course_utils.stylize:TransformNet",
    # 11 PixelCNN SR
    "11.1": "course_utils.pixelcnn:causal_mask",
    "11.2": "course_utils.pixelcnn:gate,down_shift",
    "11.3": "course_utils.pixelcnn:spade_norm",
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
    Returns one object, or a tuple of them (in the entry's order) for an exercise that defines
    several names. Raises ``KeyError`` naming the known labels when ``label`` has no course version.
    """
    if label not in COURSE_VERSIONS:
        raise KeyError(f"no course version of Exercise {label!r}; known: {', '.join(sorted(COURSE_VERSIONS))}")
    module, _, names = COURSE_VERSIONS[label].partition(":")
    mod = importlib.import_module(module)
    objs = tuple(getattr(mod, name) for name in names.split(","))
    obj = objs[0] if len(objs) == 1 else objs
    use_course_version(label)
    print(f"Exercise {label}: going on with the course's version ({COURSE_VERSIONS[label]}); "
          "the grader will see this. Come back to it when you can.")
    return obj
