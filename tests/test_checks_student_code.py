"""checks.student_code: a student's error inside a check becomes the course's CheckFailed."""
import pytest
import torch

from course_utils import checks


def test_student_error_becomes_check_failed_naming_it():
    with pytest.raises(checks.CheckFailed) as info:
        with checks.student_code("net(x) on a (1, 1, 4, 4) input", hint="padding=1 keeps the size"):
            torch.zeros(2, 3) + torch.zeros(4, 5)
    text = str(info.value)
    assert text.startswith("net(x) on a (1, 1, 4, 4) input raised RuntimeError: ")
    assert "size of tensor a" in text and text.endswith("Hint: padding=1 keeps the size")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_check_failed_and_unanswered_exercises_pass_through():
    with pytest.raises(checks.CheckFailed, match="^inner$"):
        with checks.student_code("outer"):
            checks.check(False, "inner")
    with pytest.raises(NotImplementedError):
        with checks.student_code("an exercise not written yet"):
            raise NotImplementedError()


def test_no_error_no_effect():
    with checks.student_code("fine"):
        y = 1 + 1
    assert y == 2
