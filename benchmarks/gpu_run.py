"""A prepared GPU run: one command, a fixed budget, everything in one output folder.

    python benchmarks/gpu_run.py --out gpu_out                  # on a GPU machine, 14 min
    python benchmarks/gpu_run.py --out /tmp/dry --budget-min 1  # a dry run (here: on a CPU)
    python benchmarks/gpu_run.py --out /tmp/t --parts training --budget-min 3   # one part only
    python benchmarks/gpu_run.py --check gpu_out                # verify a folder before committing

The run, in three parts sharing ``--budget-min`` (default 14; 25 % / 35 % / 40 %; a part left out
with ``--parts`` gives its share to the others):

1. **smoke**: ``full_profile_smoke.py`` on the device (full profile, ``COURSE_MAX_STEPS=2``), one
   notebook at a time, cheapest first -> ``smoke.json``;
2. **timing**: each notebook's full profile, uncapped, up to a per-notebook cap (its share of what
   is left of the part; a notebook stopped at its cap is recorded as "over CAP s") -> ``times.json``;
3. **training**: the trainings whose shipped checkpoints fall short of their papers (TRAININGS),
   each for its slice of the part: ``--until HH:MM:SS`` (the slice's end less a reserve for the
   final validation and the save) with ``--ship-partial --out OUT/checkpoints --runs-dir OUT/runs``,
   so the result lands in ``OUT/checkpoints`` (never in ``checkpoints/``), its run folder (work
   file, ``run.json``) in ``OUT/runs``, its output in ``OUT/logs``.

The budget is kept: before each item the part checks the time left and skips the item when less
than ``MIN_ITEM_S`` is left (the row says so); a child still running at its limit gets SIGINT
(``train_loop`` finishes its step and writes its work file), then SIGKILL ``GRACE_S`` later, both
inside its limit. The shipped ``checkpoints/*.pt`` are hashed before and after the run; the summary
says whether they are unchanged.

``OUT/summary.json`` lists the device, the budget, the wall time, every part's rows (done,
stopped at the budget, skipped, failed, with the reason), and each file written with its sha256.

``--check OUT`` verifies a folder (it exits 1 on any problem, printing each): every file's sha256
(in the summary and in ``NAME.pt.sha256``); each checkpoint loads with ``weights_only=True``, fits
the registry's architecture and holds a finite held-out score in its meta; that score is
recomputed on the training side's held-out images (T91 minus the script's ``--n-val``, or the
ocean "dev" surfaces; never Set5/Set14) and compared with the meta and with the shipped file's
score on the same images ("improves" or not: only a file that improves is worth committing); the
float16 rule (a model stored as float16 in the registry has float16 tensors, the others float32);
the run times (the whole run within its budget, each row within its limit) and the smoke rows;
the shipped checkpoints unchanged by the run.
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
from datetime import datetime, timedelta, timezone
from pathlib import Path

T_START = time.time()   # the budget counts from here (torch's import included)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # course_utils, when the course is not installed
SHIPPED = ROOT / "checkpoints"
# cheapest first (capped CPU smoke times of benchmarks/full_profile_smoke.py)
ORDER = ["02_gans", "03_interpolation", "01_gaussian_generation", "00_welcome", "05_srcnn",
         "04_inverse_problems", "07_fsrcnn", "06_vdsr", "08_srgan", "11_pixelcnn_sr", "09_gatys",
         "10_johnson"]
# The short-of-paper trainings (checkpoints/README.md). The SR ones continue from the shipped
# file (--init NAME: the same network, a fresh Adam and schedule) at a tenth of the registry's
# learning rate (CONTINUE_LR): at the full rate the fresh Adam's first steps undo part of the
# earlier training. Measured on the CPU from the files shipped at the time (train_sr.py /
# train_srgan.py, held-out T91 PSNR): vdsr (4,700 steps) 32.01 -> 31.90 dB after 100 steps at
# 1e-4, -> 32.06 (100) and 32.07 (300) at 1e-5; fsrcnn-x3 32.26 -> 32.18 after 100 steps at 1e-3, -> 32.28 after 300 at 1e-4;
# srresnet-x4 30.02 -> 29.72 after 50 steps at 5e-4, -> 30.00 (50) and 30.04 (100) at 5e-5.
# train_heightfield.py fine-tunes srresnet-ocean-x4 from the shipped srresnet-x4, and
# train_johnson.py starts a style network afresh, both at their records' rates (neither script
# continues a shipped file; in OUT/runs a later run resumes them).
CONTINUE_LR = 0.1


def _continue(script: str, name: str, steps: int) -> list[str]:
    from course_utils.zoo import REGISTRY
    lr = CONTINUE_LR * REGISTRY[name].train["lr"]
    return [f"data_scripts/{script}", name, "--steps", str(steps), "--init", name, "--lr", f"{lr:g}"]


TRAININGS = [
    ("vdsr", _continue("train_sr.py", "vdsr", 60000)),
    ("fsrcnn-x3", _continue("train_sr.py", "fsrcnn-x3", 60000)),
    ("srresnet-x4", _continue("train_srgan.py", "srresnet-x4", 20000)),
    ("srgan-x4", _continue("train_srgan.py", "srgan-x4", 20000)),
    ("srresnet-ocean-x4", ["data_scripts/train_heightfield.py", "srresnet-ocean-x4", "--steps", "20000"]),
    ("johnson-starry_night", ["data_scripts/train_johnson.py", "--style", "starry_night", "--steps", "4000"]),
    ("johnson-udnie", ["data_scripts/train_johnson.py", "--style", "udnie", "--steps", "4000"]),
    ("johnson-great_wave_off_kanagawa",
     ["data_scripts/train_johnson.py", "--style", "great_wave_off_kanagawa", "--steps", "4000"]),
]
PARTS = ("smoke", "timing", "training")
SHARES = {"smoke": 0.25, "timing": 0.35, "training": 0.40}
MIN_ITEM_S = 20.0   # an item is not started with less than this left in its part
GRACE_S = 10.0      # SIGINT this long before an item's limit, SIGKILL at the limit
FINISH_S = 5.0      # kept at the end of the budget for the summary (hashing the outputs)
SLACK_S = 15.0      # --check: the whole run may exceed its budget by this (interpreter start-up)


def sha256(path: Path) -> str:
    from course_utils.download import sha256sum
    return sha256sum(path)


def device_name() -> str:
    import torch
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu ({os.cpu_count()} cores)"


def shipped_state() -> dict[str, list[int]]:
    """(size, mtime in ns, inode) of every shipped checkpoint (``checkpoints/*``): any write, in
    place or by replacing the file, changes it (cheaper than hashing 25 MB twice)."""
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ino]
            for p in sorted(SHIPPED.glob("*.pt*"))}


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").replace("\r", "\n").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1][:300] if lines else ""


def run_for(cmd: list[str], seconds: float, log: Path, env: dict) -> dict:
    """Run ``cmd`` (its own process group) for at most ``seconds``: SIGINT at ``seconds - GRACE_S``
    (a training finishes its step and writes its work file), SIGKILL at ``seconds``."""
    t0 = time.time()
    soft = max(0.5, seconds - GRACE_S)
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        stopped = False
        try:
            proc.wait(timeout=soft)
        except subprocess.TimeoutExpired:
            stopped = True
            try:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=max(0.5, seconds - (time.time() - t0)))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                proc.wait()
    return {"seconds": round(time.time() - t0, 1), "limit_s": round(seconds, 1),
            "returncode": proc.returncode, "stopped_at_budget": stopped, "log": str(log)}


def _skipped(left: float) -> str:
    return f"skipped: {max(0.0, left):.0f} s left in the part, an item needs >= {MIN_ITEM_S:.0f} s"


def part_smoke(out: Path, budget: float, env: dict) -> list[dict]:
    rows, end = [], time.time() + budget
    device = "cuda" if "cuda" in device_name() else "cpu"
    for name in ORDER:
        left = end - time.time()
        if left < MIN_ITEM_S:
            rows.append({"notebook": name, "ok": None, "why": _skipped(left)})
            continue
        js = out / "logs" / f"smoke-{name}.json"
        rec = run_for([sys.executable, "benchmarks/full_profile_smoke.py", name, "--max-steps", "2",
                       "--device", device, "--timeout", str(int(left)), "--json", str(js)],
                      left, out / "logs" / f"smoke-{name}.log", env)
        if js.is_file() and not rec["stopped_at_budget"]:
            rows.extend({**r, "limit_s": rec["limit_s"]} for r in json.loads(js.read_text())["rows"])
        else:
            rows.append({"notebook": name, "ok": None, "seconds": rec["seconds"], "limit_s": rec["limit_s"],
                         "why": f"stopped at the part's budget after {rec['seconds']} s" if rec["stopped_at_budget"]
                         else f"no result (exit {rec['returncode']}): {_last_line(Path(rec['log']))}"})
    (out / "smoke.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def part_timing(out: Path, budget: float, env: dict) -> list[dict]:
    rows, end = [], time.time() + budget
    env = {k: v for k, v in env.items() if k != "COURSE_MAX_STEPS"}   # the full profile, uncapped
    for i, name in enumerate(ORDER):
        left = end - time.time()
        if left < MIN_ITEM_S:
            rows.append({"notebook": name, "seconds": None, "why": _skipped(left)})
            continue
        cap = min(left, max(MIN_ITEM_S, left / (len(ORDER) - i)))
        code = ("import sys; sys.path.insert(0, 'benchmarks'); import run_times; from pathlib import Path; "
                f"print('SECONDS', run_times.run(Path('solutions/{name}.ipynb'), 'full', {int(cap) + 1}))")
        rec = run_for([sys.executable, "-c", code], cap, out / "logs" / f"time-{name}.log", env)
        text = Path(rec["log"]).read_text(errors="replace")
        secs = next((float(ln.split()[1]) for ln in text.splitlines() if ln.startswith("SECONDS ")), None)
        rows.append({"notebook": name, "cap_s": round(cap, 1), "seconds": secs,
                     "wall_s": rec["seconds"],
                     "why": "" if secs is not None else
                     (f"over {cap:.0f} s (stopped)" if rec["stopped_at_budget"]
                      else f"failed (exit {rec['returncode']}): {_last_line(Path(rec['log']))}")})
    (out / "times.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def training_command(args: list[str], out: Path, until: datetime, threads: int) -> list[str]:
    """The arguments (after ``python``) of one training: its TRAININGS entry, stopped at
    ``until`` (UTC) and shipped into ``OUT/checkpoints``, its run folder in ``OUT/runs``."""
    return [*args, "--until", until.astimezone(timezone.utc).strftime("%H:%M:%S"), "--ship-partial",
            "--out", str(out / "checkpoints"), "--runs-dir", str(out / "runs"), "--threads", str(threads)]


def part_training(out: Path, budget: float, env: dict) -> list[dict]:
    rows = []
    (out / "checkpoints").mkdir(exist_ok=True)
    env = {k: v for k, v in env.items() if k != "COURSE_MAX_STEPS"}
    threads = max(1, os.cpu_count() or 1)
    end = time.time() + budget
    for i, (name, args) in enumerate(TRAININGS):
        left = end - time.time()
        if left < MIN_ITEM_S:
            rows.append({"name": name, "why": _skipped(left)})
            continue
        slice_s = max(MIN_ITEM_S, left / (len(TRAININGS) - i))
        slice_s = min(slice_s, left)
        # the script stops stepping at `until`; the rest of the slice is for its final
        # validation and the save (SIGINT at the slice's end less GRACE_S: nothing saved)
        reserve = max(GRACE_S + 5.0, 0.3 * slice_s)
        until = datetime.now(timezone.utc) + timedelta(seconds=slice_s - reserve)
        if until.date() != datetime.now(timezone.utc).date():   # HH:MM:SS cannot cross midnight
            rows.append({"name": name, "why": "skipped: its --until would cross midnight UTC"})
            continue
        cmd = training_command(args, out, until, threads)
        rec = run_for([sys.executable, *cmd], slice_s, out / "logs" / f"train-{name}.log", env)
        ck = out / "checkpoints" / f"{name}.pt"
        shipped = ck.is_file() and ck.stat().st_mtime >= time.time() - rec["seconds"] - 1
        rows.append({"name": name, "command": "python " + " ".join(cmd), **rec,
                     "checkpoint": f"checkpoints/{name}.pt" if shipped else None,
                     "why": "" if shipped else
                     ("stopped at the slice's end before its result was written" if rec["stopped_at_budget"]
                      else f"no checkpoint (exit {rec['returncode']}): {_last_line(Path(rec['log']))}")})
    return rows


def run(out: Path, budget_min: float, parts: tuple[str, ...] = PARTS, t0: float | None = None) -> int:
    """The run (``t0``: when its budget started, default now)."""
    t0 = time.time() if t0 is None else t0
    out = out.resolve()
    if out == SHIPPED.resolve() or SHIPPED.resolve() in out.parents:
        print(f"--out {out}: inside the shipped checkpoints/ folder; give a folder of its own",
              file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        print(f"--out {out}: not empty; give a new folder (a run's folder is verified as a whole)",
              file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"]
                                                    if os.environ.get("PYTHONPATH") else "")}
    budget = budget_min * 60
    before = shipped_state()
    summary = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "device": device_name(), "budget_min": budget_min, "parts": list(parts),
               "command": "python benchmarks/gpu_run.py " + " ".join(sys.argv[1:])}
    deadline = t0 + budget - FINISH_S
    summary["startup_s"] = round(time.time() - t0, 1)   # torch's import, the device's name
    summary["part_budget_s"] = {}
    for i, part in enumerate(parts):
        # each part gets its share of what is left (start-up and earlier parts' leftovers included)
        left = deadline - time.time()
        share = left * SHARES[part] / sum(SHARES[p] for p in parts[i:])
        summary["part_budget_s"][part] = round(max(0.0, share), 1)
        summary[part] = {"smoke": part_smoke, "timing": part_timing, "training": part_training}[part](
            out, max(0.0, share), env)
    after = shipped_state()
    summary["shipped_checkpoints_unchanged"] = before == after
    if before != after:
        summary["shipped_checkpoints_changed"] = sorted(k for k in set(before) | set(after)
                                                        if before.get(k) != after.get(k))
    summary["files"] = {str(p.relative_to(out)): sha256(p) for p in sorted(out.rglob("*"))
                        if p.is_file() and p.name != "summary.json" and "runs" not in p.relative_to(out).parts}
    summary["seconds"] = round(time.time() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    skipped = sum(1 for p in parts for r in summary[p] if str(r.get("why", "")).startswith("skipped"))
    print(f"wrote {out / 'summary.json'} ({summary['seconds']:.0f} s of a {budget:.0f} s budget; "
          f"{skipped} item(s) skipped for the budget); verify with: python benchmarks/gpu_run.py --check {out}")
    return 0


# ---- --check -------------------------------------------------------------------------------------

def heldout_score(name: str, path: Path, meta: dict) -> tuple[str, float] | None:
    """(what, PSNR dB) of the checkpoint ``path`` on its training script's held-out images, the
    way the script validates (``train_sr.py``: T91 Y, every scale of the model; ``train_srgan.py``:
    T91 RGB, x4; ``train_heightfield.py``: the ocean "dev" surfaces); None for the others (the
    style networks: their held-out objective needs the feature network the run used)."""
    import torch

    from course_utils import setup
    from course_utils.checkpoints import load_checkpoint, load_weights
    from course_utils.data import get_images, split_train_val
    from course_utils.zoo import REGISTRY, build

    record = REGISTRY.get(name)
    if record is None or record.script not in ("data_scripts/train_sr.py", "data_scripts/train_srgan.py",
                                               "data_scripts/train_heightfield.py"):
        return None
    model = build(name)
    load_weights(model, {k: v.float() if v.is_floating_point() else v
                         for k, v in load_checkpoint(path, name=name)["state_dict"].items()}, path)
    model.eval()
    script = _script(record.script)   # its own validation function, so the score is the run's
    with torch.no_grad():
        if record.script == "data_scripts/train_heightfield.py":
            scale = record.scales[0]
            dev = script.ocean_dataset("dev", int(meta.get("n_dev", 32)))["images"]
            return (f"ocean dev surfaces ({len(dev)}), shave {scale}",
                    float(script.dev_psnr(model, script.bicubic_down(dev, scale).clamp(0, 1), dev, scale)))
        cfg = setup(profile="cpu", seed=0, device="cpu", quiet=True)
        rgb = record.script == "data_scripts/train_srgan.py"
        images, names, _ = get_images("T91", cfg, mode="rgb" if rgb else "y", fallback=False)
        n_val = len(meta.get("val_images") or []) or 5
        _, _, val, vnames = split_train_val(images, names, n_val=n_val, seed=0)
        if meta.get("val_images") and list(meta["val_images"]) != vnames:
            raise ValueError(f"its meta's val_images {meta['val_images']} are not T91's held-out {vnames}")
        score = script.heldout_psnr(model, val, vnames) if rgb else script.heldout_psnr(name, model, val, vnames)
        return f"T91 held-out {', '.join(vnames)}", float(score)


def _script(path: str):
    """The training script ``data_scripts/NAME.py`` as a module (its validation functions)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"_gpu_run_{Path(path).stem}", ROOT / path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check(out: Path, recompute: bool = True) -> int:
    """Verify a gpu_run folder; print each problem; 0 when there is none."""
    import torch

    from course_utils.checkpoints import CheckpointError, load_checkpoint, load_weights
    from course_utils.zoo import REGISTRY, build

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
    if summary.get("shipped_checkpoints_unchanged") is not True:
        problems.append("the run changed shipped checkpoints: "
                        + ", ".join(summary.get("shipped_checkpoints_changed", ["(not recorded)"])))
    listed = {r.get("checkpoint") for r in summary.get("training", []) if r.get("checkpoint")}
    cks = sorted((out / "checkpoints").glob("*.pt")) if (out / "checkpoints").is_dir() else []
    for pt in cks:
        rel = f"checkpoints/{pt.name}"
        if rel not in listed or rel not in summary.get("files", {}):
            problems.append(f"{rel}: not written by this run (no training row or no sha256 in summary.json)")
        side = pt.with_name(pt.name + ".sha256")
        if not side.is_file() or side.read_text().split()[0] != sha256(pt):
            problems.append(f"{pt.name}: its .sha256 file is missing or does not match")
            continue
        name = pt.stem
        if name not in REGISTRY:
            problems.append(f"{pt.name}: not a model of the registry (course_utils.zoo)")
            continue
        try:
            ck = load_checkpoint(pt, name=name)
            load_weights(build(name), {k: v.float() if v.is_floating_point() else v
                                       for k, v in ck["state_dict"].items()}, pt)
        except CheckpointError as e:
            problems.append(f"{pt.name}: {e}")
            continue
        meta = ck.get("meta", {})
        scores = {k: v for k, v in meta.items() if k.startswith("val") and isinstance(v, (int, float))}
        if not scores or not all(math.isfinite(v) for v in scores.values()):
            problems.append(f"{pt.name}: no finite held-out score (val_*) in its meta")
        # the file as stored (load_checkpoint gives float16 tensors back as float32)
        raw = torch.load(pt, map_location="cpu", weights_only=True)["state_dict"]
        floats = {t.dtype for t in raw.values() if torch.is_tensor(t) and t.is_floating_point()}
        want = torch.float16 if name in REGISTRY and REGISTRY[name].storage == "float16" else torch.float32
        if floats != {want}:
            problems.append(f"{pt.name}: tensors {sorted(map(str, floats))}, the registry says {want}")
        line = f"{pt.name}: {meta.get('steps')} steps, " + ", ".join(f"{k} {v}" for k, v in scores.items())
        if recompute:
            try:
                new = heldout_score(name, pt, meta)
                old = heldout_score(name, SHIPPED / pt.name, load_checkpoint(SHIPPED / pt.name, name=name)
                                    .get("meta", {})) if new and (SHIPPED / pt.name).is_file() else None
            except (CheckpointError, ValueError, FileNotFoundError, RuntimeError) as e:
                problems.append(f"{pt.name}: its held-out score cannot be recomputed ({e})")
                new = old = None
            if new:
                what, value = new
                line += f"; recomputed on {what}: {value:.3f} dB"
                if "val_psnr" in meta and abs(value - meta["val_psnr"]) > 0.05:
                    problems.append(f"{pt.name}: held-out PSNR recomputed {value:.3f} dB, its meta says "
                                    f"{meta['val_psnr']} (more than 0.05 dB apart)")
                if old:
                    better = value > old[1] + 0.01
                    line += (f"; shipped file {old[1]:.3f} dB -> "
                             + ("IMPROVES (worth committing)" if better else "does not improve (keep the shipped file)"))
            elif new is None:
                line += "; held-out score from its meta only (not recomputed)"
        notes.append(line)
    budget_s = float(summary.get("budget_min", 0)) * 60
    if not 0 < float(summary.get("seconds", -1)) <= budget_s + SLACK_S:
        problems.append(f"the run took {summary.get('seconds')} s, over its budget of {budget_s:.0f} s "
                        f"(+{SLACK_S:.0f} s slack)")
    for r in summary.get("timing", []):
        s = r.get("seconds")
        if s is not None and not (0 < s <= r.get("cap_s", math.inf) + 1):
            problems.append(f"timing {r['notebook']}: {s} s is not within (0, cap {r.get('cap_s')}]")
    for part in ("smoke", "training"):
        for r in summary.get(part, []):
            if r.get("limit_s") is not None and r.get("seconds") is not None and r["seconds"] > r["limit_s"] + 2:
                problems.append(f"{part} {r.get('notebook') or r.get('name')}: ran {r['seconds']} s, "
                                f"over its limit of {r['limit_s']} s")
    failed = [r["notebook"] for r in summary.get("smoke", []) if r.get("ok") is False]
    if failed:
        problems.append(f"smoke failed for {', '.join(failed)}")
    ran = sum(1 for r in summary.get("smoke", []) if r.get("ok"))
    timed = sum(1 for r in summary.get("timing", []) if r.get("seconds") is not None)
    print(f"{out}: device {summary.get('device')}, budget {summary.get('budget_min')} min, "
          f"took {summary.get('seconds')} s; {ran} smoke passes, {timed} full-profile times, "
          f"{len(cks)} checkpoints; shipped checkpoints "
          + ("unchanged" if summary.get("shipped_checkpoints_unchanged") else "CHANGED"))
    for part in ("smoke", "timing", "training"):
        for r in summary.get(part, []):
            if r.get("why"):
                print(f"  {part} {r.get('notebook') or r.get('name')}: {r['why']}")
    for n in notes:
        print("  " + n)
    for p in problems:
        print("PROBLEM: " + p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="output folder of the run (new or empty)")
    ap.add_argument("--budget-min", type=float, default=14.0, help="minutes for the whole run (default 14)")
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                    help="which parts to run (default all three, in this order)")
    ap.add_argument("--check", type=Path, metavar="DIR", help="verify a run's folder instead of running")
    ap.add_argument("--no-recompute", action="store_true",
                    help="--check without recomputing the held-out scores (faster)")
    args = ap.parse_args(argv)
    if args.check:
        return check(args.check, recompute=not args.no_recompute)
    if not args.out:
        ap.error("give --out DIR (or --check DIR)")
    if not args.budget_min > 0:
        ap.error("--budget-min must be positive")
    return run(args.out, args.budget_min, tuple(p for p in PARTS if p in args.parts), t0=T_START)


if __name__ == "__main__":
    sys.exit(main())
