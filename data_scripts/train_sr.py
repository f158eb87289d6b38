"""Train (or resume) one of the course's shipped super-resolution checkpoints.

    python data_scripts/train_sr.py fsrcnn-x3 --steps 6000
    python data_scripts/train_sr.py fsrcnn-x2 --steps 800 --init fsrcnn-x3   # deconv only
    python data_scripts/train_sr.py vdsr --steps 1500 --batch 16
    python data_scripts/train_sr.py fsrcnn-x3 --steps 50000 --init fsrcnn-x3 --sgd 0.9 --lr 1e-3 \
        --deconv-lr 0.1 --batch 128          # the FSRCNN paper's optimiser: SGD, deconv rate / 10

Training data: T91 (Y channel) with a few images held out for validation
(``split_train_val``); Set5/Set14 are never used here. The run is resumable: a work file
``data/checkpoints/train_NAME_RUNID.pt`` (weights, optimizer, history) is written every
``--ckpt-every`` steps and picked up again by the same command; RUNID fingerprints the starting
checkpoint and the settings, so a different command never resumes another run's work file. At
the end the model alone is written to ``checkpoints/NAME.pt`` (+ ``.sha256``) with meta
{command, steps, seconds, note, val_psnr}. Set COURSE_DATA_MIRROR=DIR to read T91 from a mirror
folder.
"""
from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils import setup  # noqa: E402
from course_utils.checkpoints import load_checkpoint, load_weights  # noqa: E402
from course_utils.data import SRPatches, get_images, split_train_val  # noqa: E402
from course_utils.evaluate import evaluate_images  # noqa: E402
from course_utils.zoo import REGISTRY, build, run_model, save_shipped  # noqa: E402
from course_utils.resize import imresize  # noqa: E402
from course_utils.train import fit  # noqa: E402


def run_id(name: str, init_sha256: str, settings: list) -> str:
    """A short fingerprint of what a run computes (its model, starting checkpoint and settings).

    It names the run's work file, so the same command resumes its own run, while another command
    (another starting checkpoint, step count, learning rate, seed, ...) starts afresh instead of
    picking up a finished run of the same model.
    """
    return hashlib.sha256(repr([name, init_sha256, *settings]).encode()).hexdigest()[:10]


SR_MODELS = sorted(name for name, r in REGISTRY.items() if r.kind == "sr" and r.script == "data_scripts/train_sr.py")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=SR_MODELS)
    p.add_argument("--steps", type=int, required=True, help="total optimizer steps")
    p.add_argument("--batch", type=int)
    p.add_argument("--patch", type=int, help="HR patch size (pixels)")
    p.add_argument("--lr", type=float, help="Adam learning rate (cosine-annealed to 5%%)")
    p.add_argument("--clip", type=float, help="gradient-norm clipping")
    p.add_argument("--init", help="start from this shipped checkpoint: for fsrcnn-x2/x4 from "
                   "fsrcnn-x3 only the deconvolution layer is trained (as in the paper); for the "
                   "same name (e.g. vdsr from vdsr) training continues with a fresh schedule")
    p.add_argument("--rescale", type=float, nargs="+", metavar="F",
                   help="also train on copies of each training image shrunk by these factors "
                   "(MATLAB bicubic), the FSRCNN paper's scale augmentation, e.g. 0.9 0.8 0.7 0.6")
    p.add_argument("--sgd", type=float, metavar="MOMENTUM",
                   help="SGD with this momentum instead of Adam (the FSRCNN paper: SGD, momentum 0.9)")
    p.add_argument("--deconv-lr", type=float, default=1.0, metavar="F",
                   help="the deconvolution's learning rate is F times the others' (the FSRCNN paper: 0.1)")
    p.add_argument("--n-val", type=int, default=5, help="T91 images held out for validation")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="output folder (default: checkpoints/)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = setup(profile="cpu", seed=args.seed)
    record = REGISTRY[args.name]  # its training defaults (HR patch, batch, lr, clip), scales, input
    patch, batch = args.patch or record["train"]["patch"], args.batch or record["train"]["batch"]
    lr = args.lr or record["train"]["lr"]
    clip = args.clip if args.clip is not None else record["train"]["clip"]
    scales = list(record["scales"])
    ilr = record["input"] == "ilr"

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
        init_sha256 = hashlib.sha256(init_path.read_bytes()).hexdigest()
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

    border = getattr(model, "border", 0)

    def loss_fn(out, target):
        if border:  # SRCNN's valid convolutions: compare with the centre of the target
            target = target[..., border:-border, border:-border]
        return F.mse_loss(out, target)

    def val_fn():
        psnrs = [evaluate_images(lambda x, s: run_model(args.name, model, x, s).double(),
                                 val, s, vnames)["psnr"] for s in scales]
        return sum(psnrs) / len(psnrs)

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
    rid = run_id(args.name, init_sha256, [args.steps, batch, patch, lr, clip, args.rescale,
                                          args.n_val, args.seed] + optimiser)
    work = cfg.data_dir / "checkpoints" / f"train_{args.name}_{rid}.pt"
    print(f"work file {work} (run the same command again to resume)")
    t0 = time.time()
    hist = fit(model, loss_fn, loader, args.steps, optimizer=opt, scheduler=sched, clip=clip,
               val_fn=val_fn, val_every=args.val_every, checkpoint=work,
               ckpt_every=args.ckpt_every, plot=False, desc=args.name)
    steps = hist["step"][-1] if hist["step"] else 0
    if hist["interrupted"] or steps < args.steps:
        print(f"stopped at step {steps} of {args.steps}: run the same command again to resume")
        return 1
    val_psnr = hist["val"][-1] if hist["val_step"] and hist["val_step"][-1] == steps else val_fn()
    command = "python data_scripts/train_sr.py " + \
        " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if prev_command:
        command = prev_command + " && " + command
    total_steps, seconds = prev_steps + steps, prev_seconds + hist["seconds"]
    minutes = seconds / 60
    meta = {"command": command, "steps": total_steps, "seconds": round(seconds, 1),
            "note": (f"short CPU training: {total_steps} steps, {minutes:.0f} min (1 thread), "
                     f"T91 minus {args.n_val} held-out images, "
                     + (f"SGD momentum {args.sgd:g}" if args.sgd is not None else "Adam")
                     + f" lr {lr:g} cosine"
                     + (f" (deconvolution x{args.deconv_lr:g})" if args.deconv_lr != 1.0 else "") + ", batch "
                     f"{batch}, HR patch {patch}" + (f", clip {clip:g}" if clip else "")
                     + (f", T91 also shrunk by {args.rescale}" if args.rescale else "")
                     + note_init + "; not the paper's schedule"),
            "val_psnr": round(val_psnr, 3), "val_images": vnames, "scales": scales,
            "arch": record["description"]}
    save_shipped(args.name, model, meta, args.out or cfg.checkpoint_dir)
    print(f"  (this run: {time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
