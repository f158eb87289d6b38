"""Grade student notebooks with the solutions' checks and hidden tests, each in a sandbox.

    python -m course_tools.grade submissions/ -o grades/ -j 2        # a folder: one notebook per
                                                                    # student, or a folder per student
    python -m course_tools.grade alice.ipynb bob.ipynb -o grades/     # some submissions
    python -m course_tools.grade submissions/ -o grades/ --student alice   # re-grade one student
    python -m course_tools.grade submissions/ -o grades/s3 --shard 3/8     # one slice of the batch
    python -m course_tools.grade merge grades/s* -o grades/                # the slices together

Each submission runs in a fresh kernel inside bubblewrap (:func:`sandbox_argv`: a scratch copy of the
submission and its helper modules, a read-only course without ``solutions/``, no network, its own
PID namespace, no privileges); without bubblewrap the grader refuses unless ``--unsafe-no-sandbox``.
The kernel runs the student's code cells in the student's order, only those the exercises need
(:func:`mark_unneeded`; ``--all-cells`` runs all), and in place of each check cell the solution's
check cell (its visible check, then each hidden-test block, run as separate parts). Exercises are
matched by cell id (nbgrader ``grade_id``), else by content (:func:`rekey`), never by position or
file name: the solution is the notebook in ``solutions/`` that shares the submission's cell ids.

* Verdicts outside the student's process (``course_tools.verdict``). Each part runs rewritten: its
  calls of the course's checks go to a recorder sent as text (``kernel_recorder.py``, with the
  text of ``course_utils/checks.py`` executed into a fresh namespace: no import the student can
  shadow), after the solution's import lines and the seeding of torch, numpy and random. The
  recorder judges as the checks did (the student's messages) and writes each call's operands to a
  record file, which the grader reads (plain format, size-limited, no link followed) and re-judges
  with numpy against the records of the solution's own run of the same part (:func:`reference`,
  once per assignment and batch, in the sandbox). A part passes only if the kernel's reply to it is
  "ok" (within its time limit, the kernel alive) AND the re-judging passes: every check of the
  reference ran and passes, the student's ``actual`` compared with the reference's ``expected``
  and tolerances; ``check(a == b)``, ``torch.equal``, ``allclose`` and ``math.isclose`` are
  re-judged as values. The student's own expected value is used only where the part computes it
  from the student's objects (a static taint analysis of the part), or where the part's global
  random numbers differed from the reference run (a constructor that draws more) with no torch
  function mode active -- that case is flagged.
* An exercise's points are shared equally by its parts (partial credit). A timeout, a dead kernel
  or an output flood in the exercise's own cell or in one of its parts costs the exercise's points.
  A kernel that died or ignored an interrupt is replaced (the cells before re-run) and grading
  goes on, twice at most; then the rest of that notebook is lost, never the batch (each submission
  is graded by a worker process of its own, which writes its result to a private file).
* The course's version of an exercise reached by the switch or by importing the course's
  implementation (:func:`course_routes`) gives that exercise no points.
* Deleted check cells are run where the exercise is; deleted, duplicated and moved cells are
  reported; a student's extra cells run in order (when an exercise needs them).

Outputs in the ``-o`` folder, each written when its submission is graded and replaced atomically:
``results/<student>.json``, ``feedback/<student>.json`` and ``.md`` (which visible checks and
hidden tests failed, with their messages, never a line of the hidden tests or of the model answers)
and ``gradebook.csv`` (a row per submission, a column per exercise, total, status), rebuilt from
``results/``; a re-run keeps what is graded already (``--regrade``: grade again). ``.reference/``
keeps the records of the solutions' reference runs (keyed by the solution's, the course library's
and the grader's content, so a changed solution is run again). Statuses: ok,
timeout, kernel died, output flood, missing cells (several joined by "; "), not this assignment,
corrupt, refused (a link), grader error. Code that tampers with the kernel, torch, imports, the
checks or the caller's frames is listed under ``flags`` for a human to look at (matched on the NFKC
form of the code; flags do not change the score).

What stays flagged, not prevented: the tests run in the student's process, so code that reads a
test's expected value from the caller's frame and returns it, or rebinds the recorder during a part
to write the right values, can still pass; expected values computed from the student's objects and
boolean-only checks (``check(isinstance(...))``) come from the student's process. All of these need
code that the flags list (frames, ``_grader`` names, ``__main__``, ``getattr``/``vars``/``__dict__``).
"""
from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from . import verdict
from .release import HOSTED_CELL_ID   # the release's opt-in install cell: grading never runs it

__all__ = ["load_assignments", "find_assignment", "plan", "grade_submission", "grade_all",
           "collect_submissions", "main"]

ROOT = Path(__file__).resolve().parents[1]
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
UNANSWERED = {"YourTurn", "NotImplementedError"}
FLAGS = {
    r"\bget_ipython\b|\bIPython\b|\bipykernel\b": "uses the kernel itself (get_ipython / IPython)",
    r"\bsys\.(settrace|setprofile|modules|excepthook)\b|\bsys\.stdout\s*=|\bsetrlimit\b":
        "changes the interpreter or its limits (sys.settrace, sys.modules, setrlimit, ...)",
    r"\b(checks|course_utils)(\.\w+)*\s*=[^=]|\bsetattr\s*\(":
        "assigns to the course's checks or uses setattr",
    r"\bdef\s+(check|check_close|check_shape|passed)\b|\bCheckFailed\b":
        "defines or catches the course's check functions",
    r"\b__builtins__\b|\bbuiltins\b": "changes Python's builtins",
    r"^\s*(torch|np|numpy|math|F|nn|plt)(\.\w+)+\s*=[^=]": "replaces a function of a library (torch, numpy, ...)",
    r"\binspect\b|\b_getframe\b|\bf_back\b|\bf_locals\b": "inspects the caller's frames",
    r"\bos\._exit\b|\bsignal\.": "exits the process or handles signals",
    r"\bTorchFunctionMode\b|\b__torch_function__\b|\btorch\.overrides\b|\b__torch_dispatch__\b":
        "intercepts torch's functions (TorchFunctionMode, __torch_function__)",
    r"\b__path__\b|\b__spec__\b|\b__loader__\b|\bimportlib\b|\b__import__\b|\bsys\.meta_path\b":
        "changes or bypasses how modules are imported (importlib, __path__, __import__)",
    r"\bUSED_COURSE_VERSION\b|\bcourse_version\b|\bCOURSE_VERSIONS\b":
        "touches the course's-version switch or its record",
    r"/proc\b|\bctypes\b|\bgc\.get_(objects|referrers)\b": "reaches into the process (/proc, ctypes, gc)",
    r"\bgetattr\s*\(\s*(checks|course_utils|__main__|sys|builtins)\b|\bvars\s*\(|\b__dict__\b"
    r"|(?<!in )\b(globals|locals)\b|\b__main__\b|\b_grader\w*":
        "reaches names indirectly (getattr, vars, __dict__, globals(), __main__, the grader's _grader names)",
    r"(?<![.\w])(exec|eval|compile)\s*\(": "runs code built at run time (exec, eval, compile)",
}


@dataclass
class Exercise:
    """One graded exercise of a solution notebook."""
    exercise_id: str              # "ex03-2": the answer cell
    check_id: str                 # "check03-2": the check cell (visible check + hidden tests)
    points: float
    parts: list[tuple[str, str]]  # (name, source): "visible check", "hidden tests 1", ...
    order: int                    # the check cell's index in the solution
    run: dict[str, str] = field(default_factory=dict)  # part name -> the source the kernel runs
                                                       # (its check calls go to the recorder)

    @property
    def label(self) -> str:
        """"5.2" for ex05-2 (as release.exercise_label; this module imports nothing of the course,
        so its workers start without torch)."""
        m = re.fullmatch(r"ex(\d+)-(\d+)", self.exercise_id)
        return f"{int(m.group(1))}.{m.group(2)}" if m else self.exercise_id


@dataclass
class Assignment:
    """A solution notebook, as the grader needs it."""
    name: str
    path: Path
    order: dict[str, int]         # cell key -> index in the solution
    exercises: list[Exercise]
    imports: str                  # the solution's top-level import lines
    answers: str = ""             # the model answers (solution regions): never in feedback
    by_content: dict[str, str] = field(default_factory=dict)  # a cell's text (as released) -> key

    @property
    def max_score(self) -> float:
        return sum(e.points for e in self.exercises)


@dataclass
class Step:
    """One cell the grader runs: a student's cell or one part of an exercise's tests."""
    kind: str                     # "student" or "test"
    key: str
    source: str
    exercise: Exercise | None = None
    part: str = ""
    skip: bool = False            # not needed by any exercise or test (``graded_only``)


@dataclass
class Options:
    """How to grade: the profile and the limits of each kernel."""
    profile: str = "ci"
    cell_timeout: float = 120.0
    notebook_timeout: float = 900.0
    # MB of address space for data per kernel (RLIMIT_DATA counts private writable mappings, not resident
    # memory). Measured in the sandbox (ci profile, graded cells, torch 2.14.1+cu130): notebook 00's kernel
    # holds 0.87 GB after its setup cell, ~0.68 GB of it from `import torch` (the CUDA build maps its
    # libraries' writable data, libcufft alone 265 MB, even without a GPU) and 0.12 GB the kernel itself;
    # its peak RSS is 0.57 GB. The heaviest graded kernel (11) holds 1.33 GB (peak RSS 1.1 GB). All 12
    # solutions got full marks at 1536 and 2048 MB (2048 also with --all-cells), not at 1280 (07: oneDNN
    # "could not create a primitive") nor at 1024 (02, 05, 07, 08): 2048 leaves 0.5 GB for a less
    # frugal answer. The cpu profile's --all-cells runs were not measured: raise --memory for them.
    memory_mb: int = 2048
    max_output: int = 1_000_000   # bytes of output per cell before it counts as a flood
    grace: float = 10.0           # seconds a cell has to stop after an interrupt
    assignment: str | None = None
    graded_only: bool = True      # run only the cells the exercises and tests need (not --all-cells)
    sandbox: bool = True          # each kernel in bubblewrap (False: --unsafe-no-sandbox)
    reference_dir: str | None = None  # where the solution's reference runs are kept (per batch)
    assignments_file: str | None = None  # the batch's solutions, read once (grade_all writes it)


NO_SANDBOX = ("bubblewrap (bwrap) is not installed or does not work here, and without it a submission's "
              "code would run as you, next to solutions/, the gradebook and the other submissions. "
              "Install it (Debian/Ubuntu: apt-get install bubblewrap) or, only for notebooks you "
              "trust, pass --unsafe-no-sandbox.")


@dataclass
class CellResult:
    """What running one cell gave (ename/evalue when it raised)."""
    status: str                   # ok, error, timeout, flood, died, stuck
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0
    stdout: str = ""              # the first 10 000 characters (for the grader's own cells)
    records: bytes | None = None  # a test part's record file, as the recorder wrote it
    record_error: str = ""        # why there is none


@dataclass
class Layout:
    """The steps to run for one submission and what is wrong with its cells."""
    steps: list[Step]
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    extra: int = 0
    skipped: int = 0              # cells not run: no exercise needs them


# ---------------------------------------------------------------- solutions

def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def cell_key(cell: dict) -> str | None:
    """The cell's nbgrader ``grade_id``, else its nbformat ``id`` (None if it has neither)."""
    grading = (cell.get("metadata") or {}).get("nbgrader") or {}
    return grading.get("grade_id") or cell.get("id")


def split_check(source: str) -> list[tuple[str, str]]:
    """A check cell's parts: the visible check, then each hidden-test block."""
    visible, hidden, block = [], [], None
    for line in source.splitlines(keepends=True):
        if line.strip() == BEGIN_HIDDEN:
            block = []
        elif line.strip() == END_HIDDEN and block is not None:
            hidden.append("".join(block))
            block = None
        elif block is not None:
            block.append(line)
        else:
            visible.append(line)
    parts = [("visible check", "".join(visible))] if _has_code("".join(visible)) else []
    names = ["hidden tests"] if len(hidden) == 1 else [f"hidden tests {i}" for i in range(1, len(hidden) + 1)]
    return parts + [(n, h) for n, h in zip(names, hidden) if _has_code(h)]


def _visible(cell: dict) -> str:
    """A solution cell's text as a student sees it: no hidden tests, no model answer."""
    text = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", _source(cell), flags=re.S)
    return re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", text, flags=re.S)


def _shape(text: str) -> str:
    """A cell's text for matching by content: normalised, no blank or comment lines, no spacing
    ('' when too short to identify a cell)."""
    lines = [re.sub(r"\s+", "", line) for line in normalise(text).splitlines()]
    shape = "\n".join(line for line in lines if line and not line.startswith("#"))
    return shape if len(shape) >= 24 else ""


def rekey(nb: dict, assignments: dict[str, Assignment]) -> int:
    """Give the cells of a notebook whose ids and metadata were stripped the keys of the solution
    cells they match by content (the cells a student does not edit: checks, setup, text); a code
    cell right before a matched check cell ``checkNN-k`` becomes the answer ``exNN-k``. Returns how
    many cells got a key (0: no assignment matches)."""
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    best, hits = None, 0
    for a in assignments.values():
        n = sum(1 for c in cells if _shape(_source(c)) in a.by_content)
        best, hits = (a, n) if n > hits else (best, hits)
    if best is None:
        return 0
    given = 0
    taken = {cell_key(c) for c in cells} - {None}
    for c in cells:
        key = best.by_content.get(_shape(_source(c)))
        if key and key not in taken and not cell_key(c):
            c["id"], given = key, given + 1
            taken.add(key)
    for before, c in zip(cells, cells[1:]):
        key = cell_key(c) or ""
        answer = "ex" + key[len("check"):] if key.startswith("check") else None
        if answer and answer not in taken and not cell_key(before) and before.get("cell_type") == "code":
            before["id"], given = answer, given + 1
            taken.add(answer)
    return given


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def _imports(cells: list[dict]) -> str:
    """The top-level import lines of the solution's ordinary code cells, without the names the
    notebook defines itself (an exercise's own ``class SRCNN`` must not be replaced by an import)."""
    trees = []
    for cell in cells:
        try:
            trees.append((cell, ast.parse(_source(cell)))) if cell["cell_type"] == "code" else None
        except SyntaxError:
            continue
    defined = {t.id for _, tree in trees for node in tree.body if isinstance(node, ast.Assign)
               for t in node.targets if isinstance(t, ast.Name)}
    defined |= {node.name for _, tree in trees for node in tree.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    lines = []
    for cell, tree in trees:
        grading = (cell.get("metadata") or {}).get("nbgrader") or {}
        if grading.get("solution") or grading.get("grade"):
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                node.names = [n for n in node.names if (n.asname or n.name.split(".")[0]) not in defined]
                lines += [ast.unparse(node)] if node.names else []
    return "\n".join(dict.fromkeys(lines))


def load_assignment(path: Path) -> Assignment:
    """Read one solution notebook: its cell order, graded exercises and import lines."""
    from .notebooks import NotebookError, read_notebook  # the course's one reader (nbformat, validated)
    try:
        nb = read_notebook(path)
    except NotebookError as e:  # it names the file and what to do
        raise ValueError(f"not a solution notebook: {e}; or use --solutions") from None
    cells = nb["cells"]
    order = {k: i for i, c in enumerate(cells) if (k := cell_key(c))}
    exercises, last_solution = [], None
    for i, cell in enumerate(cells):
        grading = (cell.get("metadata") or {}).get("nbgrader") or {}
        if grading.get("solution") and cell["cell_type"] == "code":
            last_solution = cell_key(cell)
        if grading.get("grade") and cell["cell_type"] == "code":
            check_id = cell_key(cell)
            exercise_id = re.sub(r"^check", "ex", check_id) if check_id.startswith("check") else last_solution
            exercises.append(Exercise(exercise_id or check_id, check_id, float(grading.get("points", 1)),
                                      split_check(_source(cell)), i))
    imports = _imports(cells)
    every = [(e, name, src) for e in exercises for name, src in e.parts]
    for (e, name, _), run in zip(every, verdict.rewrite_parts([(n, src) for _, n, src in every], imports)):
        e.run[name] = run
    answers = "\n".join(m for c in cells for m in re.findall(
        r"### BEGIN SOLUTION(.*?)### END SOLUTION", _source(c), re.S))
    return Assignment(Path(path).stem, Path(path), order, exercises, imports, answers,
                      {_shape(_visible(c)): k for c in cells if (k := cell_key(c)) and _shape(_visible(c))})


def load_assignments(solutions: Path) -> dict[str, Assignment]:
    """Every graded solution notebook in a folder, by name (file stem)."""
    found = {p.stem: load_assignment(p) for p in sorted(Path(solutions).glob("*.ipynb"))}
    return {name: a for name, a in found.items() if a.exercises}


def save_assignments(assignments: dict[str, Assignment], path: Path) -> None:
    """Write what :func:`load_assignments` read as plain JSON, so that each worker of a batch reads
    it in milliseconds instead of parsing and validating every solution notebook again."""
    _write_atomic(Path(path), json.dumps({name: {**asdict(a), "path": str(a.path)} for name, a in assignments.items()}))


def read_assignments(path: Path) -> dict[str, Assignment]:
    """The assignments :func:`save_assignments` wrote."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: Assignment(**{**a, "path": Path(a["path"]), "exercises": [
        Exercise(**{**e, "parts": [tuple(part) for part in e["parts"]]}) for e in a["exercises"]]})
        for name, a in data.items()}


def find_assignment(nb: dict, assignments: dict[str, Assignment]) -> tuple[str | None, int]:
    """The assignment sharing the most graded cell ids with ``nb`` and how many (None, 0 if none)."""
    keys = {cell_key(c) for c in nb.get("cells", [])}
    best, overlap = None, 0
    for name, a in assignments.items():
        graded = {e.exercise_id for e in a.exercises} | {e.check_id for e in a.exercises}
        n = len(keys & graded)
        if n > overlap:
            best, overlap = name, n
    return best, overlap


# ---------------------------------------------------------------- the plan

def _moved(positions: list[int]) -> set[int]:
    """Indices of ``positions`` outside one longest increasing run (the cells a student moved)."""
    n = len(positions)
    best, prev = [1] * n, [-1] * n
    for i in range(n):
        for j in range(i):
            if positions[j] < positions[i] and best[j] + 1 > best[i]:
                best[i], prev[i] = best[j] + 1, j
    keep, i = set(), max(range(n), key=best.__getitem__) if n else -1
    while i >= 0:
        keep.add(i)
        i = prev[i]
    return set(range(n)) - keep


def _names(source: str) -> tuple[set[str], set[str]] | None:
    """(names a cell defines or changes, names it reads), statically; None when it cannot be told
    (a syntax error, ``from x import *``). ``x.attr = ...`` and ``x[i] = ...`` change ``x``."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        source = TransformerManager().transform_cell(source)  # %magics as Python calls
    except Exception:
        pass
    try:
        tree = ast.parse(normalise(source))
    except (SyntaxError, ValueError):
        return None
    defines, uses = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (uses if isinstance(node.ctx, ast.Load) else defines).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defines.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                defines.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = node.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name):
                defines.add(base.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            defines.update(node.names)
    return defines, uses


def mark_unneeded(steps: list[Step], answers: set[str]) -> int:
    """Mark (``skip``) the student's cells that no exercise needs: keep the tests, the answer cells
    and, going backwards, every cell that defines or changes a name a kept cell reads (or that
    cannot be analysed); the demonstrations and trainings after them are left out. Returns how
    many cells are skipped."""
    needed: set[str] = set()
    skipped = 0
    for step in reversed(steps):
        names = _names(step.source)
        keep = step.kind == "test" or step.key in answers or names is None or bool(names[0] & needed)
        step.skip = not keep
        skipped += not keep
        if keep and names is not None:
            needed |= names[1]
    return skipped


def plan(nb: dict, a: Assignment, graded_only: bool = False) -> Layout:
    """The cells to run for submission ``nb``: the student's code, the solution's tests in place
    (with ``graded_only``, the cells no exercise needs are marked ``skip``)."""
    checks = {e.check_id: e for e in a.exercises}
    answers = {e.exercise_id for e in a.exercises}
    steps: list[Step] = []
    check_at: dict[str, int] = {}
    answer_at: dict[str, int] = {}
    counts: Counter = Counter()
    layout = Layout(steps)
    known = []
    for cell in nb.get("cells", []):
        key = cell_key(cell) or ""
        if cell.get("cell_type") != "code" or key == HOSTED_CELL_ID:
            continue   # the release's opt-in install cell (course_tools.release) is not the student's work
        counts[key] += 1
        if key in a.order and counts[key] == 1:
            known.append(key)
        if key in checks:
            check_at.setdefault(key, len(steps) - 1)
            continue
        steps.append(Step("student", key, _source(cell)))
        if key in answers:
            answer_at[key] = len(steps) - 1
        elif key not in a.order:
            layout.extra += 1
    layout.duplicated = sorted(k for k, n in counts.items() if n > 1 and k in a.order)
    layout.moved = [known[i] for i in sorted(_moved([a.order[k] for k in known]))]
    graded = [k for e in a.exercises for k in (e.exercise_id, e.check_id)]
    layout.missing = [k for k in graded if counts[k] == 0]
    after: dict[int, list[Exercise]] = {}
    for e in a.exercises:
        where = [answer_at[e.exercise_id]] if e.exercise_id in answer_at else []
        where += [check_at[e.check_id]] if e.check_id in check_at else []
        if not where:  # both deleted: after the last student cell that comes earlier in the solution
            where = [max((i for i, s in enumerate(steps) if s.key in a.order and a.order[s.key] < e.order),
                         default=-1)]
        after.setdefault(max(where), []).append(e)
    ordered = [Step("test", e.check_id, src, e, name) for e in after.get(-1, []) for name, src in e.parts]
    for i, step in enumerate(steps):
        ordered.append(step)
        ordered += [Step("test", e.check_id, src, e, name) for e in after.get(i, []) for name, src in e.parts]
    layout.steps = ordered
    if graded_only:
        layout.skipped = mark_unneeded(ordered, answers)
    return layout


def written(steps: list[Step], a: Assignment | None = None) -> list[Step]:
    """The student's steps that are not the course's own cells unchanged (matched by content)."""
    by_content = a.by_content if a is not None else {}
    return [s for s in steps if s.kind == "student" and (not _shape(s.source) or _shape(s.source) not in by_content)]


def _code_only(source: str) -> str:
    """The source without its comments (a commented switch or ``# inspect`` is not code)."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type != tokenize.COMMENT]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return source


def flags(steps: list[Step], a: Assignment | None = None) -> list[str]:
    """What in the student's code deserves a human look (it does not change the score); the
    course's own cells, unchanged, do not count."""
    code = normalise("\n".join(_code_only(s.source) for s in written(steps, a)))
    return [why for pattern, why in FLAGS.items() if re.search(pattern, code, re.MULTILINE)]


def normalise(text: str) -> str:
    """NFKC, as Python reads identifiers (a full-width ``ｔｏｒｃｈ.all`` is ``torch.all``), without
    zero-width characters: what the flags and the scrubbing match against."""
    return re.sub("[\u200b-\u200f\u2060\ufeff]", "", unicodedata.normalize("NFKC", text))


def course_versions() -> dict[str, tuple[str, list[str]]]:
    """Exercise label -> (module, names) of the course's implementations, read from the text of
    ``course_utils/exercise.py`` (the grader imports nothing of the course)."""
    try:
        tree = ast.parse((ROOT / "course_utils" / "exercise.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "COURSE_VERSIONS":
            table = ast.literal_eval(node.value)
            return {label: (where.split(":")[0], where.split(":")[1].split(","))
                    for label, where in table.items()}
    return {}


def course_routes(steps: list[Step], labels: list[str]) -> tuple[set[str], list[str]]:
    """The exercises (labels) whose course's version the student's code reaches, by any route the
    code shows: the switch (``course_version("5.1")``, ``use_course_version``), an import of the
    course's implementation (``from course_utils.data import extract_subimages``) or an attribute
    of its module (``data.extract_subimages``). A switch with a computed label reaches them all.
    Returns (labels, reasons)."""
    table = course_versions()
    found, why = set(), []
    aliases: dict[str, str] = {}  # import ... as m: m -> the module it names
    for step in steps:
        try:
            tree = ast.parse(normalise(step.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if fn in ("course_version", "use_course_version"):
                    arg = node.args[0] if node.args else None
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.add(arg.value)
                    else:
                        found |= set(labels)
                        why.append("the course's-version switch with a computed label")
            if isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname})
            elif isinstance(node, ast.ImportFrom):
                aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
            for label, (module, names) in table.items():
                short = module.rsplit(".", 1)[-1]
                if isinstance(node, ast.ImportFrom) and node.module in (module, short) and \
                        any(a.name in names for a in node.names):
                    found.add(label)
                    why.append(f"imports the course's {', '.join(names)} ({module})")
                elif isinstance(node, ast.Attribute) and node.attr in names and \
                        aliases.get(base := ast.unparse(node.value), base).split(".")[-1] == short:
                    found.add(label)
                    why.append(f"uses the course's {ast.unparse(node)}")
    return found & set(labels), list(dict.fromkeys(why))


# ---------------------------------------------------------------- the kernel

class Kernel:
    """A fresh IPython kernel that runs one cell at a time under a time and output limit.

    ``sandbox`` (from :func:`sandbox_argv`) is the command that wraps the kernel (bubblewrap): the
    kernel then talks to this process through Unix sockets in ``cwd``'s sibling folder, and an
    interrupt is a message (the kernel is in a PID namespace of its own). None: an ordinary kernel.
    """

    def __init__(self, cwd: Path, env: dict[str, str], grace: float = 10.0, sandbox: list[str] | None = None):
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpec
        self.km = KernelManager(kernel_name="python3")
        if sandbox is not None:
            sockets = Path(tempfile.mkdtemp(prefix="sockets-", dir=Path(cwd).parent))
            self.km.transport, self.km.ip = "ipc", str(sockets / "k")
            self.km.connection_file = str(sockets / "kernel.json")
            # JPY_PARENT_PID: the kernel's parent is the sandbox's init (another PID namespace)
            argv = sandbox + ["--bind", str(sockets), str(sockets), "--unsetenv", "JPY_PARENT_PID", "--",
                              sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
            self.km._kernel_spec = KernelSpec(argv=argv, display_name="sandboxed", language="python",
                                              interrupt_mode="message")
        log = os.environ.get("GRADE_KERNEL_LOG")  # debugging the grader: the kernels' own output
        sink = open(log, "a") if log else subprocess.DEVNULL
        self.km.start_kernel(cwd=str(cwd), env=env, stdout=sink, stderr=sink)
        self.kc = self.km.client()
        try:
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=120)
        except BaseException:  # a kernel that never became ready is not left running
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
            raise
        self.alive = True
        self.grace = grace

    def run(self, code: str, timeout: float, max_output: int, history: bool = False) -> CellResult:
        """Run ``code``; interrupt it after ``timeout`` s or ``max_output`` bytes of output."""
        start = time.monotonic()
        msg_id = self.kc.execute(code, store_history=history, allow_stdin=False, stop_on_error=False)
        deadline, problem, size, error, out = start + timeout, "", 0, ("", ""), []
        while True:
            now = time.monotonic()
            if now > deadline:
                if problem:  # interrupted already and still running
                    return self._stuck(start)
                problem, deadline = "timeout", now + self.grace
                self.km.interrupt_kernel()
            try:
                msg = self.kc.get_iopub_msg(timeout=min(1.0, max(0.05, deadline - now)))
            except queue.Empty:
                if not self.km.is_alive():
                    self.alive = False
                    return CellResult("died", seconds=time.monotonic() - start)
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                break
            if kind == "error":
                error = (content.get("ename", ""), content.get("evalue", ""))
            if kind == "stream":  # printed text (figures do not count towards a flood)
                out.append(content.get("text", "")) if size < 10_000 else None
                size += len(content.get("text", ""))
            if size > max_output and not problem:
                problem, deadline = "flood", time.monotonic() + self.grace
                self.km.interrupt_kernel()
        reply = self._reply(msg_id)
        seconds = time.monotonic() - start
        stdout = "".join(out)[:10_000]
        if problem:
            return CellResult(problem, *error, seconds=seconds, stdout=stdout)
        if reply is None or reply.get("status") != "ok":
            ename = (reply or {}).get("ename") or error[0] or "Error"
            return CellResult("error", ename, (reply or {}).get("evalue") or error[1], seconds, stdout)
        return CellResult("ok", seconds=seconds, stdout=stdout)

    def _reply(self, msg_id: str) -> dict | None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                msg = self.kc.get_shell_msg(timeout=1)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]
        return None

    def _stuck(self, start: float) -> CellResult:
        """The cell ignored the interrupt: stop the kernel (the rest of the notebook is lost)."""
        self.shutdown()
        return CellResult("stuck", seconds=time.monotonic() - start)

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        except Exception:  # a kernel that is already gone
            pass
        self.alive = False


def _kernel_env(options: Options, work: Path) -> dict[str, str]:
    """The kernel's whole environment (nothing of the grader's own: it may hold secrets)."""
    env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
           "HOME": str(work), "LANG": "C.UTF-8", "COURSE_PROFILE": options.profile, "MPLBACKEND": "Agg",
           "COURSE_NO_WIDGETS": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           # NumPy's and SciPy's OpenBLAS take ~40 MB of address space per thread each (buffer and stack,
           # counted by the memory limit), one thread per core when OMP_NUM_THREADS allows: one thread,
           # so the limit a notebook needs does not grow with the machine (torch's threads are OpenMP's)
           "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "MPLCONFIGDIR": str(work / ".matplotlib"), "COURSE_DATA_DIR": str(work / ".data")}
    for name in ("COURSE_DATA_MIRROR", "TORCH_HOME", "COURSE_CHECKPOINT_DIR"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    torch_home = Path(env.get("TORCH_HOME") or Path.home() / ".cache" / "torch")
    if torch_home.is_dir():  # the ImageNet weights torchvision cached (read-only in the sandbox)
        env["TORCH_HOME"] = str(torch_home)
    return env


# What of the course a submission's kernel sees (read-only): the library, the checkpoints and the
# data scripts; never solutions/, tests/ (mutation catalogue), the grader, .git or anything else.
COURSE_VIEW = ("course_utils", "checkpoints", "data_scripts", "notebooks", "pyproject.toml")
SYSTEM_VIEW = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")


def find_bwrap() -> str | None:
    """The bubblewrap executable if it is installed and works here (None otherwise)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return None
    try:
        ok = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
                            capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if ok else None


def sandbox_argv(bwrap: str, work: Path, env: dict[str, str]) -> list[str]:
    """bubblewrap's options for one submission (the kernel's command and its socket folder follow).

    Read-only: the system, Python's environment, the course view (:data:`COURSE_VIEW`), the data
    mirror and the cached ImageNet weights. Writable: ``work`` (the submission's scratch copy) and a
    private ``/tmp``. No network, no other process (own PID, IPC, UTS namespaces; killed with the
    grader's worker: nothing survives it), no capabilities, a new session (no terminal injection).
    """
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    if os.geteuid() == 0:  # root outside: an unprivileged user inside (cannot raise its limits)
        argv += ["--unshare-user", "--uid", "1000", "--gid", "1000"]
    ro = [Path(p) for p in SYSTEM_VIEW] + [Path(sys.prefix), Path(sys.base_prefix),
                                           Path(sys.executable).resolve().parent]
    ro += [ROOT / name for name in COURSE_VIEW]
    ro += [Path(env[k]) for k in ("COURSE_DATA_MIRROR", "TORCH_HOME", "COURSE_CHECKPOINT_DIR") if k in env]
    seen = set()
    for path in ro:
        path = Path(os.path.abspath(path))
        if path.exists() and path not in seen:
            seen.add(path)
            argv += ["--ro-bind", str(path), str(path)]
    argv += ["--bind", str(work), str(work), "--chdir", str(work)]
    return argv


def _preamble(options: Options) -> str:
    limit = options.memory_mb * 2**20
    return ("import resource as _grader_resource\n"
            f"_grader_resource.setrlimit(_grader_resource.RLIMIT_DATA, ({limit}, {limit}))\n"
            "del _grader_resource\n")


def _restore(a: Assignment, record: Path) -> str:
    """Run before each test part: the solution's module names rebound, torch's default dtype back to
    float32, the random generators seeded (the same in the reference run), and a fresh recorder built
    from the text of the course's checks (``course_tools/kernel_recorder.py``; nothing the student can
    shadow)."""
    checks = ROOT / "course_utils" / "checks.py"
    return (a.imports + "\n"
            "import random as _grader_random, numpy as _grader_np, torch as _grader_torch\n"
            # the tests are written for torch's default dtype, float32: a student's
            # torch.set_default_dtype(torch.float64) must not turn their inputs or modules into float64
            "_grader_torch.set_default_dtype(_grader_torch.float32)\n"
            "_grader_random.seed(0); _grader_np.random.seed(0); _grader_torch.manual_seed(0)\n"
            "del _grader_random, _grader_np, _grader_torch\n"
            + verdict.install_source(str(record), checks.read_text(encoding="utf-8"), str(checks)))


USED_COURSE_VERSION = ("import sys as _grader_sys, json as _grader_json\n"
                       "print(_grader_json.dumps(getattr(_grader_sys.modules.get('course_utils.exercise'), "
                       "'USED_COURSE_VERSION', [])))\n")


# ---------------------------------------------------------------- one submission

def secrets(a: Assignment) -> list[str]:
    """The lines feedback must never show: the hidden tests' and the model answers' (solution
    regions), each at least 8 characters once stripped."""
    lines = [line for e in a.exercises for name, src in e.parts if name.startswith("hidden")
             for line in src.splitlines() + e.run.get(name, "").splitlines()]  # as written and as run
    lines += a.answers.splitlines()
    out = [normalise(line).strip() for line in lines]
    return sorted({line for line in out if len(line) >= 8}, key=len, reverse=True)


def _scrub(text: str, secret: list[str]) -> str:
    """Remove any line of the hidden tests or model answers from a message (a student's code could
    put it there), whatever its spacing or Unicode spelling."""
    text = normalise(text)
    for line in secret:
        pattern = r"\s*".join(re.escape(ch) for ch in line if not ch.isspace())
        text = re.sub(pattern, "[hidden]", text)
    return text[:2000]


# what running out of the kernel's address space looks like from inside it: Python's MemoryError, or
# an allocator's error (torch's CPU allocator, oneDNN, C++) that does not say "memory limit"
_OUT_OF_MEMORY = re.compile(r"MemoryError|can't allocate memory|cannot allocate memory|out of memory|"
                            r"bad_alloc|could not create a primitive|failed to allocate", re.I)


def _message(r: CellResult, secret: list[str], memory_mb: int | None = None) -> str:
    limit = f"the memory limit of {memory_mb} MB per kernel" if memory_mb else "the memory limit"
    if r.status == "ok":
        return ""
    if r.status == "timeout":
        return "stopped: it ran longer than the time limit"
    if r.status == "flood":
        return "stopped: it printed too much output"
    if r.status in ("died", "stuck"):
        return f"the kernel died here (a crash, os._exit, or {limit} reached)" if r.status == "died" \
            else "the kernel did not respond to an interrupt and was stopped"
    if normalise(r.ename) in UNANSWERED:
        return "not answered yet"
    text = _scrub(f"{r.ename}: {r.evalue}".strip(": "), secret)
    if _OUT_OF_MEMORY.search(f"{r.ename} {r.evalue}"):
        text += (f" (probably {limit}: the grader's --memory sets it; an answer that needs more "
                 "memory than the course's own is not gradable as it is)")
    return text


def _base(student: str, path: Path, options: Options) -> dict:
    return {"student": student, "notebook": str(path), "assignment": None, "status": "ok",
            "score": 0.0, "max_score": 0.0, "profile": options.profile, "exercises": [],
            "cells": {}, "problems": [], "flags": [], "used_course_version": [],
            "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _read_notebook(path: Path) -> dict:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("no list of cells")
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or "cell_type" not in cell:
            raise ValueError("a cell without a cell_type")
    return nb


def grade_submission(path: Path, student: str, assignments: dict[str, Assignment],
                     options: Options) -> dict:
    """Grade one notebook; always returns a result (its ``status`` says what went wrong)."""
    result = _base(student, path, options)
    if Path(path).is_symlink():
        result.update(status="refused", problems=[
            f"the submission is a link (to {os.path.realpath(path)}), not a notebook: submit the file itself"])
        return result
    try:
        nb = _read_notebook(path)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        result.update(status="corrupt", problems=[f"cannot read the notebook: {e}"])
        return result
    name, overlap = find_assignment(nb, assignments)
    if overlap == 0 and rekey(nb, assignments):  # ids and metadata stripped: match by content
        name, overlap = find_assignment(nb, assignments)
        result["problems"].append("the notebook had lost its cell ids; its cells were matched by content")
    wanted = options.assignment or name
    if wanted not in assignments or name != wanted:
        guess = f" (it looks like {name})" if name else " (no cell id of any solution notebook)"
        result.update(status="not this assignment", assignment=options.assignment,
                      problems=[f"not a notebook of {wanted or 'any graded assignment'}{guess}"])
        return result
    a = assignments[wanted]
    result.update(assignment=a.name, max_score=a.max_score)
    layout = plan(nb, a, options.graded_only)
    result["cells"] = {"missing": layout.missing, "duplicated": layout.duplicated,
                       "moved": layout.moved, "extra": layout.extra}
    result["skipped_cells"] = layout.skipped
    result["flags"] = flags(layout.steps, a)
    routes, why = course_routes(written(layout.steps, a), [e.label for e in a.exercises])
    result["course_routes"] = sorted(routes)
    result["flags"] += [f"course's version: {w}" for w in why]
    try:
        ref = reference(a, options)
    except Exception as e:  # noqa: BLE001 - the parts are then judged on the submission's own values
        ref = None
        result["problems"].append(f"the grader could not run the solution for its reference values "
                                  f"({type(e).__name__}: {e}); each part was judged on this notebook's own values")
    start = time.monotonic()
    outcome = _execute(layout, a, options, result)
    result["seconds"] = round(time.monotonic() - start, 1)
    ran = [(r.seconds, _where(s)) for s, r in zip(layout.steps, outcome) if r is not None]
    if ran:  # helps to choose --cell-timeout
        result["slowest_cell"] = {"where": max(ran)[1], "seconds": round(max(ran)[0], 1)}
    _score(a, layout, outcome, result, ref, options.memory_mb)
    return result


def reference(a: Assignment, options: Options) -> dict[tuple[str, str], bytes | None]:
    """The records of the solution's own run, per (check cell, part): computed once per
    assignment, profile and grader version in ``options.reference_dir`` (a lock lets one worker
    run it while the others wait), in the sandbox, with the solution's code only. None for a part
    the solution's run did not pass."""
    h = hashlib.sha256()
    for path in [a.path, Path(verdict.__file__), Path(verdict.__file__).with_name("kernel_recorder.py"),
                 Path(__file__)] + sorted((ROOT / "course_utils").glob("*.py")):
        h.update(Path(path).read_bytes())
    h.update(json.dumps([options.profile, options.graded_only, options.sandbox]).encode())
    key = f"{a.name}-{h.hexdigest()[:16]}"
    if key in _REFERENCES:  # this process ran or read it already
        return _REFERENCES[key]
    base = Path(options.reference_dir) if options.reference_dir else Path(tempfile.mkdtemp(prefix="grade-reference-"))
    folder = base / key
    base.mkdir(parents=True, exist_ok=True)
    import fcntl
    with open(base / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "index.json").is_file():
            _run_reference(a, options, folder)
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    out = {}
    for key, name in index["parts"].items():
        check_id, part = key.split("\0", 1)
        out[(check_id, part)] = verdict.read_bytes(folder / name) if name else None
    if not options.reference_dir:
        shutil.rmtree(base, ignore_errors=True)
    _REFERENCES[key] = out
    return out


_REFERENCES: dict[str, dict[tuple[str, str], bytes | None]] = {}


def _run_reference(a: Assignment, options: Options, folder: Path) -> None:
    """Run the solution notebook as a submission and keep its parts' records in ``folder``."""
    nb = _read_notebook(a.path)
    layout = plan(nb, a, options.graded_only)
    result = {"problems": [], "notebook": None}
    outcome = _execute(layout, a, options, result)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    parts = {}
    for i, (step, r) in enumerate(zip(layout.steps, outcome)):
        if step.kind != "test":
            continue
        name = None
        if r is not None and r.status == "ok" and r.records is not None:
            name = f"{i}.rec"
            (tmp / name).write_bytes(r.records)
        parts[f"{step.key}\0{step.part}"] = name
    (tmp / "index.json").write_text(json.dumps({"parts": parts, "problems": result["problems"]}), encoding="utf-8")
    try:
        os.replace(tmp, folder)
    except OSError:  # another grader kept one meanwhile
        shutil.rmtree(tmp, ignore_errors=True)


MAX_RESTARTS = 2  # kernels a submission may lose before the rest of it is given up


def _start(work: Path, options: Options) -> Kernel:
    env = _kernel_env(options, work)
    sandbox = None
    if options.sandbox:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise RuntimeError(NO_SANDBOX)
        sandbox = sandbox_argv(bwrap, work, env)
    kernel = Kernel(work, env, options.grace, sandbox)
    limit = kernel.run(_preamble(options), 60, options.max_output)
    if limit.status != "ok":  # never grade without the memory limit the instructor asked for
        kernel.shutdown()
        raise RuntimeError(f"could not set the kernel's memory limit of {options.memory_mb} MB "
                           f"({limit.ename}: {limit.evalue}); choose another --memory")
    return kernel


def step_code(step: Step) -> str:
    """The code the kernel runs for a step: a test part with its check calls sent to the recorder."""
    if step.kind == "test" and step.exercise is not None:
        return step.exercise.run.get(step.part, step.source)
    return step.source


def _run_step(kernel: Kernel, step: Step, a: Assignment, options: Options, end: float,
              work: Path | None = None) -> CellResult:
    """Run one step within the notebook's time; a test part runs after the grader's restore step,
    and its records are then saved by the recorder and read back (``CellResult.records``)."""
    record = (work or Path(tempfile.gettempdir())) / f".grader-{os.urandom(8).hex()}.rec"
    if step.kind == "test":
        restored = kernel.run(_restore(a, record), max(1.0, min(60, end - time.monotonic())), options.max_output)
        if not kernel.alive:
            return restored
    timeout = min(options.cell_timeout, max(1.0, end - time.monotonic()))
    result = kernel.run(step_code(step), timeout, options.max_output, history=step.kind == "student")
    if step.kind == "test" and result.status == "ok" and kernel.alive:
        saved = kernel.run(verdict.SAVE_SOURCE, max(1.0, min(60, end - time.monotonic())), options.max_output)
        try:
            if saved.status != "ok":
                raise verdict.Unreadable(f"the recorder could not save ({saved.ename})")
            result.records = verdict.read_bytes(record)
        except verdict.Unreadable as e:
            result.record_error = str(e)
        finally:
            _unlink(record)
    return result


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _execute(layout: Layout, a: Assignment, options: Options, result: dict) -> list[CellResult | None]:
    """Run every step; a step not run (kernel gone, notebook timeout) gets None.

    When the kernel dies or ignores an interrupt, a new kernel re-runs the steps before that one
    (except those that failed the same way) and grading goes on after it, at most MAX_RESTARTS times.
    """
    steps = layout.steps
    outcome: list[CellResult | None] = [None] * len(steps)
    base = Path(tempfile.mkdtemp(prefix="grade-"))
    work = base / "work"
    work.mkdir()
    _copy_helpers(result.get("notebook"), work)
    kernel = None
    lost: set[str] = set()  # exercises whose points are lost already (a part ran out of time)
    try:
        kernel = _start(work, options)
        end = time.monotonic() + options.notebook_timeout
        restarts = 0
        for i, step in enumerate(steps):
            if time.monotonic() > end:
                result["problems"].append("the notebook ran longer than its time limit; the rest was not run")
                break
            if step.skip or step.kind == "test" and step.key in lost:
                continue
            outcome[i] = _run_step(kernel, step, a, options, end, work)
            if outcome[i].status not in ("ok", "error") and step.kind == "test":
                lost.add(step.key)
            if kernel.alive:
                continue
            what = "died" if outcome[i].status == "died" else "stopped responding"
            if restarts == MAX_RESTARTS:
                result["problems"].append(f"the kernel {what} at {_where(step)}; the rest was not run")
                break
            restarts += 1
            result["problems"].append(f"the kernel {what} at {_where(step)}; a new kernel re-ran the "
                                      "cells before it and grading went on after it")
            kernel.shutdown()
            kernel = _start(work, options)
            for j in range(i):
                if outcome[j] is not None and outcome[j].status in ("ok", "error"):
                    _run_step(kernel, steps[j], a, options, end, work)
                if not kernel.alive:
                    break
            if not kernel.alive:
                result["problems"][-1] = f"the kernel {what} at {_where(step)}; the rest was not run"
                break
        if kernel.alive:
            used = kernel.run(USED_COURSE_VERSION, 30, options.max_output)
            result["used_course_version"] = _json_list(used.stdout)
    finally:
        if kernel is not None:
            kernel.shutdown()
        shutil.rmtree(base, ignore_errors=True)
    return outcome


HELPER_LIMIT = 5_000_000  # bytes of helper files copied beside a notebook


def _copy_helpers(notebook: str | None, work: Path) -> list[str]:
    """Copy the student's helper modules (``*.py`` files beside the notebook, not links) into the
    scratch folder, so that ``import my_helpers`` works there as it did for the student."""
    if not notebook:
        return []
    copied, size = [], 0
    for entry in sorted(Path(notebook).parent.iterdir()):
        if entry.suffix == ".py" and entry.is_file() and not entry.is_symlink():
            size += entry.stat().st_size
            if size > HELPER_LIMIT:
                break
            shutil.copyfile(entry, work / entry.name)
            copied.append(entry.name)
    return copied


def _json_list(text: str) -> list[str]:
    """The last line of ``text`` as a JSON list of strings ([] if it is not one)."""
    try:
        value = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _where(step: Step) -> str:
    if step.kind == "test":
        return f"the {step.part} of Exercise {step.exercise.label}"
    return f"cell {step.key or '(no id)'}"


def _verdict(r: CellResult, ref: dict | None, key: tuple[str, str]) -> tuple[bool, str, list[str]]:
    """The grader's own verdict on a part the kernel reported "ok": its records re-judged against
    the reference run's (``course_tools.verdict.judge``)."""
    if r.records is None:
        return False, f"the grader could not read this part's outputs ({r.record_error})", [
            f"its record file was missing or not the recorder's ({r.record_error})"]
    try:
        student = verdict.parse_records(r.records)
    except verdict.Unreadable as e:
        return False, f"the grader could not read this part's outputs ({e})", [f"its record file was not the recorder's ({e})"]
    notes = []
    theirs = None
    if ref is not None and ref.get(key) is not None:
        try:
            theirs = verdict.parse_records(ref[key])
        except verdict.Unreadable:
            theirs = None
    if theirs is None:
        notes.append("no reference values for this part: judged on the notebook's own values")
    ok, message, more = verdict.judge(student, theirs)
    if any(rec.get("modes", 0) != 0 for rec in student["records"]):
        notes.append("a torch function mode was active while the tests ran")
    return ok, message, notes + more


def _score(a: Assignment, layout: Layout, outcome: list[CellResult | None], result: dict,
           ref: dict | None = None, memory_mb: int | None = None) -> None:
    """Points per exercise, messages, and the submission's status. A test part passes when the
    kernel's reply is "ok" AND the grader's re-check of its records passes (:func:`_verdict`)."""
    secret = secrets(a)
    bad = {"timeout", "flood", "died", "stuck"}
    seen = [r.status for r in outcome if r is not None]
    status = []
    if any(s in ("timeout", "stuck") for s in seen) or any("time limit" in p for p in result["problems"]):
        status.append("timeout")
    if "died" in seen:
        status.append("kernel died")
    if "flood" in seen:
        status.append("output flood")
    if layout.missing:
        status.append("missing cells")
    total = 0.0
    for e in a.exercises:
        own = [r for s, r in zip(layout.steps, outcome) if s.kind == "student" and s.key == e.exercise_id]
        parts = []
        for name, _ in e.parts:
            r = next((r for s, r in zip(layout.steps, outcome)
                      if s.kind == "test" and s.exercise is e and s.part == name), None)
            passed, message = r is not None and r.status == "ok", "not run" if r is None else _message(r, secret, memory_mb)
            if passed:
                passed, why, notes = _verdict(r, ref, (e.check_id, name))
                message = _scrub(why, secret) if why else ""
                result["flags"] += [f"Exercise {e.label}, {name}: {_scrub(n, secret)}" for n in dict.fromkeys(notes)]
            parts.append({"part": name, "passed": passed, "message": message})
        spoiled = any(r is not None and r.status in bad for r in own)
        spoiled |= any(p["message"].startswith(("stopped", "the kernel")) for p in parts)
        share = e.points / max(1, len(parts))
        points = 0.0 if spoiled else round(share * sum(p["passed"] for p in parts), 2)
        if e.label in set(result.get("used_course_version", [])) | set(result.get("course_routes", [])):
            points = 0.0
            parts.append({"part": "course's version", "passed": False,
                          "message": "you went on with the course's version of this exercise: no points"})
        answer_errors = [_message(r, secret, memory_mb) for r in own if r is not None and r.status != "ok"]
        entry = {"exercise": e.exercise_id, "label": e.label, "points": points, "max_points": e.points,
                 "parts": parts, "answer_cell": answer_errors[0] if answer_errors else
                 ("missing" if e.exercise_id in layout.missing else "ran")}
        result["exercises"].append(entry)
        total += points
    result["score"] = round(total, 2)
    result["status"] = "; ".join(status) or "ok"


# ---------------------------------------------------------------- a batch

def _skip(why: str) -> None:
    print(f"warning: {why}", file=sys.stderr, flush=True)


def _linked(path: Path, top: Path) -> bool:
    """Whether ``path`` or a folder between ``top`` and it is a symbolic link."""
    while True:
        if path.is_symlink():
            return True
        if path == top or path.parent == path:
            return False
        path = path.parent


def collect_submissions(paths: list[Path]) -> list[tuple[str, Path]]:
    """(student, notebook) pairs: a file is one submission named by its stem; a folder holds one
    notebook per student (``alice.ipynb``) or a folder per student (``alice/03_interpolation.ipynb``).

    Inside a folder, links are not followed: a student folder that is a link (to the course, to a
    classmate) is not collected and a notebook that is a link is refused when graded (both said on
    stderr). A notebook given by name is kept as named (a link there is refused when graded too).
    """
    found = []
    for p in map(Path, paths):
        p = Path(os.path.abspath(p))  # the gradebook's key: the same notebook however it was named
        if p.is_file() or p.is_symlink() and not p.is_dir():
            found.append((p.stem, p))
            continue
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: no such file or folder")
        for entry in sorted(p.iterdir()):
            if entry.is_symlink() and entry.is_dir():
                _skip(f"{entry}: a link to a folder ({os.path.realpath(entry)}), not collected")
            elif entry.suffix == ".ipynb" and (entry.is_file() or entry.is_symlink()):
                found.append((entry.stem, entry))
            elif entry.is_dir() and not entry.name.startswith("."):
                for nb in sorted(entry.rglob("*.ipynb")):
                    if ".ipynb_checkpoints" in nb.parts:
                        continue
                    if _linked(nb.parent, entry):
                        _skip(f"{nb}: inside a linked folder, not collected")
                        continue
                    found.append((entry.name, nb))
    return found


def _grade_one(path: Path, student: str, solutions: Path, options: Options) -> dict:
    """Grade one submission in this process; a grader bug costs this submission only."""
    try:
        assignments = read_assignments(Path(options.assignments_file)) if options.assignments_file \
            else load_assignments(solutions)
        return grade_submission(path, student, assignments, options)
    except Exception as e:
        result = _base(student, path, options)
        result.update(status="grader error", problems=[f"{type(e).__name__}: {e}"])
        return result


def _grade_in_worker(path: Path, student: str, solutions: Path, options: Options) -> dict:
    """Grade one submission in a worker process of its own (``python -m course_tools.grade
    --worker``; it imports no torch). The worker writes its result to a file in a private folder
    that the submission's sandbox cannot see; the worker's output streams are not read, so nothing a
    student's code prints or writes can become a result, and this row's student and notebook are set
    here, never taken from the worker."""
    job = {"path": str(path), "student": student, "solutions": str(solutions), "options": asdict(options)}
    private = Path(tempfile.mkdtemp(prefix="grade-worker-"))
    answer = private / "result.json"
    try:
        run = subprocess.run([sys.executable, "-m", "course_tools.grade", "--worker", json.dumps(job), str(answer)],
                             capture_output=True, text=True, timeout=options.notebook_timeout + 300,
                             cwd=str(ROOT), env=_worker_env())
        try:
            result = json.loads(answer.read_text())
            if not isinstance(result, dict) or "exercises" not in result:
                raise ValueError("not a result")
            result.update(student=student, notebook=str(path))
            return result
        except (OSError, ValueError):
            problem = f"the grading process ended with code {run.returncode}: {run.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        problem = "the grading process did not finish in time"
    finally:
        shutil.rmtree(private, ignore_errors=True)
    result = _base(student, path, options)
    result.update(status="grader error", problems=[problem])
    return result


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _worker(job: str, answer: str) -> int:
    """The worker's side of ``_grade_in_worker``: grade, write the result atomically."""
    job = json.loads(job)
    result = _grade_one(Path(job["path"]), job["student"], Path(job["solutions"]), Options(**job["options"]))
    _write_atomic(Path(answer), json.dumps(result))
    return 0


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def shard(submissions: list[tuple[str, Path]], i: int, n: int) -> list[tuple[str, Path]]:
    """Shard ``i`` of ``n`` (1 <= i <= n): a fixed slice by a hash of student and notebook, so the
    same submission always lands in the same shard, whatever else is in the batch."""
    def slot(sub):
        return int(hashlib.sha256(f"{sub[0]}\0{sub[1]}".encode()).hexdigest(), 16) % n
    return [sub for sub in submissions if slot(sub) == i - 1]


def result_names(submissions: list[tuple[str, Path]]) -> dict[str, str]:
    """File stem per notebook: the student, or student__notebook when a student has several."""
    per = Counter(student for student, _ in submissions)
    names = {}
    for student, path in submissions:
        stem = student if per[student] == 1 else f"{student}__{Path(path).stem}"
        names[str(path)] = re.sub(r"[^\w.-]+", "_", stem)
    return names


def grade_all(submissions: list[tuple[str, Path]], solutions: Path, options: Options,
              jobs: int = 1, out: Path | None = None, regrade: bool = True,
              names: dict[str, str] | None = None) -> list[dict]:
    """Grade every submission, ``jobs`` at a time (a worker process and a sandboxed kernel each).

    With ``out``, each result is written as it comes (``out/results/NAME.json``, its feedback and the
    gradebook, each replaced atomically), so a grader killed half-way loses only the submissions in
    progress; without ``regrade`` a submission whose result is there (same notebook content, profile
    and assignment) is not graded again.
    """
    names = names or result_names(submissions)
    temporary = None
    if options.reference_dir is None:  # the solution's reference run: once per assignment for the batch
        temporary = None if out else tempfile.mkdtemp(prefix="grade-reference-")
        options = replace(options, reference_dir=str(Path(out) / ".reference") if out else temporary)
    private = tempfile.mkdtemp(prefix="grade-assignments-")  # outside every sandbox (a private /tmp there)
    try:
        if options.assignments_file is None:
            try:  # read the solutions once for the batch; if they cannot be read, each worker says why
                save_assignments(load_assignments(solutions), Path(private) / "assignments.json")
                options = replace(options, assignments_file=str(Path(private) / "assignments.json"))
            except Exception:  # noqa: BLE001
                pass
        return _grade_all(submissions, solutions, options, jobs, out, regrade, names)
    finally:
        shutil.rmtree(private, ignore_errors=True)
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def _grade_all(submissions, solutions, options, jobs, out, regrade, names) -> list[dict]:
    results: list[dict] = [{}] * len(submissions)
    todo = []
    for i, (student, path) in enumerate(submissions):
        old = _read_result(out / "results" / f"{names[str(path)]}.json") if out and not regrade else None
        if old and old.get("sha256") == _sha256(path) and old.get("profile") == options.profile \
                and old.get("requested_assignment") == options.assignment:
            results[i] = old
        else:
            todo.append(i)
    if out and len(todo) < len(submissions):
        print(f"{len(submissions) - len(todo)} submission(s) already graded in {out} (kept; "
              "--regrade grades them again)", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_grade_in_worker, submissions[i][1], submissions[i][0], solutions, options): i
                   for i in todo}
        for done, future in enumerate(as_completed(futures)):
            i = futures[future]
            try:
                result = future.result()
            except Exception as e:  # a grader bug costs this submission only
                result = _base(submissions[i][0], submissions[i][1], options)
                result.update(status="grader error", problems=[f"{type(e).__name__}: {e}"])
            result.update(sha256=_sha256(submissions[i][1]), requested_assignment=options.assignment)
            results[i] = _progress(result, done, len(todo))
            if out is not None:
                write_result(result, names[str(submissions[i][1])], out)
    return results


def _read_result(path: Path) -> dict | None:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and "student" in result and "exercises" in result else None


def _progress(result: dict, done: int, total: int) -> dict:
    print(f"[{done + 1}/{total}] {result['student']}: {result['score']:g} / {result['max_score']:g} "
          f"{result['status']}", file=sys.stderr, flush=True)
    return result


def write_result(result: dict, name: str, out: Path) -> None:
    """One submission's result, feedback and the gradebook, each file replaced atomically."""
    out = Path(out)
    for folder in ("results", "feedback"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "results" / f"{name}.json", json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    _write_atomic(out / "feedback" / f"{name}.json", json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    _write_atomic(out / "feedback" / f"{name}.md", feedback_markdown(result) + "\n")
    write_gradebook(out)


def feedback_markdown(result: dict) -> str:
    """A short Markdown report for the student."""
    lines = [f"# Feedback: {result['assignment'] or Path(result['notebook']).name}", "",
             f"**{result['score']:g} / {result['max_score']:g} points** · status: {result['status']}"
             f" · profile: {result['profile']}", ""]
    lines += [f"- {_indented(p)}" for p in result["problems"]]
    cells = result.get("cells") or {}
    for what in ("missing", "duplicated", "moved"):
        if cells.get(what):
            lines.append(f"- {what} cells: {', '.join(cells[what])}")
    used = sorted(set(result.get("used_course_version", [])) | set(result.get("course_routes", [])))
    if used:
        lines.append(f"- used the course's version for: {', '.join(used)}")
    if lines[-1] != "":
        lines.append("")
    for e in result["exercises"]:
        lines.append(f"## Exercise {e['label']}: {e['points']:g} / {e['max_points']:g}")
        if e["answer_cell"] != "ran":
            lines.append(f"- your answer cell: {_indented(e['answer_cell'])}")
        for p in e["parts"]:
            mark = "passed" if p["passed"] else f"failed: {_indented(p['message'])}"
            lines.append(f"- {p['part']}: {mark}")
        lines.append("")
    return "\n".join(lines)


def _indented(message: str) -> str:
    """A message that stays inside its Markdown list item."""
    return message.strip().replace("\n", "\n  ")


def write_gradebook(out: Path) -> Path:
    """``out/gradebook.csv`` from every result in ``out/results`` (a row per submission)."""
    out = Path(out)
    results = [r for p in sorted((out / "results").glob("*.json")) if (r := _read_result(p))]
    rows, columns = [], {}
    for r in results:
        row = {"student": r["student"], "notebook": r["notebook"], "assignment": r.get("assignment") or "",
               "status": r["status"], "score": r["score"], "max_score": r["max_score"],
               "profile": r["profile"], "flags": " | ".join(r.get("flags", []))}
        for e in r["exercises"]:
            row[e["exercise"]] = e["points"]
            columns.setdefault((r.get("assignment") or "", e["exercise"]), len(columns))
        rows.append(row)
    fields = (["student", "notebook", "assignment", "status", "score", "max_score"]
              + [ex for _, ex in sorted(columns, key=lambda k: (k[0], columns[k]))] + ["profile", "flags"])
    book = out / "gradebook.csv"
    tmp = book.with_name(f".gradebook.csv.{os.getpid()}.part")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(dict.fromkeys(fields)), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda row: (row["student"], row["notebook"])))
    os.replace(tmp, book)
    return book


def merge(shards: list[Path], out: Path) -> Path:
    """Combine the results of several ``--shard`` runs into ``out`` (results, feedback, gradebook)."""
    out = Path(out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    for folder in map(Path, shards):
        found = sorted((folder / "results").glob("*.json"))
        if not found:
            raise FileNotFoundError(f"{folder}: no results/*.json (is it the -o folder of a shard?)")
        for path in found:
            result = _read_result(path)
            if result is None:
                raise ValueError(f"{path}: not a grader result; remove it or re-grade that shard")
            name = path.stem
            _write_atomic(out / "results" / f"{name}.json", json.dumps(result, indent=1, ensure_ascii=False) + "\n")
            (out / "feedback").mkdir(exist_ok=True)
            _write_atomic(out / "feedback" / f"{name}.json", json.dumps(result, indent=1, ensure_ascii=False) + "\n")
            _write_atomic(out / "feedback" / f"{name}.md", feedback_markdown(result) + "\n")
    return write_gradebook(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker(argv[1], argv[2])
    if argv[:1] == ["merge"]:
        return _merge_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m course_tools.grade", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", nargs="+", type=Path, help="notebooks or folders of submissions")
    p.add_argument("-o", "--out", type=Path, default=Path("grades"), help="where the gradebook goes")
    p.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded in parallel")
    p.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    p.add_argument("--assignment", help="grade only against this solution (e.g. 03_interpolation)")
    p.add_argument("--student", action="append", help="re-grade only this student (repeatable)")
    p.add_argument("--regrade", action="store_true", help="grade again what -o already has")
    p.add_argument("--shard", help="grade only shard I of N (e.g. 3/8; merge the shards with 'merge')")
    p.add_argument("--profile", default=os.environ.get("COURSE_PROFILE") or "ci")
    p.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per notebook")
    p.add_argument("--memory", type=int, default=Options.memory_mb,
                   help="MB of address space per kernel (default %(default)s; see Options.memory_mb)")
    p.add_argument("--max-output", type=int, default=1_000_000, help="bytes of output per cell")
    p.add_argument("--grace", type=float, default=10.0, help="seconds to stop after an interrupt")
    p.add_argument("--all-cells", action="store_true",
                   help="run every cell, not only those the exercises and tests need")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run students' code without bubblewrap, as you (only for notebooks you trust)")
    args = p.parse_args(argv)
    if args.jobs < 1 or args.cell_timeout <= 0 or args.timeout <= 0 or args.memory < 64:
        print("error: --jobs must be >= 1, the time limits > 0 and --memory >= 64 (MB)", file=sys.stderr)
        return 2
    part = None
    if args.shard:
        m = re.fullmatch(r"(\d+)/(\d+)", args.shard.strip())
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            print(f"error: --shard {args.shard!r}: write I/N with 1 <= I <= N (e.g. 3/8)", file=sys.stderr)
            return 2
        part = int(m.group(1)), int(m.group(2))
    if not args.unsafe_no_sandbox and find_bwrap() is None:
        print(f"error: {NO_SANDBOX}", file=sys.stderr)
        return 2
    try:
        assignments = load_assignments(args.solutions)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not assignments:
        print(f"error: no graded solution notebook in {args.solutions}", file=sys.stderr)
        return 2
    if args.assignment and args.assignment not in assignments:
        print(f"error: no assignment {args.assignment!r}; choose from {', '.join(assignments)}",
              file=sys.stderr)
        return 2
    try:
        subs = collect_submissions(args.submissions)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    names = result_names(subs)  # from the whole batch: the same in every shard
    if part:
        subs = shard(subs, *part)
    if args.student:
        subs = [(s, nb) for s, nb in subs if s in args.student]
    if not subs and not part:
        print("error: no submission to grade", file=sys.stderr)
        return 2
    options = Options(args.profile, args.cell_timeout, args.timeout, args.memory, args.max_output,
                      args.grace, args.assignment, graded_only=not args.all_cells,
                      sandbox=not args.unsafe_no_sandbox)
    start = time.monotonic()
    grade_all(subs, args.solutions, options, args.jobs, args.out,
              regrade=args.regrade or bool(args.student), names=names)
    book = write_gradebook(args.out) if (args.out / "results").is_dir() else args.out / "gradebook.csv"
    if not subs:
        (args.out / "results").mkdir(parents=True, exist_ok=True)
        book = write_gradebook(args.out)
    print(f"graded {len(subs)} submission(s) in {time.monotonic() - start:.0f} s "
          f"(profile {options.profile}{', shard ' + args.shard if part else ''}"
          f"{', NOT SANDBOXED' if args.unsafe_no_sandbox else ''}); gradebook: {book}")
    return 0


def _merge_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m course_tools.grade merge",
                                description="Combine the -o folders of --shard runs into one gradebook.")
    p.add_argument("shards", nargs="+", type=Path, help="the shards' -o folders")
    p.add_argument("-o", "--out", type=Path, required=True, help="the combined folder")
    args = p.parse_args(argv)
    try:
        book = merge(args.shards, args.out)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"merged {len(args.shards)} shard(s); gradebook: {book}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
