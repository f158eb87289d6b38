"""The student release: every marker form nbgrader knows is handled or refused, nothing leaks."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools import release
from course_utils.exercise import YourTurn

ROOT = Path(__file__).resolve().parents[1]
ANSWER = "the_secret_answer = 42"


def _cell(cell_type, source, nbgrader=None, cid="c"):
    cell = {"cell_type": cell_type, "id": cid, "metadata": {"nbgrader": nbgrader} if nbgrader else {},
            "source": source}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _nb(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _solution(grade_id="ex01-1"):
    return {"grade_id": grade_id, "solution": True, "grade": False, "locked": False}


def _grade(grade_id="check01-1"):
    return {"grade_id": grade_id, "solution": False, "grade": True, "locked": True, "points": 1}


def _run_cli(src, dst):
    return subprocess.run([sys.executable, "-m", "course_tools.release", "--src", str(src),
                           "--dst", str(dst)], capture_output=True, text=True, cwd=ROOT)


def test_release_strips_solutions_and_hidden_tests(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    code = ("def f(x):\n    \"\"\"Double x.\"\"\"\n    ### BEGIN SOLUTION\n    return 2 * x\n"
            "    ### END SOLUTION\n")
    check = "assert f(2) == 4\n### BEGIN HIDDEN TESTS\nassert f(3) == 6\n### END HIDDEN TESTS\nprint('ok')"
    nb = _nb([_cell("markdown", "# T", cid="a"),
              dict(_cell("code", code, _solution(), "ex01-1"), execution_count=3,
                   outputs=[{"output_type": "stream", "name": "stdout", "text": "hi"}]),
              _cell("code", check, _grade(), "check01-1")])
    nb["cells"][1]["metadata"]["x"] = 1
    (src / "01_x.ipynb").write_text(json.dumps(nb))
    assert release.release(src, dst) == ["01_x.ipynb"]
    out = json.loads((dst / "01_x.ipynb").read_text())
    c1, c2 = out["cells"][1], out["cells"][2]
    assert "return 2 * x" not in c1["source"]
    assert '    # YOUR CODE HERE\n    from course_utils.exercise import YourTurn\n    raise YourTurn("1.1")' in c1["source"]
    assert '"""Double x."""' in c1["source"]
    assert c1["outputs"] == [] and c1["execution_count"] is None
    assert c1["metadata"] == {"nbgrader": _solution()} and c1["id"] == "ex01-1"
    assert "f(3)" not in c2["source"] and "print('ok')" in c2["source"]
    # the student version raises until the student writes the answer, with the course's message
    ns = {}
    exec(c1["source"], ns)
    with pytest.raises(NotImplementedError, match="Exercise 1.1 is yours to write"):
        ns["f"](1)
    assert release.release(src, dst, check=True) == []
    nb["cells"][1]["source"] = code.replace("2 * x", "x + x")  # a new answer: same student text
    (src / "01_x.ipynb").write_text(json.dumps(nb))
    assert release.release(src, dst, check=True) == []
    nb["cells"][1]["source"] = code.replace("Double x.", "Twice x.")  # the prompt changed
    (src / "01_x.ipynb").write_text(json.dumps(nb))
    assert release.release(src, dst, check=True) == ["01_x.ipynb"]  # stale now


@pytest.mark.parametrize("cell_type,source,expected", [
    # nbgrader's text stub for written answers, in markdown and raw cells
    ("markdown", f"**Answer.**\n### BEGIN SOLUTION\n{ANSWER}\n### END SOLUTION\nMore text.",
     "**Answer.**\nYOUR ANSWER HERE\nMore text."),
    ("raw", f"### BEGIN SOLUTION\n{ANSWER}\n### END SOLUTION\n", "YOUR ANSWER HERE\n"),
    # a solution cell without markers is replaced as a whole (code or text stub)
    ("markdown", f"The model answer: {ANSWER}", "YOUR ANSWER HERE"),
    ("code", ANSWER, '# YOUR CODE HERE\nfrom course_utils.exercise import YourTurn\nraise YourTurn("1.1")'),
])
def test_every_solution_form_is_replaced(tmp_path, cell_type, source, expected):
    src, dst = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    nb = _nb([_cell(cell_type, source, _solution(), "ex01-1")])
    (src / "01_x.ipynb").write_text(json.dumps(nb))
    assert release.main(["--src", str(src), "--dst", str(dst)]) == 0
    text = (dst / "01_x.ipynb").read_text()
    assert "secret_answer" not in text
    assert json.loads(text)["cells"][0]["source"] == expected


@pytest.mark.parametrize("bad", ["###BEGIN SOLUTION", "## BEGIN SOLUTION", "### begin solution",
                                 "# Begin Solution", "### END solution", "###BEGIN HIDDEN TESTS",
                                 "### begin hidden tests", "## BEGIN HIDDEN TEST", "#BEGIN_SOLUTION",
                                 # the plural, invisible characters and letters of other scripts
                                 "### BEGIN SOLUTIONS", "### BEGIN\u200bSOLUTION",
                                 "### BEGIN SOLUTION\u200b", "\ufeff### BEGIN SOLUTION",
                                 "### BEGIN\u00a0SOLUTION", "### BEGIN S\u041eLUTION",
                                 "### \uff22\uff25\uff27\uff29\uff2e SOLUTION",
                                 "### BEGIN HIDDEN\u2060TESTS"])
@pytest.mark.parametrize("cell_type", ["code", "markdown"])
def test_look_alike_markers_are_refused_and_nothing_is_written(tmp_path, capsys, bad, cell_type):
    src, dst = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    good = _nb([_cell("code", "x = 1\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION", _solution())])
    (src / "00_ok.ipynb").write_text(json.dumps(good))  # released before the bad one, if it were
    end = bad.replace("BEGIN", "END").replace("begin", "end").replace("Begin", "End")
    meta = _grade() if "hidden" in bad.lower() else _solution()
    nb = _nb([_cell(cell_type, f"a = 1\n{bad}\n{ANSWER}\n{end}\n", meta, "cell-x")])
    (src / "01_x.ipynb").write_text(json.dumps(nb))
    assert release.main(["--src", str(src), "--dst", str(dst)]) == 2
    err = capsys.readouterr().err
    assert "01_x.ipynb" in err and "cell-x" in err and "line 2" in err and "nothing was written" in err
    assert "write the line exactly as `### " in err
    assert not dst.exists() or not list(dst.iterdir())  # not even 00_ok.ipynb


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTIONS", "### BEGIN\u200bSOLUTION",
                                 "### BEGIN S\u041eLUTION"])
@pytest.mark.parametrize("cell_type", ["code", "markdown", "raw"])
def test_look_alike_markers_in_plain_cells_are_refused(tmp_path, bad, cell_type):
    """A cell with no nbgrader metadata at all: the look-alike would otherwise pass unchanged."""
    src = tmp_path / "solutions"
    src.mkdir()
    end = bad.replace("BEGIN", "END")
    (src / "01_x.ipynb").write_text(json.dumps(_nb([_cell(cell_type, f"{bad}\n{ANSWER}\n{end}\n")])))
    with pytest.raises(release.ReleaseError, match="looks like an nbgrader marker"):
        release.release(src, tmp_path / "notebooks")
    assert not (tmp_path / "notebooks").exists()


def test_notebook_metadata_is_stripped_to_the_kernel(tmp_path):
    """Saved widget state (and anything else an editor stores) can hold a run's answers."""
    nb = _nb([_cell("code", "x = 1")])
    nb["metadata"] = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                      "language_info": {"name": "python"},
                      "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {ANSWER: 1}}},
                      "celltoolbar": "Create Assignment", "toc": {"answer": ANSWER}}
    student = release.release_notebook(nb)
    assert set(student["metadata"]) == {"kernelspec", "language_info"}
    assert ANSWER not in json.dumps(student)


def test_attachments_of_a_model_answer_do_not_reach_students(tmp_path):
    image = {"image/png": "iVBORw0KGgoSECRET"}
    answer = _cell("markdown", "![my plot](attachment:answer.png)\nThe curve bends because ...",
                   _solution("ex02-1"))
    answer["attachments"] = {"answer.png": image}
    region = _cell("markdown", "Look at ![given](attachment:given.png)\n### BEGIN SOLUTION\n"
                   "![mine](attachment:mine.png)\n### END SOLUTION\n", _solution("ex02-2"), "c2")
    region["attachments"] = {"given.png": image, "mine.png": {"image/png": "iVBORw0KGgoMINE"}}
    lesson = _cell("markdown", "![figure](attachment:fig.png)", None, "c3")
    lesson["attachments"] = {"fig.png": image}
    student = release.release_notebook(_nb([answer, region, lesson]))
    cells = student["cells"]
    assert "attachments" not in cells[0]
    assert set(cells[1]["attachments"]) == {"given.png"}   # the lesson's image stays, the answer's goes
    assert cells[2]["attachments"] == {"fig.png": image}    # a lesson cell keeps its figure
    assert "MINE" not in json.dumps(student)


def test_release_of_a_missing_or_empty_source_folder_is_an_error(tmp_path, capsys):
    assert release.main(["--src", str(tmp_path / "nope"), "--dst", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "nope: no such folder" in err and "nothing was written" in err
    (tmp_path / "empty").mkdir()
    assert release.main(["--src", str(tmp_path / "empty"), "--dst", str(tmp_path / "out")]) == 2
    assert "no *.ipynb" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreadable_solution_notebook_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "01_x.ipynb").write_text(json.dumps(_nb([_cell("code", "x = 1")])))
    real = Path.read_text

    def denied(self, *a, **k):
        if self.name == "01_x.ipynb":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)
    monkeypatch.setattr(Path, "read_text", denied)
    assert release.main(["--src", str(tmp_path), "--dst", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "01_x.ipynb: cannot read it (Permission denied)" in err


@pytest.mark.parametrize("cell,message", [
    (_cell("code", f"### BEGIN SOLUTION\n{ANSWER}\n### END SOLUTION"), "not a solution cell"),
    (_cell("markdown", f"### BEGIN SOLUTION\n{ANSWER}\n### END SOLUTION"), "not a solution cell"),
    (_cell("code", f"### BEGIN HIDDEN TESTS\n{ANSWER}\n### END HIDDEN TESTS", _solution()),
     "not a grade cell"),
    (_cell("code", f"### BEGIN SOLUTION\n{ANSWER}\n", _solution()), "not closed"),
    (_cell("code", f"### BEGIN SOLUTION\n### BEGIN SOLUTION\n{ANSWER}\n### END SOLUTION", _solution()),
     "nested"),
    (_cell("code", f"{ANSWER}\n### END HIDDEN TESTS", _grade()), "without its BEGIN"),
])
def test_regions_nbgrader_would_refuse_are_refused(tmp_path, cell, message):
    src, dst = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    (src / "01_x.ipynb").write_text(json.dumps(_nb([cell])))
    with pytest.raises(release.ReleaseError, match=message):
        release.release(src, dst)
    assert not dst.exists()


def test_the_command_line_refuses_with_exit_2(tmp_path):
    (tmp_path / "01_x.ipynb").write_text(json.dumps(_nb([_cell("code", "## BEGIN SOLUTION\nx\n## END SOLUTION")])))
    r = _run_cli(tmp_path, tmp_path / "out")
    assert r.returncode == 2 and "### BEGIN SOLUTION" in r.stderr and not (tmp_path / "out").exists()


def test_a_corrupt_solution_notebook_is_named(tmp_path):
    (tmp_path / "01_x.ipynb").write_text("{not json")
    with pytest.raises(release.ReleaseError, match="01_x.ipynb: not a valid notebook"):
        release.release(tmp_path, tmp_path / "out")


def test_run_all_stops_at_the_first_exercise_with_one_short_line(tmp_path):
    """In a kernel (as in Jupyter), the unfinished exercise shows the course's line, not a traceback."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    nb = _nb([_cell("code", "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                    _solution("ex04-2"), "ex04-2"),
              _cell("code", "assert f(2) == 4", _grade("check04-2"), "check04-2"),
              _cell("code", "print('after')", None, "later")])
    student = release.release_notebook(nb)
    node = nbformat.from_dict(student)
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        nbclient.NotebookClient(node, timeout=60, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT)}}).execute()
    error = node.cells[1].outputs[0]
    assert error["ename"] == "YourTurn"
    assert len(error["traceback"]) == 1 and "Exercise 4.2 is yours to write" in error["traceback"][0]
    assert node.cells[2].outputs == []  # Run All stopped there


def test_your_turn_is_a_not_implemented_error():
    e = YourTurn("5.1")
    assert isinstance(e, NotImplementedError) and str(e).startswith("Exercise 5.1 is yours to write:")
    assert e._render_traceback_() == [f"\x1b[1;31m{e}\x1b[0m"]


def test_student_notebooks_are_up_to_date():
    r = subprocess.run([sys.executable, "-m", "course_tools.release", "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _split_lines(source: str) -> tuple[set[str], set[str]]:
    """(lines inside solution/hidden regions, lines outside them), stripped."""
    inside, secret, shown = False, set(), set()
    for line in source.splitlines():
        s = line.strip()
        if s in release.MARKERS:
            inside = release.MARKERS[s][1] == "begin"
        else:
            (secret if inside else shown).add(s)
    return secret, shown


def test_solutions_never_leak_into_student_notebooks():
    for sol in sorted((ROOT / "solutions").glob("*.ipynb")):
        student = json.loads((ROOT / "notebooks" / sol.name).read_text())
        text = "\n".join(c["source"] for c in student["cells"])
        assert not re.search(r"BEGIN (SOLUTION|HIDDEN)", text), sol.name
        for cell in student["cells"]:
            assert not cell.get("outputs"), f"{sol.name} has outputs"
        secret, public = set(), set()
        for cell in json.loads(sol.read_text())["cells"]:
            inside, outside = _split_lines("".join(cell["source"]))
            if (cell["metadata"].get("nbgrader") or {}).get("solution") and not inside:
                inside, outside = outside, set()  # a solution cell without markers is all answer
            secret |= {s for s in inside if len(s) >= 16}
            public |= outside
        # a line of an answer may also appear outside the regions (e.g. in a later demo cell)
        shown = {line.strip() for line in text.splitlines()}
        assert not (secret - public) & shown, sol.name
