"""Train one of Johnson et al.'s style networks and ship it as checkpoints/johnson-STYLE.pt.

    python data_scripts/train_johnson.py --style starry_night --steps 400

A transformation network (``course_utils.stylize.TransformNet``, by default the course's small
profile: widths 16-32-64, 3 residual blocks, resize-convolution) is trained with Adam on Gatys'
objective plus total variation,

    alpha l_content^relu4_2(x; y_c) + beta sum_j l_style^j(x; y_s) + gamma ||grad x||_1,  x = f(y_c),

(notebook 09's relative losses, ``course_utils.stylize.objective``), on random square crops
(``--size`` px, random rescale and flip) of the content photos: T91 (from the data folder or the
mirror) minus ``--n-val`` held-out images, plus three colour photos built into scikit-image
(china, flower, motorcycle). The held-out T91 images give the validation objective logged every
``--val-every`` steps; Set5/Set14 and the built-in evaluation photos of notebook 10 (astronaut,
coffee, chelsea, rocket, camera) are never used. The style target is the painting of the
``styles`` dataset, centre-cropped and resized to ``--style-size`` px.

Features: ``--features auto`` uses ImageNet VGG-19 when its weights are cached, else the offline
fallback (random multi-scale filters); the checkpoint's meta records which (``features``), and
notebook 10 labels every figure with it.

Resumable: the work file ``data/checkpoints/train_johnson_STYLE.pt`` is written every
``--ckpt-every`` steps and picked up by the same command (with a larger ``--steps`` to continue).
``--ship`` (default on) writes the float16 checkpoint with its sha256 and the command, steps, wall
time and held-out objective in its meta; ``--ship-partial`` ships whatever the work file holds
(labelled with its step count) without training.
"""
import argparse
import math
import os
import shlex
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import course_utils  # noqa: E402
from course_utils import data  # noqa: E402
from course_utils.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from course_utils.features import GATYS_CONTENT, load_features  # noqa: E402
from course_utils.images import load_builtin  # noqa: E402
from course_utils.stylize import (LAYERS, SMALL, RandomCrops, TransformNet, objective,  # noqa: E402
                                  record_name, square, style_targets)
from course_utils.train import train_loop  # noqa: E402

BUILTIN_CONTENT = ["china", "flower", "motorcycle"]


def content_images(cfg, n_val: int, seed: int):
    """(train images, train names, val images, val names, source) - T91 minus n_val held out,
    plus the built-in colour photos in training."""
    t91, names, source = data.get_images("T91", cfg, fallback=False)
    train, train_names, val, val_names = data.split_train_val(t91, names, n_val=n_val, seed=seed)
    train += [load_builtin(n) for n in BUILTIN_CONTENT]
    train_names += BUILTIN_CONTENT
    return train, train_names, val, val_names, source


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", required=True, help="a painting of the styles dataset, e.g. starry_night")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--size", type=int, default=128, help="training crop side (px)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--style-size", type=int, default=256, help="side of the style target (px)")
    p.add_argument("--widths", type=int, nargs=3, default=list(SMALL["widths"]))
    p.add_argument("--blocks", type=int, default=SMALL["blocks"])
    p.add_argument("--upsample", choices=("resize", "transposed"), default="resize")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--features", choices=("auto", "imagenet", "random"), default="auto")
    p.add_argument("--n-val", type=int, default=4, help="T91 images held out for validation")
    p.add_argument("--val-every", type=int, default=50)
    p.add_argument("--ckpt-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="default checkpoints/johnson-STYLE.pt")
    p.add_argument("--no-ship", action="store_true", help="train only (keep the work file)")
    p.add_argument("--ship-partial", action="store_true",
                   help="ship the work file's current state (labelled with its steps), no training")
    args = p.parse_args(argv)
    cfg = course_utils.setup(profile="cpu", seed=args.seed)
    torch.set_num_threads(args.threads)
    name = record_name(args.style)
    out = args.out or os.path.join(ROOT, "checkpoints", f"{name}.pt")
    work = cfg.data_dir / "checkpoints" / f"train_johnson_{args.style}.pt"

    paintings, painting_names, styles_source = data.get_images("styles", cfg, fallback=False)
    if args.style not in painting_names:
        print(f"error: no painting {args.style!r} in {styles_source}; choose one of "
              f"{', '.join(painting_names)}", file=sys.stderr)
        return 2
    y_s = square(paintings[painting_names.index(args.style)], args.style_size)
    try:
        train, train_names, val, val_names, source = content_images(cfg, args.n_val, args.seed)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"content: {len(train)} training photos ({source} + built-in {', '.join(BUILTIN_CONTENT)}), "
          f"held out: {', '.join(val_names)}", flush=True)
    feats = load_features(LAYERS, source=args.features)
    grams_s = style_targets(feats, y_s)
    val_x = torch.cat([square(v, args.size) for v in val])
    with torch.no_grad():
        val_fc = feats(val_x, [GATYS_CONTENT])[GATYS_CONTENT]

    torch.manual_seed(args.seed)
    net = TransformNet(tuple(args.widths), args.blocks, args.upsample)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    w = dict(alpha=args.alpha, beta=args.beta, gamma=args.gamma)

    def step(y_c):
        net.train()
        terms = objective(feats, net(y_c), y_c, grams_s, **w)
        if not torch.isfinite(terms["loss"]):
            raise FloatingPointError(f"the loss became {terms['loss'].item()}: lower --lr")
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        return {k: v.item() for k, v in terms.items()}

    def val_fn():
        terms = objective(feats, net(val_x), val_x, grams_s, fc=val_fc, **w)
        return {"gatys": terms["gatys"].item(), "loss": terms["loss"].item()}

    if not args.ship_partial:
        print(f"work file {work} (run the same command again to resume)", flush=True)
        t0 = time.time()
        hist = train_loop(step, RandomCrops(train, args.size, args.batch, seed=args.seed), args.steps,
                          models={"net": net}, optimizers={"adam": opt}, val_fn=val_fn,
                          val_every=args.val_every, checkpoint=work, ckpt_every=args.ckpt_every,
                          plot=False, desc=f"johnson {args.style}")
        print(f"{hist['step'][-1] if hist['step'] else 0} steps, {time.time() - t0:.0f} s this run, "
              f"{hist['seconds']:.0f} s in all", flush=True)
        if args.no_ship:
            return 0
    else:
        ck = load_checkpoint(work)
        net.load_state_dict(ck["state_dict"])
        hist = ck["extra"]["history"]
    steps = hist["step"][-1] if hist["step"] else 0
    net.eval()
    with torch.no_grad():
        val_now = val_fn()
    # float16 storage: how much does rounding the weights change the held-out outputs?
    half_net = TransformNet(tuple(args.widths), args.blocks, args.upsample).eval()
    half_net.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    with torch.no_grad():
        mse = (net(val_x) - half_net(val_x)).pow(2).mean().item()
    half_psnr = 10 * math.log10(1 / mse) if mse > 0 else float("inf")
    cmd_args = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--ship-partial"]
    cmd = "nice -n 10 python data_scripts/train_johnson.py " + " ".join(shlex.quote(a) for a in cmd_args)
    partial = steps < args.steps
    meta = {"command": cmd, "steps": steps, "seconds": round(hist["seconds"], 1),
            "style": args.style, "features": feats.source, "data": f"{source} + built-in",
            "held_out": val_names, "size": args.size, "batch": args.batch,
            "style_size": args.style_size, "widths": list(args.widths), "blocks": args.blocks,
            "upsample": args.upsample, "alpha": args.alpha, "beta": args.beta, "gamma": args.gamma,
            "lr": args.lr, "seed": args.seed, "threads": args.threads,
            "val_gatys": round(val_now["gatys"], 5),
            "val_curve": [[int(n), round(v, 5)] for n, v in zip(hist["val_step"], hist["val_gatys"])],
            "float16_psnr_db": round(min(half_psnr, 999.0), 1),  # float32 vs float16 outputs
            "note": f"{args.style}, {steps} steps{' (stopped early, of ' + str(args.steps) + ')' if partial else ''}, "
                    f"{hist['seconds'] / 60:.0f} min on {args.threads} CPU thread(s) under load, "
                    f"{feats.source}; held-out Gatys objective {val_now['gatys']:.3f}"}
    sha = save_checkpoint(out, net.state_dict(), name=name, meta=meta, half=True)
    print(f"saved {out} sha256 {sha}\n{meta}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
