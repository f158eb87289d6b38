"""Train (or resume) one of the course's shipped super-resolution checkpoints.

    python data_scripts/train_sr.py fsrcnn-x3 --steps 6000
    python data_scripts/train_sr.py fsrcnn-x2 --steps 800 --init fsrcnn-x3   # deconv only
    python data_scripts/train_sr.py vdsr --steps 1500 --batch 16
    python data_scripts/train_sr.py fsrcnn-x3 --steps 50000 --init fsrcnn-x3 --sgd 0.9 --lr 1e-3 \
        --deconv-lr 0.1 --batch 128          # the FSRCNN paper's optimiser: SGD, deconv rate / 10

Training data: T91 (Y channel) with a few images held out for validation
(``split_train_val``); Set5/Set14 are never used here. The run skeleton is
``course_tools.runs``: the run lives in ``DATA/runs/NAME_RUNID/`` (work file every
``--ckpt-every`` steps, picked up again by the same command; RUNID fingerprints the starting
checkpoint and the settings, so a different command never resumes another run), the result is
written there as ``NAME.pt`` with meta {command, steps, seconds, threads, note, val_psnr}, and
only ``--ship`` replaces the shipped ``checkpoints/NAME.pt`` (after its checks). Set
COURSE_DATA_MIRROR=DIR to read T91 from a mirror folder.
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
from course_utils.download import sha256sum  # noqa: E402
from course_utils.evaluate import evaluate_images  # noqa: E402
from course_utils.zoo import REGISTRY, build, run_model  # noqa: E402
from course_utils.resize import imresize  # noqa: E402
from course_utils.train import supervised_step, train_loop  # noqa: E402

SR_MODELS = sorted(name for name, r in REGISTRY.items() if r.kind == "sr" and r.script == "data_scripts/train_sr.py")
__all__ = ["main", "heldout_psnr", "run_id", "deadline_step", "until_timestamp"]


def heldout_psnr(name: str, model: torch.nn.Module, images: list[torch.Tensor], names: list[str]) -> float:
    """The validation score of a run: mean PSNR (dB, Y, the papers' protocol) of ``model`` on the
    held-out T91 images (Y, (1, 1, H, W) on the CPU), averaged over the record's scales; the
    model runs on its own device."""
    device = next(model.parameters()).device
    scales = REGISTRY[name].scales
    psnrs = [evaluate_images(lambda x, s: run_model(name, model, x.to(device), s).double(),
                             images, s, names)["psnr"] for s in scales]
    return sum(psnrs) / len(psnrs)


def main(argv=None) -> int:
    return guarded(_main, argv)


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=SR_MODELS)
    p.add_argument("--steps", type=nonnegative_int, required=True, help="total optimizer steps")
    p.add_argument("--batch", type=positive_int)
    p.add_argument("--patch", type=positive_int, help="HR patch size (pixels)")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate (cosine-annealed to 5%%)")
    p.add_argument("--clip", type=positive_float, help="gradient-norm clipping")
    p.add_argument("--init", choices=SR_MODELS, help="start from this shipped checkpoint: for fsrcnn-x2/x4 from "
                   "fsrcnn-x3 only the deconvolution layer is trained (as in the paper); for the "
                   "same name (e.g. vdsr from vdsr) training continues with a fresh schedule")
    p.add_argument("--rescale", type=positive_float, nargs="+", metavar="F",
                   help="also train on copies of each training image shrunk by these factors "
                   "(MATLAB bicubic), the FSRCNN paper's scale augmentation, e.g. 0.9 0.8 0.7 0.6")
    p.add_argument("--sgd", type=float, metavar="MOMENTUM",
                   help="SGD with this momentum instead of Adam (the FSRCNN paper: SGD, momentum 0.9)")
    p.add_argument("--deconv-lr", type=positive_float, default=1.0, metavar="F",
                   help="the deconvolution's learning rate is F times the others' (the FSRCNN paper: 0.1)")
    p.add_argument("--n-val", type=positive_int, default=5, help="T91 images held out for validation")
    add_common_arguments(p, ckpt_every=250, val_every=250)
    args = p.parse_args(argv)
    if args.sgd is not None and not 0 <= args.sgd < 1:
        p.error(f"--sgd {args.sgd}: the momentum must be in [0, 1)")
    until = until_timestamp(args.until)
    torch.set_num_threads(args.threads)
    cfg = setup(profile="cpu", seed=args.seed, device=args.device)
    record = REGISTRY[args.name]  # its training defaults (HR patch, batch, lr, clip), scales, input
    patch, batch = args.patch or record.train["patch"], args.batch or record.train["batch"]
    lr = args.lr or record.train["lr"]
    clip = args.clip if args.clip is not None else record.train["clip"]
    scales = list(record.scales)
    ilr = record.input == "ilr"

    images, names, source = get_images("T91", cfg, mode="y", fallback=False)
    train, tnames, val, vnames = split_train_val(images, names, n_val=args.n_val, seed=0)
    print(f"{source}: {len(train)} training images, validation on {', '.join(vnames)}")
    if args.rescale:  # only training images: the held-out ones stay as they are
        train = train + [imresize(img, scale=f).clamp(0, 1) for f in args.rescale for img in train]
        print(f"  + copies shrunk by {args.rescale}: {len(train)} training images")
    data = SRPatches(train, scales if len(scales) > 1 else scales[0], patch=patch,
                     interpolate=ilr, length=10**9, seed=args.seed)
    loader = DataLoader(data, batch_size=batch, shuffle=False, num_workers=0)

    model = build(args.name)
    params = model.parameters()
    note_init, prev_steps, prev_seconds, prev_command = "", 0, 0.0, None
    init_sha256 = ""  # part of the run's fingerprint (run_id)
    if args.init:
        init_path = cfg.checkpoint_dir / f"{args.init}.pt"
        ck = load_checkpoint(init_path, name=args.init)
        init_sha256 = sha256sum(init_path)
        load_weights(model, ck["state_dict"], init_path)  # same shapes (FSRCNN: only the stride differs)
        if args.init == args.name:  # continue training the whole network
            prev_steps, prev_seconds = int(ck["meta"]["steps"]), float(ck["meta"]["seconds"])
            prev_command = ck["meta"].get("command")
            note_init = f"; continued from a first run of {prev_steps} steps (all layers)"
        else:
            for prm in model.parameters():
                prm.requires_grad_(False)
            for prm in model.deconv.parameters():
                prm.requires_grad_(True)
            params = model.deconv.parameters()
            note_init = (f"; initialised from {args.init} ({ck['meta'].get('steps')} steps), "
                         "only the deconvolution trained")

    model.to(cfg.device)   # before the optimiser is made (the same parameters, on the device)
    border = getattr(model, "border", 0)

    def loss_fn(out, target):
        if border:  # SRCNN's valid convolutions: compare with the centre of the target
            target = target[..., border:-border, border:-border]
        return F.mse_loss(out, target)

    def val_fn():
        return heldout_psnr(args.name, model, val, vnames)

    params = [prm for prm in params if prm.requires_grad]
    deconv = getattr(model, "deconv", None)
    if deconv is not None and args.deconv_lr != 1.0:  # the deconvolution at its own rate
        slow = {id(prm) for prm in deconv.parameters()}
        params = [{"params": [prm for prm in params if id(prm) not in slow]},
                  {"params": [prm for prm in params if id(prm) in slow], "lr": lr * args.deconv_lr}]
        params = [g for g in params if g["params"]]
    opt = (torch.optim.SGD(params, lr=lr, momentum=args.sgd) if args.sgd is not None
           else torch.optim.Adam(params, lr=lr))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=0.05 * lr)
    optimiser = [args.sgd, args.deconv_lr] if args.sgd is not None or args.deconv_lr != 1.0 else []
    run = Run("train_sr.py", args.name, [init_sha256, args.steps, batch, patch, lr, clip, args.rescale,
                                         args.n_val, args.seed] + optimiser, cfg, argv, args.runs_dir)
    hist = train_loop(deadline_step(supervised_step(model, loss_fn, opt, clip), until), loader,
                      args.steps, {"model": model}, {"optimizer": opt}, {"scheduler": sched},
                      val_fn=val_fn, val_every=args.val_every, checkpoint=run.work,
                      ckpt_every=args.ckpt_every, plot=False, desc=args.name)
    steps = steps_done(hist)
    stopped = stopped_how(hist, args.steps, until)
    if stop_early(run, hist, args.steps, stopped, args.ship_partial):
        return 1
    model.eval()
    val_psnr = final_val(hist, steps, val_fn)
    meta = run.meta(prev_steps + steps, prev_seconds + hist["seconds"])
    if prev_command:
        meta["command"] = prev_command + " && " + meta["command"]
    planned = "" if stopped is None else f" (stopped at {steps} of {args.steps} planned steps)"
    where = f"on {meta['device']}" if not prev_steps else f"(the last {steps} on {meta['device']})"
    meta.update({
        "note": (f"short training: {meta['steps']} steps{planned}, {meta['seconds'] / 60:.0f} min "
                 f"{where}, "
                 f"T91 minus {args.n_val} held-out images, "
                 + (f"SGD momentum {args.sgd:g}" if args.sgd is not None else "Adam")
                 + f" lr {lr:g} cosine"
                 + (f" (deconvolution x{args.deconv_lr:g})" if args.deconv_lr != 1.0 else "") + ", batch "
                 f"{batch}, HR patch {patch}" + (f", clip {clip:g}" if clip else "")
                 + (f", T91 also shrunk by {args.rescale}" if args.rescale else "")
                 + note_init + "; not the paper's schedule"),
        "val_psnr": round(val_psnr, 3), "val_images": vnames, "scales": scales,
        "arch": record.description})
    return finish(run, model.state_dict(), meta, steps=steps, planned=args.steps, stopped=stopped,
                  ship=args.ship or args.ship_partial, ship_partial=args.ship_partial,
                  out_dir=args.out or cfg.checkpoint_dir)


if __name__ == "__main__":
    sys.exit(main())
