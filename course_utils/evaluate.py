"""Evaluate super-resolution methods the way the papers did, and print their table beside ours.

Protocol (SRCNN, VDSR, FSRCNN, ... all used it, with MATLAB):
1. HR read as 8-bit, converted to Y (BT.601) at 8-bit levels; a grayscale file is Y as it is.
2. HR Y mod-cropped to the scale; x^LR = MATLAB-bicubic downscale of it (floating point).
3. The method maps x^LR to x^SR (floating point); x^SR is rounded to 8-bit levels.
4. ``scale`` pixels shaved at every border; PSNR and SSIM on Y in [0, 255];
   the table gives the mean of the per-image values.

    python -m course_utils.evaluate --method bicubic --dataset Set5 --scale 2 3 4
    python -m course_utils.evaluate --method bicubic --dataset path/to/folder --scale 3 --json
    python -m course_utils.evaluate --list
    python -m course_utils.evaluate --method fsrcnn-x3 --dataset Set5 --scale 3 --json

The trained networks (srcnn-x3, fsrcnn-x2/3/4, espcn-x3, vdsr) come from ``checkpoints/``; the
papers' numbers for them are those of the same architecture trained on the 91 images where the
paper gives it (VDSR: the paper's own 291-image model).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Callable

import torch

from .checkpoints import CheckpointError
from .degrade import bicubic_down, mod_crop
from .images import ImageError, list_images, load_image
from .metrics import quantize, sr_metrics, to_y8
from .models import SHIPPED, sr_method
from .resize import imresize

__all__ = ["PAPER", "METHODS", "bicubic", "evaluate_images", "evaluate", "paper_value",
           "compare_methods", "main"]

# Published numbers (PSNR dB, SSIM, source), Y channel, shave = scale, MATLAB bicubic degradation.
_VDSR = "Kim et al. 2016 (VDSR), Table 3"
PAPER: dict[tuple[str, str, int], tuple[float, float | None, str]] = {
    ("bicubic", "Set5", 2): (33.66, 0.9299, _VDSR),
    ("bicubic", "Set5", 3): (30.39, 0.8682, _VDSR),
    ("bicubic", "Set5", 4): (28.42, 0.8104, _VDSR),
    ("bicubic", "Set14", 2): (30.24, 0.8688, _VDSR),
    ("bicubic", "Set14", 3): (27.55, 0.7742, _VDSR),
    ("bicubic", "Set14", 4): (26.00, 0.7027, _VDSR),
    # SRCNN 9-1-5 trained on the 91 images (the shipped srcnn-x3's setting)
    ("srcnn-x3", "Set5", 3): (32.39, None, "Dong et al. 2014 (SRCNN 9-1-5, 91 images), ECCV"),
    # FSRCNN(56,12,4) trained on the 91 images; also the last column of the lecture's table
    ("fsrcnn-x3", "Set5", 3): (33.06, None, "Dong et al. 2016 (FSRCNN, 91 images), ECCV"),
    # ESPCN trained on the 91 images
    ("espcn-x3", "Set5", 3): (32.55, None, "Shi et al. 2016 (ESPCN, 91 images), CVPR"),
    ("vdsr", "Set5", 2): (37.53, 0.9587, _VDSR),
    ("vdsr", "Set5", 3): (33.66, 0.9213, _VDSR),
    ("vdsr", "Set5", 4): (31.35, 0.8838, _VDSR),
    ("vdsr", "Set14", 2): (33.03, 0.9124, _VDSR),
    ("vdsr", "Set14", 3): (29.77, 0.8314, _VDSR),
    ("vdsr", "Set14", 4): (28.01, 0.7674, _VDSR),
}


def bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The baseline: MATLAB-compatible bicubic enlargement of the LR Y image."""
    return imresize(lr, scale)


# name -> (function(lr_y (1,1,h,w) in [0,1], scale) -> sr_y (1,1,h*scale,w*scale), description)
METHODS: dict[str, tuple[Callable[[torch.Tensor, int], torch.Tensor], str]] = {
    "bicubic": (bicubic, "MATLAB-compatible bicubic interpolation"),
}
# The course's trained networks: each loads checkpoints/NAME.pt on first use (see models.py).
for _name, (_desc, _scales, _) in SHIPPED.items():
    METHODS[_name] = (sr_method(_name), f"{_desc} [checkpoints/{_name}.pt]")


def paper_value(method: str, dataset: str, scale: int):
    """(psnr, ssim, source) published for this method/dataset/scale, or None."""
    return PAPER.get((method, dataset, scale))


def evaluate_images(method: Callable, images: list[torch.Tensor], scale: int,
                    names: list[str] | None = None) -> dict:
    """Run ``method`` on each image under the papers' protocol.

    Args:
        method: ``f(lr_y, scale) -> sr_y`` on (1, 1, h, w) tensors in [0, 1].
        images: HR images (1, C, H, W) in [0, 1], RGB or Y.
    Returns:
        ``{"psnr": mean, "ssim": mean, "images": n, "per_image": [(name, psnr, ssim), ...]}``.
    """
    names = names or [f"image{i}" for i in range(len(images))]
    per = []
    for img, name in zip(images, names):
        hr = mod_crop(to_y8(img.double()), scale)
        if min(hr.shape[-2:]) <= 2 * scale + 1:
            raise ValueError(f"{name}: {tuple(img.shape[-2:])} is too small to evaluate at x{scale}")
        lr = bicubic_down(hr, scale)
        with torch.no_grad():
            sr = method(lr, scale)
        if sr.shape[-2:] != hr.shape[-2:]:
            raise ValueError(f"{name}: the method returned {tuple(sr.shape[-2:])}, expected "
                             f"{tuple(hr.shape[-2:])} (x{scale} of {tuple(lr.shape[-2:])})")
        p, s = sr_metrics(quantize(sr.double().cpu()), hr, scale)
        per.append((name, p, s))
    n = len(per)
    return {"psnr": sum(p for _, p, _ in per) / n, "ssim": sum(s for _, _, s in per) / n,
            "images": n, "per_image": per}


def compare_methods(methods: dict[str, Callable], datasets: dict[str, tuple[list, list]],
                    scales: list[int], paper: dict[str, str] | None = None,
                    show: bool = True) -> list[dict]:
    """Evaluate several methods on several datasets and scales; print one table.

    Args:
        methods: row label -> ``f(lr_y, scale) -> sr_y`` (e.g. ``METHODS["bicubic"][0]``), or
            -> ``(f, scales)`` for a method that only handles some scales.
        datasets: dataset label (``"Set5"``) -> (images, names) as from ``get_images``.
        scales: the scales to test; a method that refuses a scale (ValueError) gets no row.
        paper: row label -> key of :data:`PAPER` (e.g. ``{"bicubic": "bicubic"}``): the
            published number for that method is printed beside ours, with its source.
    Returns:
        one dict per row: dataset, method, scale, psnr, ssim, paper_psnr, paper_ssim, source.
    """
    paper = paper or {}
    rows = []
    for ds, (images, names) in datasets.items():
        for s in scales:
            for label, fn in methods.items():
                if isinstance(fn, tuple):
                    fn, only = fn
                    if s not in only:
                        continue
                try:
                    r = evaluate_images(fn, images, s, names)
                except ValueError as e:
                    if "trained for" in str(e):
                        continue
                    raise
                pv = paper_value(paper[label], ds, s) if label in paper else None
                rows.append({"dataset": ds, "method": label, "scale": s, "psnr": r["psnr"],
                             "ssim": r["ssim"], "paper_psnr": pv[0] if pv else None,
                             "paper_ssim": pv[1] if pv else None, "source": pv[2] if pv else ""})
    if show:
        print(format_table(rows))
    return rows


def _load_folder(folder: Path) -> tuple[list[torch.Tensor], list[str]]:
    files = list_images(folder)
    return [load_image(f, mode="auto") for f in files], [f.stem for f in files]


def _resolve(dataset: str, cfg) -> Path:
    p = Path(dataset).expanduser()
    if p.is_dir():
        return p
    from .download import find_dataset, registry
    if dataset in registry():
        found = find_dataset(dataset, cfg.data_dir, cfg.mirror)
        if found is not None:
            return found
        raise FileNotFoundError(f"dataset {dataset} is not in {cfg.data_dir}. Fetch it with "
                                f"`python data_scripts/download.py {dataset}` "
                                "(or --mirror DIR / COURSE_DATA_MIRROR=DIR), or pass a folder.")
    raise FileNotFoundError(f"{dataset}: neither a folder nor a dataset name "
                            "(see `python data_scripts/download.py --list`)")


def evaluate(method: str, dataset: str, scales: list[int], cfg=None) -> list[dict]:
    """Evaluate a named method on a dataset name or folder; one result dict per scale."""
    from .profiles import setup
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    cfg = cfg or setup(quiet=True)
    folder = _resolve(dataset, cfg)
    images, names = _load_folder(folder)
    fn = METHODS[method][0]
    out = []
    for s in scales:
        r = evaluate_images(fn, images, s, names)
        out.append({"dataset": folder.name, "method": method, "scale": s,
                    "psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 4),
                    "images": r["images"], "per_image": r["per_image"]})
    return out


def format_table(results: list[dict]) -> str:
    """A text table: ours beside the paper's number where one is known (labelled as the paper's).

    A row may carry its own ``paper_psnr``/``paper_ssim``/``source`` (as from
    :func:`compare_methods`); otherwise the paper's number is looked up by method name.
    """
    w = max([len(r["method"]) for r in results] + [8])
    lines = ["protocol: Y (BT.601), 8-bit, shave = scale, MATLAB-bicubic LR, mean over images",
             f"{'dataset':10} {'method':{w}} {'scale':>5} {'PSNR':>8} {'SSIM':>7} "
             f"{'paper PSNR':>10} {'paper SSIM':>10}  source of the paper's number"]
    for r in results:
        if "paper_psnr" in r:
            pv = (r["paper_psnr"], r["paper_ssim"], r["source"]) if r["paper_psnr"] is not None else None
        else:
            pv = paper_value(r["method"], r["dataset"], r["scale"])
        pp = f"{pv[0]:10.2f}" if pv else f"{'-':>10}"
        ps = f"{pv[1]:10.4f}" if pv and pv[1] is not None else f"{'-':>10}"
        lines.append(f"{r['dataset']:10} {r['method']:{w}} {'x' + str(r['scale']):>5} "
                     f"{r['psnr']:8.2f} {r['ssim']:7.4f} {pp} {ps}  {pv[2] if pv else ''}")
    return "\n".join(lines)

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_utils.evaluate",
                                description="Evaluate SR methods with the papers' protocol.")
    p.add_argument("--method", default="bicubic", help="see --list")
    p.add_argument("--dataset", action="append", help="dataset name (Set5, Set14) or a folder; "
                   "may be repeated")
    p.add_argument("--scale", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per scale")
    p.add_argument("--per-image", action="store_true", help="also print each image's numbers")
    p.add_argument("--list", action="store_true", help="list the methods")
    args = p.parse_args(argv)
    if args.list:
        for name, (_, desc) in METHODS.items():
            print(f"{name:14} {desc}")
        return 0
    if not args.dataset:
        p.error("--dataset is required (a name such as Set5, or a folder)")
    if any(s < 1 for s in args.scale):
        p.error("scales must be positive integers")
    results = []
    try:
        for ds in args.dataset:
            results += evaluate(args.method, ds, args.scale)
    except (ImageError, FileNotFoundError, KeyError, ValueError, CheckpointError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "per_image"} for r in results]))
    else:
        print(format_table(results))
        if args.per_image:
            for r in results:
                for name, ps, ss in r["per_image"]:
                    print(f"  {r['dataset']} x{r['scale']} {name:12} {ps:7.2f} {ss:.4f}")
    return 0


if __name__ == "__main__":
    warnings.formatwarning = lambda msg, *a, **k: f"warning: {msg}\n"  # no source lines in a CLI
    sys.exit(main())
