"""The full profile, end to end on a CPU, every loop capped: does every notebook run on a GPU kernel?

    python benchmarks/full_profile_smoke.py                      # all twelve, COURSE_MAX_STEPS=2
    python benchmarks/full_profile_smoke.py 09_gatys 10_johnson --max-steps 1
    python benchmarks/full_profile_smoke.py --device cuda        # the same on a GPU (gpu_run.py)

Each solution notebook runs once, top to bottom, in a fresh kernel (nbclient) with
``COURSE_PROFILE=full`` (its full sizes, batch sizes and full-only branches: the style networks'
training, the 500-iteration Gatys columns, the full-size tables) and ``COURSE_MAX_STEPS=N``, which
cuts every training, optimisation loop and list of iteration counts to N steps
(``course_utils.profiles.cap``). Nothing of the repository is written: the data folder
(``COURSE_DATA_DIR``, filled from ``COURSE_DATA_MIRROR``) and the torch hub cache (``TORCH_HOME``)
are temporary folders. The hub cache holds VGG-19 and VGG-16 files in torchvision's format and
under torchvision's names, made of random values, so the ImageNet loading and preprocessing code
runs; ``course_utils.features`` sees that their sha256 is not torchvision's and every figure says
"features: VGG-19 from an unverified vgg19-dcbb9e9d.pth (not torchvision's)".

Printed per notebook: pass/fail, wall time, and the peak resident memory of the notebook's kernel
(sampled every 0.2 s with psutil). Exit status 1 when a notebook fails, 2 for bad arguments. With
``--json FILE`` the rows are also written as JSON; with ``--write`` each row (plus the cap, the
device, the date and the load average before and after) is recorded as the notebook's
``full_smoke`` entry in ``docs/run_times.json``; with ``--flop-log FILE`` every kernel logs its
FLOPs there (``benchmarks/gpu_estimates.py`` reads it).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "solutions"


def fake_vgg_cache(torch_home: Path) -> list[Path]:
    """Write VGG-19 and VGG-16 weights of random values in torchvision's layout (``features.*``
    keys, plus the classifier's last layer) where torchvision's weights API looks for them
    (``TORCH_HOME/hub/checkpoints/<name of torchvision's file>``). Returns the files."""
    import torch
    from torchvision.models import VGG16_Weights, VGG19_Weights

    from course_utils.features import build_vgg

    paths = []
    gen = torch.Generator().manual_seed(0)
    for arch, weights in (("vgg19", VGG19_Weights), ("vgg16", VGG16_Weights)):
        state = {}
        for k, v in build_vgg(arch).state_dict().items():
            fan_in = v[0].numel() if v.dim() > 1 else 1
            state[f"features.{k}"] = (torch.randn(v.shape, generator=gen) * (2 / fan_in) ** 0.5
                                      if v.dim() > 1 else torch.zeros(v.shape))
        state["classifier.6.weight"] = torch.zeros(1000, 4096)
        state["classifier.6.bias"] = torch.zeros(1000)
        path = torch_home / "hub" / "checkpoints" / weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        paths.append(path)
    return paths


def _tree_rss(pid: int) -> int:
    import psutil
    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def record(rows: list[dict], max_steps: int, device: str, path: Path | None = None) -> None:
    """Write each row as ``notebooks[NAME]["full_smoke"]`` of ``docs/run_times.json`` (or ``path``),
    keeping everything else in the file; written to a temporary file first, then renamed."""
    import platform
    from datetime import date

    path = path or ROOT / "docs" / "run_times.json"
    data = json.loads(path.read_text()) if path.exists() else {"notebooks": {}}
    for r in rows:
        data.setdefault("notebooks", {}).setdefault(r["notebook"], {})["full_smoke"] = {
            "ok": r["ok"], "seconds": r["seconds"], "peak_mb": r["peak_mb"], "max_steps": max_steps,
            "device": device, "load": r.get("load"), "cores": os.cpu_count(),
            "machine": platform.machine(), "date": date.today().isoformat(),
            "how": f"benchmarks/full_profile_smoke.py --max-steps {max_steps} --device {device}: "
                   "full sizes, every loop capped; peak RSS of the kernel"}
    part = path.with_suffix(".part")
    part.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    part.replace(path)


def run_one(name: str, env: dict, timeout: int) -> dict:
    """Run solutions/NAME.ipynb in a worker process; return {name, ok, seconds, peak_mb, error}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--timeout", str(timeout)]
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)
    threading.Thread(target=sample, daemon=True).start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    error = ""
    if proc.returncode != 0:
        lines = [ln for ln in out.strip().splitlines() if ln.strip()]
        error = " | ".join(lines[-3:])[-600:] if lines else f"exit status {proc.returncode}"
    return {"notebook": name, "ok": proc.returncode == 0, "seconds": round(seconds, 1),
            "peak_mb": round(peak[0] / 2**20), "error": error,
            "load": [round(load0, 1), round(os.getloadavg()[0], 1)]}


def worker(name: str, timeout: int) -> int:
    """Execute one notebook in a fresh kernel (the environment is already set); print the error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError as e:
        text = str(e).strip().splitlines()
        print("\n".join(text[-3:]))
        return 1
    except Exception as e:  # noqa: BLE001 - a timeout, a dead kernel: report it
        print(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebooks (default: all twelve), e.g. 09_gatys")
    ap.add_argument("--max-steps", type=int, default=2, help="COURSE_MAX_STEPS (default 2)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cpu hides any GPU from the kernels (CUDA_VISIBLE_DEVICES=''); cuda uses it")
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    ap.add_argument("--write", action="store_true",
                    help="record each notebook's row as its full_smoke entry in docs/run_times.json")
    ap.add_argument("--flop-log", type=Path, help="COURSE_FLOP_LOG for the kernels (FLOP counts)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.timeout)
    if args.max_steps < 1:
        print("--max-steps must be at least 1", file=sys.stderr)
        return 2
    names = [n.removesuffix(".ipynb") for n in args.names] or sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    missing = [n for n in names if not (NOTEBOOKS / f"{n}.ipynb").is_file()]
    if missing:
        print(f"no such notebook in {NOTEBOOKS}: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="full-smoke-") as tmp:
        tmp = Path(tmp)
        fake_vgg_cache(tmp / "torch")
        env = {**os.environ, "COURSE_PROFILE": "full", "COURSE_MAX_STEPS": str(args.max_steps),
               "COURSE_DATA_DIR": str(tmp / "data"), "TORCH_HOME": str(tmp / "torch"),
               "COURSE_NO_WIDGETS": "1", "MPLBACKEND": "agg", "PYTHONPATH": str(ROOT)
               + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
        env.pop("COURSE_FEATURES", None)
        env.pop("CI", None)
        if args.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        if args.flop_log:
            env["COURSE_FLOP_LOG"] = str(args.flop_log.resolve())
        if not env.get("COURSE_DATA_MIRROR"):
            print("note: COURSE_DATA_MIRROR is not set: notebooks fall back to built-in images "
                  "where a dataset is missing", file=sys.stderr)
        print(f"full profile, COURSE_MAX_STEPS={args.max_steps}, device {args.device}, "
              f"{len(names)} notebook(s); temporary data and hub cache in {tmp}")
        for name in names:
            env["COURSE_NOTEBOOK"] = f"{name}.ipynb"
            row = run_one(name, env, args.timeout)
            rows.append(row)
            print(f"{'PASS' if row['ok'] else 'FAIL'}  {name:24} {row['seconds']:7.1f} s  "
                  f"peak {row['peak_mb']:6d} MB" + (f"\n      {row['error']}" if row["error"] else ""),
                  flush=True)
    failed = [r["notebook"] for r in rows if not r["ok"]]
    print(f"{len(rows) - len(failed)}/{len(rows)} passed; total {sum(r['seconds'] for r in rows):.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    if args.write:
        record(rows, args.max_steps, args.device)
    if args.json:
        args.json.write_text(json.dumps({"max_steps": args.max_steps, "device": args.device,
                                         "rows": rows}, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
