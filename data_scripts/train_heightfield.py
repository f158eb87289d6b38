"""Train (or resume) the course's height-field SRResNets (notebook 08, section 6).

    python data_scripts/train_heightfield.py srresnet-ocean-x4 --steps 900 --until 15:15
    python data_scripts/train_heightfield.py srresnet-ocean-x8 --steps 2000 --until 15:15

Both are 1-channel SRResNets (16 blocks, 64 features) on 8-bit depth images of Phillips-spectrum
ocean surfaces (``course_utils.heightfield.ocean_dataset``), trained with the pixel MSE only, as
in the report "Recovering high frequency geometric details", section 5:

``srresnet-ocean-x4``: fine-tuned from the natural-image ``checkpoints/srresnet-x4.pt``. That RGB
model is first made 1-channel with ``course_utils.srgan.to_grey`` (head filters summed over the
input channels, tail averaged over the outputs): on a grey image it computes exactly what the
notebook computes by copying the depth image to three channels and averaging the output's.
``srresnet-ocean-x8``: ``SRResNet(channels=1, scale=8)`` (three sub-pixel x2 stages). There is
no natural-image x8 model to start from (the report trained its x8 model from scratch too); it
starts from ``srgan.init_as_interpolator`` (untrained, it enlarges like a smoothed nearest
neighbour), or PyTorch's random initialisation with ``--random-init``.

Data: ``--n-train`` surfaces of the "train" split (regenerated at every start: same seeds, same
surfaces), random HR patches of ``--patch`` pixels with flips/rot90 (``data.SRPatches``), x^LR the
MATLAB-bicubic downscale. Validation: PSNR (depth image, shave = scale) on ``--n-dev`` surfaces of
the "dev" split. The "test" split is never used here (notebook 08 reports on it).

Resumable like every training script (``course_tools.runs``): the same command picks up its run
folder ``DATA/runs/NAME_RUNID/`` (work file every ``--ckpt-every`` steps); ``--until HH:MM``
(UTC) stops the run at that time (the work file is written). The result ``NAME.pt`` (float16 when
the record says so) is written in the run folder with meta {command, steps, seconds, threads,
note, val_psnr, ...}; only ``--ship`` replaces the shipped ``checkpoints/NAME.pt`` (after its
checks), and ``--ship-partial`` ships a run stopped by ``--until``, its meta saying how many of
the planned steps were done.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_tools.runs import (Run, add_common_arguments, deadline_step, finish, guarded,  # noqa: E402
                               nonnegative_int, positive_float, positive_int, run_id,
                               final_val, steps_done, stop_early, stopped_how, until_timestamp)
from course_utils import setup  # noqa: E402
from course_utils.data import SRPatches  # noqa: E402
from course_utils.heightfield import depth_psnr, ocean_dataset  # noqa: E402
from course_utils.download import sha256sum  # noqa: E402
from course_utils.zoo import REGISTRY, build, load_shipped  # noqa: E402
from course_utils.degrade import bicubic_down, bicubic_up  # noqa: E402
from course_utils.srgan import SRResNet, init_as_interpolator, to_grey  # noqa: E402
from course_utils.train import supervised_step, train_loop  # noqa: E402

NAMES = ("srresnet-ocean-x4", "srresnet-ocean-x8")
__all__ = ["main", "run_id", "deadline_step", "until_timestamp"]


def dev_psnr(model: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor, scale: int) -> float:
    """Mean PSNR (dB) of ``model``'s output on depth images, clamped to [0, 1], ``scale``-pixel
    shave; lr (N, 1, h, w), hr (N, 1, scale h, scale w) on the CPU. A network runs on its own
    device (8 images at a time); the PSNR is computed on the CPU."""
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else lr.device
    with torch.no_grad():
        out = torch.cat([model(lr[i:i + 8].to(device)).cpu() for i in range(0, len(lr), 8)]).clamp(0, 1)
    return depth_psnr(out, hr, shave=scale)


def initial_model(name: str, cfg, interp_init: bool) -> tuple[SRResNet, str, dict]:
    """(model, init description, the init checkpoint's meta) for ``name``."""
    if name == "srresnet-ocean-x4":
        path = cfg.checkpoint_dir / "srresnet-x4.pt"
        rgb, meta = load_shipped("srresnet-x4", cfg.checkpoint_dir)
        sha = sha256sum(path)
        return (to_grey(rgb).train(),
                f"fine-tuned from srresnet-x4 (sha256 {sha[:12]}, {meta.get('steps')} steps on "
                "natural images) made 1-channel by srgan.to_grey", meta)
    model = build(name)
    if interp_init:
        init_as_interpolator(model)
        return model, "trained from scratch, initialised as an interpolator (srgan.init_as_interpolator)", {}
    return model, "trained from scratch (PyTorch's random initialisation)", {}


def main(argv=None) -> int:
    return guarded(_main, argv)


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=NAMES)
    p.add_argument("--steps", type=nonnegative_int, required=True, help="total optimizer steps")
    p.add_argument("--batch", type=positive_int)
    p.add_argument("--patch", type=positive_int, help="HR patch size (pixels, a multiple of the scale, <= 128)")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate, cosine to 5%%")
    p.add_argument("--n-train", type=positive_int, default=4000, help="training surfaces (the report: 16000)")
    p.add_argument("--n-dev", type=positive_int, default=32, help="dev surfaces for validation")
    p.add_argument("--random-init", dest="interp_init", action="store_false",
                   help="srresnet-ocean-x8: PyTorch's random initialisation (default: "
                   "srgan.init_as_interpolator)")
    add_common_arguments(p, ckpt_every=50, val_every=200)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    until = until_timestamp(args.until)
    cfg = setup(profile="cpu", seed=args.seed, device=args.device)
    record = REGISTRY[args.name]
    scale = record.scales[0]
    patch = args.patch or record.train["patch"]
    batch = args.batch or record.train["batch"]
    lr = args.lr or record.train["lr"]
    if patch % scale or patch > 128:
        p.error(f"--patch {patch}: give a multiple of the scale ({scale}), at most 128")

    t_data = time.time()
    train = ocean_dataset("train", args.n_train)["images"]
    dev = ocean_dataset("dev", args.n_dev)["images"]
    dev_lr = bicubic_down(dev, scale).clamp(0, 1)
    print(f"{args.n_train} train / {args.n_dev} dev surfaces generated in {time.time() - t_data:.0f} s")
    data = SRPatches([x[None] for x in train], scale, patch=patch, length=10**9, seed=args.seed)
    del train
    loader = DataLoader(data, batch_size=batch, shuffle=False, num_workers=0)

    model, init_note, init_meta = initial_model(args.name, cfg, args.interp_init)
    model.to(cfg.device)   # before its optimiser is made
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=0.05 * lr)
    run = Run("train_heightfield.py", args.name,
              [args.steps, batch, patch, lr, args.n_train, args.n_dev, args.seed, args.interp_init]
              + ([init_note] if init_meta else []), cfg, argv, args.runs_dir)   # a new start, a new run
    hist = train_loop(deadline_step(supervised_step(model, F.mse_loss, opt), until), loader,
                      args.steps, {"model": model}, {"opt": opt}, {"sched": sched},
                      val_fn=lambda: dev_psnr(model, dev_lr, dev, scale), val_every=args.val_every,
                      checkpoint=run.work, ckpt_every=args.ckpt_every, plot=False, desc=args.name)
    steps = steps_done(hist)
    stopped = stopped_how(hist, args.steps, until)
    if stop_early(run, hist, args.steps, stopped, args.ship_partial):
        return 1
    model.eval()
    val = final_val(hist, steps, lambda: dev_psnr(model, dev_lr, dev, scale))
    bicubic = dev_psnr(lambda x: bicubic_up(x, scale), dev_lr, dev, scale)
    meta = run.meta(steps, hist["seconds"])
    planned = "" if stopped is None else f" (stopped at {steps} of {args.steps} planned steps)"
    note = (f"short training: {steps} steps{planned}, {hist['seconds'] / 60:.0f} min on "
            f"{meta['device']}, MSE on {args.n_train} Phillips-spectrum surfaces (train split, "
            f"depth images, HR patches {patch}, flips/rot90), Adam lr {lr:g} cosine, batch {batch}; "
            f"{init_note}; the report trained on 16,000 surfaces for 100 epochs")
    meta.update({"planned_steps": args.steps, "note": note, "val_psnr": round(val, 3),
                 "val_bicubic_psnr": round(bicubic, 3),
                 "val_images": f"ocean_dataset('dev', {args.n_dev}), shave {scale}",
                 "scales": [scale], "arch": record.description, "n_train": args.n_train,
                 "init_steps": init_meta.get("steps"),
                 "val_history": [round(v, 3) for v in hist.get("val", [])],
                 "val_history_steps": hist["val_step"]})
    return finish(run, model.state_dict(), meta, steps=steps, planned=args.steps, stopped=stopped,
                  ship=args.ship or args.ship_partial, ship_partial=args.ship_partial,
                  out_dir=args.out or cfg.checkpoint_dir)


if __name__ == "__main__":
    sys.exit(main())
