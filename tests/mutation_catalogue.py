"""The mutation catalogue: plausible wrong answers to every exercise of the course.

Each entry rewrites the answer of one exercise cell (``exNN-k``) of a solution notebook: the text
``find`` (it must occur exactly once in that cell) becomes ``replace``. ``tests/test_mutations.py``
runs each notebook once in one kernel; at every exercise it runs each wrong answer, then the
exercise's check cell (``checkNN-k``), and requires the check to stop it with the course's
``CheckFailed`` (not another error, not a pass); then it restores the right answer.

A new notebook adds its own section: at least two wrong answers per exercise, each one a mistake a
student would plausibly make (a missing activation, a skipped layer, wrong padding, swapped indices,
a wrong sign or normalisation, an off-by-one), with a few words on what it is.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Mutation", "CATALOGUE"]


@dataclass(frozen=True)
class Mutation:
    exercise: str   # id of the exercise cell, e.g. "ex05-2"
    what: str       # the mistake, in a few words
    find: str       # exact text of the right answer, found exactly once in that cell
    replace: str    # the wrong answer put in its place


CATALOGUE: dict[str, list[Mutation]] = {}

# ---------------------------------------------------------------------------------------------
# 00-03
# ---------------------------------------------------------------------------------------------

CATALOGUE["00_welcome"] = [
    Mutation("ex00-1", "squared error summed, not averaged",
             find="torch.mean((y.double() - x.double()) ** 2)", replace="torch.sum((y.double() - x.double()) ** 2)"),
    Mutation("ex00-1", "peak value not squared",
             find="data_range**2 / mse", replace="data_range / mse"),
    Mutation("ex00-1", "natural log instead of log10",
             find="10 * np.log10(", replace="10 * np.log("),
    Mutation("ex00-1", "20 log10(L / MSE): the 8-bit formula's 20 without the square root",
             find="10 * np.log10(data_range**2 / mse)", replace="20 * np.log10(data_range / mse)"),
    Mutation("ex00-1", "no special case for identical images (division by zero)",
             find="    if mse == 0:\n        return float(\"inf\")\n", replace=""),
]


# ---------------------------------------------------------------------------------------------
# 04-07
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# 08-11
# ---------------------------------------------------------------------------------------------
