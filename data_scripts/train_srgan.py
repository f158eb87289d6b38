"""Train (or resume) the course's SRResNet-MSE and SRGAN checkpoints (notebook 08).

    python data_scripts/train_srgan.py srresnet-x4 --steps 2000
    python data_scripts/train_srgan.py srgan-x4 --steps 600 --init srresnet-x4

``srresnet-x4``: SRResNet (16 blocks, RGB, x4) with the pixel-wise MSE loss (SRResNet-MSE),
initialised by ``course_utils.srgan.init_as_interpolator`` (untrained, it enlarges like a smoothed
nearest-neighbour interpolation; ``--random-init`` for PyTorch's default).
``srgan-x4``: the same generator initialised from ``checkpoints/srresnet-x4.pt`` (as the paper
does), trained with BasicSR's step order (G's update with D frozen, then D's on the same fakes:
``course_utils.train.gan_step(d_first=False)``): content loss ``--content`` (default VGG54 =
``relu5_4`` / 12.75, from ``course_utils.features``: ImageNet VGG-19 when its weights are here,
else the labelled offline fallback; the source goes into the checkpoint's note) plus
``--adv`` (1e-3) times the adversarial loss -log D(G(x^LR)), and with ``--tv W`` (the ocean report's
SRGAN variants: 2e-8) W times the total variation of G's output (``course_utils.srgan.with_tv``).

Training data: T91 in RGB minus ``--n-val`` images held out for validation, plus the colour
built-in photos (``--builtin``), random HR patches with flips/rot90; x^LR is the MATLAB-bicubic
downscale. Validation: PSNR (Y, shave 4) on the held-out T91 images. Set5/Set14 are never used
here. The run skeleton is ``course_tools.runs``: the same command resumes its run folder
``DATA/runs/NAME_RUNID/`` (work file every ``--ckpt-every`` steps); ``--until HH:MM`` (UTC) stops
the run at that time (the step in progress finishes, the work file is written). The result
``NAME.pt`` (float16, the generator alone, meta {command, steps, seconds, threads, note,
val_psnr}) is written in the run folder; only ``--ship`` replaces the shipped
``checkpoints/NAME.pt`` (after its checks), and ``--ship-partial`` ships a run stopped by
``--until``, its meta saying how many of the planned steps were done.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_tools.runs import (Run, add_common_arguments, deadline_step, finish, guarded,  # noqa: E402
                               nonnegative_int, positive_float, positive_int, run_id,
                               final_val, steps_done, stop_early, stopped_how, until_timestamp)
from course_utils import setup  # noqa: E402
from course_utils.checkpoints import load_checkpoint, load_weights  # noqa: E402
from course_utils.data import SRPatches, get_images, split_train_val  # noqa: E402
from course_utils.evaluate import evaluate_images  # noqa: E402
from course_utils.images import load_builtin  # noqa: E402
from course_utils.download import sha256sum  # noqa: E402
from course_utils.zoo import REGISTRY, build  # noqa: E402
from course_utils.srgan import Discriminator, init_as_interpolator, with_tv  # noqa: E402
from course_utils.train import (d_loss, g_loss_nonsat, gan_step, supervised_step, to_device,  # noqa: E402
                                train_loop)

__all__ = ["main", "heldout_psnr", "run_id", "deadline_step", "until_timestamp"]

# colour photographs among the built-in images (the grey ones would teach grey)
BUILTIN_COLOUR = ["china", "flower", "motorcycle", "immunohistochemistry", "hubble"]
CONTENT = {"mse": None, "vgg22": "relu2_2", "vgg54": "relu5_4"}


def training_images(cfg, n_val: int, builtin: bool):
    images, names, source = get_images("T91", cfg, mode="rgb", fallback=False)
    train, tnames, val, vnames = split_train_val(images, names, n_val=n_val, seed=0)
    if builtin:
        train = train + [load_builtin(n, "rgb") for n in BUILTIN_COLOUR]
        tnames = tnames + BUILTIN_COLOUR
    return train, tnames, val, vnames, source


def heldout_psnr(G: torch.nn.Module, images: list[torch.Tensor], names: list[str]) -> float:
    """The validation score of a run: mean PSNR (dB, Y of the RGB output, the papers' protocol) of
    G at x4 on the held-out T91 images (RGB, (1, 3, H, W) on the CPU); G runs on its own device."""
    device = next(G.parameters()).device
    return evaluate_images(lambda x, s: G(x.to(device).float()).double(), images, 4, names, rgb=True)["psnr"]


def main(argv=None) -> int:
    return guarded(_main, argv)


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=["srresnet-x4", "srgan-x4"])
    p.add_argument("--steps", type=nonnegative_int, required=True, help="total optimizer steps (of G)")
    p.add_argument("--batch", type=positive_int)
    p.add_argument("--patch", type=positive_int, help="HR patch size (pixels, a multiple of 16)")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate of G (and D), cosine to 5%%")
    p.add_argument("--init", choices=["srresnet-x4", "srgan-x4"],
                   help="start G from this shipped checkpoint (srgan-x4: srresnet-x4)")
    p.add_argument("--content", choices=sorted(CONTENT), default="vgg54",
                   help="srgan-x4's content loss (default vgg54)")
    p.add_argument("--content-weight", default="auto",
                   help="weight of the VGG content loss: a number, 'matched' (measured so that it "
                   "equals the pixel MSE on bicubic enlargements of a training batch: "
                   "features.matched_content_weight), or 'auto' (default: 1 with ImageNet VGG-19, "
                   "whose 1/12.75 rescaling already does that; 'matched' with the offline features)")
    p.add_argument("--adv", type=positive_float, default=1e-3, help="adversarial weight (paper: 1e-3)")
    p.add_argument("--tv", type=float, default=0.0,
                   help="weight of a total variation term added to a VGG content loss "
                   "(course_utils.srgan.with_tv; the ocean report's SRGAN variants: 2e-8; default 0, "
                   "as the shipped srgan-x4 was trained)")
    p.add_argument("--features", choices=["auto", "imagenet", "random"], default="auto")
    p.add_argument("--random-init", dest="interp_init", action="store_false",
                   help="srresnet-x4 without --init: PyTorch's random initialisation (default: "
                   "srgan.init_as_interpolator, the untrained network enlarges like interpolation)")
    p.add_argument("--no-builtin", dest="builtin", action="store_false",
                   help="train on T91 alone (default: T91 + the colour built-in photos)")
    p.add_argument("--n-val", type=positive_int, default=5, help="T91 images held out for validation")
    add_common_arguments(p, ckpt_every=100, val_every=200)
    args = p.parse_args(argv)
    if args.content_weight not in ("auto", "matched"):
        try:
            positive_float(args.content_weight)
        except Exception:
            p.error(f"--content-weight {args.content_weight!r}: a number > 0, 'matched' or 'auto'")
    if not args.tv >= 0:
        p.error(f"--tv {args.tv}: give a weight >= 0 (the report's is 2e-8)")
    if args.tv and (args.name != "srgan-x4" or CONTENT[args.content] is None):
        p.error("--tv adds to a VGG content loss: use it with srgan-x4 and --content vgg22 or vgg54")
    if args.patch is not None and args.patch % 16:
        p.error(f"--patch {args.patch}: give a multiple of 16")
    until = until_timestamp(args.until)
    torch.set_num_threads(args.threads)
    cfg = setup(profile="cpu", seed=args.seed, device=args.device)
    record = REGISTRY[args.name]
    patch = args.patch or record.train["patch"]
    batch = args.batch or record.train["batch"]
    lr = args.lr or record.train["lr"]
    gan = args.name == "srgan-x4"

    train, tnames, val, vnames, source = training_images(cfg, args.n_val, args.builtin)
    print(f"{source}: {len(train)} training images ({'with' if args.builtin else 'without'} "
          f"built-in photos), validation on {', '.join(vnames)}")
    data = SRPatches(train, 4, patch=patch, length=10**9, seed=args.seed)
    loader = DataLoader(data, batch_size=batch, shuffle=False, num_workers=0)

    G = build(args.name)
    init_sha, prev = "", {}
    if args.init:
        init_path = cfg.checkpoint_dir / f"{args.init}.pt"
        ck = load_checkpoint(init_path, name=args.init)
        init_sha = sha256sum(init_path)
        load_weights(G, ck["state_dict"], init_path)
        prev = ck["meta"]
        print(f"G initialised from {init_path.name} ({prev.get('steps')} steps)")
    elif args.interp_init:
        init_as_interpolator(G)
    G.to(cfg.device)   # before its optimiser is made
    opt_g = torch.optim.Adam(G.parameters(), lr=lr)
    schedulers = {"G": torch.optim.lr_scheduler.CosineAnnealingLR(opt_g, T_max=args.steps,
                                                                  eta_min=0.05 * lr)}
    models, optimizers = {"G": G}, {"G": opt_g}
    feats_source = ""
    if gan:
        from course_utils.features import load_features, matched_content_weight, perceptual_loss
        layer = CONTENT[args.content]
        if layer is None:
            content = F.mse_loss
            feats_source = "content loss: MSE"
        else:
            feats = load_features([layer], source=args.features, device=cfg.device)
            cw = args.content_weight
            if cw == "auto":
                cw = "1" if feats.imagenet else "matched"
            if cw == "matched":
                calib = SRPatches(train, 4, patch=patch, length=batch, seed=args.seed + 1000)
                lr_c, hr_c = to_device(next(iter(DataLoader(calib, batch_size=batch))), cfg.device)
                up = F.interpolate(lr_c, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
                weight = matched_content_weight(feats, up, hr_c, layer)
                how = (f"x {weight:.4g}, measured so that it equals the pixel MSE of bicubic "
                       f"enlargements of {len(hr_c)} training patches")
            else:
                weight = float(cw)
                how = f"x {weight:g}"
            feats_source = (f"content loss: {args.content.upper()} {how} ({feats.source})"
                            + (f" + {args.tv:g} x TV" if args.tv else ""))
            print(feats_source)

            def vgg(sr, hr):
                return weight * perceptual_loss(feats, sr, hr, layer)
            content = with_tv(vgg, args.tv)    # args.tv == 0: vgg itself
        D = Discriminator(patch).to(cfg.device)
        opt_d = torch.optim.Adam(D.parameters(), lr=lr)
        schedulers["D"] = torch.optim.lr_scheduler.CosineAnnealingLR(opt_d, T_max=args.steps,
                                                                     eta_min=0.05 * lr)
        models["D"], optimizers["D"] = D, opt_d
        step = gan_step(G, D, opt_g, opt_d, d_loss, g_loss_nonsat, content_loss=content,
                        adv_weight=args.adv, d_first=False)
    else:
        step = supervised_step(G, F.mse_loss, opt_g)

    def val_fn():
        return heldout_psnr(G, val, vnames)

    run = Run("train_srgan.py", args.name,
              [init_sha, args.steps, batch, patch, lr, args.content if gan else "",
               args.adv if gan else 0, args.features if gan else "", args.builtin,
               args.n_val, args.seed] + ([] if args.init or args.interp_init else ["random-init"])
              + ([args.content_weight] if gan and args.content_weight != "auto" else [])
              + ([f"tv={args.tv:g}"] if args.tv else []),
              cfg, argv, args.runs_dir)
    hist = train_loop(deadline_step(step, until), loader, args.steps, models, optimizers,
                      schedulers, val_fn=val_fn, val_every=args.val_every, checkpoint=run.work,
                      ckpt_every=args.ckpt_every, plot=False, desc=args.name)
    steps = steps_done(hist)
    stopped = stopped_how(hist, args.steps, until)
    if stop_early(run, hist, args.steps, stopped, args.ship_partial):
        return 1
    G.eval()
    val_psnr = final_val(hist, steps, val_fn)
    meta = run.meta(steps, hist["seconds"])
    planned = "" if stopped is None else f" (stopped at {steps} of {args.steps} planned steps)"
    continued = args.init == args.name          # e.g. srresnet-x4 --init srresnet-x4: one longer run
    if continued:
        meta["command"] = f"{prev.get('command', '?')} && {meta['command']}"
        meta["seconds"] = round(meta["seconds"] + prev.get("seconds", 0.0), 1)
        meta["steps"] = steps + prev.get("steps", 0)
        planned = (f" ({prev.get('steps')} + {steps} steps" + (f" of {args.steps} planned" if planned else "")
                   + ", the second run with a fresh cosine schedule)")
    where = f"on {meta['device']}" if not continued else f"(the last {steps} on {meta['device']})"
    note = (f"short training: {meta['steps']} steps{planned}, {meta['seconds'] / 60:.0f} min "
            f"{where}, T91 (RGB) minus {args.n_val} held-out images"
            + (" + built-in colour photos" if args.builtin else "")
            + f", Adam lr {lr:g} cosine, batch {batch}, HR patch {patch}"
            + ("; initialised as an interpolator (srgan.init_as_interpolator)"
               if (not args.init and args.interp_init)
               or (continued and "init_as_interpolator" in prev.get("note", "")) else ""))
    if gan:
        note += (f"; initialised from {args.init} ({prev.get('steps')} steps); {feats_source}, "
                 f"adversarial weight {args.adv:g}, BasicSR step order (G then D)")
    note += "; not the paper's schedule"
    meta.update({"note": note, "val_psnr": round(val_psnr, 3), "val_images": vnames, "scales": [4],
                 "arch": record.description,
                 "planned_steps": args.steps + (prev.get("steps", 0) if continued else 0)})
    if gan:
        meta["features"] = feats_source
        meta["init_steps"] = prev.get("steps")
        meta["init_seconds"] = prev.get("seconds")
    return finish(run, G.state_dict(), meta, steps=steps, planned=args.steps, stopped=stopped,
                  ship=args.ship or args.ship_partial, ship_partial=args.ship_partial,
                  out_dir=args.out or cfg.checkpoint_dir)


if __name__ == "__main__":
    sys.exit(main())
