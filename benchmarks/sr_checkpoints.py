"""Benchmark of the shipped super-resolution checkpoints: quality beside the papers, and speed.

    python benchmarks/sr_checkpoints.py                  # Set5 and Set14, markdown tables
    python benchmarks/sr_checkpoints.py --dataset Set5 --repeats 5

1. PSNR/SSIM of every SR model of the registry (``course_utils.zoo.REGISTRY``, the files of
   ``checkpoints/``) at each scale it handles, with the papers' protocol
   (``course_utils.evaluate``), beside bicubic and the paper's number (labelled as theirs).
2. The targets of the course (issue 5), each marked met / not met from the numbers just computed:
   SRCNN, FSRCNN and ESPCN at x3 reach their papers' Set5 numbers; VDSR is above SRCNN and FSRCNN
   at every scale it covers; SRResNet-MSE (srresnet-x4) reaches 30.0 dB on Set5 x4 and SRGAN
   (srgan-x4) stays below it in PSNR.
3. Speed on this machine: median wall time of SRCNN 9-1-5 and FSRCNN(56,12,4) producing the same
   x3 output (bicubic enlargement included for SRCNN, as it needs it), and the ratio; FSRCNN both
   as shipped (``nn.ConvTranspose2d``) and with its deconvolution as a ``SubPixelConv`` (the same
   outputs, notebook 07's Exercise 7.2).

A benchmark, not a test: nothing here fails when a target is missed; the numbers are for notes.
Needs the datasets (``data/`` or ``COURSE_DATA_MIRROR``, see ``data_scripts/README.md``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils.evaluate import evaluate, paper_value, sr_method  # noqa: E402
from course_utils.models import with_subpixel  # noqa: E402
from course_utils.zoo import REGISTRY, load_shipped, run_model  # noqa: E402


def quality(datasets: list[str]) -> dict[tuple[str, str, int], dict]:
    """(method, dataset, scale) -> the evaluate() row, for bicubic and every shipped SR model."""
    sr_models = [name for name, r in REGISTRY.items() if r.kind == "sr"]
    rows = {}
    for ds in datasets:
        for method in ["bicubic", *sr_models]:
            scales = REGISTRY[method].scales if method in REGISTRY else (2, 3, 4)
            for r in evaluate(method, ds, list(scales)):
                rows[(method, ds, r["scale"])] = r
    return rows


def quality_table(rows: dict) -> str:
    lines = ["| dataset | scale | method | PSNR (dB) | SSIM | paper PSNR | paper SSIM | paper |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (method, ds, s), r in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        pv = paper_value(method, ds, s)
        pp = f"{pv[0]:.2f}" if pv else "–"
        ps = f"{pv[1]:.4f}" if pv and pv[1] is not None else "–"
        lines.append(f"| {ds} | x{s} | {method} | {r['psnr']:.2f} | {r['ssim']:.4f} | {pp} | {ps} | "
                     f"{pv[2] if pv else ''} |")
    return "\n".join(lines)


def targets(rows: dict) -> str:
    """The course's targets on Set5, each judged from the computed numbers."""
    lines = ["| target (Set5) | ours (dB) | bar (dB) | met |", "| --- | --- | --- | --- |"]
    for m in ("srcnn-x3", "fsrcnn-x3", "espcn-x3"):
        if (m, "Set5", 3) in rows and paper_value(m, "Set5", 3):
            ours, bar = rows[(m, "Set5", 3)]["psnr"], paper_value(m, "Set5", 3)[0]
            lines.append(f"| {m} x3 >= paper | {ours:.2f} | {bar:.2f} | {'yes' if ours >= bar else 'no'} |")
    others = {2: ["fsrcnn-x2"], 3: ["srcnn-x3", "fsrcnn-x3"], 4: ["fsrcnn-x4"]}
    for s, names in others.items():
        if ("vdsr", "Set5", s) not in rows:
            continue
        best = max((rows[(n, "Set5", s)]["psnr"], n) for n in names if (n, "Set5", s) in rows)
        ours = rows[("vdsr", "Set5", s)]["psnr"]
        lines.append(f"| vdsr x{s} > {best[1]} | {ours:.2f} | {best[0]:.2f} | "
                     f"{'yes' if ours > best[0] else 'no'} |")
    if ("srresnet-x4", "Set5", 4) in rows:  # issue 14: a CPU-trained SRResNet-MSE reaches 30 dB
        ours = rows[("srresnet-x4", "Set5", 4)]["psnr"]
        lines.append(f"| srresnet-x4 x4 >= 30.0 | {ours:.2f} | 30.00 | {'yes' if ours >= 30.0 else 'no'} |")
        if ("srgan-x4", "Set5", 4) in rows:  # SRGAN trades PSNR for sharpness, as in the paper
            gan = rows[("srgan-x4", "Set5", 4)]["psnr"]
            lines.append(f"| srgan-x4 x4 < srresnet-x4 | {gan:.2f} | {ours:.2f} | "
                         f"{'yes' if gan < ours else 'no'} |")
    return "\n".join(lines)


def speed(size: int = 256, scale: int = 3, repeats: int = 9) -> str:
    """Median time of the shipped SRCNN and FSRCNN (as shipped, and with SubPixelConv) making the
    same (size x size) x3 output."""
    lr = torch.rand(1, 1, size // scale, size // scale)
    fsrcnn = with_subpixel(load_shipped("fsrcnn-x3")[0])
    fns = {"srcnn-x3": sr_method("srcnn-x3"), "fsrcnn-x3": sr_method("fsrcnn-x3"),
           "fsrcnn-x3 SubPixelConv": lambda x, s: run_model("fsrcnn-x3", fsrcnn, x, s)}
    times = {}
    with torch.no_grad():
        for name, fn in fns.items():
            fn(lr, scale)  # warm-up
            t = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn(lr, scale)
                t.append(time.perf_counter() - t0)
            times[name] = statistics.median(t)
    ratio = times["srcnn-x3"] / times["fsrcnn-x3"]
    ratio_sp = times["srcnn-x3"] / times["fsrcnn-x3 SubPixelConv"]
    return (f"speed, {size}x{size} output at x{scale}, {torch.get_num_threads()} torch thread(s), "
            f"median of {repeats}: srcnn-x3 {1000 * times['srcnn-x3']:.1f} ms, fsrcnn-x3 "
            f"{1000 * times['fsrcnn-x3']:.1f} ms ({ratio:.1f}x faster), with SubPixelConv "
            f"{1000 * times['fsrcnn-x3 SubPixelConv']:.1f} ms ({ratio_sp:.1f}x faster) "
            "(the FSRCNN paper: 41.3x against SRCNN-Ex 9-5-5 and a C++/MATLAB timing; "
            "notebook 07 times all four models of its table)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", action="append", help="Set5, Set14 or a folder (default: both)")
    p.add_argument("--repeats", type=int, default=9, help="timed runs for the speed ratio")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = quality(args.dataset or ["Set5", "Set14"])
    print(quality_table(rows), "", targets(rows), "", speed(repeats=args.repeats), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
