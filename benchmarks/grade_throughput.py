"""Grading throughput on this machine: notebooks per minute at -j 1 and -j 2, overhead, 200 students.

    python benchmarks/grade_throughput.py                          # 03 and 05 (ci profile)
    python benchmarks/grade_throughput.py --notebooks 00_welcome --copies 2
    python benchmarks/grade_throughput.py --notebooks 05_srcnn --copies 1 --plain-runs 1 --no-j2

For each notebook:
1. a plain execution of the solution notebook (nbclient, one kernel, no grading), as a baseline
   (the faster of two runs: the first one warms the file caches);
2. ``course_tools.grade`` (sandboxed, only the cells the exercises need) on ``copies`` fully
   answered submissions (copies of the solution) with one worker, then on ``2 * copies`` with two
   workers (unless ``--no-j2``).
"graded / plain" is the grading time per notebook at -j 1 over the plain execution (kernel start
in the sandbox, the grader's restore steps, the checks' parts and their records, minus the cells not
needed). The solution's reference run, which the grader makes once per assignment and batch to judge
every submission against, is timed apart ("reference run") and kept for the batches measured. The estimate for 200 submissions uses the
-j 2 rate. Every graded copy must score full points, or the numbers are not printed as valid.

A benchmark, not a test; run it on an otherwise idle machine for numbers worth quoting.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_tools import grade  # noqa: E402


def plain_seconds(notebook: Path, timeout: float) -> float:
    """Wall time of executing ``notebook`` once with nbclient (kernel start included)."""
    import nbclient
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": work}}).execute()
        return time.perf_counter() - start


def reference_seconds(notebook: Path, timeout: float, folder: str) -> float:
    """Wall time of the grader's reference run of a solution notebook (kept in ``folder``)."""
    options = grade.Options(profile="ci", cell_timeout=timeout, notebook_timeout=4 * timeout, reference_dir=folder)
    start = time.perf_counter()
    grade.reference(grade.load_assignment(notebook), options)
    return time.perf_counter() - start


def grading_seconds(notebook: Path, copies: int, jobs: int, timeout: float, folder: str) -> tuple[float, bool]:
    """Wall time of grading ``copies`` copies of a solution notebook, and whether all got full marks."""
    with tempfile.TemporaryDirectory() as work:
        subs = Path(work)
        for i in range(copies):
            shutil.copy(notebook, subs / f"student{i:03d}.ipynb")
        options = grade.Options(profile="ci", cell_timeout=timeout, notebook_timeout=4 * timeout,
                                reference_dir=folder)
        start = time.perf_counter()
        results = grade.grade_all(grade.collect_submissions([subs]), notebook.parent, options, jobs)
        seconds = time.perf_counter() - start
    full = all(r["status"] == "ok" and r["score"] == r["max_score"] > 0 for r in results)
    return seconds, full


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--notebooks", nargs="+", default=["03_interpolation", "05_srcnn"])
    p.add_argument("--copies", type=int, default=2, help="submissions at -j 1 (twice as many at -j 2)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per cell")
    p.add_argument("--plain-runs", type=int, default=2, help="plain executions (the fastest counts)")
    p.add_argument("--no-j2", action="store_true", help="skip the -j 2 measurement")
    args = p.parse_args(argv)
    os.environ.update(COURSE_PROFILE="ci", MPLBACKEND="Agg", COURSE_NO_WIDGETS="1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"cpus: {os.cpu_count()} | profile: ci | copies: {args.copies} at -j 1, "
          f"{2 * args.copies} at -j 2\n")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| notebook | plain run (s) | reference run (s, once per batch) | graded, -j 1 (s/nb) | graded / plain "
          "| nb/min -j 1 | nb/min -j 2 | 200 submissions, -j 2 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    references = tempfile.mkdtemp(prefix="grade-reference-")
    for name in args.notebooks:
        notebook = ROOT / "solutions" / f"{name}.ipynb"
        plain = min(plain_seconds(notebook, args.timeout) for _ in range(max(1, args.plain_runs)))
        ref = reference_seconds(notebook, args.timeout, references)
        t1, ok1 = grading_seconds(notebook, args.copies, 1, args.timeout, references)
        t2, ok2 = (None, True) if args.no_j2 else grading_seconds(notebook, 2 * args.copies, 2, args.timeout, references)
        per1 = t1 / args.copies
        rate1 = 60 * args.copies / t1
        rate2 = None if t2 is None else 60 * 2 * args.copies / t2
        valid = "" if ok1 and ok2 else " (NOT VALID: a copy did not get full marks)"
        j2 = "-" if rate2 is None else f"{rate2:.2f}"
        batch = "-" if rate2 is None else f"{(200 / rate2) + ref / 60:.0f} min"
        print(f"| {name} | {plain:.1f} | {ref:.1f} | {per1:.1f} | {per1 / plain:.2f} | {rate1:.2f} | {j2} | {batch} |{valid}",
              flush=True)
    shutil.rmtree(references, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
