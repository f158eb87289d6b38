"""A prepared GPU run: one command, a fixed budget, everything in one output folder.

    python benchmarks/gpu_run.py --out gpu_out                  # on a GPU machine, 14 min
    python benchmarks/gpu_run.py --out /tmp/dry --budget-min 1  # a dry run (here: on a CPU)
    python benchmarks/gpu_run.py --check gpu_out                # verify a folder before committing

The run, in three parts sharing ``--budget-min`` (default 14; 25 % / 35 % / 40 %):

1. **smoke**: ``full_profile_smoke.py`` on the device (full profile, ``COURSE_MAX_STEPS=2``), as
   many notebooks as fit, cheapest first -> ``smoke.json``;
2. **timing**: each notebook's full profile, uncapped, up to a per-notebook cap (its share of the
   part, at least 30 s; a notebook stopped at its cap is recorded as "over CAP s") -> ``times.json``;
3. **training**: the trainings whose shipped checkpoints fall short of their papers continue from
   their current files (``--init NAME``), each for its slice of the part; Ctrl-C (SIGINT) at the
   slice's end lets ``train_loop`` finish its step and save; finished models are written to
   ``OUT/checkpoints`` by the scripts' ``--out`` (``models.save_shipped``: the registry's storage,
   the sha256 beside it), each script's output to ``OUT/logs/NAME.log``.

``OUT/summary.json`` lists the device, the budget, every part's records, and each file written with
its sha256. ``--check OUT`` verifies: every file's sha256 (in the summary and in ``NAME.pt.sha256``),
each checkpoint loads with ``weights_only=True`` and holds a finite held-out score in its meta (the
scripts' ``val_psnr``/``val_*``), the float16 rule (a model stored as float16 in the registry has
float16 tensors, the others float32), and the run times (positive, within their cap; smoke rows
passed). It exits 1 on any problem, printing each.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# cheapest first (capped CPU smoke times of benchmarks/full_profile_smoke.py)
ORDER = ["02_gans", "03_interpolation", "01_gaussian_generation", "00_welcome", "05_srcnn",
         "04_inverse_problems", "07_fsrcnn", "06_vdsr", "08_srgan", "11_pixelcnn_sr", "09_gatys",
         "10_johnson"]
# the short-of-paper trainings, continued from the shipped files (checkpoints/README.md)
TRAININGS = [
    ("vdsr", ["data_scripts/train_sr.py", "vdsr", "--steps", "60000", "--init", "vdsr"]),
    ("fsrcnn-x3", ["data_scripts/train_sr.py", "fsrcnn-x3", "--steps", "60000", "--init", "fsrcnn-x3"]),
    ("srresnet-x4", ["data_scripts/train_srgan.py", "srresnet-x4", "--steps", "20000", "--init", "srresnet-x4"]),
    ("srgan-x4", ["data_scripts/train_srgan.py", "srgan-x4", "--steps", "20000", "--init", "srgan-x4"]),
    ("srresnet-ocean-x4", ["data_scripts/train_heightfield.py", "srresnet-ocean-x4", "--steps", "20000"]),
    ("johnson-starry_night", ["data_scripts/train_johnson.py", "--style", "starry_night", "--steps", "4000"]),
]
SHARES = {"smoke": 0.25, "timing": 0.35, "training": 0.40}


def sha256(path: Path) -> str:
    from course_utils.download import sha256sum
    return sha256sum(path)


def device_name() -> str:
    import torch
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu ({os.cpu_count()} cores)"


def run_for(cmd: list[str], seconds: float, log: Path, env: dict) -> dict:
    """Run ``cmd`` for at most ``seconds``; then SIGINT (a training saves), then kill after 10 s."""
    t0 = time.time()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        stopped = False
        try:
            proc.wait(timeout=max(1.0, seconds))
        except subprocess.TimeoutExpired:
            stopped = True
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return {"seconds": round(time.time() - t0, 1), "returncode": proc.returncode,
            "stopped_at_budget": stopped, "log": str(log)}


def part_smoke(out: Path, budget: float, env: dict) -> list[dict]:
    rows, end = [], time.time() + budget
    for name in ORDER:
        left = end - time.time()
        if left < 5:
            rows.append({"notebook": name, "ok": None, "why": "not run: budget spent"})
            continue
        js = out / "logs" / f"smoke-{name}.json"
        rec = run_for([sys.executable, "benchmarks/full_profile_smoke.py", name, "--max-steps", "2",
                       "--device", "cuda" if "cuda" in device_name() else "cpu", "--json", str(js)],
                      left, out / "logs" / f"smoke-{name}.log", env)
        if js.is_file():
            rows.extend(json.loads(js.read_text())["rows"])
        else:
            rows.append({"notebook": name, "ok": None, "why": f"stopped at the budget ({rec['seconds']} s)"})
    (out / "smoke.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def part_timing(out: Path, budget: float, env: dict) -> list[dict]:
    rows, end = [], time.time() + budget
    for i, name in enumerate(ORDER):
        left = end - time.time()
        cap = max(30.0, left / (len(ORDER) - i))
        if left < 10:
            rows.append({"notebook": name, "seconds": None, "why": "not run: budget spent"})
            continue
        cap = min(cap, left)
        code = ("import sys; sys.path.insert(0, 'benchmarks'); import run_times; from pathlib import Path; "
                f"print('SECONDS', run_times.run(Path('solutions/{name}.ipynb'), 'full', 3600))")
        rec = run_for([sys.executable, "-c", code], cap, out / "logs" / f"time-{name}.log", env)
        text = Path(rec["log"]).read_text(errors="replace")
        secs = next((float(ln.split()[1]) for ln in text.splitlines() if ln.startswith("SECONDS ")), None)
        rows.append({"notebook": name, "cap_s": round(cap, 1), "seconds": secs,
                     "why": "" if secs is not None else
                     (f"over {cap:.0f} s" if rec["stopped_at_budget"] else f"failed (exit {rec['returncode']})")})
    (out / "times.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def part_training(out: Path, budget: float, env: dict) -> list[dict]:
    rows = []
    ck = out / "checkpoints"
    ck.mkdir(exist_ok=True)
    end = time.time() + budget
    for i, (name, args) in enumerate(TRAININGS):
        left = end - time.time()
        if left < 10:
            rows.append({"name": name, "why": "not run: budget spent"})
            continue
        rec = run_for([sys.executable, *args, "--out", str(ck)], left / (len(TRAININGS) - i),
                      out / "logs" / f"train-{name}.log", env)
        rows.append({"name": name, "command": " ".join(["python", *args, "--out", "OUT/checkpoints"]), **rec})
    return rows


def run(out: Path, budget_min: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"]
                                                    if os.environ.get("PYTHONPATH") else "")}
    budget = budget_min * 60
    t0 = time.time()
    summary = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "device": device_name(), "budget_min": budget_min}
    summary["smoke"] = part_smoke(out, budget * SHARES["smoke"], env)
    summary["timing"] = part_timing(out, budget * SHARES["timing"], env)
    summary["training"] = part_training(out, max(0.0, budget - (time.time() - t0)), env)
    summary["files"] = {str(p.relative_to(out)): sha256(p) for p in sorted(out.rglob("*"))
                        if p.is_file() and p.name != "summary.json"}
    summary["seconds"] = round(time.time() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out / 'summary.json'} ({summary['seconds']:.0f} s of {budget:.0f} s); "
          f"verify with: python benchmarks/gpu_run.py --check {out}")
    return 0


def check(out: Path) -> int:
    """Verify a gpu_run folder; print each problem; 0 when there is none."""
    import torch

    from course_utils.checkpoints import CheckpointError, load_checkpoint
    from course_utils.zoo import REGISTRY

    problems, notes = [], []
    summary_path = out / "summary.json"
    if not summary_path.is_file():
        print(f"{out}: no summary.json (not a gpu_run.py folder, or the run did not finish)")
        return 1
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError as e:
        print(f"{summary_path}: not valid JSON ({e})")
        return 1
    for rel, digest in summary.get("files", {}).items():
        p = out / rel
        if not p.is_file():
            problems.append(f"{rel}: listed in summary.json but missing")
        elif sha256(p) != digest:
            problems.append(f"{rel}: sha256 differs from summary.json (changed after the run)")
    for pt in sorted((out / "checkpoints").glob("*.pt")) if (out / "checkpoints").is_dir() else []:
        side = pt.with_name(pt.name + ".sha256")
        if not side.is_file() or side.read_text().split()[0] != sha256(pt):
            problems.append(f"{pt.name}: its .sha256 file is missing or does not match")
            continue
        name = pt.stem
        try:
            ck = load_checkpoint(pt, name=name)
        except CheckpointError as e:
            problems.append(f"{pt.name}: {e}")
            continue
        meta = ck.get("meta", {})
        scores = {k: v for k, v in meta.items() if k.startswith("val") and isinstance(v, (int, float))}
        if not scores or not all(math.isfinite(v) for v in scores.values()):
            problems.append(f"{pt.name}: no finite held-out score (val_*) in its meta")
        floats = {t.dtype for t in ck["state_dict"].values() if torch.is_tensor(t) and t.is_floating_point()}
        want = torch.float16 if name in REGISTRY and REGISTRY[name].storage == "float16" else torch.float32
        if floats != {want}:
            problems.append(f"{pt.name}: tensors {sorted(map(str, floats))}, the registry says {want}")
        notes.append(f"{pt.name}: " + ", ".join(f"{k} {v}" for k, v in scores.items()))
    for r in summary.get("timing", []):
        s = r.get("seconds")
        if s is not None and not (0 < s <= r.get("cap_s", math.inf) + 5):
            problems.append(f"timing {r['notebook']}: {s} s is not within (0, cap {r.get('cap_s')}]")
    failed = [r["notebook"] for r in summary.get("smoke", []) if r.get("ok") is False]
    if failed:
        problems.append(f"smoke failed for {', '.join(failed)}")
    ran = sum(1 for r in summary.get("smoke", []) if r.get("ok"))
    timed = sum(1 for r in summary.get("timing", []) if r.get("seconds") is not None)
    print(f"{out}: device {summary.get('device')}, budget {summary.get('budget_min')} min, "
          f"{ran} smoke passes, {timed} full-profile times, "
          f"{len(list((out / 'checkpoints').glob('*.pt'))) if (out / 'checkpoints').is_dir() else 0} checkpoints")
    for n in notes:
        print("  " + n)
    for p in problems:
        print("PROBLEM: " + p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="output folder of the run")
    ap.add_argument("--budget-min", type=float, default=14.0, help="minutes for the whole run (default 14)")
    ap.add_argument("--check", type=Path, metavar="DIR", help="verify a run's folder instead of running")
    args = ap.parse_args(argv)
    if args.check:
        return check(args.check)
    if not args.out:
        ap.error("give --out DIR (or --check DIR)")
    if args.budget_min <= 0:
        ap.error("--budget-min must be positive")
    return run(args.out, args.budget_min)


if __name__ == "__main__":
    sys.exit(main())
