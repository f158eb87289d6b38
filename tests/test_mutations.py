"""Wrong answers must stop at their exercise's check (the catalogue: tests/mutation_catalogue.py).

One kernel per notebook, cheap as the course grows: the notebook's cells run once, in order; at an
exercise cell with catalogued mutations, each wrong answer is executed in place of the right one,
then the exercise's check cell as students see it (its hidden tests removed, as ``release`` does),
which must fail with the course's ``CheckFailed`` (a raw error or a pass is a failure of this
test); then the right answer runs again, and the notebook goes on with the full check cell (hidden
tests included, so they must pass on the right answer). Wrong answers of ``HIDDEN_CATALOGUE`` must
pass the visible check and be stopped by the hidden tests (so the hidden tests are stricter). The
run stops after the check of the last catalogued exercise. The notebooks run in the ci profile (conftest.py), on the data mirror when one
is set.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mutation_catalogue import CATALOGUE, HIDDEN_CATALOGUE, Mutation

from course_tools import grade
from course_tools.notebooks import read_notebook
from course_tools.release import exercise_label, strip_source

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 600
MAX_OUTPUT = 50_000_000  # bytes of output a cell may print


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_catalogue_is_well_formed(path):
    """Every exercise of the solution notebook has two or more wrong answers, each applicable."""
    missing, bad = [], []
    nb = read_notebook(path)
    cells = {c.get("id"): c for c in nb["cells"]}
    exercises = [c["id"] for c in nb["cells"] if c["cell_type"] == "code"
                 and c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    entries = CATALOGUE.get(path.stem, [])
    for ex in exercises:
        if sum(m.exercise == ex for m in entries) < 2:
            missing.append(f"{path.stem}:{ex}")
        if f"check{ex[2:]}" not in cells:
            bad.append(f"{path.stem}:{ex} has no check cell check{ex[2:]}")
    for m in entries + HIDDEN_CATALOGUE.get(path.stem, []):
        if m.exercise not in cells:
            bad.append(f"{path.stem}: no cell {m.exercise} for {m.what!r}")
        elif _source(cells[m.exercise]).count(m.find) != 1:
            bad.append(f"{path.stem}:{m.exercise}: {m.what!r}: `find` occurs "
                       f"{_source(cells[m.exercise]).count(m.find)} times, not once")
        elif m.replace == m.find:
            bad.append(f"{path.stem}:{m.exercise}: {m.what!r} changes nothing")
    assert not bad, "\n".join(bad)
    assert not missing, "exercises with fewer than two catalogued wrong answers: " + ", ".join(missing)


class Kernel:
    """The grader's kernel (course_tools.grade.Kernel), reporting (status, ename, evalue)."""

    def __init__(self, cwd: Path):
        self.kernel = grade.Kernel(cwd, dict(os.environ))

    def run(self, code: str, timeout: float = CELL_TIMEOUT) -> tuple[str, str, str]:
        r = self.kernel.run(code, timeout, MAX_OUTPUT)
        if r.status not in ("ok", "error"):  # timeout, output flood, kernel died
            raise RuntimeError(f"a cell ended with {r.status!r} {r.ename} {r.evalue}:\n{code[:300]}")
        return r.status, r.ename, r.evalue

    def close(self):
        self.kernel.shutdown()


NOTEBOOKS = sorted(CATALOGUE)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_wrong_answers_stop_at_their_check(name):
    path = ROOT / "solutions" / f"{name}.ipynb"
    nb = read_notebook(path)
    by_exercise: dict[str, list[tuple[Mutation, bool]]] = {}   # (wrong answer, stopped only by the hidden tests?)
    for m in CATALOGUE[name]:
        by_exercise.setdefault(m.exercise, []).append((m, False))
    for m in HIDDEN_CATALOGUE.get(name, []):
        by_exercise.setdefault(m.exercise, []).append((m, True))
    cells = {c.get("id"): c for c in nb["cells"]}
    ids = [c.get("id") for c in nb["cells"]]
    last = max(ids.index(f"check{ex[2:]}") for ex in by_exercise)
    failures: list[str] = []
    kernel = Kernel(path.parent)
    try:
        kernel.run("%matplotlib agg")
        for cell in nb["cells"][: last + 1]:
            if cell["cell_type"] != "code":
                continue
            src = _source(cell)
            status, ename, evalue = kernel.run(src)
            assert status == "ok", f"{name} cell {cell.get('id')} failed without mutation: {ename}: {evalue}"
            for m, hidden in by_exercise.get(cell.get("id"), []):
                full_check = _source(cells[f"check{m.exercise[2:]}"])
                visible_check, _ = strip_source(full_check)
                st, en, ev = kernel.run(src.replace(m.find, m.replace))
                if st == "ok" and hidden:
                    st, en, ev = kernel.run(visible_check)
                    if st != "ok":
                        failures.append(f"{m.exercise} [{m.what}] (hidden catalogue): the visible check already stops "
                                        f"it ({en}); move it to CATALOGUE")
                        st, en, ev = "done", "", ""
                    else:
                        st, en, ev = kernel.run(full_check)
                elif st == "ok":
                    st, en, ev = kernel.run(visible_check)
                print(f"{m.exercise} [{m.what}]{' (hidden)' if hidden else ''} -> {en or st}: {ev}")  # pytest -s
                if st == "ok":
                    failures.append(f"{m.exercise} [{m.what}]: the {'hidden tests' if hidden else 'check'} passed")
                elif st == "error" and en != "CheckFailed":
                    failures.append(f"{m.exercise} [{m.what}]: stopped by {en}: {ev.splitlines()[0] if ev else ''}"
                                    " instead of the course's CheckFailed")
                # restore the right answer (the check cell runs next, unmutated)
                st, en, ev = kernel.run(src)
                assert st == "ok", f"{name}: restoring {m.exercise} failed: {en}: {ev}"
            sw = switch_of(src, exercise_label(cell.get("id"))) if cell.get("id", "").startswith("ex") else None
            if sw is not None:  # the student's stub with the switch flipped must pass the full check
                label = exercise_label(cell["id"])
                stub, _ = strip_source(src, label=label)
                st, en, ev = kernel.run(stub.rstrip("\n").rsplit("\n", 1)[0] + "\n" + sw[1])
                if st == "ok":
                    st, en, ev = kernel.run(_source(cells[f"check{cell['id'][2:]}"]))
                print(f"{cell['id']} [the course's version] -> {en or st}: {ev}")
                if st != "ok":
                    failures.append(f"{cell['id']}: the course's version ({sw[1]}) fails the check: {en}: {ev}")
                st, en, ev = kernel.run(src + "\ncourse_utils.exercise.USED_COURSE_VERSION.clear()")
                assert st == "ok", f"{name}: restoring {cell['id']} failed: {en}: {ev}"
    finally:
        kernel.close()
    assert not failures, f"{name}: wrong answers not stopped by their check:\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# The stuck student's switch (course_utils.exercise): every exercise cell ends with
#   # Stuck? Uncomment the next line to go on with the course's version (the grader will see it).
#   # NAME = course_utils.course_version("N.k")
# and the course's version it names must pass the exercise's full check, hidden tests included.
# ---------------------------------------------------------------------------------------------

SWITCH_INTRO = "# Stuck? Uncomment the next line to go on with the course's version (the grader will see it)."
# one name, or several ("a, b") for an exercise that defines several (COURSE_VERSIONS "module:a,b")
SWITCH = re.compile(r'# (\w+(?:, \w+)*) = course_utils\.course_version\("(\d+\.\d+)"\)')


def switch_of(source: str, label: str) -> tuple[str, str] | None:
    """(name or "name1, name2", uncommented line) of the exercise cell's switch, None when it has none."""
    lines = source.rstrip("\n").splitlines()
    if len(lines) < 2 or lines[-2] != SWITCH_INTRO:
        return None
    m = SWITCH.fullmatch(lines[-1])
    if not m or m.group(2) != label:
        return None
    return m.group(1), lines[-1][2:]


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_exercise_has_its_switch(path):
    """The switch is the exercise cell's last two lines, for its own label, with a course version."""
    from course_utils.exercise import COURSE_VERSIONS
    nb = read_notebook(path)
    bad = []
    for c in nb["cells"]:
        if c["cell_type"] != "code" or not c.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        label = exercise_label(c["id"])
        sw = switch_of(_source(c), label)
        if sw is None:
            bad.append(f"{c['id']}: no switch for {label} as its last two lines")
        elif label not in COURSE_VERSIONS:
            bad.append(f"{c['id']}: course_utils.exercise.COURSE_VERSIONS has no {label!r}")
        elif len(sw[0].split(", ")) != len(COURSE_VERSIONS[label].partition(":")[2].split(",")):
            bad.append(f"{c['id']}: the switch binds {sw[0]!r}, COURSE_VERSIONS[{label!r}] names "
                       f"{COURSE_VERSIONS[label]!r}: not as many")
        else:
            bad += [f"{c['id']}: the switch binds {name!r}, which the cell does not define"
                    for name in sw[0].split(", ") if not re.search(rf"^(def|class) {name}\b", _source(c), re.M)]
    assert not bad, "\n".join(bad)
