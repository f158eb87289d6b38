"""How long each notebook's full profile takes on a GPU, estimated from FLOP counts on a CPU.

    python benchmarks/gpu_estimates.py                   # all twelve; print the estimates
    python benchmarks/gpu_estimates.py 06_vdsr --write   # and record them in docs/run_times.json
    python benchmarks/gpu_estimates.py --log2 F2.jsonl --log1 F1.jsonl --write   # from earlier logs

Method. Each notebook runs in the full profile with every loop capped
(``benchmarks/full_profile_smoke.py --flop-log``), once with ``COURSE_MAX_STEPS=2`` and, when it
has loops other than ``train_loop`` (optimisation loops, L-BFGS), once more with
``COURSE_MAX_STEPS=1``. ``torch.utils.flop_counter.FlopCounterMode`` counts

* the whole kernel (everything that runs once: data preparation, evaluation passes, full-size tables);
* each ``train_loop`` step and validation pass (so their cost per step is known exactly);
* the cap events: which loops were cut, from how many steps.

The full run is then extrapolated: ``train_loop`` steps and validations by their exact cost times
the uncapped counts; the other loops by the difference of the two runs (the cost of one step of all
of them) times the largest uncapped count among them - an upper bound when they differ.

Conversion to time, at *assumed* sustained rates (not peaks; a measurement replaces the estimate):

* T4-class (free hosted kernels): 8 TFLOP/s for steps in mixed precision (float16 with a scaler:
  ``supervised_step``, ``gan_step``), 4 TFLOP/s for everything in float32 (other steps: T4 has no
  native bfloat16, L-BFGS and evaluation);
* A100/H100-class: 60 TFLOP/s for every ``train_loop`` step (bfloat16 autocast), 15 TFLOP/s for the
  rest (float32, TF32 convolutions);
* plus 3 ms (T4) / 1.5 ms (A100) per loop step for launches and Python, and 60 s per notebook for
  the kernel start, data and figures.

What FLOP counts miss: NumPy work (notebook 11's cached sampler, notebook 01's PCA is torch),
element-wise operations (FlopCounterMode counts matrix products and convolutions) and data
loading; small networks are latency-bound, which the per-step term only roughly covers.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "run_times.json"
CARDS = {  # name: (mixed-precision rate, float32 rate, seconds per loop step), FLOP/s
    "t4": (8e12, 4e12, 3e-3),
    "a100": (60e12, 15e12, 1.5e-3),
}
FIXED_S = 60.0
LIMIT_T4_MIN = 20.0


def read_log(path: Path) -> dict[str, list[dict]]:
    """FLOP log lines grouped by notebook stem."""
    rows = defaultdict(list)
    for line in Path(path).read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[r.get("notebook", "").removesuffix(".ipynb")].append(r)
    return rows


def _vals_full(requested: int, val_every: int | None) -> int:
    if not val_every:
        return 0
    return requested // val_every + (1 if requested % val_every else 0)


def other_loops(rows: list[dict]) -> list[dict]:
    """Cap events of loops that are not a train_loop (train_loop logs its own)."""
    return [r for r in rows if r["what"] == "cap" and not str(r.get("label", "")).startswith("training ")]


def estimate(rows2: list[dict], rows1: list[dict] | None) -> dict:
    """The full run's FLOPs and times from a COURSE_MAX_STEPS=2 log (and a =1 log, if any)."""
    total2 = next((r["flops"] for r in rows2 if r["what"] == "total"), None)
    if total2 is None:
        raise ValueError("no total in the log (the notebook did not run to its end)")
    train_amp = train_other = vals = train_run = 0.0
    steps_full = 0
    for r in (r for r in rows2 if r["what"] == "train_loop"):
        per_step = r["steps"] / max(1, r["steps_run"])
        val_run = r.get("val_run", r.get("vals_run", 0))
        per_val = r["val"] / val_run if val_run else 0.0
        if r.get("amp_step"):
            train_amp += per_step * r["requested"]
        else:
            train_other += per_step * r["requested"]
        vals += per_val * _vals_full(r["requested"], r.get("val_every"))
        train_run += r["steps"] + r["val"]
        steps_full += r["requested"]
    once = total2 - train_run          # everything else, as it ran with the cap
    others = other_loops(rows2)
    note, other_extra = [], 0.0
    if others:
        n_other = max(int(r["requested"]) for r in others)
        steps_full += n_other
        total1 = next((r["flops"] for r in rows1 or [] if r["what"] == "total"), None)
        if total1 is not None:
            train1 = sum(r["steps"] + r["val"] for r in rows1 if r["what"] == "train_loop")
            d_other = max(0.0, (total2 - train_run) - (total1 - train1))
            other_extra = d_other * max(0, n_other - 2)
            note.append(f"loops outside train_loop: {d_other / 1e9:.1f} GFLOP per step, x {n_other} "
                        "steps (the largest uncapped count: an upper bound)")
        else:
            note.append("loops outside train_loop counted as capped (no COURSE_MAX_STEPS=1 run): "
                        "a lower bound")
    rest = once + other_extra + vals  # float32 on both cards
    out = {"flops": round(train_amp + train_other + rest), "loop_steps": steps_full}
    (t4_mixed, t4_fp32, t4_step), (a_mixed, a_fp32, a_step) = CARDS["t4"], CARDS["a100"]
    t4 = train_amp / t4_mixed + (train_other + rest) / t4_fp32 + t4_step * steps_full + FIXED_S
    a100 = (train_amp + train_other) / a_mixed + rest / a_fp32 + a_step * steps_full + FIXED_S
    out["t4_min"], out["a100_min"] = round(t4 / 60, 1), round(a100 / 60, 1)
    if note:
        out["note"] = "; ".join(note)
    return out


def run_smoke(names: list[str], max_steps: int, log: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "full_profile_smoke.py"), *names,
           "--max-steps", str(max_steps), "--flop-log", str(log)]
    print("$ " + " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebooks (default: all)")
    ap.add_argument("--log2", type=Path, help="use this FLOP log of a COURSE_MAX_STEPS=2 run "
                    "(full_profile_smoke.py --flop-log) instead of running the notebooks")
    ap.add_argument("--log1", type=Path, help="and this one of a COURSE_MAX_STEPS=1 run")
    ap.add_argument("--write", action="store_true", help="record the estimates in docs/run_times.json")
    args = ap.parse_args(argv)
    names = [n.removesuffix(".ipynb") for n in args.names] or sorted(
        p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        if args.log2:
            log2 = read_log(args.log2)
            log1 = read_log(args.log1) if args.log1 else {}
        else:
            run_smoke(names, 2, Path(tmp) / "flops2.jsonl")
            log2 = read_log(Path(tmp) / "flops2.jsonl")
            again = [n for n in names if other_loops(log2.get(n, []))]
            log1 = {}
            if again:
                run_smoke(again, 1, Path(tmp) / "flops1.jsonl")
                log1 = read_log(Path(tmp) / "flops1.jsonl")
    data = json.loads(OUT.read_text()) if OUT.exists() else {"notebooks": {}}
    missing = 0
    print(f"{'notebook':24} {'TFLOP':>9} {'T4 min':>8} {'A100 min':>9}")
    for name in names:
        try:
            est = estimate(log2.get(name, []), log1.get(name))
        except ValueError as e:
            print(f"{name:24} no estimate: {e}")
            missing += 1
            continue
        flag = "  > 20 min on T4" if est["t4_min"] > LIMIT_T4_MIN else ""
        print(f"{name:24} {est['flops'] / 1e12:9.1f} {est['t4_min']:8.1f} {est['a100_min']:9.1f}{flag}"
              + (f"\n{'':24} {est['note']}" if est.get("note") else ""))
        est.update({"date": date.today().isoformat(),
                    "how": "benchmarks/gpu_estimates.py: FLOPs counted on capped full-profile runs, "
                           "extrapolated; T4 8/4 TFLOP/s (mixed/fp32), A100 60/15, + per-step and 60 s"})
        data["notebooks"].setdefault(name, {})["full_estimate"] = est
    if args.write:
        tmp_out = OUT.with_suffix(".part")
        tmp_out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        tmp_out.replace(OUT)
        print(f"wrote {OUT}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
