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

The run skeleton is ``course_tools.runs``: the run folder ``DATA/runs/johnson-STYLE_RUNID/`` holds
the work file (every ``--ckpt-every`` steps), picked up by the same command, also with a larger
``--steps`` to continue (the learning rate is constant, so the step count is not part of RUNID).
Every other setting is: another ``--lr`` (or crop size, weights, features, seed, ...) starts a new
run in its own folder and says so, instead of resuming a run trained with other settings while
recording the new ones. The result (float16, meta: command, steps, wall time, threads, features,
held-out objective) is written into the run folder; only ``--ship`` replaces the shipped
``checkpoints/johnson-STYLE.pt`` after its checks. Ctrl-C never ships; ``--ship-partial`` ships a
run stopped by ``--until`` (``--ship-partial --until now`` ships the run's work file as it is,
labelled with its step count, without training).
"""
import argparse
import math
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import course_utils  # noqa: E402
from course_tools.runs import (Run, RunError, add_common_arguments, deadline_step, finish,  # noqa: E402
                               guarded, nonnegative_int, positive_float, positive_int, steps_done,
                               stop_early, stopped_how, until_timestamp)
from course_utils import data  # noqa: E402
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
    return guarded(_main, argv)


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--style", required=True, help="a painting of the styles dataset, e.g. starry_night")
    p.add_argument("--steps", type=nonnegative_int, default=400)
    p.add_argument("--size", type=positive_int, default=128, help="training crop side (px, >= 16)")
    p.add_argument("--batch", type=positive_int, default=4)
    p.add_argument("--style-size", type=positive_int, default=256, help="side of the style target (px)")
    p.add_argument("--widths", type=positive_int, nargs=3, default=list(SMALL["widths"]))
    p.add_argument("--blocks", type=nonnegative_int, default=SMALL["blocks"])
    p.add_argument("--upsample", choices=("resize", "transposed"), default="resize")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--lr", type=positive_float, default=2e-3)
    p.add_argument("--features", choices=("auto", "imagenet", "random"), default="auto")
    p.add_argument("--n-val", type=positive_int, default=4, help="T91 images held out for validation")
    add_common_arguments(p, ckpt_every=25, val_every=50)
    p.add_argument("--no-ship", action="store_true", help=argparse.SUPPRESS)  # the default now
    args = p.parse_args(argv)
    if args.size < 16 or args.style_size < 16:
        p.error("--size and --style-size must be at least 16 px")
    if min(args.alpha, args.beta, args.gamma) < 0:
        p.error("--alpha, --beta and --gamma must be >= 0")
    until = until_timestamp(args.until)
    cfg = course_utils.setup(profile="cpu", seed=args.seed, device=args.device)
    torch.set_num_threads(args.threads)
    name = record_name(args.style)

    paintings, painting_names, styles_source = data.get_images("styles", cfg, fallback=False)
    if args.style not in painting_names:
        raise RunError(f"no painting {args.style!r} in {styles_source}; choose one of "
                       f"{', '.join(painting_names)}")
    y_s = square(paintings[painting_names.index(args.style)], args.style_size)
    train, train_names, val, val_names, source = content_images(cfg, args.n_val, args.seed)
    print(f"content: {len(train)} training photos ({source} + built-in {', '.join(BUILTIN_CONTENT)}), "
          f"held out: {', '.join(val_names)}", flush=True)
    feats = load_features(LAYERS, source=args.features, device=cfg.device)
    grams_s = style_targets(feats, y_s.to(cfg.device))
    val_x = torch.cat([square(v, args.size) for v in val]).to(cfg.device)
    with torch.no_grad():
        val_fc = feats(val_x, [GATYS_CONTENT])[GATYS_CONTENT]

    torch.manual_seed(args.seed)
    net = TransformNet(tuple(args.widths), args.blocks, args.upsample).to(cfg.device)
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

    # every setting but --steps (constant learning rate: a larger --steps continues the run)
    run = Run("train_johnson.py", name,
              [args.size, args.batch, args.style_size, list(args.widths), args.blocks, args.upsample,
               args.alpha, args.beta, args.gamma, args.lr, feats.source, args.n_val, args.seed],
              cfg, argv, args.runs_dir)
    t0 = time.time()
    hist = train_loop(deadline_step(step, until),
                      RandomCrops(train, args.size, args.batch, seed=args.seed), args.steps,
                      models={"net": net}, optimizers={"adam": opt}, val_fn=val_fn,
                      val_every=args.val_every, checkpoint=run.work, ckpt_every=args.ckpt_every,
                      plot=False, desc=f"johnson {args.style}")
    steps = steps_done(hist)
    print(f"{steps} steps, {time.time() - t0:.0f} s this run, {hist['seconds']:.0f} s in all", flush=True)
    stopped = stopped_how(hist, args.steps, until)
    if stop_early(run, hist, args.steps, stopped, args.ship_partial):
        return 1
    net.eval()
    with torch.no_grad():
        val_now = val_fn()
    # float16 storage: how much does rounding the weights change the held-out outputs?
    half_net = TransformNet(tuple(args.widths), args.blocks, args.upsample).to(cfg.device).eval()
    half_net.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    with torch.no_grad():
        mse = (net(val_x) - half_net(val_x)).pow(2).mean().item()
    half_psnr = 10 * math.log10(1 / mse) if mse > 0 else float("inf")
    meta = run.meta(steps, hist["seconds"])
    meta.update({
        "style": args.style, "features": feats.source, "data": f"{source} + built-in",
        "held_out": val_names, "size": args.size, "batch": args.batch,
        "style_size": args.style_size, "widths": list(args.widths), "blocks": args.blocks,
        "upsample": args.upsample, "alpha": args.alpha, "beta": args.beta, "gamma": args.gamma,
        "lr": args.lr, "seed": args.seed,
        "val_gatys": round(val_now["gatys"], 5),
        # the validations made during training (none when the run stopped before the first)
        "val_curve": [[int(n), round(v, 5)] for n, v in zip(hist["val_step"], hist.get("val_gatys", []))],
        "float16_psnr_db": round(min(half_psnr, 999.0), 1),  # float32 vs float16 outputs
        "note": f"{args.style}, {steps} steps{' (stopped early, of ' + str(args.steps) + ')' if stopped else ''}, "
                f"{hist['seconds'] / 60:.0f} min on {meta['device']}, {feats.source}; held-out Gatys objective {val_now['gatys']:.3f}"})
    return finish(run, net.state_dict(), meta, steps=steps, planned=args.steps, stopped=stopped,
                  ship=args.ship or args.ship_partial, ship_partial=args.ship_partial,
                  out_dir=args.out or cfg.checkpoint_dir, half=True)


if __name__ == "__main__":
    sys.exit(main())
