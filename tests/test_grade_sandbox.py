"""The grader against a determined student (issue 26): each hostile submission with its outcome.

The kernel cases are graded once, as one batch in bubblewrap (two workers); the rest need no kernel.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools import grade

from course_tools import release
from test_grade import TOY, _answer, _cell, _index, _test, inserted, toy, untouched

ROOT = Path(__file__).resolve().parents[1]
MARK = "sandbox-survivor-3f9a"
SOLUTION_00 = json.loads((ROOT / "solutions" / "00_welcome.ipynb").read_text())


def _nb00(answer):
    """Notebook 00 as solved, with the answer cell ex00-1 replaced."""
    nb = json.loads(json.dumps(SOLUTION_00))
    nb["cells"][_index(nb, "ex00-1")]["source"] = answer
    return nb


def _stripped(nb):
    for cell in nb["cells"]:
        cell.pop("id", None)
        cell["metadata"] = {}
    return nb


NB00_POINTS = grade.load_assignment(ROOT / "solutions" / "00_welcome.ipynb").max_score

# A second toy assignment whose checks compare tensors (check_close goes through torch.all) and
# whose hidden test draws its input from the global generator after the student's constructor ran.
TOY91 = {"cells": [
    _cell("c91-setup", "import torch\nfrom torch import nn\n\nfrom course_utils import checks"),
    _cell("ex91-1", "def scale(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION", _answer("ex91-1")),
    _cell("check91-1", "x = torch.linspace(-1, 1, 5)\nwith checks.guard('scale(x)'):\n    got = scale(x)\n"
                       "checks.check_close(got, 3 * x, 'scale(x)')\n"
                       "### BEGIN HIDDEN TESTS\n_x = torch.rand(4, 3) - 0.5\n"
                       "with checks.guard('scale of a (4, 3) tensor'):\n    _got = scale(_x)\n"
                       "checks.check_close(_got, 3 * _x, 'hidden: scale of a random (4, 3) tensor')\n"
                       "checks.check(torch.equal(scale(torch.zeros(2)), torch.zeros(2)), 'hidden: scale(0) is 0')\n"
                       "_y = torch.rand(3, generator=torch.Generator().manual_seed(3))\n"
                       "checks.check_close(scale(_y), 3 * _y, 'hidden: scale of a seeded draw')\n"
                       "### END HIDDEN TESTS", _test("check91-1", 2)),
    _cell("ex91-2", "class Noisy(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                    "        ### BEGIN SOLUTION\n        self.w = nn.Parameter(torch.randn(3))\n        ### END SOLUTION\n\n"
                    "    def forward(self, x):\n        ### BEGIN SOLUTION\n        return x * self.w\n"
                    "        ### END SOLUTION", _answer("ex91-2")),
    _cell("check91-2", "with checks.guard('Noisy()(x)'):\n    got = Noisy()(torch.ones(3))\n"
                       "checks.check_shape(got, (3,), 'Noisy()(x)')\n### BEGIN HIDDEN TESTS\n"
                       "torch.manual_seed(5)\n_m = Noisy()\n_x = torch.randn(3)  # drawn after the constructor\n"
                       "with torch.no_grad():\n    checks.check_close(_m(_x) / _m.w, _x, 'hidden: Noisy multiplies by w')\n"
                       "checks.check_close(_x.abs().sum() * 0 + 1, 1.0, 'hidden: a value of the test alone')\n"
                       "### END HIDDEN TESTS", _test("check91-2", 1)),
], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
RIGHT91 = {"ex91-1": "def scale(x):\n    return 3 * x",
           "ex91-2": "class Noisy(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                     "        self.w = nn.Parameter(torch.randn(3))\n\n    def forward(self, x):\n        return x * self.w"}


def toy91(extra="", **answers):
    """Notebook 91 as released, with the answers given (a key absent: left unanswered) and
    ``extra`` code at the top of the first answer cell (a cell the grader always runs)."""
    nb = release.release_notebook(TOY91)
    for cell in nb["cells"]:
        if cell["id"] in answers:
            cell["source"] = answers[cell["id"]]
    first = nb["cells"][_index(nb, "ex91-1")]
    first["source"] = extra + "\n\n" + "".join(first["source"])
    return nb


def untouched_with(extra):
    """The toy as released (no answer), with ``extra`` code at the top of its first answer cell."""
    nb = untouched()
    first = nb["cells"][_index(nb, "ex90-1")]
    first["source"] = extra + "\n\n" + "".join(first["source"])
    return nb


ZEROS = {"ex91-1": "def scale(x):\n    return torch.zeros_like(x)",
         "ex91-2": "class Noisy(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                   "        self.w = torch.zeros(3)\n\n    def forward(self, x):\n        return torch.ones(2)"}
# torch.all and torch.allclose patched (a full-width letter hid it from the old flags)
PATCH_ALL = ("\uff54orch.all = lambda *a, **k: torch.tensor(True)\n"
             "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True")
MODE = ("from torch.overrides import TorchFunctionMode\n\nclass Yes(TorchFunctionMode):\n"
        "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
        "        if func in (torch.all, torch.Tensor.all, torch.allclose, torch.equal):\n"
        "            return torch.tensor(True)\n"
        "        return func(*args, **(kwargs or {}))\n\nYes().__enter__()")
# every cell's reply says "ok": the shell's run_cell forgets the error
WRAP_KERNEL = ("_ip = get_ipython()\n_run, _run_async = _ip.run_cell, _ip.run_cell_async\n\n"
               "def _forget(result):\n    result.error_in_exec = None\n    result.error_before_exec = None\n"
               "    return result\n\n"
               "async def _ok_async(*a, **k):\n    return _forget(await _run_async(*a, **k))\n\n"
               "_ip.run_cell = lambda *a, **k: _forget(_run(*a, **k))\n_ip.run_cell_async = _ok_async")
# a module of no-op checks found first when the grader reloads course_utils.checks
SHADOW = ("import os, sys, course_utils\nos.makedirs('fake', exist_ok=True)\n"
          "open('fake/checks.py', 'w').write('import contextlib\\nclass CheckFailed(AssertionError): pass\\n'\n"
          "    'def check(*a, **k): pass\\ncheck_close = check_shape = passed = check\\n'\n"
          "    '@contextlib.contextmanager\\ndef guard(*a, **k):\\n    try:\\n        yield\\n'\n"
          "    '    except Exception:\\n        pass\\n')\n"
          "course_utils.__path__.insert(0, os.path.abspath('fake'))\n"
          "import importlib\nimportlib.reload(sys.modules['course_utils.checks'])")
# the recorder's file replaced by one that says every check held
FORGE = ("import __main__, json, struct\n\ndef _forge():\n    rec = __main__._grader_rec\n"
         "    def save():\n        sites = [f'{p}:{i}' for p in ('visible check', 'hidden tests') for i in range(1, 9)]\n"
         "        records = [{'site': s, 'n': 0, 'kind': 'bool', 'label': 'ok', 'held': True} for s in sites]\n"
         "        header = json.dumps({'records': records, 'count': 0, 'too_large': False}).encode()\n"
         "        open(rec.path, 'wb').write(b'GRADEREC1' + struct.pack('<Q', len(header)) + header)\n"
         "    rec.save = save\n")
ZERO90 = {"ex90-1": "def double(x):\n    return 0", "ex90-2": "def square(x):\n    return 0",
          "ex90-3": "def halve(x):\n    return 0"}
FORGED = {"ex90-1": "def double(x):\n    _forge()\n    return 0", "ex90-2": "def square(x):\n    _forge()\n    return 0",
          "ex90-3": "def halve(x):\n    _forge()\n    return 0"}
# correct, but the constructor draws more random numbers than the solution's: the hidden test's
# input (drawn after it) differs from the reference run's
UNUSUAL91 = {"ex91-1": "def scale(x):\n    return x + x + x",
             "ex91-2": "class Noisy(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                       "        self.w = nn.Parameter(torch.randn(5)[:3].clone())\n\n"
                       "    def forward(self, x):\n        return self.w * x"}


def _toy_with(extra, answers):
    nb = toy(**{k.replace("-", "_"): v for k, v in answers.items()})
    first = nb["cells"][_index(nb, "ex90-1")]
    first["source"] = extra + "\n\n" + first["source"]
    return nb

# name -> (notebook or a function of the batch's folders, expected score, expected status)
HOSTILE = {
    # the course without solutions/, read-only; no network; no other submission, gradebook or process
    "read_solutions": (lambda d: toy(ex90_1="def double(x):\n    raise ValueError(open("
                                         f"{str(ROOT / 'solutions' / '00_welcome.ipynb')!r}).read())"), 2, "ok"),
    "write_course": (lambda d: inserted(toy(), "c90-setup", _cell("mine-1", (
        "for path in ['course_utils/checks.py', 'course_utils/sitecustomize.py', 'solutions/x.py']:\n"
        f"    try:\n        open({str(ROOT)!r} + '/' + path, 'a').write('pass')\n"
        "    except OSError:\n        pass"))), 4, "ok"),
    "network": (lambda d: toy(ex90_1="import socket\n\ndef double(x):\n"
                                     "    socket.create_connection(('1.1.1.1', 80), timeout=3)\n    return 2 * x"),
                2, "ok"),
    "survivor": (lambda d: inserted(toy(), "c90-setup", _cell("mine-1", (
        "import subprocess\nsubprocess.Popen(['sh', '-c', "
        f"'sleep 600; echo {MARK}; echo x,0 > {d['out']}/gradebook.csv'], start_new_session=True)"))), 4, "ok"),
    "rewrite_classmate": (lambda d: inserted(untouched(), "c90-setup", _cell("mine-1", (
        f"import json\ntry:\n    open({str(d['subs'] / 'honest.ipynb')!r}, 'w').write('{{}}')\n"
        "except OSError:\n    pass"))), 0, "ok"),
    "forge_result": (lambda d: inserted(untouched(), "c90-setup", _cell("mine-1", (
        "import json, os, signal\nline = 'GRADE-RESULT ' + json.dumps({'student': 'honest', 'score': 0,"
        " 'exercises': []})\nfor pid in os.listdir('/proc'):\n    try:\n"
        "        open(f'/proc/{pid}/fd/1', 'w').write(line + '\\n')\n        os.kill(int(pid), signal.SIGKILL)"
        " if int(pid) != os.getpid() else None\n    except (OSError, ValueError):\n        pass"))), 0, "ok"),
    "honest": (lambda d: toy(), 4, "ok"),
    # a symlink to the solution is refused; a helper module beside the notebook is there
    "link_to_solution": ("link", 0, "refused"),
    "carol": ("helper", 4, "ok"),
    # ids and metadata stripped: cells matched by content
    "stripped": (lambda d: _stripped(toy()), 4, "ok"),
    # course answers by any route: the switch's treatment (no points)
    # (each passes the check: only the route costs the points)
    "course_import": (lambda d: _nb00("from course_utils.metrics import psnr as my_psnr"), 0, "ok"),
    "course_attribute": (lambda d: _nb00("import course_utils.metrics as m\nmy_psnr = m.psnr"), 0, "ok"),
    "course_fullwidth": (lambda d: _nb00("from course_utils.metrics import \uff50\uff53\uff4e\uff52 as my_psnr"),
                         0, "ok"),
    "course_marker_cleared": (lambda d: _nb00(
        "import course_utils\nmy_psnr = course_utils.course_version('0.1')\n"
        "from course_utils import exercise\nexercise.USED_COURSE_VERSION.clear()"), 0, "ok"),
    # verdicts outside the student's process: each cheat below passed every part before (issue 26)
    "verdict_patched_torch": (lambda d: toy91(PATCH_ALL, **ZEROS), 0, "ok"),
    "verdict_function_mode": (lambda d: toy91(MODE, **ZEROS), 0, "ok"),
    "verdict_wrapped_kernel": (lambda d: untouched_with(WRAP_KERNEL), 0, "ok"),
    "verdict_shadowed_checks": (lambda d: _toy_with(SHADOW, ZERO90), 0, "ok"),
    "verdict_forged_records": (lambda d: _toy_with(WRAP_KERNEL + "\n" + FORGE, FORGED), 0, "ok"),
    "verdict_honest_91": (lambda d: toy91(**RIGHT91), 3, "ok"),
    "verdict_unusual_91": (lambda d: toy91(**UNUSUAL91), 3, "ok"),
    "verdict_float64_91": (lambda d: toy91("torch.set_default_dtype(torch.float64)", **RIGHT91), 3, "ok"),
    "verdict_half_91": (lambda d: toy91(PATCH_ALL, **{"ex91-1": RIGHT91["ex91-1"], "ex91-2": ZEROS["ex91-2"]}), 2, "ok"),
    # model answers never reach feedback, even spelled differently
    "leak_answer": (lambda d: _nb00("def my_psnr(y, x, data_range=1.0):\n    raise ValueError("
                                    f"{_model_answer_00()!r})"), 0, "ok"),
}


def _model_answer_00():
    a = grade.load_assignment(ROOT / "solutions" / "00_welcome.ipynb")
    return next(line.strip() for line in a.answers.splitlines() if len(line.strip()) >= 12)


def _survivors():
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if MARK in cmd and "pytest" not in cmd:
            found.append(pid)
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    if grade.find_bwrap() is None:
        pytest.fail("bubblewrap is needed (apt-get install bubblewrap; .ci/run installs it)")
    base = tmp_path_factory.mktemp("sandbox")
    sol, subs, out = base / "solutions", base / "submissions", base / "grades"
    sol.mkdir()
    subs.mkdir()
    (sol / "90_toy.ipynb").write_text(json.dumps(TOY))
    (sol / "91_toy.ipynb").write_text(json.dumps(TOY91))
    shutil.copy(ROOT / "solutions" / "00_welcome.ipynb", sol / "00_welcome.ipynb")
    folders = {"subs": subs, "out": out}
    for name, (make, _, _) in HOSTILE.items():
        if make == "link":
            (subs / f"{name}.ipynb").symlink_to(sol / "90_toy.ipynb")
        elif make == "helper":
            (subs / name).mkdir()
            (subs / name / "helpers.py").write_text("def twice(x):\n    return x + x\n")
            (subs / name / "03.ipynb").write_text(json.dumps(toy(ex90_1="from helpers import twice\n\n"
                                                                  "def double(x):\n    return twice(x)")))
        else:
            (subs / f"{name}.ipynb").write_text(json.dumps(make(folders)))
    (subs / "course_link").symlink_to(ROOT)  # a student folder linked to the course: not collected
    course_before = {p: p.read_bytes() for p in (ROOT / "course_utils").glob("*.py")}
    code = grade.main([str(subs), "-o", str(out), "--solutions", str(sol), "-j", "2", "--cell-timeout", "30",
                       "--timeout", "300", "--memory", "2048", "--grace", "5"])
    assert code == 0
    with (out / "gradebook.csv").open() as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    feedback = {p.name: p.read_text() for p in (out / "feedback").iterdir()}
    course_after = {p: p.read_bytes() for p in (ROOT / "course_utils").glob("*.py")}
    return {"rows": rows, "feedback": feedback, "out": out, "subs": subs, "sol": sol,
            "course_unchanged": course_before == course_after, "survivors": _survivors()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_submission_gets_its_score_and_status(batch, name):
    _, score, status = HOSTILE[name]
    row = batch["rows"][name]
    assert (float(row["score"]), row["status"]) == (score, status), batch["feedback"].get(name + ".json")


@pytest.mark.slow
def test_nothing_of_a_submission_reaches_the_course_the_classmates_or_outlives_it(batch):
    assert batch["course_unchanged"]
    assert not (ROOT / "course_utils" / "sitecustomize.py").exists()
    assert not (ROOT / "solutions" / "x.py").exists()
    assert json.loads((batch["subs"] / "honest.ipynb").read_text())["cells"]  # not rewritten
    assert batch["survivors"] == []
    assert "No such file" in json.loads(batch["feedback"]["read_solutions.json"])["exercises"][0]["parts"][0]["message"]
    assert "Network is unreachable" in batch["feedback"]["network.md"] or "Errno" in batch["feedback"]["network.md"]
    assert not any("course_link" in row["notebook"] for row in batch["rows"].values())
    assert "refused" in batch["rows"]["link_to_solution"]["status"]


@pytest.mark.slow
def test_course_answers_by_any_route_get_no_points_and_are_flagged(batch):
    for name in ("course_import", "course_attribute", "course_fullwidth", "course_marker_cleared"):
        fb = json.loads(batch["feedback"][f"{name}.json"])
        assert fb["exercises"][0]["points"] == 0 and "0.1" in fb["course_routes"], name
        assert all(p["passed"] for p in fb["exercises"][0]["parts"][:-1]), name  # the check passed
        assert "you went on with the course's version" in fb["exercises"][0]["parts"][-1]["message"], name


@pytest.mark.slow
def test_the_grader_not_the_kernel_decides_each_part(batch):
    """The cheats' kernels said "ok" (or their checks did not raise); the grader's re-check of the
    recorded values against the reference run failed them, said so and flagged what it saw."""
    def parts(name):
        return [p for e in json.loads(batch["feedback"][f"{name}.json"])["exercises"] for p in e["parts"]]

    for name in ("verdict_patched_torch", "verdict_function_mode", "verdict_wrapped_kernel", "verdict_forged_records"):
        assert any(p["message"].startswith("the grader's re-check") for p in parts(name)), name
    # the shadowed module never reaches the tests: the recorder's checks come from the course's text
    assert "CheckFailed: double(2) should be 4" in [p["message"] for p in parts("verdict_shadowed_checks")]
    assert "not the check the tests made" in " ".join(p["message"] for p in parts("verdict_forged_records"))
    assert "torch function mode was active" in batch["rows"]["verdict_function_mode"]["flags"]
    assert "own inputs" in batch["rows"]["verdict_unusual_91"]["flags"]   # said for a human to look at
    assert "own inputs" not in batch["rows"]["verdict_honest_91"]["flags"]
    # a float64 default: the grader sets float32 back before each part, so the seeded draws are the
    # reference's and nothing needs a human's look
    assert "own inputs" not in batch["rows"]["verdict_float64_91"]["flags"]
    half = json.loads(batch["feedback"]["verdict_half_91.json"])["exercises"]
    assert [e["points"] for e in half] == [2.0, 0.0]
    # one reference run per assignment, kept with the batch
    assert sorted(p.name.split("-")[0] for p in (batch["out"] / ".reference").iterdir()
                  if p.is_dir()) == ["00_welcome", "90_toy", "91_toy"]


@pytest.mark.slow
def test_feedback_never_shows_model_answers(batch):
    answer = _model_answer_00()
    for name, text in batch["feedback"].items():
        assert answer not in text, name
    assert "[hidden]" in batch["feedback"]["leak_answer.md"]


# ---------------------------------------------------------------- no kernel needed

def test_importing_the_grader_does_not_import_torch():
    code = "import sys, course_tools.grade, course_tools.edition; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert out.strip() == "False"


def test_without_bubblewrap_the_grader_refuses_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(grade.shutil, "which", lambda name: None)
    (tmp_path / "a.ipynb").write_text(json.dumps(toy()))
    assert grade.main([str(tmp_path / "a.ipynb"), "-o", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "bubblewrap" in err and "--unsafe-no-sandbox" in err and not (tmp_path / "g").exists()


def test_flags_see_through_unicode_spellings():
    steps = [grade.Step("student", "x", "\uff54\uff4f\uff52\uff43\uff48.all = lambda *a, **k: True")]
    assert any("replaces a function" in f for f in grade.flags(steps))
    steps = [grade.Step("student", "x", "from torch.overrides import TorchFunctionMode")]
    assert any("intercepts torch" in f for f in grade.flags(steps))
    steps = [grade.Step("student", "x", "import course_utils\ncourse_utils.__path__.insert(0, '/tmp')")]
    assert any("imported" in f for f in grade.flags(steps))
    assert grade.flags([grade.Step("student", "x", "# import inspect\nx = 1")]) == []  # comments do not count
    for code in ("getattr(checks, 'check_close')", "vars(checks)['check'] = print", "checks.__dict__['check'] = print",
                 "globals()['checks'] = None", "import __main__\n__main__._grader_rec.save = print",
                 "\uff47etattr(course_utils, 'checks')", "g = globals\ng()['checks'] = None"):
        assert any("indirectly" in f for f in grade.flags([grade.Step("student", "x", code)])), code
    assert any("run time" in f for f in grade.flags([grade.Step("student", "x", "exec('x = 1')")]))
    for fine in ("getattr(net, 'scale', None)", "if 'x' in globals():\n    pass", "model.eval()\ntorch.compile(m)"):
        assert grade.flags([grade.Step("student", "x", fine)]) == [], fine


def test_scrubbing_removes_model_answers_whatever_the_spacing_or_spelling(tmp_path):
    (tmp_path / "90_toy.ipynb").write_text(json.dumps(TOY))
    a = grade.load_assignments(tmp_path)["90_toy"]
    secret = grade.secrets(a)
    for leak in ("return 2 * x", "return  2*x", "\uff52eturn 2 * x"):
        assert "2" not in grade._scrub(f"ValueError: {leak}", secret).replace("[hidden]", ""), leak
    assert grade._scrub("ValueError: nothing secret", secret) == "ValueError: nothing secret"


def test_cells_are_matched_by_content_when_ids_are_gone():
    assignments = grade.load_assignments(ROOT / "solutions")
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = _stripped(json.loads(path.read_text()))
        assert grade.find_assignment(nb, assignments)[1] == 0
        assert grade.rekey(nb, assignments) > 0
        name, _ = grade.find_assignment(nb, assignments)
        assert name == path.stem
        layout = grade.plan(nb, assignments[name])
        assert layout.missing == [] and layout.moved == [], path.name


def test_links_are_refused_and_linked_folders_not_collected(tmp_path, capsys):
    (tmp_path / "sol").mkdir()
    (tmp_path / "sol" / "90_toy.ipynb").write_text(json.dumps(TOY))
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "eve.ipynb").symlink_to(tmp_path / "sol" / "90_toy.ipynb")
    (subs / "mallory").symlink_to(ROOT)
    found = grade.collect_submissions([subs])
    assert [s for s, _ in found] == ["eve"]
    assert "mallory" in capsys.readouterr().err
    result = grade.grade_submission(found[0][1], "eve", grade.load_assignments(tmp_path / "sol"), grade.Options())
    assert (result["status"], result["score"]) == ("refused", 0.0)


def test_shards_cover_the_batch_once_and_do_not_depend_on_the_rest():
    subs = [(f"s{i}", Path(f"/x/s{i}.ipynb")) for i in range(40)]
    parts = [grade.shard(subs, i, 4) for i in range(1, 5)]
    assert sorted(sum(parts, [])) == sorted(subs) and all(parts)
    assert grade.shard(subs[:10], 2, 4) == [s for s in parts[1] if s in subs[:10]]


def _fake_result(student, path, score):
    result = grade._base(student, path, grade.Options())
    result.update(assignment="90_toy", score=score, max_score=4.0,
                  exercises=[{"exercise": "ex90-1", "label": "90.1", "points": score, "max_points": 4.0,
                              "parts": [], "answer_cell": "ran"}])
    return result


def test_results_are_kept_as_they_come_and_a_rerun_resumes(tmp_path, monkeypatch):
    subs = []
    for name in ("ann", "bob", "cid"):
        (tmp_path / f"{name}.ipynb").write_text(json.dumps(toy()))
        subs.append((name, tmp_path / f"{name}.ipynb"))
    graded, interrupted = [], []

    def worker(path, student, solutions, options):
        graded.append(student)
        if student == "bob" and not interrupted:
            interrupted.append(student)
            raise KeyboardInterrupt  # the grader is stopped while bob is graded
        return _fake_result(student, path, 4.0)

    monkeypatch.setattr(grade, "_grade_in_worker", worker)
    out = tmp_path / "grades"
    with pytest.raises(KeyboardInterrupt):
        grade.grade_all(subs, tmp_path, grade.Options(), 1, out, regrade=False)
    with (out / "gradebook.csv").open() as f:
        assert [row["student"] for row in csv.DictReader(f)] == ["ann"]  # ann is not lost
    graded.clear()
    grade.grade_all(subs, tmp_path, grade.Options(), 1, out, regrade=False)
    assert graded == ["bob", "cid"]  # ann is not graded again
    with (out / "gradebook.csv").open() as f:
        assert [row["student"] for row in csv.DictReader(f)] == ["ann", "bob", "cid"]


def test_a_failing_or_forging_worker_costs_only_its_own_row(tmp_path, monkeypatch):
    subs = [(n, tmp_path / f"{n}.ipynb") for n in ("ann", "bob")]
    for _, p in subs:
        p.write_text(json.dumps(toy()))

    def worker(path, student, solutions, options):
        if student == "bob":
            raise RuntimeError("a grader bug")
        return _fake_result(student, path, 4.0)

    monkeypatch.setattr(grade, "_grade_in_worker", worker)
    results = grade.grade_all(subs, tmp_path, grade.Options(), 2, tmp_path / "g")
    assert [(r["student"], r["status"]) for r in results] == [("ann", "ok"), ("bob", "grader error")]


def test_a_worker_result_cannot_name_another_student(tmp_path, monkeypatch):
    class Run:
        returncode, stderr = 0, ""

    def forged(argv, **kwargs):
        Path(argv[-1]).write_text(json.dumps(_fake_result("honest", "/elsewhere/honest.ipynb", 0.0)))
        return Run()

    monkeypatch.setattr(grade.subprocess, "run", forged)
    result = grade._grade_in_worker(tmp_path / "eve.ipynb", "eve", tmp_path, grade.Options())
    assert (result["student"], result["notebook"]) == ("eve", str(tmp_path / "eve.ipynb"))


def test_merge_combines_the_shards_gradebooks(tmp_path):
    for i, name in enumerate(("ann", "bob")):
        grade.write_result(_fake_result(name, f"/s/{name}.ipynb", float(i)), name, tmp_path / f"shard{i}")
    assert grade.main(["merge", str(tmp_path / "shard0"), str(tmp_path / "shard1"), "-o", str(tmp_path / "all")]) == 0
    with (tmp_path / "all" / "gradebook.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["student"], r["score"], r["ex90-1"]) for r in rows] == [("ann", "0.0", "0.0"), ("bob", "1.0", "1.0")]
    assert (tmp_path / "all" / "feedback" / "bob.md").is_file()
    assert grade.main(["merge", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("code", ["from course_utils.metrics import psnr as my_psnr",
                                  "import course_utils.metrics as m\nmy_psnr = m.psnr",
                                  "from course_utils import metrics as q\nmy_psnr = q.psnr",
                                  "import course_utils\nmy_psnr = course_utils.metrics.psnr",
                                  "from course_utils.metrics import \uff50\uff53\uff4e\uff52 as my_psnr",
                                  "my_psnr = course_utils.course_version('0.1')",
                                  "label = '0.' + '1'\nmy_psnr = course_utils.course_version(label)"])
def test_every_route_to_the_course_answer_is_seen(code):
    assert grade.course_routes([grade.Step("student", "ex00-1", code)], ["0.1", "0.2"])[0] >= {"0.1"}
    assert grade.course_routes([grade.Step("student", "ex00-1", "def my_psnr(y, x):\n    return 1.0")],
                               ["0.1"]) == (set(), [])
