"""Helpers for the exercise checks: one clear line when right, an error with a hint when wrong.

A check runs the student's code inside ``guard(...)`` so that any error it raises (a shape
mismatch, a typo, an unanswered exercise) ends on the course's ``CheckFailed``, with the original
error and the line of the student's code that raised it, instead of a raw PyTorch traceback::

    with guard("my_psnr(x + 0.1, x)", hint="y and x have the same shape"):
        got = my_psnr(x + 0.1, x)
    check_close(got, 20.0, "PSNR of a constant error of 0.1", hint="...")
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import traceback
from pathlib import Path

import torch

__all__ = ["CheckFailed", "check", "check_close", "check_shape", "claim", "fingerprint", "guard", "passed"]


class CheckFailed(AssertionError):
    """An exercise check did not pass; the message says what was expected and a likely cause."""


def passed(what: str) -> None:
    print(f"\u2714 {what}")


def claim(condition, text: str, why: str = "") -> bool:
    """Print a sentence about this run's results, marked by whether this run agrees with it.

    A "What to notice" sentence that states an ordering or a number from the run (X beats Y, the
    gap shrinks) is written as ``claim(psnr_x > psnr_y, "X beats Y on Set5")``. When the values
    agree it prints ``✔ X beats Y on Set5``; when they do not, it prints the sentence with
    ``✘ not in this run (profile ...; why)`` so the text never says what the run contradicts.

    Args:
        condition: the claim evaluated on this run's values (anything ``bool()`` accepts).
        text: the sentence, in the course's words.
        why: the likely reason when it does not hold (e.g. "the ci profile trains 20 steps").
    Returns:
        ``bool(condition)``.
    Environment:
        COURSE_CLAIMS_LOG: a file to which each claim is appended as one JSON line
        (``benchmarks/run_times.py`` counts the claims of a run and those it contradicted).
    """
    held = bool(condition)
    profile = os.environ.get("COURSE_PROFILE", "") or _current_profile()
    if held:
        print(f"\u2714 {text}")
    else:
        reason = f"profile {profile}" + (f"; {why}" if why else "")
        print(f"\u2718 not in this run ({reason}): {text}")
    log = os.environ.get("COURSE_CLAIMS_LOG")
    if log:
        try:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"notebook": os.environ.get("COURSE_NOTEBOOK", ""), "profile": profile,
                                    "text": text, "held": held}) + "\n")
        except OSError:
            pass                      # the log is a measurement aid; the notebook goes on
    return held


def fingerprint(x, k: int = 8, seed: int = 0) -> torch.Tensor:
    """A short summary of a tensor, to compare a result with values stored with a check.

    A check that must not write its reference out (no forward pass in plain view) stores the
    fingerprint of the reference output, computed once, and compares the student's with
    :func:`check_close`. Two tensors that agree to within a tolerance have fingerprints that agree
    to within about that tolerance; a tensor that differs anywhere almost surely changes one of the
    ``k`` projections.

    Args:
        x: a tensor of any shape (or a list/tuple of tensors, concatenated flat).
        k: the number of random projections.
        seed: the seed of the projection vectors (the same seed gives the same vectors anywhere).
    Returns:
        float64 tensor (k + 2,): the mean, the root mean square, then ``k`` projections of the
        flattened values on fixed N(0, 1) vectors, divided by sqrt(number of values).
    """
    if isinstance(x, (list, tuple)):
        x = torch.cat([torch.as_tensor(t).detach().reshape(-1).double() for t in x])
    v = torch.as_tensor(x).detach().reshape(-1).double().cpu()
    n = max(v.numel(), 1)
    proj = torch.randn(k, v.numel(), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.cat([v.mean().reshape(1), v.pow(2).mean().sqrt().reshape(1), proj @ v / n ** 0.5])


def _current_profile() -> str:
    from . import profiles
    return getattr(profiles, "CURRENT", None) or "unknown"


def _with_hint(what: str, hint: str) -> str:
    return f"{what}" + (f"\n  Hint: {hint}" if hint else "")


def check(condition: bool, what: str, hint: str = "") -> None:
    """Raise CheckFailed(what + hint) unless ``condition``."""
    if not condition:
        raise CheckFailed(_with_hint(what, hint))


def _where(exc: BaseException) -> str:
    """' (line N of your code: `...`)' for the last frame of the error in the student's code.

    The frames of ``guard`` and of the check that called it are skipped (a check's source, hidden
    tests included, is never quoted), and so are the frames of library code (torch, numpy, ...).
    """
    library = (str(Path(torch.__file__).parents[1]), str(Path(__file__).parent))
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and frames[0].name == "guard":
        frames = frames[1:]
    for frame in reversed(frames[1:]):                 # frames[0]: the check's own `with guard(...)` block
        if not frame.filename.startswith(library) and frame.line:
            return f" (line {frame.lineno} of your code: `{frame.line.strip()}`)"
    return ""


@contextlib.contextmanager
def guard(what: str, hint: str = ""):
    """Run the student's code inside; any error becomes CheckFailed naming ``what`` and the error.

    ``NotImplementedError`` (the placeholder of an unanswered exercise) says so instead.
    """
    try:
        yield
    except CheckFailed:
        raise
    except NotImplementedError as e:
        said = str(e).strip()      # a placeholder that says which exercise keeps its words
        raise CheckFailed(f"{what}: not written yet. " + (said or "Replace `# YOUR CODE HERE` and "
                          "`raise NotImplementedError()` with your answer, run that cell, then this one.")
                          ) from None
    except Exception as e:  # noqa: BLE001 - any error of the student's code is reported the same way
        raise CheckFailed(_with_hint(f"{what} raised {type(e).__name__}: {str(e).strip()}{_where(e)}",
                                     hint)) from None


def _as_tensor(x, name: str, hint: str) -> torch.Tensor:
    try:
        return torch.as_tensor(x.detach() if torch.is_tensor(x) else x, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise CheckFailed(_with_hint(f"{name} is {type(x).__name__} {x!r:.60}, expected numbers "
                                     "(a tensor or a float)", hint or "did you forget `return`?")) from None


def check_shape(x, shape: tuple, name: str = "result", hint: str = "") -> None:
    """``x.shape`` must equal ``shape`` (use -1 for any size)."""
    check(hasattr(x, "shape"), f"{name} is {type(x).__name__}, expected a tensor of shape {shape}",
          "did you forget `return`, or return a tuple/list instead of a tensor?")
    got = tuple(x.shape)
    ok = len(got) == len(shape) and all(s == -1 or s == g for s, g in zip(shape, got))
    check(ok, f"{name} has shape {got}, expected {shape}", hint or "check the layout: images are (N, C, H, W)")


def _diagnose(actual, mistakes: dict | None, rtol: float, atol: float) -> str:
    """The hint of the first mistake whose value ``actual`` equals ("" if none)."""
    for hint, wrong in (mistakes or {}).items():
        try:
            a, w = _as_tensor(actual, "", ""), _as_tensor(wrong, "", "")
        except CheckFailed:
            continue
        if a.shape == w.shape and bool(torch.all((a - w).abs() <= atol + rtol * w.abs())):
            return hint
    return ""


def check_close(actual, expected, name: str = "result", rtol: float = 1e-5, atol: float = 1e-6,
                hint: str = "", mistakes: dict | None = None) -> None:
    """Numbers or tensors must agree within tolerances; the message gives the worst difference.

    ``mistakes`` maps a hint to the value that mistake would give: when ``actual`` equals one of
    them, that hint is shown instead of ``hint`` (the failure names the likely mistake).
    """
    def fail_hint():
        return _diagnose(actual, mistakes, rtol, atol) or hint

    if isinstance(expected, (int, float)) and not torch.is_tensor(actual):
        try:
            value = float(actual)
        except (TypeError, ValueError):
            raise CheckFailed(_with_hint(f"{name} is {type(actual).__name__} {actual!r:.60}, expected a number",
                                         hint or "did you forget `return`?")) from None
        ok = (math.isinf(expected) and value == expected) or math.isclose(
            value, expected, rel_tol=rtol, abs_tol=atol)
        if not ok:
            check(False, f"{name} = {value:.6g}, expected {expected:.6g}", fail_hint())
        return
    a = _as_tensor(actual, name, hint)
    e = _as_tensor(expected, "the expected value", "")
    if a.shape != e.shape:
        check(False, f"{name} has shape {tuple(a.shape)}, expected {tuple(e.shape)}", fail_hint())
    n_bad = int((a.isnan() & ~e.isnan()).sum())
    check(n_bad == 0, f"{name} has {n_bad} NaN value(s)", hint or "a 0/0, a log of 0 or of a negative number?")
    diff = (a - e).abs()
    ok = bool(torch.all(diff <= atol + rtol * e.abs()))
    if not ok:
        worst = diff.nan_to_num(float("inf")).max().item() if diff.numel() else 0.0
        check(False, f"{name} differs from the expected values by up to {worst:.3g} "
                     f"(tolerance {atol:g} + {rtol:g}*|expected|)", fail_hint())
