"""course_utils.checks: a wrong answer always ends on CheckFailed, with a message that helps."""
import json
from pathlib import Path

import pytest
import torch

from course_utils import checks
from course_utils.checks import CheckFailed


def _student(x):
    y = x + 1
    return y @ torch.ones(3, 2)        # the student's bug: (2, 2) @ (3, 2)


def test_guard_turns_an_error_into_checkfailed_naming_it_and_the_students_line():
    with pytest.raises(CheckFailed) as e:
        with checks.guard("student(x)", hint="x is (2, 2)"):
            _student(torch.ones(2, 2))
    msg = str(e.value)
    assert msg.startswith("student(x) raised RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    assert "of your code: `return y @ torch.ones(3, 2)" in msg     # where, in the student's code
    assert "Hint: x is (2, 2)" in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__   # no raw traceback chained


def test_guard_never_quotes_the_checks_own_lines():
    with pytest.raises(CheckFailed) as e:
        with checks.guard("backward"):
            secret_hidden_line = torch.tensor(1.0)
            secret_hidden_line.backward()
    assert "secret_hidden_line" not in str(e.value)
    assert "raised RuntimeError" in str(e.value)


def test_guard_says_an_exercise_is_unanswered_and_lets_checkfailed_through():
    def unanswered():
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not written yet"):
        with checks.guard("unanswered()"):
            unanswered()
    with pytest.raises(CheckFailed, match="^inner$"):
        with checks.guard("outer"):
            raise CheckFailed("inner")
    with checks.guard("fine"):
        pass


def test_check_close_names_the_mistake_it_recognises():
    with pytest.raises(CheckFailed, match="Hint: you doubled it"):
        checks.check_close(torch.full((3,), 2.0), torch.ones(3), "x", hint="generic",
                           mistakes={"you halved it": torch.full((3,), 0.5), "you doubled it": torch.full((3,), 2.0)})
    with pytest.raises(CheckFailed, match="Hint: generic"):
        checks.check_close(torch.full((3,), 3.0), torch.ones(3), "x", hint="generic",
                           mistakes={"you doubled it": torch.full((3,), 2.0)})
    with pytest.raises(CheckFailed, match="Hint: natural log"):
        checks.check_close(46.05, 20.0, "psnr", rtol=1e-3, mistakes={"natural log": 46.0517})
    with pytest.raises(CheckFailed, match="Hint: wrong layout"):        # a mistake of another shape
        checks.check_close(torch.ones(2, 3), torch.ones(3, 2), "E", mistakes={"wrong layout": torch.ones(2, 3)})
    checks.check_close(torch.ones(3), torch.ones(3), mistakes={"never shown": torch.ones(3)})


def test_check_close_and_check_shape_fail_cleanly_on_odd_results():
    with pytest.raises(CheckFailed, match="(?s)NoneType.*forget `return`"):
        checks.check_close(None, torch.ones(2), "x")
    with pytest.raises(CheckFailed, match="expected a number"):
        checks.check_close("20 dB", 20.0, "psnr")
    with pytest.raises(CheckFailed, match="1 NaN"):
        checks.check_close(torch.tensor([float("nan"), 1.0]), torch.ones(2), "x")
    with pytest.raises(CheckFailed, match="tuple, expected a tensor"):
        checks.check_shape((1, 2), (2,), "x")
    with pytest.raises(CheckFailed, match="Hint: rows are images"):
        checks.check_shape(torch.ones(2, 3), (3, 2), "x", hint="rows are images")
    x = torch.ones(2, requires_grad=True)
    checks.check_close(x * 1, torch.ones(2))                           # a tensor that requires grad is fine


def test_guard_keeps_the_words_of_a_placeholder_that_names_its_exercise():
    with pytest.raises(CheckFailed, match="not written yet. Exercise 0.1 is yours to write"):
        with checks.guard("my_psnr(x, y)"):
            raise NotImplementedError("Exercise 0.1 is yours to write")


SOLUTIONS = sorted((Path(__file__).resolve().parents[1] / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_exercise_has_a_graded_check_with_hidden_tests(path):
    """#17: the check cell after each exercise is graded (points >= 1) and holds hidden tests after the visible check."""
    cells = json.loads(path.read_text())["cells"]
    problems = []
    for i, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("solution") or cell["cell_type"] != "code":
            continue
        check_id = "check" + cell["id"][2:]
        nxt = cells[i + 1] if i + 1 < len(cells) else {}
        grading = nxt.get("metadata", {}).get("nbgrader", {})
        src = "".join(nxt.get("source", ""))
        if nxt.get("id") != check_id or not grading.get("grade") or not grading.get("locked"):
            problems.append(f"{cell['id']}: the next cell is not its locked, graded check {check_id}")
        elif not (isinstance(grading.get("points"), (int, float)) and grading["points"] >= 1):
            problems.append(f"{check_id}: points = {grading.get('points')!r}")
        elif "### BEGIN HIDDEN TESTS" not in src or "### END HIDDEN TESTS" not in src:
            problems.append(f"{check_id}: no hidden tests")
        elif "passed(" not in src.split("### BEGIN HIDDEN TESTS")[0]:
            problems.append(f"{check_id}: the visible check must come first and end with passed(...)")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_claim_marks_and_logs(tmp_path, monkeypatch, capsys):
    from course_utils.checks import claim
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_LOG", str(log))
    monkeypatch.setenv("COURSE_PROFILE", "ci")
    monkeypatch.setenv("COURSE_NOTEBOOK", "99_test.ipynb")
    assert claim(3 > 2, "three beats two") is True
    assert claim(1 > 2, "one beats two", why="tiny run") is False
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "\u2714 three beats two"
    assert out[1].startswith("\u2718 not in this run (profile ci; tiny run)") and out[1].endswith("one beats two")
    import json
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["held"] for r in rows] == [True, False]
    assert rows[1] == {"notebook": "99_test.ipynb", "profile": "ci", "text": "one beats two", "held": False}


def test_fingerprint_tells_close_tensors_from_different_ones():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 7, generator=g)
    fx = checks.fingerprint(x)
    assert fx.shape == (10,) and fx.dtype == torch.float64
    assert torch.equal(fx, checks.fingerprint(x.clone()))                   # deterministic
    assert torch.allclose(fx, checks.fingerprint(x.double() + 1e-9), atol=1e-8)   # close tensors, close prints
    y = x.clone()
    y[1, 2, 3] += 0.05                                                      # one value changed
    assert not torch.allclose(fx, checks.fingerprint(y), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(fx, checks.fingerprint(x.transpose(1, 2)), rtol=1e-4, atol=1e-5)  # same values, other order
    assert torch.allclose(checks.fingerprint([x[:1], x[1:]]), fx)           # a list is concatenated flat
    assert checks.fingerprint(x, k=3).shape == (5,)
