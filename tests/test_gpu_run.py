"""benchmarks/gpu_run.py, the prepared GPU run: its training commands parse with the training
scripts' own parsers and write only into the run's folder; it keeps its budget (children stopped
at their limit, items skipped when the time is spent); ``--check`` accepts a sound folder and names
each problem of a tampered one (sha256, held-out score, float16 rule, run times, shipped files)."""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def gpu_run():
    return _load(ROOT / "benchmarks" / "gpu_run.py", "_gpu_run")


class _Parsed(BaseException):
    """Raised right after a script's parse_args: nothing else of the script runs."""


@pytest.mark.parametrize("index", range(8))
def test_each_training_command_parses_with_its_scripts_own_parser(gpu_run, tmp_path, monkeypatch, index):
    assert len(gpu_run.TRAININGS) == 8
    name, args = gpu_run.TRAININGS[index]
    until = datetime.now(timezone.utc) + timedelta(seconds=90)
    cmd = gpu_run.training_command(args, tmp_path, until, threads=3)
    script = ROOT / cmd[0]
    mod = _load(script, f"_gpu_run_script_{index}")
    seen = {}
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, argv=None, namespace=None):
        seen["ns"] = original(self, argv, namespace)   # argparse's own errors: SystemExit(2)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
    with pytest.raises(_Parsed):
        mod.main(cmd[1:])
    ns = seen["ns"]
    # the result goes into the run's folder, never into the shipped checkpoints/
    assert ns.out == tmp_path / "checkpoints" and ns.runs_dir == tmp_path / "runs"
    assert ns.ship_partial and not ns.ship and ns.threads == 3
    assert ns.steps > 0
    if "--init" in args:   # a continuation of the shipped file, at a tenth of its record's rate
        from course_utils.zoo import REGISTRY
        assert ns.init == name and ns.lr == pytest.approx(0.1 * REGISTRY[name].train["lr"])
    # the deadline is the one asked for, to the second
    assert abs(mod.until_timestamp(ns.until) - until.replace(microsecond=0).timestamp()) < 1
    # the model it trains is the registry's NAME, and a continuation starts from a shipped file
    from course_utils.zoo import REGISTRY
    assert name in REGISTRY
    trained = getattr(ns, "name", None) or f"johnson-{ns.style}"
    assert trained == name
    if getattr(ns, "init", None):
        assert (gpu_run.SHIPPED / f"{ns.init}.pt").is_file()


def test_a_child_over_its_limit_is_stopped_even_when_it_ignores_ctrl_c(gpu_run, tmp_path):
    for code in ("import time; time.sleep(60)",
                 "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"):
        t0 = time.time()
        rec = gpu_run.run_for([sys.executable, "-c", code], 3.0, tmp_path / "x.log", {})
        assert rec["stopped_at_budget"] and rec["returncode"] != 0
        assert time.time() - t0 < 6 and rec["seconds"] <= rec["limit_s"] + 2
    rec = gpu_run.run_for([sys.executable, "-c", "print('done')"], 30.0, tmp_path / "y.log", {})
    assert not rec["stopped_at_budget"] and rec["returncode"] == 0
    assert (tmp_path / "y.log").read_text().strip() == "done"


def test_parts_skip_what_does_not_fit_and_say_so(gpu_run, tmp_path):
    (tmp_path / "logs").mkdir()
    t0 = time.time()
    smoke = gpu_run.part_smoke(tmp_path, gpu_run.MIN_ITEM_S - 1, {})
    timing = gpu_run.part_timing(tmp_path, 0.0, {})
    training = gpu_run.part_training(tmp_path, 0.0, {})
    assert time.time() - t0 < 5
    assert [r["notebook"] for r in smoke] == gpu_run.ORDER == [r["notebook"] for r in timing]
    assert [r["name"] for r in training] == [n for n, _ in gpu_run.TRAININGS]
    assert all(r["why"].startswith("skipped:") for r in smoke + timing + training)
    assert not list((tmp_path / "logs").iterdir())  # nothing was started


def test_run_refuses_the_shipped_folder_and_a_used_folder(gpu_run, tmp_path, capsys):
    target = gpu_run.SHIPPED / "gpu_out"
    assert gpu_run.run(target, 1.0) == 2 and not target.exists()
    assert "inside the shipped checkpoints/" in capsys.readouterr().err
    (tmp_path / "old.txt").write_text("x")
    assert gpu_run.run(tmp_path, 1.0) == 2
    assert "not empty" in capsys.readouterr().err


def _folder(gpu_run, out: Path, *, half=True, val_shift=0.0, seconds=50.0) -> Path:
    """A gpu_run folder holding fsrcnn-x3 as shipped (weights and meta), like a training row."""
    from course_utils.checkpoints import load_checkpoint, save_checkpoint
    ck = load_checkpoint(gpu_run.SHIPPED / "fsrcnn-x3.pt", name="fsrcnn-x3")
    meta = dict(ck["meta"], val_psnr=ck["meta"]["val_psnr"] + val_shift)
    sd = {k: v.float() for k, v in ck["state_dict"].items()}
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "train-fsrcnn-x3.log").write_text("a log\n")
    save_checkpoint(out / "checkpoints" / "fsrcnn-x3.pt", sd, name="fsrcnn-x3", meta=meta, half=half)
    files = {str(p.relative_to(out)): gpu_run.sha256(p) for p in sorted(out.rglob("*")) if p.is_file()}
    summary = {"device": "test", "budget_min": 1.0, "seconds": seconds, "parts": ["training"],
               "training": [{"name": "fsrcnn-x3", "seconds": 40.0, "limit_s": 45.0,
                             "checkpoint": "checkpoints/fsrcnn-x3.pt", "why": ""}],
               "shipped_checkpoints_unchanged": True, "files": files}
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def test_check_accepts_a_sound_folder_and_recomputes_the_held_out_score(gpu_run, tmp_path, capsys):
    out = _folder(gpu_run, tmp_path / "ok")
    assert gpu_run.check(out) == 0, capsys.readouterr().out
    text = capsys.readouterr().out
    assert "recomputed on T91 held-out" in text and "Set5" not in text and "Set14" not in text
    assert "does not improve" in text   # the same weights as the shipped file
    assert text.rstrip().endswith("OK")


@pytest.mark.parametrize("spoil,message", [
    ("log", "logs/train-fsrcnn-x3.log: sha256 differs"),
    ("float32", "the registry says torch.float16"),
    ("val", "held-out PSNR recomputed"),
    ("slow", "over its budget"),
    ("shipped", "changed shipped checkpoints"),
    ("stray", "not written by this run"),
])
def test_check_names_each_problem(gpu_run, tmp_path, capsys, spoil, message):
    out = _folder(gpu_run, tmp_path / spoil, half=spoil != "float32",
                  val_shift=0.5 if spoil == "val" else 0.0, seconds=200.0 if spoil == "slow" else 50.0)
    summary = json.loads((out / "summary.json").read_text())
    if spoil == "log":
        (out / "logs" / "train-fsrcnn-x3.log").write_text("edited\n")
    elif spoil == "shipped":
        summary.update(shipped_checkpoints_unchanged=False, shipped_checkpoints_changed=["vdsr.pt"])
    elif spoil == "stray":
        for suffix in (".pt", ".pt.sha256"):
            shutil.copy(gpu_run.SHIPPED / f"vdsr{suffix}", out / "checkpoints" / f"vdsr{suffix}")
    (out / "summary.json").write_text(json.dumps(summary))
    assert gpu_run.check(out, recompute=spoil == "val") == 1
    text = capsys.readouterr().out
    assert "PROBLEM: " in text and message in text, text


def test_check_of_a_folder_without_summary_is_an_error(gpu_run, tmp_path, capsys):
    assert gpu_run.main(["--check", str(tmp_path)]) == 1
    assert "no summary.json" in capsys.readouterr().out


def test_until_takes_seconds_for_the_slices():
    from course_tools.runs import until_timestamp
    now = datetime(2026, 1, 2, 10, 30, tzinfo=timezone.utc)
    assert until_timestamp("11:15:30", now) - now.timestamp() == 45 * 60 + 30
    assert until_timestamp("11:15", now) - now.timestamp() == 45 * 60
    for bad in ("11:15:30:00", "11:15:xx"):
        with pytest.raises(SystemExit, match="HH:MM or HH:MM:SS"):
            until_timestamp(bad, now)
