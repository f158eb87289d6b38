"""Benchmark of notebook 11's samplers: the exact cached sampler against the naive one at 32x32.

    python benchmarks/pixelcnn_sampler.py                    # batches of 1 and 8 faces, 32x32
    python benchmarks/pixelcnn_sampler.py --batch 1 4 16 --temperature 0.8
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

from the same seed, and reports the wall times, their ratio, whether the samples are identical,
and the largest difference between the logits the cached sampler drew from and one full-image pass
of the model on the result (the two compute the same sums in another order, so they agree to
float32 rounding, not bit for bit).

``--estimate N`` adds a row for batch N where the naive sampler (too slow to run whole) is
*estimated*: 32 of its passes of the prior over the whole N-image batch are timed and scaled to
the 1024 it makes (a lower bound: it leaves out its per-pixel draws); the cached sampler is run
whole. The row says "estimated".

A benchmark, not a test: nothing fails when the target (>= 200x) is missed. One torch thread
(``torch.set_num_threads(1)``); on a shared machine the times vary, the ratio much less (the two
samplers run one after the other, under the same load).
"""
from __future__ import annotations

import argparse
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
    p.add_argument("--estimate", type=int, nargs="*", default=[],
                   help="batch sizes whose naive time is estimated from 32 passes of the prior")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, label = load_model()
    K, s = FACES["K"], FACES["scale"]
    size = FACES["size"]
    print(f"model: {label}; {size}x{size} from {size // s}x{size // s}, K = {K}, T = {args.temperature}, "
          f"torch {torch.__version__}, 1 thread")
    print("| batch | naive (s) | cached (s) | speed-up | identical samples | max logit difference |")
    print("|---:|---:|---:|---:|:---:|---:|")
    for n in args.batch:
        lr = torch.rand(n, 1, size // s, size // s, generator=torch.Generator().manual_seed(args.seed))
        t0 = time.perf_counter()
        naive = sample(model, lr, K, args.temperature, torch.Generator().manual_seed(args.seed), scale=s)
        t1 = time.perf_counter()
        fast, logits = cached_sample(model, lr, K, args.temperature, torch.Generator().manual_seed(args.seed),
                                     scale=s, return_logits=True)
        t2 = time.perf_counter()
        with torch.no_grad():
            diff = (model(fast, lr)[0] - logits).abs().max().item()
        same = torch.equal(naive, fast)
        print(f"| {n} | {t1 - t0:.1f} | {t2 - t1:.2f} | {(t1 - t0) / (t2 - t1):.0f}x | "
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
