"""Measure how long notebooks take in a profile; record it in docs/run_times.json.

    python benchmarks/run_times.py --profile cpu 05_srcnn 06_vdsr   # solutions/05_srcnn.ipynb, ...
    python benchmarks/run_times.py --profile ci                     # every solution notebook
    python -m course_tools.course_map                               # README and title cells follow

Each notebook runs once, top to bottom, in a fresh kernel (nbclient) with ``COURSE_PROFILE`` set and
widgets drawn statically, as a student's Run All would. The record keeps the wall time, the date,
the machine (cores, CPU model) and its load average before and after, because a shared machine
makes every number an upper bound. A notebook that fails is reported and not recorded.

It also records the run's claims (``course_utils.checks.claim``: the "What to notice" sentences that
state an ordering or a number): ``claims`` is how many the notebook made, ``claims_failed`` the
sentences this run contradicted. The ci profile may contradict claims (tiny runs); the cpu and full
profiles should not.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "run_times.json"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


def read_claims(log: Path) -> list[dict]:
    """The claims a run logged (one JSON object per line; a torn last line is ignored)."""
    rows = []
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def run(path: Path, profile: str, timeout: int, claims_log: Path | None = None) -> float:
    from course_tools.notebooks import execute, read_notebook

    nb = read_notebook(path)
    env = {**os.environ, "COURSE_PROFILE": profile, "COURSE_NO_WIDGETS": "1", "MPLBACKEND": "agg",
           "COURSE_NOTEBOOK": path.name}
    if claims_log is not None:
        env["COURSE_CLAIMS_LOG"] = str(claims_log)
    return execute(nb, path.parent, env=env, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebook names (default: every solution notebook)")
    ap.add_argument("--profile", choices=("full", "cpu", "ci"), required=True)
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--dry-run", action="store_true", help="print, do not write docs/run_times.json")
    args = ap.parse_args(argv)
    paths = [ROOT / "solutions" / f"{n.removesuffix('.ipynb')}.ipynb" for n in args.names] or \
        sorted((ROOT / "solutions").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print("no such notebook: " + ", ".join(missing), file=sys.stderr)
        return 2
    data = json.loads(OUT.read_text()) if OUT.exists() else {"notebooks": {}}
    failed = 0
    for path in paths:
        load0 = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "claims.jsonl"
            try:
                seconds = run(path, args.profile, args.timeout, log)
            except Exception as e:  # noqa: BLE001 - report and go on with the next notebook
                print(f"{path.stem}: failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
                failed += 1
                continue
            claims = read_claims(log)
        contradicted = [c["text"] for c in claims if not c.get("held")]
        rec = {"seconds": round(seconds, 1), "date": date.today().isoformat(), "machine": machine(),
               "load": [round(load0, 1), round(os.getloadavg()[0], 1)],
               "how": f"benchmarks/run_times.py --profile {args.profile}",
               "claims": len(claims), "claims_failed": contradicted}
        print(f"{path.stem}: {seconds:.0f} s in the {args.profile} profile (load {rec['load']}); "
              f"{len(claims)} claims, {len(contradicted)} contradicted by this run")
        for text in contradicted:
            print(f"  not in this run: {text}")
        data["notebooks"].setdefault(path.stem, {})[args.profile] = rec
    if not args.dry_run:
        OUT.parent.mkdir(exist_ok=True)
        tmp = OUT.with_suffix(".part")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        tmp.replace(OUT)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
