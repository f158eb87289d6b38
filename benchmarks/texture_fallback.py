"""Which offline features synthesize textures? The measurement behind ``features``' fallback.

    python benchmarks/texture_fallback.py                       # all, ~2 min per synthesis
    python benchmarks/texture_fallback.py --sources brick --candidates multiscale --budget 60
    python benchmarks/texture_fallback.py --reuse --transfer chelsea starry_night   # + style transfer

Gatys' texture synthesis (noise optimised with L-BFGS so that its Gram matrices G^l match the
source's at relu1_1..relu5_1, ``features.style_loss``) with each candidate feature set:

* ``multiscale``: the fallback ``RandomFeatures`` (random filters of 3..23 px, ReLU, pooled to
  VGG's resolution per block),
* ``multiscale-fullres``: the same filters without pooling (Ustyuzhaninov et al. 2017's model),
* ``random-vgg19``: VGG-19 with torchvision's random initialisation.

Sources: ``brick`` (scikit-image, grey) and a painting of the ``styles`` dataset (mirror or
data/). Each synthesis gets the same wall-time budget on one thread and the same noise start.
Numbers (lower is better), each also given for a second crop of the same source ("real", the
texture's own variation: a synthesis near it is as close as another real sample) and for the
noise start:

* ``PS``: mean |log10 P_x - log10 P_src| over the radially averaged power spectrum of the luminance
  (a measure no candidate optimises);
* ``hist``: mean over RGB of the 1-D Wasserstein distance between pixel histograms (x 100);
* ``G[name]``: the Gram (style) loss of the result under each candidate's features (normalised
  as ``style_loss``); the off-diagonal entries are the cross-check.

``--transfer CONTENT STYLE`` adds Gatys' style transfer with each candidate (content at
relu4_2, style at relu1_1..relu5_1, Adam from the content image, ``--ratio`` = beta/alpha).

A benchmark, not a test. Results are cached in ``--out`` (``--reuse`` skips finished runs); the
figure goes to ``docs/figures/texture_fallback.png``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.features import (GATYS_STYLE, RandomFeatures, VGGFeatures, gram,  # noqa: E402
                                   style_loss)
from course_utils.images import load_image  # noqa: E402

CANDIDATES = ("multiscale", "multiscale-fullres", "random-vgg19")


def make_features(name: str, seed: int = 0, layers=GATYS_STYLE):
    if name == "multiscale":
        return RandomFeatures(layers, seed=seed)
    if name == "multiscale-fullres":
        return RandomFeatures(layers, seed=seed, pooled=False)
    if name == "random-vgg19":
        torch.manual_seed(seed)
        return VGGFeatures(layers)
    raise ValueError(f"unknown candidate {name!r}; choose from {CANDIDATES}")


def _square(img: torch.Tensor, size: int, corner: str) -> torch.Tensor:
    """A square crop (the top-left or bottom-right one) of side min(H, W) / 2, resized to size."""
    _, _, h, w = img.shape
    side = min(h, w) // 2
    y, x = (0, 0) if corner == "tl" else (h - side, w - side)
    crop = img[..., y:y + side, x:x + side]
    return F.interpolate(crop, size=(size, size), mode="area").clamp(0, 1)


def load_source(name: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(target, second crop of the same source), each (1, 3, size, size) in [0, 1]."""
    if name in ("brick", "grass", "gravel"):
        import skimage.data
        img = torch.from_numpy(getattr(skimage.data, name)()).float().div(255)[None, None]
        img = img.expand(1, 3, -1, -1)
    else:
        folders = [Path(os.environ.get("COURSE_DATA_DIR") or ROOT / "data") / "styles"]
        if os.environ.get("COURSE_DATA_MIRROR"):
            folders.append(Path(os.environ["COURSE_DATA_MIRROR"]) / "styles")
        files = [f / f"{name}.jpg" for f in folders if (f / f"{name}.jpg").is_file()]
        if not files:
            raise SystemExit(f"painting {name}.jpg not found in {folders}; run "
                             "`python data_scripts/download.py styles` or set COURSE_DATA_MIRROR")
        img = load_image(files[0])
    return _square(img, size, "tl"), _square(img, size, "br")


def synthesize(feats, target: torch.Tensor, budget_s: float, seed: int = 0):
    """L-BFGS on the pixels from seeded uniform noise until ``budget_s`` seconds have passed.
    Returns (image (1, 3, H, W) in [0, 1], seconds, number of function evaluations, final loss)."""
    with torch.no_grad():
        grams = {k: gram(v) for k, v in feats(target).items()}
    x = torch.rand(target.shape, generator=torch.Generator().manual_seed(seed)).requires_grad_()
    opt = torch.optim.LBFGS([x], lr=1, max_iter=20, history_size=50, tolerance_grad=0,
                            tolerance_change=0, line_search_fn="strong_wolfe")
    evals = 0

    def closure():
        nonlocal evals
        evals += 1
        opt.zero_grad()
        loss = style_loss(feats(x), grams)
        loss.backward()
        return loss

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        loss = style_loss(feats(x), grams).item()
    return x.detach(), seconds, evals, loss


def transfer(feats, content: torch.Tensor, style: torch.Tensor, budget_s: float,
             ratio: float, lr: float = 0.02) -> tuple[torch.Tensor, float, int]:
    """Gatys' style transfer with ``feats``: Adam on the pixels of x, starting from the content
    image, minimising content_loss at GATYS_CONTENT + ratio * style_loss at GATYS_STYLE (both
    relative, so ``ratio`` = beta / alpha). Returns (image, seconds, steps)."""
    from course_utils.features import GATYS_CONTENT, content_loss
    with torch.no_grad():
        grams = {k: gram(v) for k, v in feats(style, GATYS_STYLE).items()}
        fc = feats(content, [GATYS_CONTENT])[GATYS_CONTENT]
    x = content.clone().requires_grad_()
    opt = torch.optim.Adam([x], lr=lr)
    steps = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        opt.zero_grad()
        f = feats(x)
        loss = content_loss(f[GATYS_CONTENT], fc) + ratio * style_loss(f, grams)
        loss.backward()
        opt.step()
        steps += 1
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach(), time.perf_counter() - t0, steps


def radial_power(img: torch.Tensor) -> torch.Tensor:
    """log10 of the radially averaged power spectrum of the luminance of (1, 3, H, W), radii
    1..min(H, W)//2 (DC excluded)."""
    y = (0.299 * img[0, 0] + 0.587 * img[0, 1] + 0.114 * img[0, 2]).double()
    p = torch.fft.fftshift(torch.fft.fft2(y - y.mean())).abs().pow(2)
    h, w = p.shape
    yy, xx = torch.meshgrid(torch.arange(h) - h // 2, torch.arange(w) - w // 2, indexing="ij")
    r = (yy.pow(2) + xx.pow(2)).double().sqrt().round().long()
    n = min(h, w) // 2
    sums = torch.zeros(r.max() + 1, dtype=torch.float64).index_add_(0, r.flatten(), p.flatten())
    counts = torch.bincount(r.flatten()).double()
    return (sums[1:n + 1] / counts[1:n + 1]).log10()


def ps_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return (radial_power(a) - radial_power(b)).abs().mean().item()


def hist_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over RGB of the 1-D Wasserstein distance between the pixel value distributions, x100."""
    sa, sb = a.flatten(2).sort(dim=2).values, b.flatten(2).sort(dim=2).values
    return 100 * (sa - sb).abs().mean().item()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sources", nargs="+", default=["brick", "starry_night"])
    p.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=CANDIDATES)
    p.add_argument("--budget", type=float, default=120, help="seconds per synthesis")
    p.add_argument("--size", type=int, default=128, help="image side (px)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("/tmp/texture_fallback"))
    p.add_argument("--reuse", action="store_true", help="keep finished runs found in --out")
    p.add_argument("--transfer", nargs=2, metavar=("CONTENT", "STYLE"),
                   help="also a style transfer: a built-in photo and a painting (or texture)")
    p.add_argument("--ratio", type=float, default=10.0, help="beta/alpha of the style transfer")
    p.add_argument("--transfer-budget", type=float, default=60, help="seconds per style transfer")
    p.add_argument("--figure", type=Path, default=ROOT / "docs" / "figures" / "texture_fallback.png")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    feats = {c: make_features(c, args.seed) for c in CANDIDATES}
    results: dict[tuple[str, str], dict] = {}
    for src in args.sources:
        target, _ = load_source(src, args.size)
        for cand in args.candidates:
            f = args.out / f"{src}_{cand}_{args.size}_{args.seed}.pt"
            if args.reuse and f.is_file():
                results[src, cand] = torch.load(f, weights_only=True)
                continue
            img, sec, evals, loss = synthesize(feats[cand], target, args.budget, args.seed)
            results[src, cand] = {"image": img, "seconds": sec, "evals": evals, "loss": loss}
            torch.save(results[src, cand], f)
            print(f"{src:14} {cand:20} {sec:6.1f} s  {evals:5d} evaluations  loss {loss:.4g}",
                  flush=True)

    print(f"\nsize {args.size} px, budget {args.budget:g} s per synthesis, 1 thread, seed {args.seed}")
    head = ["source", "result", "s", "evals", "PS", "hist"] + [f"G[{c}]" for c in CANDIDATES]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    rows = {}
    for src in args.sources:
        target, real = load_source(src, args.size)
        noise = torch.rand(target.shape, generator=torch.Generator().manual_seed(args.seed))
        entries = [("real (2nd crop)", real, None), ("noise start", noise, None)]
        entries += [(c, results[src, c]["image"], results[src, c]) for c in args.candidates
                    if (src, c) in results]
        for label, img, res in entries:
            with torch.no_grad():
                gl = [style_loss(feats[c](img), {k: gram(v) for k, v in feats[c](target).items()})
                      .item() for c in CANDIDATES]
            row = [src, label, f"{res['seconds']:.0f}" if res else "", str(res["evals"]) if res
                   else "", f"{ps_distance(img, target):.3f}", f"{hist_distance(img, target):.2f}"]
            row += [f"{g:.3g}" for g in gl]
            rows[src, label] = row
            print("| " + " | ".join(row) + " |")

    transfers = {}
    if args.transfer:
        content_name, style_name = args.transfer
        from course_utils.features import GATYS_CONTENT
        from course_utils.images import load_builtin
        content = load_builtin(content_name)
        h, w = content.shape[-2:]
        content = F.interpolate(content, size=(args.size, round(args.size * w / h)), mode="area")
        style, _ = load_source(style_name, args.size)
        print(f"\nstyle transfer: content {content_name} {tuple(content.shape[-2:])}, style "
              f"{style_name}, beta/alpha {args.ratio:g} (relative losses), Adam from the content, "
              f"{args.transfer_budget:g} s")
        for cand in args.candidates:
            f = args.out / f"transfer_{content_name}_{style_name}_{cand}_{args.size}_{args.seed}.pt"
            if args.reuse and f.is_file():
                transfers[cand] = torch.load(f, weights_only=True)
            else:
                tfeats = make_features(cand, args.seed, GATYS_STYLE + (GATYS_CONTENT,))
                img, sec, evals = transfer(tfeats, content, style, args.transfer_budget,
                                          args.ratio)
                transfers[cand] = {"image": img, "seconds": sec, "evals": evals}
                torch.save(transfers[cand], f)
            print(f"  {cand:20} {transfers[cand]['seconds']:6.1f} s  "
                  f"{transfers[cand]['evals']:5d} Adam steps", flush=True)

    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    def show(ax, img, title):
        ax.imshow(img[0].permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(title, fontsize=7)

    cols = [None] + list(args.candidates)
    n_rows = len(args.sources) + bool(transfers)
    fig, axes = plt.subplots(n_rows, len(cols), squeeze=False,
                             figsize=(2.2 * len(cols), 2.6 * n_rows))
    names = {"multiscale": "random multi-scale (fallback)", "multiscale-fullres":
             "multi-scale, full-res", "random-vgg19": "random-init VGG-19"}
    for ax in axes.flat:
        ax.set_axis_off()
    for i, src in enumerate(args.sources):
        show(axes[i, 0], load_source(src, args.size)[0], f"texture source: {src}")
        for j, cand in enumerate(cols[1:], 1):
            if (src, cand) in results:
                show(axes[i, j], results[src, cand]["image"],
                     f"{names[cand]}\nPS {rows[src, cand][4]}, {results[src, cand]['seconds']:.0f} s")
    if transfers:
        show(axes[-1, 0], content, f"content: {args.transfer[0]}\nstyle: {args.transfer[1]}")
        for j, cand in enumerate(cols[1:], 1):
            if cand in transfers:
                show(axes[-1, j], transfers[cand]["image"],
                     f"style transfer, {names[cand]}\nAdam {transfers[cand]['seconds']:.0f} s")
    fig.suptitle(f"Gatys texture synthesis and style transfer, {args.size} px, L-BFGS "
                 f"{args.budget:g} s each on 1 CPU thread\n(PS: power-spectrum distance to the "
                 "source, lower is better; no ImageNet weights used)", fontsize=8)
    fig.tight_layout(h_pad=1.5)
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    Image.open(buf).convert("RGB").quantize(256).save(args.figure, optimize=True)  # < 300 kB
    print(f"\nfigure: {args.figure} ({args.figure.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
