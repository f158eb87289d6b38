"""Evaluate super-resolution methods the way the papers did, and print their table beside ours.

Protocol (SRCNN, VDSR, FSRCNN, ... all used it, with MATLAB):
1. HR read as 8-bit, converted to Y (BT.601) at 8-bit levels; a grayscale file is Y as it is.
2. HR Y mod-cropped to the scale; x^LR = MATLAB-bicubic downscale of it (floating point).
3. The method maps x^LR to x^SR (floating point); x^SR is rounded to 8-bit levels.
4. ``scale`` pixels shaved at every border; PSNR and SSIM on Y in [0, 255];
   the table gives the mean of the per-image values.
RGB models (SRResNet, SRGAN, ...) get the RGB LR image; their RGB output is rounded to 8 bits and
scored on its Y channel, as those papers did. A stochastic method is given a seeded
``generator`` per sample and the numbers are means over ``samples`` samples.
Errors are types: ``ScaleNotSupported`` (no row), ``ImageTooSmall`` (that image is skipped with a
warning), ``BadOutput`` (wrong size or NaN/inf: an error); the CLI exits with 2 on any error.

    python -m course_utils.evaluate --method bicubic --dataset Set5 --scale 2 3 4
    python -m course_utils.evaluate --method bicubic --dataset path/to/folder --scale 3 --json
    python -m course_utils.evaluate --list
    python -m course_utils.evaluate --method fsrcnn-x3 --dataset Set5 --scale 3 --json
    python -m course_utils.evaluate --method srgan-x4 --dataset Set5 --scale 4 --perceptual

``--perceptual`` (``features=`` in :func:`evaluate_images`) adds SRGAN's perceptual distances, the
VGG22 and VGG54 losses between the output and the HR image (``features.perceptual_loss``: feature
maps divided by 12.75, mean squared difference; lower is closer), as the SRResNet transfer-learning
report scores methods; the row says which features were used (ImageNet VGG-19 or the offline
fallback, whose distances are not comparable with VGG-19's).

The trained networks (srcnn-x3, fsrcnn-x2/3/4, espcn-x3, vdsr) come from ``checkpoints/``; the
papers' numbers for them are those of the same architecture trained on the 91 images where the
paper gives it (VDSR: the paper's own 291-image model).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Callable

import torch

from .checkpoints import CheckpointError
from .degrade import bicubic_down, mod_crop
from .images import ImageError, list_images, load_image, unreadable
from .metrics import quantize, sr_metrics, to_y8
from .resize import imresize
from .zoo import _VDSR, REGISTRY, load_shipped, run_model  # _VDSR: the source of the bicubic rows too

__all__ = ["EvaluationError", "ScaleNotSupported", "ImageTooSmall", "BadOutput", "PAPER",
           "METHODS", "bicubic", "evaluate_images", "evaluate", "paper_value", "compare_methods",
           "format_table", "sr_method", "main"]


class EvaluationError(ValueError):
    """A method could not be evaluated on these images (the message says why and what to do)."""


class ScaleNotSupported(EvaluationError):
    """The method does not handle this scale (a table then has no row for it)."""


class ImageTooSmall(EvaluationError):
    """An image is too small for the scale (one such image is skipped with a warning)."""


class BadOutput(EvaluationError):
    """The method returned an image of the wrong size or channels, or NaN/inf values."""


def sr_method(name: str, checkpoint_dir: str | Path | None = None):
    """An evaluation method ``f(lr, scale) -> sr`` for the shipped SR checkpoint ``name``.

    ``lr`` is (1, 1, h, w) Y or (1, 3, h, w) RGB as the record's ``channels`` says. The
    checkpoint is loaded on the first call (so listing methods costs nothing); a missing checkpoint
    raises ``CheckpointError`` and a scale the model was not trained for
    :class:`ScaleNotSupported`, both saying what to do.
    """
    cache: dict = {}

    def method(lr: torch.Tensor, scale: int) -> torch.Tensor:
        scales = REGISTRY[name].scales
        if scale not in scales:
            raise ScaleNotSupported(f"{name} is trained for x{'/x'.join(map(str, scales))}, not "
                                    f"x{scale}: use --scale {' '.join(map(str, scales))}")
        if "model" not in cache:
            cache["model"], cache["meta"] = load_shipped(name, checkpoint_dir)
        with torch.no_grad():
            return run_model(name, cache["model"], lr, scale).to(lr.dtype)

    method.__name__ = name.replace("-", "_")
    return method


# Published numbers (PSNR dB, SSIM, source), Y channel, shave = scale, MATLAB bicubic degradation:
# bicubic here, the shipped models' in their records of zoo.REGISTRY.
PAPER: dict[tuple[str, str, int], tuple[float, float | None, str]] = {
    ("bicubic", "Set5", 2): (33.66, 0.9299, _VDSR),
    ("bicubic", "Set5", 3): (30.39, 0.8682, _VDSR),
    ("bicubic", "Set5", 4): (28.42, 0.8104, _VDSR),
    ("bicubic", "Set14", 2): (30.24, 0.8688, _VDSR),
    ("bicubic", "Set14", 3): (27.55, 0.7742, _VDSR),
    ("bicubic", "Set14", 4): (26.00, 0.7027, _VDSR),
}
PAPER.update({(name, ds, s): v for name, r in REGISTRY.items() for (ds, s), v in r.paper.items()})


def bicubic(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """The baseline: MATLAB-compatible bicubic enlargement of the LR image (Y or RGB)."""
    return imresize(lr, scale)


# name -> (function(lr (1,C,h,w) in [0,1], scale) -> sr (1,C,h*scale,w*scale), description)
METHODS: dict[str, tuple[Callable[[torch.Tensor, int], torch.Tensor], str]] = {
    "bicubic": (bicubic, "MATLAB-compatible bicubic interpolation"),
}
# The course's trained SR networks: each loads checkpoints/NAME.pt on first use (zoo.py).
for _name, _r in REGISTRY.items():
    if _r.kind == "sr":
        METHODS[_name] = (sr_method(_name), f"{_r.description} [checkpoints/{_name}.pt]")


def paper_value(method: str, dataset: str, scale: int):
    """(psnr, ssim, source) published for this method/dataset/scale, or None."""
    return PAPER.get((method, dataset, scale))


def evaluate_images(method: Callable, images: list[torch.Tensor], scale: int,
                    names: list[str] | None = None, rgb: bool = False, samples: int = 1,
                    seed: int = 0, stochastic: bool = False, options: dict | None = None,
                    inputs: dict[str, list] | None = None, features=None) -> dict:
    """Run ``method`` on each image under the papers' protocol.

    The HR image is mod-cropped to ``scale``, x^LR is its MATLAB-bicubic downscale, the method's
    output is rounded to 8 bits and compared on Y (BT.601, 8-bit levels), ``scale`` pixels shaved.

    Args:
        method: ``f(lr, scale, **kw) -> sr``: (1, 1, h, w) Y in [0, 1] -> (1, 1, s*h, s*w),
            or with ``rgb=True`` (1, 3, h, w) RGB -> (1, 3, s*h, s*w) RGB, whose Y is scored
            (SRResNet/SRGAN's protocol; grayscale images are given as three equal channels).
        images: HR images (1, C, H, W) in [0, 1], RGB or Y.
        samples, seed, stochastic: a stochastic method (``stochastic=True`` or ``samples`` > 1)
            gets ``generator=torch.Generator().manual_seed(seed + k)`` for sample k; an image's
            numbers are the mean over its samples.
        options: keyword arguments for every call (e.g. ``{"temperature": 0.8}``).
        inputs: name -> one value per image, passed as keyword arguments (a method that needs
            more than the LR image, e.g. a per-image reference or kernel).
        features: optional, from ``features.load_features`` with ``relu2_2`` and ``relu5_4``: also
            the mean perceptual distances ``"vgg22"`` and ``"vgg54"`` (``perceptual_loss`` of the
            8-bit RGB output against the HR image, ``scale`` pixels shaved; a Y output is repeated
            to three channels) and ``"features"``, the features' source.
    Returns:
        ``{"psnr": mean, "ssim": mean, "images": n, "per_image": [(name, psnr, ssim), ...],
        "skipped": [names too small for the scale], "samples": samples,
        "psnr_per_sample": [mean PSNR of sample k, ...]}``.
    Raises:
        ImageTooSmall: every image is too small for ``scale`` (one too-small image is skipped
            with a warning). BadOutput: a wrong size or NaN/inf output.
        ScaleNotSupported: raised by the method for a scale it does not handle.
    """
    names = names or [f"image{i}" for i in range(len(images))]
    options, inputs = dict(options or {}), inputs or {}
    stochastic = stochastic or samples > 1
    per, skipped, by_sample = [], [], [[] for _ in range(samples)]
    dist = {"vgg22": [], "vgg54": []}
    for i, (img, name) in enumerate(zip(images, names)):
        hr = img.double()
        hr = (hr.expand(1, 3, *hr.shape[-2:]) if hr.shape[1] == 1 else quantize(hr)) if rgb \
            else to_y8(hr)
        hr = mod_crop(hr, scale)
        if min(hr.shape[-2:]) <= 2 * scale + 1:
            skipped.append(name)
            warnings.warn(f"{name}: {tuple(img.shape[-2:])} is too small to evaluate at x{scale}; "
                          "skipped (the mean is over the other images)", stacklevel=2)
            continue
        lr = bicubic_down(hr, scale)
        kw = {**options, **{k: v[i] for k, v in inputs.items()}}
        ps, ss = [], []
        for k in range(samples):
            if stochastic:
                kw["generator"] = torch.Generator().manual_seed(seed + k)
            with torch.no_grad():
                sr = method(lr, scale, **kw)
            if sr.shape[-3:] != hr.shape[-3:]:
                raise BadOutput(f"{name}: the method returned {tuple(sr.shape[-3:])}, expected "
                                f"{tuple(hr.shape[-3:])} (x{scale} of {tuple(lr.shape[-3:])}, "
                                f"channels {'RGB' if rgb else 'Y'})")
            if not torch.isfinite(sr).all():
                raise BadOutput(f"{name}: the method returned NaN or inf values at x{scale}; its "
                                "weights or its input are broken (retrain it or restore the "
                                "checkpoint)")
            # scored on the CPU in float64 (the papers' protocol), whatever device the method used
            p, s_ = sr_metrics(quantize(sr.double().cpu()), hr.cpu(), scale)
            if features is not None:
                for key, d in _feature_distances(features, quantize(sr.double().cpu()), hr.cpu(), scale).items():
                    dist[key].append(d / samples)
            ps.append(p)
            ss.append(s_)
            by_sample[k].append(p)
        per.append((name, sum(ps) / samples, sum(ss) / samples))
    if not per:
        raise ImageTooSmall(f"every image ({', '.join(names)}) is too small to evaluate at "
                            f"x{scale}: use larger images or a smaller scale")
    n = len(per)
    out = {"psnr": sum(p for _, p, _ in per) / n, "ssim": sum(s for _, _, s in per) / n,
           "images": n, "per_image": per, "skipped": skipped, "samples": samples,
           "psnr_per_sample": [sum(v) / n for v in by_sample]}
    if features is not None:
        out.update({k: sum(v) / n for k, v in dist.items()}, features=getattr(features, "source", "?"))
    return out


def _feature_distances(features, sr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
    """SRGAN's VGG22 and VGG54 losses between 8-bit images (1, C, H, W) in [0, 1], shaved."""
    from .features import SRGAN_LAYERS, perceptual_loss
    sh = (..., slice(scale, -scale), slice(scale, -scale))
    rgb = lambda x: x[sh].float().expand(-1, 3, -1, -1)   # noqa: E731 - Y repeated to RGB
    dev = next(iter([*features.parameters(), *features.buffers()]), torch.empty(0)).device
    with torch.no_grad():
        return {k.lower(): float(perceptual_loss(features, rgb(sr).to(dev), rgb(hr).to(dev), layer))
                for k, layer in SRGAN_LAYERS.items()}


def compare_methods(methods: dict[str, Callable], datasets: dict[str, tuple[list, list]],
                    scales: list[int], paper: dict[str, str] | None = None,
                    show: bool = True) -> list[dict]:
    """Evaluate several methods on several datasets and scales; print one table.

    Args:
        methods: row label -> ``f(lr_y, scale) -> sr_y`` (e.g. ``METHODS["bicubic"][0]``), or
            -> ``(f, scales)`` for a method that only handles some scales.
        datasets: dataset label (``"Set5"``) -> (images, names) as from ``get_images``.
        scales: the scales to test; a method that refuses a scale (``ScaleNotSupported``) gets
            no row.
        paper: row label -> key of :data:`PAPER` (e.g. ``{"bicubic": "bicubic"}``): the
            published number for that method is printed beside ours, with its source.
    Returns:
        one dict per row: dataset, method, scale, psnr, ssim, images, skipped, paper_psnr,
        paper_ssim, source.
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
                except ScaleNotSupported:
                    continue
                pv = paper_value(paper[label], ds, s) if label in paper else None
                rows.append({"dataset": ds, "method": label, "scale": s, "psnr": r["psnr"],
                             "ssim": r["ssim"], "images": r["images"], "skipped": r["skipped"],
                             "paper_psnr": pv[0] if pv else None,
                             "paper_ssim": pv[1] if pv else None, "source": pv[2] if pv else ""})
    if show:
        print(format_table(rows))
    return rows


def _load_folder(folder: Path) -> tuple[list[torch.Tensor], list[str]]:
    """The images of a folder; any file that cannot be read raises ``ImageError`` naming it."""
    files = list_images(folder)
    images = []
    for f in files:
        try:
            images.append(load_image(f, mode="auto"))
        except ImageError:
            raise
        except Exception as e:  # e.g. PIL's DecompressionBombError: still one bad file, named
            raise ImageError(f"{f}: not a readable image ({type(e).__name__}: "
                             f"{' '.join(str(e).split())[:200]}). Remove it from the folder or "
                             "replace it.") from None
    return images, [f.stem for f in files]


def _resolve(dataset: str, cfg) -> Path:
    p = Path(dataset).expanduser()
    if p.is_dir():
        return p
    from .data import locate_dataset
    from .download import registry
    if dataset in registry():
        found, how = locate_dataset(dataset, cfg)
        if found is not None:
            return found
        raise FileNotFoundError(f"dataset {dataset} is not available ({how}). Fetch it with "
                                f"`python data_scripts/download.py {dataset}` "
                                "(or --mirror DIR / COURSE_DATA_MIRROR=DIR), or pass a folder.")
    raise FileNotFoundError(f"{dataset}: neither a folder nor a dataset name "
                            "(see `python data_scripts/download.py --list`)")


def evaluate(method: str, dataset: str, scales: list[int], cfg=None, samples: int = 1,
             seed: int = 0, options: dict | None = None,
             checkpoint_dir: str | Path | None = None, perceptual: bool = False) -> list[dict]:
    """Evaluate a named method on a dataset name or folder; one result dict per scale.

    A shipped model is run as its record in ``zoo.REGISTRY`` says: on Y or on RGB (then scored
    on Y of its RGB output), with ``samples`` seeded samples when it is stochastic. ``options``
    go to every call (e.g. ``{"temperature": 0.8}``); ``checkpoint_dir`` replaces
    ``checkpoints/``; ``perceptual`` adds the VGG22/VGG54 distances (see :func:`evaluate_images`).
    """
    from .profiles import setup
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    record = REGISTRY.get(method)  # None: not a shipped model (bicubic)
    cfg = cfg or setup(quiet=True)
    folder = _resolve(dataset, cfg)
    images, names = _load_folder(folder)
    fn = sr_method(method, checkpoint_dir) if record is not None and checkpoint_dir else METHODS[method][0]
    feats = None
    if perceptual:
        from .features import SRGAN_LAYERS, load_features
        feats = load_features(list(SRGAN_LAYERS.values()))
    out = []
    for s in scales:
        r = evaluate_images(fn, images, s, names, rgb=record is not None and record.channels == "rgb",
                            samples=samples, seed=seed, options=options,
                            stochastic=record is not None and record.stochastic, features=feats)
        out.append({"dataset": folder.name, "method": method, "scale": s,
                    "psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 4),
                    "images": r["images"], "skipped": r["skipped"], "samples": samples,
                    "per_image": r["per_image"]})
        if feats is not None:
            out[-1].update(vgg22=r["vgg22"], vgg54=r["vgg54"], features=r["features"])
    return out


def format_table(results: list[dict]) -> str:
    """A text table: ours (PSNR and SSIM) beside the paper's where known (labelled as theirs).

    A row may carry its own ``paper_psnr``/``paper_ssim``/``source`` (as from
    :func:`compare_methods`); otherwise the paper's number is looked up by method name. Rows
    that skipped images say how many images they average. Rows with ``vgg22``/``vgg54`` (from
    ``--perceptual``) get two more columns, with the features named under the table.
    """
    w = max([len(r["method"]) for r in results] + [8])
    perc = any("vgg22" in r for r in results)
    lines = ["protocol: Y (BT.601; an RGB output is rounded to 8 bits, then converted), 8-bit, "
             "shave = scale, MATLAB-bicubic LR, mean over images",
             f"{'dataset':10} {'method':{w}} {'scale':>5} {'PSNR':>8} {'SSIM':>7} "
             + (f"{'VGG22 d':>9} {'VGG54 d':>9} " if perc else "")
             + f"{'paper PSNR':>10} {'paper SSIM':>10}  source of the paper's number"]
    for r in results:
        if "paper_psnr" in r:
            pv = (r["paper_psnr"], r["paper_ssim"], r["source"]) if r["paper_psnr"] is not None else None
        else:
            pv = paper_value(r["method"], r["dataset"], r["scale"])
        pp = f"{pv[0]:10.2f}" if pv else f"{'-':>10}"
        ps = f"{pv[1]:10.4f}" if pv and pv[1] is not None else f"{'-':>10}"
        note = (f"  ({r['images']} images; too small, skipped: {', '.join(r['skipped'])})"
                if r.get("skipped") else "")
        dd = ((f"{r['vgg22']:9.4g} {r['vgg54']:9.4g} " if "vgg22" in r else f"{'-':>9} {'-':>9} ")
              if perc else "")
        lines.append(f"{r['dataset']:10} {r['method']:{w}} {'x' + str(r['scale']):>5} "
                     f"{r['psnr']:8.2f} {r['ssim']:7.4f} {dd}{pp} {ps}  {pv[2] if pv else ''}{note}")
    if perc:
        used = sorted({r["features"] for r in results if r.get("features")})
        lines.append("VGG22 d / VGG54 d: SRGAN's perceptual distances (feature maps / 12.75, mean squared "
                     f"difference, RGB, shave = scale; lower is closer), features: {', '.join(used) or '?'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_utils.evaluate",
                                description="Evaluate SR methods with the papers' protocol.")
    p.add_argument("--method", default="bicubic", help="see --list")
    p.add_argument("--dataset", action="append", help="dataset name (Set5, Set14) or a folder; "
                   "may be repeated")
    p.add_argument("--scale", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--samples", type=int, default=1, help="samples per image (stochastic methods)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first sample")
    p.add_argument("--temperature", type=float, help="sampling temperature (stochastic methods)")
    p.add_argument("--checkpoints", type=Path, help="folder of the checkpoints (default: "
                   "the repository's checkpoints/)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per scale")
    p.add_argument("--per-image", action="store_true", help="also print each image's numbers")
    p.add_argument("--list", action="store_true", help="list the methods")
    p.add_argument("--perceptual", action="store_true", help="also SRGAN's VGG22/VGG54 perceptual "
                   "distances (ImageNet VGG-19 if downloaded, else the offline features, named)")
    args = p.parse_args(argv)
    if args.list:
        for name, (_, desc) in METHODS.items():
            print(f"{name:14} {desc}")
        return 0
    if not args.dataset:
        p.error("--dataset is required (a name such as Set5, or a folder)")
    if any(s < 1 for s in args.scale):
        p.error("scales must be positive integers")
    if args.samples < 1:
        p.error("--samples must be at least 1")
    if args.temperature is not None and not (args.method in REGISTRY and REGISTRY[args.method].stochastic):
        p.error(f"--temperature: {args.method} is deterministic (it draws no samples); "
                "leave --temperature out, or choose a stochastic method")
    options = {"temperature": args.temperature} if args.temperature is not None else None
    results = []
    try:
        for ds in args.dataset:
            results += evaluate(args.method, ds, args.scale, samples=args.samples, seed=args.seed,
                                options=options, checkpoint_dir=args.checkpoints,
                                perceptual=args.perceptual)
    except (ImageError, FileNotFoundError, KeyError, EvaluationError, CheckpointError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"error: {unreadable(e, 'a file')}", file=sys.stderr)
        return 2
    if args.json:  # strict JSON: an infinite PSNR (output == HR, e.g. x1) is null with a note
        rows = []
        for r in results:
            row = {k: v for k, v in r.items() if k != "per_image"}
            if not math.isfinite(row["psnr"]):
                row["psnr"] = None
                row["note"] = ("PSNR is infinite: the output equals the HR image (MSE 0), as at "
                               "--scale 1 where there is nothing to super-resolve")
            rows.append(row)
        print(json.dumps(rows, allow_nan=False))
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
