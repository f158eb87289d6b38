"""Benchmark of notebook 11's samplers: the exact cached sampler against the naive one at 32x32.

    python benchmarks/pixelcnn_sampler.py                    # batches of 1 and 8 faces, 32x32
    python benchmarks/pixelcnn_sampler.py --batch 1 4 16 --temperature 0.8 --repeat 5
    python benchmarks/pixelcnn_sampler.py --batch 1 --estimate 32     # naive at batch 32 estimated

The model is the course's faces model (``checkpoints/pixelcnn-sr-faces.pt`` when it is there,
otherwise the same architecture, ``course_utils.pixelcnn.FACES``, with its random initial
weights: the cost does not depend on the weights). For each batch size it draws the same 8x8 ->
32x32 samples with

* the naive sampler (``sample``): one pass of the prior over the whole image per pixel, 1024
  passes;
* the exact cached sampler (``cached_sample``, Ramachandran et al. 2017): each layer's
  activations are cached, and per pixel only that pixel's horizontal stack is computed (per row,
  the vertical stack of the row above);

from the same seed, ``--repeat`` times in turn, and reports the median wall times, the median of
the ratios naive / cached (each pair measured one after the other, under the same load), whether
the samples are identical, and the largest difference between the logits the cached sampler drew
from and one full-image pass of the model on the result (the two compute the same sums in
another order, so they agree to float32 rounding, not bit for bit). A second table splits the
cached sampler's time per pixel step into its parts (``cached_sample(..., timings=...)``): the
horizontal stack of every layer, the output head, the draw, the vertical stack (once per row,
spread over the row's pixels) and the setup.

``--estimate N`` adds a row for batch N where the naive sampler (too slow to run whole) is
*estimated*: 32 of its passes of the prior over the whole N-image batch are timed and scaled to
the 1024 it makes (a lower bound: it leaves out its per-pixel draws); the cached sampler is run
whole. The row says "estimated".

A benchmark, not a test: nothing fails when a target is missed. One torch thread
(``torch.set_num_threads(1)``); on a shared machine the times vary, the ratios much less.

Notes (2026-12-06, measured on the course's 2-core shared machine under load, at the lowest
priority, so absolute times are inflated; faces model, T = 1; the commands are below):

* Where the time went, before (commit 5565858): 130-155 us of CPU time per pixel at batch 1
  (medians of 5). The draw alone was about 50 us: torch.softmax, then torch.multinomial, whose
  one-sample path runs about 20 small torch ops (torch.profiler: aminmax, ge, lt, bitwise_and,
  sum, eq, any, two item() syncs, ... for its input checks, then exponential_, div, argmax).
  The horizontal stacks of the 5 layers took about 50 us (about ten numpy calls per layer), the
  vertical stack through torch convolutions about 28 (once per row, spread over its pixels), the
  head and the writes about 23.
* Changed (``course_utils.pixelcnn.cached_sample``; the same samples, checked against the naive
  sampler and the previous output by ``tests/test_pixelcnn.py``): the draw is torch.multinomial's
  own algorithm without its checks, argmax(z / T - log q) with q ~ Exp(1) drawn by torch from the
  same generator (one torch op; checked once per shape against torch.multinomial, which is called
  instead where they differ); the vertical stack is one matrix product per layer and row over
  strided window views made once; the gate is one tanh (sigmoid(b) = (1 + tanh(b/2)) / 2, the
  halves folded into the weights); the head's bias is folded into the conditioning logits; the
  drawn pixel is written once. Result: 2.1x less CPU time per pixel at batch 1 (127.5 -> 59.7
  us) and 2.2x at batch 16 (275.9 -> 124.7 us per pixel step), old and new run in turn.
* What is left at batch 1 (``--batch 1``, second table): about 60 % is the horizontal stacks,
  about ten numpy calls per layer and pixel for a few thousand multiply-adds, i.e. call overhead
  (about a microsecond a call), then the draw, the head, the vertical stack. The limit is the
  sequential dependency: pixel (i, j) needs pixel (i, j - 1) drawn, so the 1024 steps run one
  after the other, each paying that overhead whatever the batch (batch 4 costs little more than
  batch 1 per step).
* ``torch.compile`` (inductor, CPU, torch 2.14) of the whole per-pixel step (layers, head,
  Gumbel argmax) written in torch: 22 s to warm up, then about 44 us per pixel, against about
  119 for the same step in eager torch and about the same (about 45) for the numpy code. No
  gain per pixel, and the warm-up alone costs more than sampling hundreds of images: not used.
* The vertical stack's row products go through torch, whose threads follow
  torch.set_num_threads: through numpy, its BLAS started its own threads for them, which made
  batch 16 5x slower on this loaded machine.
* Naive / cached with this script, medians of 3 (``--batch 1 4 --repeat 3 --estimate 16``):
  36x at batch 1, 117x at batch 4, 835x at batch 16 (estimated: naive from 32 passes). The
  script of 5565858 and this one run in turn, twice (``--batch 1 4``, one run each): before 20x
  and 19x at batch 1, 51x and 55x at batch 4; now 42x and 49x at batch 1, 99x and 114x at batch 4.

Commands: the CPU times per pixel come from timing ``cached_sample`` of this commit and of
5565858 in turn with ``time.thread_time`` (5 runs each, batch 1 and 16, faces model); the
breakdown before the change from the same timers placed in a copy of the old function.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils.pixelcnn import FACES, cached_sample, faces_model, sample  # noqa: E402


def load_model():
    """The shipped faces model, or the same architecture untrained; and a label saying which."""
    path = Path(__file__).resolve().parent.parent / "checkpoints" / "pixelcnn-sr-faces.pt"
    if path.is_file():
        from course_utils.zoo import load_shipped
        return load_shipped("pixelcnn-sr-faces")[0], "pixelcnn-sr-faces (shipped)"
    torch.manual_seed(0)
    return faces_model().eval(), "faces architecture, random weights (no checkpoint yet)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=3, help="runs of each sampler per batch size (medians)")
    p.add_argument("--estimate", type=int, nargs="*", default=[],
                   help="batch sizes whose naive time is estimated from 32 passes of the prior")
    args = p.parse_args(argv)
    if args.repeat < 1 or min(args.batch + args.estimate, default=1) < 1:
        p.error("--repeat and the batch sizes must be at least 1")
    torch.set_num_threads(1)
    model, label = load_model()
    K, s = FACES["K"], FACES["scale"]
    size = FACES["size"]
    print(f"model: {label}; {size}x{size} from {size // s}x{size // s}, K = {K}, T = {args.temperature}, "
          f"torch {torch.__version__}, 1 thread, medians of {args.repeat}")
    print("| batch | naive (s) | cached (s) | speed-up | identical samples | max logit difference |")
    print("|---:|---:|---:|---:|:---:|---:|")
    parts = {}
    for n in args.batch:
        lr = torch.rand(n, 1, size // s, size // s, generator=torch.Generator().manual_seed(args.seed))
        t_naive, t_fast = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            naive = sample(model, lr, K, args.temperature, torch.Generator().manual_seed(args.seed), scale=s)
            t1 = time.perf_counter()
            fast, logits = cached_sample(model, lr, K, args.temperature, torch.Generator().manual_seed(args.seed),
                                         scale=s, return_logits=True)
            t2 = time.perf_counter()
            t_naive.append(t1 - t0)
            t_fast.append(t2 - t1)
        parts[n] = {}
        for _ in range(args.repeat):
            t = {}
            cached_sample(model, lr, K, args.temperature, torch.Generator().manual_seed(args.seed), scale=s, timings=t)
            for key, v in t.items():
                parts[n].setdefault(key, []).append(v)
        with torch.no_grad():
            diff = (model(fast, lr)[0] - logits).abs().max().item()
        same = torch.equal(naive, fast)
        ratio = statistics.median(a / b for a, b in zip(t_naive, t_fast))
        print(f"| {n} | {statistics.median(t_naive):.1f} | {statistics.median(t_fast):.3f} | {ratio:.0f}x | "
              f"{'yes' if same else f'no ({(naive != fast).sum().item()} pixels differ)'} | {diff:.1e} |",
              flush=True)
    for n in args.estimate:
        lr = torch.rand(n, 1, size // s, size // s, generator=torch.Generator().manual_seed(args.seed))
        t0 = time.perf_counter()
        fast = cached_sample(model, lr, K, args.temperature, torch.Generator().manual_seed(args.seed), scale=s)
        t1 = time.perf_counter()
        with torch.no_grad():
            for _ in range(32):
                model.prior(fast)
        t_naive = (time.perf_counter() - t1) / 32 * size * size
        print(f"| {n} | {t_naive:.0f} (estimated) | {t1 - t0:.2f} | {t_naive / (t1 - t0):.0f}x (estimated) | "
              f"(not run) | – |", flush=True)
    print("\nThe cached sampler's time per pixel step (us, medians; the vertical stack runs once per row and "
          "the setup once, both spread over the pixels):")
    keys = ("layers", "head", "draw", "rows", "setup")
    print("| batch | " + " | ".join(keys) + " | total |")
    print("|---:|" + "---:|" * (len(keys) + 1))
    for n, t in parts.items():
        med = {key: statistics.median(v) / size ** 2 * 1e6 for key, v in t.items()}
        print(f"| {n} | " + " | ".join(f"{med[key]:.1f}" for key in keys) + f" | {sum(med.values()):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
