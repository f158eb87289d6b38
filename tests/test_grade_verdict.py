"""The grader's own verdicts (course_tools.verdict): the rewrite of test parts, the recorder, the
record files and the re-judging, without a kernel (the recorder runs in this process)."""
import json
import os
import struct

import pytest
import torch

from course_tools import grade, verdict

IMPORTS = "import torch\nfrom course_utils import checks\nfrom course_utils.checks import check_close, guard"
CHECKS = grade.ROOT / "course_utils" / "checks.py"


def run_part(tmp_path, part, student, name="hidden tests"):
    """Run ``part`` (rewritten) after ``student``'s code, as the grader's kernel does; return the
    records and whether the part raised in the kernel."""
    ns = {}
    exec(IMPORTS, ns)
    exec(student, ns)
    path = tmp_path / f"{name}-{os.urandom(4).hex()}.rec"
    exec(verdict.install_source(str(path), CHECKS.read_text(), str(CHECKS)), ns)
    raised = False
    try:
        exec(compile(verdict.rewrite(part, name, IMPORTS), "part", "exec"), ns)
    except AssertionError:  # CheckFailed
        raised = True
    exec(verdict.SAVE_SOURCE, ns)
    return verdict.read_records(path), raised


PART = ("_x = torch.rand(4, 3, generator=torch.Generator().manual_seed(1))\n"
        "with guard('scale(_x)'):\n    _got = scale(_x)\n"
        "check_close(_got, 3 * _x, 'hidden: scale of a (4, 3) tensor')\n"
        "checks.check(_got.dtype == _x.dtype, f'dtype {_got.dtype}')\n")
SOLUTION = "def scale(x):\n    return 3 * x"


def test_a_part_is_judged_against_the_reference_not_by_the_kernel(tmp_path, monkeypatch):
    reference, raised = run_part(tmp_path, PART, SOLUTION)
    assert not raised and [r["kind"] for r in reference["records"]] == ["guard", "close", "compare"]
    assert verdict.judge(run_part(tmp_path, PART, "def scale(x):\n    return x + x + x")[0], reference)[0]
    # torch.all and the comparison patched: the kernel's check passes, the grader's does not
    monkeypatch.setattr(torch, "all", lambda *a, **k: torch.tensor(True))
    cheat, raised = run_part(tmp_path, PART, "def scale(x):\n    return torch.zeros_like(x)")
    assert not raised
    ok, message, _ = verdict.judge(cheat, reference)
    assert not ok and message.startswith("the grader's re-check: hidden: scale of a (4, 3) tensor: differs")


def test_a_check_that_did_not_run_or_a_guard_that_raised_fails(tmp_path):
    reference, _ = run_part(tmp_path, PART, SOLUTION)
    short = dict(reference, records=reference["records"][:1])
    assert not verdict.judge(short, reference)[0]
    raised, _ = run_part(tmp_path, PART, "def scale(x):\n    raise ValueError('no')")
    ok, message, _ = verdict.judge(raised, reference)
    assert not ok and "raised an error" in message


def test_the_rewrite_sends_every_check_to_the_recorder_and_marks_whose_expected_it_is():
    code = verdict.rewrite(
        "x = torch.ones(3)\n"
        "checks.check_close(f(x), 2 * x, 'a')\n"       # expected: the test's own value
        "checks.check_close(f(x), g(x), 'b')\n"        # g comes from the notebook: the student's
        "m = Model()\ncheck_close(m(x), m.w * x, 'c')\n"  # an object the student's class made
        "checks.check(f(x).dtype == torch.float32, 'd')\n"
        "if bad:\n    raise checks.CheckFailed('e')\n", "visible check", IMPORTS)
    assert "checks." not in code.replace("_grader_rec.", "") and "check_close(" not in code.replace("rec.check_close(", "")
    assert "_grader_rec.check_close('visible check:1', False" in code
    assert "_grader_rec.check_close('visible check:2', True" in code
    assert "_grader_rec.check_close('visible check:3', True" in code
    assert "_grader_rec.check_compare('visible check:4', False, f(x).dtype, '==', torch.float32" in code
    assert "raise _grader_rec.failed('visible check:5', _grader_rec.CheckFailed('e'))" in code


def test_a_generator_given_to_the_student_makes_later_draws_the_students():
    code = verdict.rewrite("g = torch.Generator().manual_seed(0)\nsample(g)\ny = torch.rand(3, generator=g)\n"
                           "checks.check_close(h(y), y, 'a')\nz = torch.rand(3)\nchecks.check_close(h(z), z, 'b')",
                           "hidden tests", IMPORTS)
    assert "check_close('hidden tests:1', True" in code and "check_close('hidden tests:2', False" in code


def _rec(site, **fields):
    return dict({"site": site, "n": 0, "kind": "close", "label": site, "rng": "r", "modes": 0, "own": False,
                 "rtol": 1e-5, "atol": 1e-6}, **fields)


def _tensor(values):
    a = torch.tensor(values, dtype=torch.float64).numpy()
    return {"k": "tensor", "shape": list(a.shape), "a": a}


def test_the_students_own_expected_only_when_its_random_numbers_differed_and_no_mode_was_active():
    ref = {"records": [_rec("s:1", actual=_tensor([3.0]), expected=_tensor([3.0]))]}
    same_rng = {"records": [_rec("s:1", actual=_tensor([5.0]), expected=_tensor([5.0]))]}
    assert not verdict.judge(same_rng, ref)[0]                     # the reference's expected
    other_rng = {"records": [_rec("s:1", actual=_tensor([5.0]), expected=_tensor([5.0]), rng="q")]}
    ok, _, notes = verdict.judge(other_rng, ref)
    assert ok and "own inputs" in notes[0]                         # a constructor drew more numbers
    with_mode = {"records": [_rec("s:1", actual=_tensor([5.0]), expected=_tensor([5.0]), rng="q", modes=1)]}
    assert not verdict.judge(with_mode, ref)[0]
    wrong = {"records": [_rec("s:1", actual=_tensor([4.0]), expected=_tensor([5.0]), rng="q")]}
    assert not verdict.judge(wrong, ref)[0]
    forged = {"records": [_rec("s:1", kind="bool", held=True)]}
    assert "not the check the tests made" in verdict.judge(forged, ref)[1]


def _file(header, data=b""):
    text = json.dumps(header).encode()
    return verdict.MAGIC + struct.pack("<Q", len(text)) + text + data


def test_record_files_are_read_safely(tmp_path, monkeypatch):
    good = tmp_path / "good.rec"
    good.write_bytes(_file({"records": [_rec("s:1", actual={"k": "tensor", "shape": [2], "off": 0, "n": 2})]},
                           struct.pack("<2d", 1.0, 2.0)))
    assert verdict.read_records(good)["records"][0]["actual"]["a"].tolist() == [1.0, 2.0]
    outside = tmp_path / "outside.rec"
    outside.write_bytes(_file({"records": [_rec("s:1", actual={"k": "tensor", "shape": [9], "off": 0, "n": 9})]}))
    link, fifo, big, junk = (tmp_path / n for n in ("link.rec", "fifo.rec", "big.rec", "junk.rec"))
    link.symlink_to(good)
    os.mkfifo(fifo)                                                # would block an ordinary open()
    big.write_bytes(b"x" * 2048)
    junk.write_bytes(b"\x80\x04pickle")
    monkeypatch.setattr(verdict, "MAX_FILE", 1024)
    for path in (outside, link, fifo, big, junk, tmp_path / "missing.rec"):
        with pytest.raises(verdict.Unreadable):
            verdict.read_records(path)


def test_the_batch_reads_the_solutions_once_and_its_workers_get_the_same_assignments(tmp_path, monkeypatch):
    solutions = grade.ROOT / "solutions"
    loaded = grade.load_assignments(solutions)
    grade.save_assignments(loaded, tmp_path / "a.json")
    assert grade.read_assignments(tmp_path / "a.json") == loaded   # every field, parts as tuples, paths
    # a worker given the file never parses a notebook; without it, it reads the solutions itself
    monkeypatch.setattr(grade, "load_assignment", lambda p: pytest.fail(f"parsed {p}"))
    seen = {}
    monkeypatch.setattr(grade, "grade_submission", lambda path, student, a, o: seen.setdefault("a", a) and {})
    grade._grade_one(tmp_path / "x.ipynb", "s", solutions,
                     grade.Options(assignments_file=str(tmp_path / "a.json")))
    assert seen["a"] == loaded
