"""Correct but unusual work the grader must not mark down (issue 26), graded by the real grader.

- Each solution notebook with ``torch.set_default_dtype(torch.float64)`` in its setup cell gets full
  marks (before: 03 6/7, 00 0.5/1, 02 6/8, 07 5/8, 08 3/5, 09 1.5/2: hidden tests and checks built
  their "float32" inputs, fixed weights and modules with the default dtype); the checks alone accept
  it too (without the grader's reset of the default dtype: what the student sees in the notebook).
- Notebook 03 with the Going-further Lanczos kernel added to ``KERNELS`` gets full marks (before:
  5.5/7, check 3.2 tested every entry of ``KERNELS``); a Lanczos kernel written in place of Keys'
  cubic fails check 3.1 with a message that says so (the exercise asks for Keys' kernel).

One batch, graded once in bubblewrap (two workers), as in tests/test_grade_sandbox.py, under the
grader's default memory limit (so every solution is also shown to fit in it).
"""
import csv
import json
from pathlib import Path

import pytest

from course_tools import grade

from test_grade import _index

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
LANCZOS = ("\n\ndef lanczos3(t):\n    # Going further 2: sinc(t) sinc(t/3), radius 3\n"
           "    return torch.sinc(t) * torch.sinc(t / 3) * (t.abs() < 3).to(t.dtype)\n")


def _solution(name):
    return json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text())


def _source(cell):
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _appended(nb, cid, code):
    cell = nb["cells"][_index(nb, cid)]
    cell["source"] = _source(cell) + code
    return nb


def float64_default(name):
    """The solution with ``torch.set_default_dtype(torch.float64)`` at the end of its setup cell."""
    nb = _solution(name)
    setup = next(c for c in nb["cells"] if c["cell_type"] == "code" and "course_utils.setup(" in _source(c))
    setup["source"] = _source(setup) + "\nimport torch\ntorch.set_default_dtype(torch.float64)\n"
    return nb


def lanczos_added():
    """Notebook 03 solved, with Going further 2 done where the table reads its kernels."""
    return _appended(_solution("03_interpolation"), "c03-kernels", LANCZOS + 'KERNELS["lanczos3"] = (lanczos3, 3)\n')


def lanczos_in_place_of_keys():
    """Notebook 03 solved, but cubic_kernel is the Lanczos-3 kernel (a wrong answer to Exercise 3.1)."""
    nb = _solution("03_interpolation")
    cell = nb["cells"][_index(nb, "ex03-1")]
    head = "def cubic_kernel(t: torch.Tensor, a: float = -0.5) -> torch.Tensor:"
    assert head in _source(cell)
    cell["source"] = _source(cell).replace(head, "def cubic_kernel(t, a=-0.5):\n    return torch.sinc(t) * "
                                           "torch.sinc(t / 3) * (t.abs() < 3).to(t.dtype)\n\n\ndef _keys(t, a=-0.5):")
    return nb


FULL = {name: grade.load_assignment(ROOT / "solutions" / f"{name}.ipynb").max_score for name in SOLUTIONS}

# student -> (notebook, expected score)
CORRECT = {f"float64_{name}": (float64_default(name), FULL[name]) for name in SOLUTIONS}
CORRECT["lanczos_added_to_the_table"] = (lanczos_added(), FULL["03_interpolation"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    if grade.find_bwrap() is None:
        pytest.fail("bubblewrap is needed (apt-get install bubblewrap; .ci/run installs it)")
    base = tmp_path_factory.mktemp("correct")
    subs, out = base / "submissions", base / "grades"
    subs.mkdir()
    for name, (nb, _) in CORRECT.items():
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    (subs / "lanczos_in_place_of_keys.ipynb").write_text(json.dumps(lanczos_in_place_of_keys()))
    code = grade.main([str(subs), "-o", str(out), "--solutions", str(ROOT / "solutions"), "-j", "2",
                       "--cell-timeout", "120", "--timeout", "600", "--grace", "5"])
    assert code == 0
    with (out / "gradebook.csv").open() as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    feedback = {p.stem: json.loads(p.read_text()) for p in (out / "feedback").glob("*.json")}
    return {"rows": rows, "feedback": feedback}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_work_gets_full_marks(graded, name):
    row = graded["rows"][name]
    assert (float(row["score"]), row["status"]) == (CORRECT[name][1], "ok"), graded["feedback"][name]


@pytest.mark.slow
def test_a_lanczos_kernel_in_place_of_keys_cubic_is_named_in_the_hint(graded):
    keys = graded["feedback"]["lanczos_in_place_of_keys"]["exercises"][0]
    assert keys["exercise"] == "ex03-1" and keys["points"] == 0
    visible = keys["parts"][0]["message"]
    assert "Lanczos-3" in visible and "Keys' cubic" in visible and "Going further" in visible


@pytest.mark.slow
@pytest.mark.parametrize("name", ["00_welcome", "02_gans", "03_interpolation", "07_fsrcnn", "08_srgan", "09_gatys"])
def test_the_checks_themselves_accept_a_float64_default(tmp_path, monkeypatch, name):
    """What the student sees in their own notebook: the same grading without the grader's reset of the
    default dtype before each test part, so the checks and hidden tests must not depend on it."""
    restore = grade._restore
    reset = "_grader_torch.set_default_dtype(_grader_torch.float32)\n"
    assert reset in restore(grade.load_assignment(ROOT / "solutions" / f"{name}.ipynb"), tmp_path / "r.json")
    monkeypatch.setattr(grade, "_restore", lambda a, record: restore(a, record).replace(reset, ""))
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(float64_default(name)))
    assignments = {name: grade.load_assignment(ROOT / "solutions" / f"{name}.ipynb")}
    result = grade.grade_submission(path, "student", assignments, grade.Options())
    assert (result["score"], result["status"]) == (FULL[name], "ok"), result["exercises"]
