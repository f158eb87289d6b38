"""Helpers for the exercise checks: one clear line when right, an error with a hint when wrong."""
from __future__ import annotations

import math

import torch

__all__ = ["CheckFailed", "check", "check_close", "check_shape", "passed"]


class CheckFailed(AssertionError):
    """An exercise check did not pass; the message says what was expected and a likely cause."""


def passed(what: str) -> None:
    print(f"\u2714 {what}")


def check(condition: bool, what: str, hint: str = "") -> None:
    """Raise CheckFailed(what + hint) unless ``condition``."""
    if not condition:
        raise CheckFailed(f"{what}" + (f"\n  Hint: {hint}" if hint else ""))


def check_shape(x, shape: tuple, name: str = "result") -> None:
    """``x.shape`` must equal ``shape`` (use -1 for any size)."""
    got = tuple(x.shape)
    ok = len(got) == len(shape) and all(s == -1 or s == g for s, g in zip(shape, got))
    check(ok, f"{name} has shape {got}, expected {shape}",
          "check the layout: images are (N, C, H, W)")


def check_close(actual, expected, name: str = "result", rtol: float = 1e-5, atol: float = 1e-6,
                hint: str = "") -> None:
    """Numbers or tensors must agree within tolerances; the message gives the worst difference."""
    if isinstance(expected, (int, float)) and not torch.is_tensor(actual):
        ok = (math.isinf(expected) and actual == expected) or math.isclose(
            float(actual), expected, rel_tol=rtol, abs_tol=atol)
        check(ok, f"{name} = {actual!r}, expected {expected!r}", hint)
        return
    a = torch.as_tensor(actual, dtype=torch.float64)
    e = torch.as_tensor(expected, dtype=torch.float64)
    check(a.shape == e.shape, f"{name} has shape {tuple(a.shape)}, expected {tuple(e.shape)}", hint)
    diff = (a - e).abs()
    ok = bool(torch.all(diff <= atol + rtol * e.abs()))
    check(ok, f"{name} differs from the expected values by up to {diff.max().item():.3g} "
              f"(tolerance {atol:g} + {rtol:g}*|expected|)", hint)


# ---------------------------------------------------------------------------------------------
# Running the student's code inside a check (added with the checks of notebooks 04-07)
# ---------------------------------------------------------------------------------------------
import contextlib  # noqa: E402 - kept with the helper that uses it


@contextlib.contextmanager
def student_code(what: str, hint: str = ""):
    """Turn an error raised by the student's code into ``CheckFailed`` that names it.

    ``with student_code("SRCNN()(x) on a (2, 1, 33, 33) input", hint="..."):`` around the calls
    of a check: a wrong answer then ends on the course's message (what was called, the original
    error's type and first line, a hint), not on a raw PyTorch traceback. ``CheckFailed`` and
    ``NotImplementedError`` (an exercise not written yet) pass through unchanged.
    """
    try:
        yield
    except (CheckFailed, NotImplementedError):
        raise
    except Exception as err:  # noqa: BLE001 - any error of the student's code becomes a check failure
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise CheckFailed(f"{what} raised {type(err).__name__}: {' '.join(lines[:2])[:300]}"
                          + (f"\n  Hint: {hint}" if hint else "")) from None
