"""Grade student notebooks with the solutions' checks and hidden tests.

    python -m course_utils.grade submissions/ -o grades/ -j 2        # a folder: one notebook per
                                                                    # student, or a folder per student
    python -m course_utils.grade alice.ipynb bob.ipynb -o grades/     # some submissions
    python -m course_utils.grade submissions/ -o grades/ --student alice   # re-grade one student

Each submission runs in a fresh kernel: the student's code cells in the student's order, and in place
of each check cell the solution's check cell (its visible check, then each hidden-test block, run
as separate parts). Exercises are matched by cell id (nbgrader ``grade_id``), never by position or
file name: the solution is the notebook in ``solutions/`` that shares the submission's cell ids.

* A part passes only if the grader's own execute request for it ends with status "ok" (the
  kernel's reply, not anything printed), within its time limit, with the kernel alive. Before each
  part the grader reloads ``course_utils.checks`` and re-runs the solution's import lines, so
  redefined check functions or rebound module names do not reach the tests.
* An exercise's points are shared equally by its parts (partial credit). A timeout, a dead kernel
  or an output flood in the exercise's own cell or in one of its parts costs the exercise's points.
  A kernel that died or ignored an interrupt is replaced (the cells before re-run) and grading
  goes on, twice at most; then the rest of that notebook is lost, never the batch (each submission
  is graded by a worker process of its own).
* Deleted check cells are run where the exercise is; deleted, duplicated and moved cells are
  reported; a student's extra cells run in order.

Outputs in the ``-o`` folder: ``gradebook.csv`` (a row per submission, a column per exercise,
total, status) and ``feedback/<student>.json`` and ``.md``: which visible checks and hidden tests
failed, with their messages, never the hidden tests' source. Statuses: ok, timeout, kernel died,
output flood, missing cells (several joined by "; "), not this assignment, corrupt, grader error.
Code that tampers with the kernel, the checks or the caller's frames is listed under ``flags`` for
a human to look at (flags do not change the score).
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

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
}


@dataclass
class Exercise:
    """One graded exercise of a solution notebook."""
    exercise_id: str              # "ex03-2": the answer cell
    check_id: str                 # "check03-2": the check cell (visible check + hidden tests)
    points: float
    parts: list[tuple[str, str]]  # (name, source): "visible check", "hidden tests 1", ...
    order: int                    # the check cell's index in the solution

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


@dataclass
class Options:
    """How to grade: the profile and the limits of each kernel."""
    profile: str = "ci"
    cell_timeout: float = 120.0
    notebook_timeout: float = 900.0
    memory_mb: int = 4096
    max_output: int = 1_000_000   # bytes of output per cell before it counts as a flood
    grace: float = 10.0           # seconds a cell has to stop after an interrupt
    assignment: str | None = None


@dataclass
class CellResult:
    """What running one cell gave (ename/evalue when it raised)."""
    status: str                   # ok, error, timeout, flood, died, stuck
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0
    stdout: str = ""              # the first 10 000 characters (for the grader's own cells)


@dataclass
class Layout:
    """The steps to run for one submission and what is wrong with its cells."""
    steps: list[Step]
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    extra: int = 0


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
    try:
        nb = _read_notebook(path)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a solution notebook ({e}); fix it or use --solutions") from e
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
    return Assignment(Path(path).stem, Path(path), order, exercises, _imports(cells))


def load_assignments(solutions: Path) -> dict[str, Assignment]:
    """Every graded solution notebook in a folder, by name (file stem)."""
    found = {p.stem: load_assignment(p) for p in sorted(Path(solutions).glob("*.ipynb"))}
    return {name: a for name, a in found.items() if a.exercises}


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


def plan(nb: dict, a: Assignment) -> Layout:
    """The cells to run for submission ``nb``: the student's code, the solution's tests in place."""
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
        if cell.get("cell_type") != "code":
            continue
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
    return layout


def flags(steps: list[Step]) -> list[str]:
    """What in the student's code deserves a human look (it does not change the score)."""
    code = "\n".join(s.source for s in steps if s.kind == "student")
    return [why for pattern, why in FLAGS.items() if re.search(pattern, code, re.MULTILINE)]


# ---------------------------------------------------------------- the kernel

class Kernel:
    """A fresh IPython kernel that runs one cell at a time under a time and output limit."""

    def __init__(self, cwd: Path, env: dict[str, str], grace: float = 10.0):
        from jupyter_client import KernelManager
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def _kernel_env(options: Options) -> dict[str, str]:
    env = dict(os.environ)
    env.update(COURSE_PROFILE=options.profile, MPLBACKEND="Agg", COURSE_NO_WIDGETS="1",
               OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    return env


def _preamble(options: Options) -> str:
    limit = options.memory_mb * 2**20
    return ("import resource as _grader_resource\n"
            f"_grader_resource.setrlimit(_grader_resource.RLIMIT_DATA, ({limit}, {limit}))\n"
            "del _grader_resource\n")


def _restore(a: Assignment) -> str:
    """Run before each test part: fresh course checks, the solution's module names rebound."""
    return ("import importlib as _grader_importlib, sys as _grader_sys\n"
            "if 'course_utils.checks' in _grader_sys.modules:\n"
            "    _grader_importlib.reload(_grader_sys.modules['course_utils.checks'])\n"
            "del _grader_importlib, _grader_sys\n" + a.imports + "\n")


USED_COURSE_VERSION = ("import sys as _grader_sys, json as _grader_json\n"
                       "print(_grader_json.dumps(getattr(_grader_sys.modules.get('course_utils.exercise'), "
                       "'USED_COURSE_VERSION', [])))\n")


# ---------------------------------------------------------------- one submission

def _scrub(text: str, secret: list[str]) -> str:
    """Remove any line of the hidden tests from a message (a student's code could put it there)."""
    for line in secret:
        text = text.replace(line, "[hidden test]")
    return text[:2000]


def _message(r: CellResult, secret: list[str]) -> str:
    if r.status == "ok":
        return ""
    if r.status == "timeout":
        return "stopped: it ran longer than the time limit"
    if r.status == "flood":
        return "stopped: it printed too much output"
    if r.status in ("died", "stuck"):
        return "the kernel died here (a crash, os._exit or the memory limit)" if r.status == "died" \
            else "the kernel did not respond to an interrupt and was stopped"
    if r.ename in UNANSWERED:
        return "not answered yet"
    return _scrub(f"{r.ename}: {r.evalue}".strip(": "), secret)


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
    try:
        nb = _read_notebook(path)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        result.update(status="corrupt", problems=[f"cannot read the notebook: {e}"])
        return result
    name, overlap = find_assignment(nb, assignments)
    wanted = options.assignment or name
    if wanted not in assignments or name != wanted:
        guess = f" (it looks like {name})" if name else " (no cell id of any solution notebook)"
        result.update(status="not this assignment", assignment=options.assignment,
                      problems=[f"not a notebook of {wanted or 'any graded assignment'}{guess}"])
        return result
    a = assignments[wanted]
    result.update(assignment=a.name, max_score=a.max_score)
    layout = plan(nb, a)
    result["cells"] = {"missing": layout.missing, "duplicated": layout.duplicated,
                       "moved": layout.moved, "extra": layout.extra}
    result["flags"] = flags(layout.steps)
    start = time.monotonic()
    outcome = _execute(layout, a, options, result)
    result["seconds"] = round(time.monotonic() - start, 1)
    ran = [(r.seconds, _where(s)) for s, r in zip(layout.steps, outcome) if r is not None]
    if ran:  # helps to choose --cell-timeout
        result["slowest_cell"] = {"where": max(ran)[1], "seconds": round(max(ran)[0], 1)}
    _score(a, layout, outcome, result)
    return result


MAX_RESTARTS = 2  # kernels a submission may lose before the rest of it is given up


def _start(work: Path, options: Options) -> Kernel:
    kernel = Kernel(work, _kernel_env(options), options.grace)
    limit = kernel.run(_preamble(options), 60, options.max_output)
    if limit.status != "ok":  # never grade without the memory limit the instructor asked for
        kernel.shutdown()
        raise RuntimeError(f"could not set the kernel's memory limit of {options.memory_mb} MB "
                           f"({limit.ename}: {limit.evalue}); choose another --memory")
    return kernel


def _run_step(kernel: Kernel, step: Step, a: Assignment, options: Options, end: float) -> CellResult:
    """Run one step (a test part after the grader's restore step) within the notebook's time."""
    if step.kind == "test":
        restored = kernel.run(_restore(a), max(1.0, min(60, end - time.monotonic())), options.max_output)
        if not kernel.alive:
            return restored
    timeout = min(options.cell_timeout, max(1.0, end - time.monotonic()))
    return kernel.run(step.source, timeout, options.max_output, history=step.kind == "student")


def _execute(layout: Layout, a: Assignment, options: Options, result: dict) -> list[CellResult | None]:
    """Run every step; a step not run (kernel gone, notebook timeout) gets None.

    When the kernel dies or ignores an interrupt, a new kernel re-runs the steps before that one
    (except those that failed the same way) and grading goes on after it, at most MAX_RESTARTS times.
    """
    steps = layout.steps
    outcome: list[CellResult | None] = [None] * len(steps)
    work = Path(tempfile.mkdtemp(prefix="grade-"))
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
            if step.kind == "test" and step.key in lost:
                continue
            outcome[i] = _run_step(kernel, step, a, options, end)
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
                    _run_step(kernel, steps[j], a, options, end)
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
        shutil.rmtree(work, ignore_errors=True)
    return outcome


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


def _score(a: Assignment, layout: Layout, outcome: list[CellResult | None], result: dict) -> None:
    """Points per exercise, messages, and the submission's status."""
    secret = [line.strip() for e in a.exercises for name, src in e.parts if name.startswith("hidden")
              for line in src.splitlines() if len(line.strip()) >= 8]
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
            parts.append({"part": name, "passed": r is not None and r.status == "ok",
                          "message": "not run" if r is None else _message(r, secret)})
        spoiled = any(r is not None and r.status in bad for r in own)
        spoiled |= any(p["message"].startswith(("stopped", "the kernel")) for p in parts)
        share = e.points / max(1, len(parts))
        points = 0.0 if spoiled else round(share * sum(p["passed"] for p in parts), 2)
        if e.label in result.get("used_course_version", []):  # the student flipped the switch
            points = 0.0
            parts.append({"part": "course's version", "passed": False,
                          "message": "you went on with the course's version of this exercise: no points"})
        answer_errors = [_message(r, []) for r in own if r is not None and r.status != "ok"]
        entry = {"exercise": e.exercise_id, "label": e.label, "points": points, "max_points": e.points,
                 "parts": parts, "answer_cell": answer_errors[0] if answer_errors else
                 ("missing" if e.exercise_id in layout.missing else "ran")}
        result["exercises"].append(entry)
        total += points
    result["score"] = round(total, 2)
    result["status"] = "; ".join(status) or "ok"


# ---------------------------------------------------------------- a batch

def collect_submissions(paths: list[Path]) -> list[tuple[str, Path]]:
    """(student, notebook) pairs: a file is one submission named by its stem; a folder holds one
    notebook per student (``alice.ipynb``) or a folder per student (``alice/03_interpolation.ipynb``)."""
    found = []
    for p in map(Path, paths):
        p = p.resolve()  # the gradebook's key: the same notebook however it was named
        if p.is_file():
            found.append((p.stem, p))
            continue
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: no such file or folder")
        for entry in sorted(p.iterdir()):
            if entry.is_file() and entry.suffix == ".ipynb":
                found.append((entry.stem, entry))
            elif entry.is_dir() and not entry.name.startswith("."):
                found += [(entry.name, nb) for nb in sorted(entry.rglob("*.ipynb"))
                          if ".ipynb_checkpoints" not in nb.parts]
    return found


RESULT = "GRADE-RESULT "  # the line a worker prints its result on


def _grade_one(path: Path, student: str, solutions: Path, options: Options) -> dict:
    """Grade one submission in this process; a grader bug costs this submission only."""
    try:
        return grade_submission(path, student, load_assignments(solutions), options)
    except Exception as e:
        result = _base(student, path, options)
        result.update(status="grader error", problems=[f"{type(e).__name__}: {e}"])
        return result


def _grade_in_worker(path: Path, student: str, solutions: Path, options: Options) -> dict:
    """Grade one submission in a worker process of its own (this file run as a script: no torch).

    Whatever a student's code does to its kernel's parent (``os.kill(os.getppid(), 9)``) ends that
    worker, not the batch.
    """
    job = {"path": str(path), "student": student, "solutions": str(solutions), "options": asdict(options)}
    try:
        run = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)],
                             capture_output=True, text=True, timeout=options.notebook_timeout + 300)
        lines = [line for line in run.stdout.splitlines() if line.startswith(RESULT)]
        if lines:
            return json.loads(lines[-1][len(RESULT):])
        problem = f"the grading process ended with code {run.returncode}: {run.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        problem = "the grading process did not finish in time"
    result = _base(student, path, options)
    result.update(status="grader error", problems=[problem])
    return result


def _worker(job: str) -> int:
    """The worker's side of ``_grade_in_worker``: grade, print the result on one line."""
    here = Path(__file__).resolve().parent  # run as a script: course_utils/ must not shadow modules
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    job = json.loads(job)
    result = _grade_one(Path(job["path"]), job["student"], Path(job["solutions"]), Options(**job["options"]))
    print(RESULT + json.dumps(result), flush=True)
    return 0


def grade_all(submissions: list[tuple[str, Path]], solutions: Path, options: Options,
              jobs: int = 1) -> list[dict]:
    """Grade every submission, ``jobs`` at a time (a worker process and a kernel each)."""
    results: list[dict] = [{}] * len(submissions)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_grade_in_worker, path, student, solutions, options): i
                   for i, (student, path) in enumerate(submissions)}
        for done, future in enumerate(as_completed(futures)):
            results[futures[future]] = _progress(future.result(), done, len(submissions))
    return results


def _progress(result: dict, done: int, total: int) -> dict:
    print(f"[{done + 1}/{total}] {result['student']}: {result['score']:g} / {result['max_score']:g} "
          f"{result['status']}", file=sys.stderr, flush=True)
    return result


def _feedback_name(result: dict, results: list[dict]) -> str:
    same = [r for r in results if r["student"] == result["student"]]
    stem = result["student"] if len(same) == 1 else f"{result['student']}__{Path(result['notebook']).stem}"
    return re.sub(r"[^\w.-]+", "_", stem)


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
    if result.get("used_course_version"):
        lines.append(f"- used the course's version for: {', '.join(result['used_course_version'])}")
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


def write_outputs(results: list[dict], out: Path, assignments: dict[str, Assignment]) -> Path:
    """Write feedback files and merge the results into ``out/gradebook.csv`` (by notebook path)."""
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    for r in results:
        stem = _feedback_name(r, results)
        (out / "feedback" / f"{stem}.json").write_text(json.dumps(r, indent=1, ensure_ascii=False) + "\n")
        (out / "feedback" / f"{stem}.md").write_text(feedback_markdown(r) + "\n")
    book = out / "gradebook.csv"
    rows = {}
    if book.is_file():
        with book.open(newline="") as f:
            rows = {row["notebook"]: row for row in csv.DictReader(f)}
    for r in results:
        row = {"student": r["student"], "notebook": r["notebook"], "assignment": r["assignment"] or "",
               "status": r["status"], "score": r["score"], "max_score": r["max_score"],
               "profile": r["profile"], "flags": " | ".join(r["flags"])}
        row.update({e["exercise"]: e["points"] for e in r["exercises"]})
        rows[r["notebook"]] = row
    columns = [e.exercise_id for a in assignments.values() for e in a.exercises
               if any(e.exercise_id in row for row in rows.values())]
    fields = (["student", "notebook", "assignment", "status", "score", "max_score"] + columns
              + ["profile", "flags"])
    tmp = book.with_name(".gradebook.csv.part")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(sorted(rows.values(), key=lambda row: (row["student"], row["notebook"])))
    os.replace(tmp, book)
    return book


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker(argv[1])
    p = argparse.ArgumentParser(prog="python -m course_utils.grade", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", nargs="+", type=Path, help="notebooks or folders of submissions")
    p.add_argument("-o", "--out", type=Path, default=Path("grades"), help="where the gradebook goes")
    p.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded in parallel")
    p.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    p.add_argument("--assignment", help="grade only against this solution (e.g. 03_interpolation)")
    p.add_argument("--student", action="append", help="re-grade only this student (repeatable)")
    p.add_argument("--profile", default=os.environ.get("COURSE_PROFILE") or "ci")
    p.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per notebook")
    p.add_argument("--memory", type=int, default=4096, help="MB per kernel")
    p.add_argument("--max-output", type=int, default=1_000_000, help="bytes of output per cell")
    p.add_argument("--grace", type=float, default=10.0, help="seconds to stop after an interrupt")
    args = p.parse_args(argv)
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
    if args.student:
        subs = [(s, nb) for s, nb in subs if s in args.student]
    if not subs:
        print("error: no submission to grade", file=sys.stderr)
        return 2
    options = Options(args.profile, args.cell_timeout, args.timeout, args.memory, args.max_output,
                      args.grace, args.assignment)
    start = time.monotonic()
    results = grade_all(subs, args.solutions, options, args.jobs)
    book = write_outputs(results, args.out, assignments)
    print(f"graded {len(results)} submission(s) in {time.monotonic() - start:.0f} s "
          f"(profile {options.profile}); gradebook: {book}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
