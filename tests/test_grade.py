"""The grader on real bad submissions: each has an expected score and status.

One batch is graded once (two workers, short time limits): submissions of a small synthetic
assignment (three exercises, hidden tests, the course's checks) and of notebook 00, built from the
student and solution notebooks the way students break them.
"""
import copy
import csv
import json
import shutil
import time
from pathlib import Path

import pytest

from course_tools import grade
from course_tools import release

ROOT = Path(__file__).resolve().parents[1]
HIDDEN_MARK = "HIDDEN_SOURCE_MARK"


def _cell(cid, source, nbgrader=None, cell_type="code"):
    cell = {"cell_type": cell_type, "id": cid, "metadata": {"nbgrader": nbgrader} if nbgrader else {},
            "source": source}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _answer(cid):
    return {"grade_id": cid, "solution": True, "grade": False, "locked": False, "schema_version": 3}


def _test(cid, points):
    return {"grade_id": cid, "solution": False, "grade": True, "locked": True, "points": points,
            "schema_version": 3}


TOY = {"cells": [
    _cell("c90-title", "# 90 · A toy assignment", cell_type="markdown"),
    _cell("c90-setup", "import math\n\nfrom course_utils import checks"),
    _cell("ex90-1", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
          _answer("ex90-1")),
    _cell("check90-1", "checks.check(double(2) == 4, 'double(2) should be 4')\n"
                       f"### BEGIN HIDDEN TESTS\n# {HIDDEN_MARK}: a comment only the source has\n"
                       "checks.check(double(-3.5) == -7.0, 'double(-3.5) should be -7.0')\n"
                       "### END HIDDEN TESTS\nchecks.passed('double')", _test("check90-1", 2)),
    _cell("ex90-2", "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
          _answer("ex90-2")),
    _cell("check90-2", "checks.check(square(3) == 9, 'square(3) should be 9')\n"
                       "### BEGIN HIDDEN TESTS\nchecks.check(square(-2) == 4, 'square(-2) should be 4')\n"
                       "### END HIDDEN TESTS", _test("check90-2", 1)),
    _cell("c90-text", "Halve it.", cell_type="markdown"),
    _cell("ex90-3", "def halve(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION",
          _answer("ex90-3")),
    _cell("check90-3", "checks.check(math.isclose(halve(3), 1.5), 'halve(3) should be 1.5')",
          _test("check90-3", 1)),
], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

RIGHT = {"ex90-1": "def double(x):\n    return 2 * x",
         "ex90-2": "def square(x):\n    return x * x",
         "ex90-3": "def halve(x):\n    return x / 2"}


def toy(**answers):
    """The student notebook with the right answers, except those given (None: left unanswered)."""
    nb = release.release_notebook(TOY)
    chosen = dict(RIGHT, **{key.replace("_", "-"): source for key, source in answers.items()})
    for cell in nb["cells"]:
        if chosen.get(cell["id"]) is not None:
            cell["source"] = chosen[cell["id"]]
    return nb


def _index(nb, cid):
    return next(i for i, c in enumerate(nb["cells"]) if c["id"] == cid)


def deleted(nb, cid):
    nb["cells"].pop(_index(nb, cid))
    return nb


def inserted(nb, after, cell):
    nb["cells"].insert(_index(nb, after) + 1, cell)
    return nb


def moved(nb, cid, after):
    cell = nb["cells"].pop(_index(nb, cid))
    return inserted(nb, after, cell)


def untouched():
    return release.release_notebook(TOY)


LOOP = "def double(x):\n    while True:\n        pass"
STUCK = ("def square(x):\n    while True:\n        try:\n            while True:\n                pass\n"
         "        except KeyboardInterrupt:\n            pass")
CRASH = "import os\n\ndef square(x):\n    os._exit(1)"
EXFILTRATE = ("import inspect, linecache\n\ndef double(x):\n    caller = inspect.currentframe().f_back\n"
              "    raise ValueError(''.join(linecache.getlines(caller.f_code.co_filename)))")

WRONG = {"ex90_1": "def double(x):\n    return 0", "ex90_2": "def square(x):\n    return 0",
         "ex90_3": "def halve(x):\n    return 0"}

NB00_POINTS = grade.load_assignment(ROOT / "solutions" / "00_welcome.ipynb").max_score

# name -> (notebook, expected score, expected status); the toy has 2 + 1 + 1 points
SUBMISSIONS = {
    "toy_untouched": (untouched(), 0, "ok"),
    "toy_one_wrong": (toy(ex90_2="def square(x):\n    return x * 2"), 3, "ok"),
    "toy_partial": (toy(ex90_1="def double(x):\n    return 4 if x == 2 else 0"), 3, "ok"),  # hidden fails
    "toy_loop": (toy(ex90_1=LOOP), 2, "timeout"),
    "toy_stuck": (toy(ex90_2=STUCK), 3, "timeout"),                 # ignores the interrupt
    "toy_crash": (toy(ex90_2=CRASH), 3, "kernel died"),
    "toy_crash_at_import": (toy(ex90_1="import os\nos._exit(3)"), 2, "kernel died"),
    "toy_crash_every_time": (toy(ex90_1=CRASH.replace("square", "double"), ex90_2=CRASH,
                                 ex90_3=CRASH.replace("square", "halve")), 0, "kernel died"),
    "toy_syntax": (toy(ex90_1="def double(x)\n    return 2 * x"), 2, "ok"),
    "toy_flood": (toy(ex90_3="for i in range(10**6):\n    print('spam' * 50)\n\ndef halve(x):\n    return x / 2"),
                  3, "output flood"),
    "toy_memory": (toy(ex90_1="def double(x):\n    hog = bytearray(8 * 2**30)\n    return 2 * x"), 2, "ok"),
    "toy_deleted_check": (deleted(toy(), "check90-1"), 4, "missing cells"),
    "toy_deleted_answer": (deleted(toy(), "ex90-2"), 3, "missing cells"),
    # a pasted copy gets a new cell id but keeps the nbgrader metadata (grade_id)
    "toy_duplicated": (inserted(toy(ex90_1="def double(x):\n    return 0"), "ex90-1",
                                _cell("c0ffee12", RIGHT["ex90-1"], _answer("ex90-1"))), 4, "ok"),
    "toy_moved": (moved(toy(), "ex90-2", "check90-3"), 4, "ok"),
    "toy_extra_cells": (inserted(inserted(toy(ex90_1="def double(x):\n    return twice(x)"), "c90-setup",
                                          _cell("mine-1", "def twice(x):\n    return x + x")),
                                 "check90-3", _cell("mine-2", "from course_utils.exercise import "
                                                    "use_course_version\nuse_course_version('90.3')")),
                        3, "ok"),  # 90.3 passes its check but was the course's version: no points
    # cheating: each would pass every check if the grader trusted the student's kernel state
    "cheat_redefine_checks": (inserted(toy(**WRONG), "c90-setup", _cell(
        "mine-1", "checks.check = lambda *args, **kwargs: None\nchecks.passed = print\n"
                  "print('\u2714 double\\n\u2714 square\\n\u2714 halve')")), 0, "ok"),
    "cheat_rebind_globals": (inserted(toy(ex90_3="def halve(x):\n    return 0"), "c90-setup", _cell(
        "mine-1", "import types\nchecks = types.SimpleNamespace(check=lambda *a, **k: None, passed=print)\n"
                  "math = types.SimpleNamespace(isclose=lambda *a, **k: True)")), 3, "ok"),
    "cheat_exfiltrate_hidden": (toy(ex90_1=EXFILTRATE), 2, "ok"),
    # the kernel's parent is the sandbox's init: the grader's processes are out of reach
    "cheat_kill_grader": (inserted(toy(), "c90-setup", _cell(
        "mine-1", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")), 4, "ok"),
    "toy_corrupt": ("{\"cells\": [ this is not json", 0, "corrupt"),
    "another_assignment": (json.loads((ROOT / "notebooks" / "03_interpolation.ipynb").read_text()), 0,
                           "not this assignment"),
    # notebook 00 (one exercise) from the real student and solution notebooks
    "nb00_untouched": (json.loads((ROOT / "notebooks" / "00_welcome.ipynb").read_text()), 0, "ok"),
    "nb00_full": (json.loads((ROOT / "solutions" / "00_welcome.ipynb").read_text()), NB00_POINTS, "ok"),
}


def _nb00_wrong():
    nb = json.loads((ROOT / "solutions" / "00_welcome.ipynb").read_text())
    cell = nb["cells"][_index(nb, "ex00-1")]
    cell["source"] = "".join(cell["source"]).replace("torch.mean(", "torch.sum(")
    assert "torch.sum(" in cell["source"]
    return nb


SUBMISSIONS["nb00_wrong_sum"] = (_nb00_wrong(), 0, "ok")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every submission once; one of them in a folder-per-student layout."""
    base = tmp_path_factory.mktemp("grading")
    sol, subs, out = base / "solutions", base / "submissions", base / "grades"
    sol.mkdir()
    subs.mkdir()
    (sol / "90_toy.ipynb").write_text(json.dumps(TOY))
    shutil.copy(ROOT / "solutions" / "00_welcome.ipynb", sol / "00_welcome.ipynb")
    for name, (nb, _, _) in SUBMISSIONS.items():
        (subs / f"{name}.ipynb").write_text(nb if isinstance(nb, str) else json.dumps(nb))
    (subs / "alice").mkdir()
    (subs / "alice" / "whatever_name.ipynb").write_text(json.dumps(toy()))
    code = grade.main([str(subs), "-o", str(out), "--solutions", str(sol), "-j", "2",
                       "--cell-timeout", "30", "--timeout", "300", "--memory", "2048", "--grace", "5"])
    assert code == 0
    with (out / "gradebook.csv").open() as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    feedback = {p.stem: json.loads(p.read_text()) for p in (out / "feedback").glob("*.json")}
    return {"rows": rows, "feedback": feedback, "out": out, "subs": subs, "sol": sol}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_each_submission_gets_its_score_and_status(graded, name):
    _, score, status = SUBMISSIONS[name]
    row = graded["rows"][name]
    assert (float(row["score"]), row["status"]) == (score, status), graded["feedback"][name]


@pytest.mark.slow
def test_the_folder_per_student_layout_names_the_student_and_finds_the_assignment_by_ids(graded):
    row = graded["rows"]["alice"]
    assert (row["assignment"], float(row["score"]), row["status"]) == ("90_toy", 4.0, "ok")


@pytest.mark.slow
def test_partial_credit_and_feedback_name_the_failed_hidden_test(graded):
    fb = graded["feedback"]["toy_partial"]
    double = fb["exercises"][0]
    assert (double["points"], double["max_points"]) == (1.0, 2.0)
    parts = {p["part"]: p for p in double["parts"]}
    assert parts["visible check"]["passed"] and not parts["hidden tests"]["passed"]
    assert parts["hidden tests"]["message"] == "CheckFailed: double(-3.5) should be -7.0"
    md = (graded["out"] / "feedback" / "toy_partial.md").read_text()
    assert "hidden tests: failed: CheckFailed: double(-3.5) should be -7.0" in md


@pytest.mark.slow
def test_hidden_test_source_never_reaches_feedback(graded):
    hidden = "checks.check(double(-3.5) == -7.0"
    for path in (graded["out"] / "feedback").iterdir():
        text = path.read_text()
        assert HIDDEN_MARK not in text and hidden not in text, path.name
    exfiltrated = graded["feedback"]["cheat_exfiltrate_hidden"]["exercises"][0]["parts"]
    assert all(not p["passed"] for p in exfiltrated) and "[hidden]" in exfiltrated[1]["message"]


@pytest.mark.slow
def test_failures_are_reported_where_they_happened(graded):
    fb = graded["feedback"]
    assert fb["toy_untouched"]["exercises"][0]["parts"][0]["message"] == "not answered yet"
    assert "time limit" in fb["toy_loop"]["exercises"][0]["parts"][0]["message"]
    crash = fb["toy_crash"]
    assert "kernel died at the visible check of Exercise 90.2; a new kernel" in crash["problems"][0]
    assert [p["passed"] for p in crash["exercises"][2]["parts"]] == [True]  # graded after the crash
    assert fb["toy_crash_at_import"]["problems"][0].startswith("the kernel died at cell ex90-1; a new")
    every = fb["toy_crash_every_time"]
    assert len(every["problems"]) == 3 and every["problems"][-1].endswith("the rest was not run")
    assert every["exercises"][2]["parts"][0]["message"].startswith("the kernel died here")
    assert fb["toy_syntax"]["exercises"][0]["answer_cell"].startswith("SyntaxError")
    assert fb["toy_flood"]["exercises"][2]["answer_cell"].startswith("stopped: it printed")
    oom = fb["toy_memory"]["exercises"][0]["parts"][0]["message"]
    assert "MemoryError" in oom and "the memory limit of 2048 MB per kernel" in oom
    assert fb["nb00_wrong_sum"]["exercises"][0]["parts"][0]["message"].startswith("CheckFailed: ")


@pytest.mark.slow
def test_cell_layout_problems_are_reported(graded):
    fb = graded["feedback"]
    assert fb["toy_deleted_check"]["cells"]["missing"] == ["check90-1"]
    assert fb["toy_deleted_answer"]["cells"]["missing"] == ["ex90-2"]
    assert fb["toy_duplicated"]["cells"]["duplicated"] == ["ex90-1"]
    assert fb["toy_moved"]["cells"]["moved"] == ["ex90-2"]
    assert fb["toy_extra_cells"]["cells"]["extra"] == 2
    assert fb["toy_extra_cells"]["course_routes"] == ["90.3"]  # the switch's cell needs not run to count
    halve = fb["toy_extra_cells"]["exercises"][2]
    assert halve["points"] == 0 and halve["parts"][0]["passed"]
    assert halve["parts"][-1]["message"].startswith("you went on with the course's version")
    assert fb["toy_untouched"]["cells"] == {"missing": [], "duplicated": [], "moved": [], "extra": 0}
    assert fb["toy_extra_cells"]["skipped_cells"] == 1  # the switch's cell: no exercise needs it


@pytest.mark.slow
def test_cheating_code_is_flagged_for_a_human(graded):
    rows = graded["rows"]
    assert "checks" in rows["cheat_redefine_checks"]["flags"]
    assert "checks" in rows["cheat_rebind_globals"]["flags"]
    assert "frames" in rows["cheat_exfiltrate_hidden"]["flags"]
    assert rows["toy_one_wrong"]["flags"] == ""


@pytest.mark.slow
def test_gradebook_has_a_column_per_exercise_and_the_profile(graded):
    rows = graded["rows"]
    assert {rows["toy_partial"][k] for k in ("ex90-1", "ex90-2", "ex90-3")} == {"1.0"}
    assert float(rows["nb00_full"]["ex00-1"]) == NB00_POINTS > 0 and rows["nb00_full"]["ex90-1"] == ""
    assert {row["profile"] for row in rows.values()} == {"ci"}
    assert rows["another_assignment"]["assignment"] == ""


@pytest.mark.slow
def test_regrading_one_student_updates_only_that_row(graded, capsys):
    subs, out = graded["subs"], graded["out"]
    before = (out / "gradebook.csv").read_text()
    (subs / "toy_untouched.ipynb").write_text(json.dumps(toy()))  # the student fixed everything
    try:
        assert grade.main([str(subs), "-o", str(out), "--solutions", str(graded["sol"]),
                           "--student", "toy_untouched", "--cell-timeout", "30"]) == 0
    finally:
        (subs / "toy_untouched.ipynb").write_text(json.dumps(untouched()))
    with (out / "gradebook.csv").open() as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert float(rows["toy_untouched"]["score"]) == 4.0
    assert len(rows) == len(graded["rows"])
    same = [line for line in before.splitlines() if not line.startswith("toy_untouched,")]
    assert set(same) <= set((out / "gradebook.csv").read_text().splitlines())
    assert "graded 1 submission(s)" in capsys.readouterr().out


# ---------------------------------------------------------------- no kernel needed

def test_the_assignment_is_found_by_cell_ids_not_by_file_name(tmp_path):
    (tmp_path / "90_toy.ipynb").write_text(json.dumps(TOY))
    assignments = grade.load_assignments(tmp_path)
    assert grade.find_assignment(toy(), assignments) == ("90_toy", 6)
    assert grade.find_assignment({"cells": [_cell("x", "1")]}, assignments) == (None, 0)


def test_a_notebook_of_another_assignment_is_refused_without_running_it(tmp_path):
    (tmp_path / "90_toy.ipynb").write_text(json.dumps(TOY))
    shutil.copy(ROOT / "solutions" / "00_welcome.ipynb", tmp_path / "00_welcome.ipynb")
    sub = tmp_path / "sub.ipynb"
    sub.write_text((ROOT / "notebooks" / "00_welcome.ipynb").read_text())
    options = grade.Options(assignment="90_toy")
    result = grade.grade_submission(sub, "bob", grade.load_assignments(tmp_path), options)
    assert result["status"] == "not this assignment" and "looks like 00_welcome" in result["problems"][0]


@pytest.mark.parametrize("text", ["", "{]", "[1, 2]", '{"cells": [{"source": "x"}]}', "\udcff"])
def test_corrupt_notebooks_are_reported(tmp_path, text):
    (tmp_path / "90_toy.ipynb").write_text(json.dumps(TOY))
    sub = tmp_path / "eve" / "sub.ipynb"
    sub.parent.mkdir()
    sub.write_bytes(text.encode("utf-8", "surrogateescape"))
    result = grade.grade_submission(sub, "eve", grade.load_assignments(tmp_path), grade.Options())
    assert (result["status"], result["score"]) == ("corrupt", 0.0)


def test_check_cells_split_into_visible_and_hidden_parts():
    src = "a = 1\n### BEGIN HIDDEN TESTS\nb = 2\n### END HIDDEN TESTS\nc = 3\n### BEGIN HIDDEN TESTS\nd = 4\n### END HIDDEN TESTS\n"
    assert grade.split_check(src) == [("visible check", "a = 1\nc = 3\n"), ("hidden tests 1", "b = 2\n"),
                                      ("hidden tests 2", "d = 4\n")]
    assert grade.split_check("# only a comment\n### BEGIN HIDDEN TESTS\nb = 2\n### END HIDDEN TESTS") == [
        ("hidden tests", "b = 2\n")]


def test_tests_run_after_the_answer_and_the_check_wherever_they_are(tmp_path):
    (tmp_path / "90_toy.ipynb").write_text(json.dumps(TOY))
    a = grade.load_assignments(tmp_path)["90_toy"]
    order = [(s.kind, s.key) for s in grade.plan(moved(toy(), "ex90-1", "check90-2"), a).steps]
    assert order.index(("test", "check90-1")) > order.index(("student", "ex90-1"))
    both_gone = deleted(deleted(toy(), "ex90-2"), "check90-2")
    order = [(s.kind, s.key) for s in grade.plan(both_gone, a).steps]
    assert order.index(("test", "check90-2")) == order.index(("test", "check90-1")) + 2  # 2 parts each
    assert order.index(("test", "check90-2")) < order.index(("student", "ex90-3"))


def test_submissions_are_collected_per_file_or_per_student_folder(tmp_path):
    (tmp_path / "ann.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "03.ipynb").write_text("{}")
    (tmp_path / "bob" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bob" / ".ipynb_checkpoints" / "03-checkpoint.ipynb").write_text("{}")
    found = grade.collect_submissions([tmp_path])
    assert [(s, p.relative_to(tmp_path).as_posix()) for s, p in found] == [("ann", "ann.ipynb"),
                                                                           ("bob", "bob/03.ipynb")]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        grade.collect_submissions([tmp_path / "nowhere"])


class FakeKernel:
    """Stands in for a kernel: every cell takes ``delay`` s; a cell containing DIE kills it."""

    def __init__(self, delay=0.0):
        self.alive, self.delay, self.ran = True, delay, []

    def run(self, code, timeout, max_output, history=False):
        time.sleep(self.delay)
        self.ran.append(code)
        if "DIE" in code:
            self.alive = False
            return grade.CellResult("died")
        return grade.CellResult("ok")

    def shutdown(self):
        self.alive = False


def _fake_layout(tmp_path, nb):
    (tmp_path / "90_toy.ipynb").write_text(json.dumps(TOY))
    a = grade.load_assignments(tmp_path)["90_toy"]
    return a, grade.plan(nb, a)


def test_the_notebook_time_limit_stops_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(grade, "_start", lambda work, options: FakeKernel(delay=0.05))
    a, layout = _fake_layout(tmp_path, toy())
    result = {"problems": []}
    outcome = grade._execute(layout, a, grade.Options(notebook_timeout=0.4), result)
    assert result["problems"] == ["the notebook ran longer than its time limit; the rest was not run"]
    assert outcome[0].status == "ok" and outcome[-1] is None


def test_a_dead_kernel_is_replaced_and_the_cells_before_it_rerun(tmp_path, monkeypatch):
    kernels = []
    monkeypatch.setattr(grade, "_start", lambda work, options: kernels.append(FakeKernel()) or kernels[-1])
    a, layout = _fake_layout(tmp_path, toy(ex90_2="def square(x):\n    return x * x  # DIE"))
    result = {"problems": []}
    outcome = grade._execute(layout, a, grade.Options(), result)
    died = next(i for i, s in enumerate(layout.steps) if s.key == "ex90-2")
    assert outcome[died].status == "died" and len(kernels) == 2
    assert result["problems"] == ["the kernel died at cell ex90-2; a new kernel re-ran the cells before "
                                  "it and grading went on after it"]
    before = [grade.step_code(s) for s in layout.steps[:died]]
    assert all(src in kernels[1].ran for src in before) and grade.step_code(layout.steps[died]) not in kernels[1].ran
    assert all(r is not None and r.status == "ok" for r in outcome[died + 1:])


@pytest.mark.parametrize("folder", ["notebooks", "solutions"])
def test_every_course_notebook_is_gradable_as_it_is(folder):
    """Each student (and solution) notebook finds its assignment, with all graded cells in order."""
    assignments = grade.load_assignments(ROOT / "solutions")
    for path in sorted((ROOT / folder).glob("*.ipynb")):
        nb = json.loads(path.read_text())
        name, _ = grade.find_assignment(nb, assignments)
        assert name == path.stem, path.name
        layout = grade.plan(nb, assignments[name])
        assert (layout.missing, layout.moved, layout.duplicated, layout.extra) == ([], [], [], 0), path.name
        assert grade.flags(layout.steps, assignments[name]) == [], path.name
        labels = [e.label for e in assignments[name].exercises]
        assert grade.course_routes(grade.written(layout.steps, assignments[name]), labels) == (set(), []), path.name
