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

Resumable like ``train_srgan.py``: the same command picks up its work file
``data/checkpoints/train_NAME_RUNID.pt`` (written every ``--ckpt-every`` steps); ``--until HH:MM``
(UTC) stops the run at that time (the work file is written); ``--ship-partial`` then writes the
checkpoint anyway, its meta saying how many of the planned steps were done. The checkpoint
``checkpoints/NAME.pt`` (+ ``.sha256``, float16 when the record says so) holds the network with
meta {command, steps, seconds, note, val_psnr, ...}.
"""
from __future__ import annotations

import hashlib
import argparse
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils import setup  # noqa: E402
from course_utils.data import SRPatches  # noqa: E402
from course_utils.heightfield import ocean_dataset  # noqa: E402
from course_utils.metrics import psnr  # noqa: E402
from course_utils.zoo import REGISTRY, build, load_shipped, save_shipped  # noqa: E402
from course_utils.degrade import bicubic_down, bicubic_up  # noqa: E402
from course_utils.srgan import SRResNet, init_as_interpolator, to_grey  # noqa: E402
from course_utils.train import deadline_step, run_id, supervised_step, train_loop, until_timestamp  # noqa: E402

NAMES = ("srresnet-ocean-x4", "srresnet-ocean-x8")


def dev_psnr(model: torch.nn.Module, lr: torch.Tensor, hr: torch.Tensor, scale: int) -> float:
    """Mean PSNR (dB) of ``model``'s output on depth images, clamped to [0, 1], ``scale``-pixel
    shave; lr (N, 1, h, w), hr (N, 1, scale h, scale w)."""
    with torch.no_grad():
        out = torch.cat([model(lr[i:i + 8]) for i in range(0, len(lr), 8)]).clamp(0, 1)
    sh = (..., slice(scale, -scale), slice(scale, -scale))
    return sum(psnr(out[i][sh], hr[i][sh]) for i in range(len(hr))) / len(hr)


def initial_model(name: str, cfg, interp_init: bool) -> tuple[SRResNet, str, dict]:
    """(model, init description, the init checkpoint's meta) for ``name``."""
    if name == "srresnet-ocean-x4":
        path = cfg.checkpoint_dir / "srresnet-x4.pt"
        rgb, meta = load_shipped("srresnet-x4", cfg.checkpoint_dir)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        return (to_grey(rgb).train(),
                f"fine-tuned from srresnet-x4 (sha256 {sha[:12]}, {meta.get('steps')} steps on "
                "natural images) made 1-channel by srgan.to_grey", meta)
    model = build(name)
    if interp_init:
        init_as_interpolator(model)
        return model, "trained from scratch, initialised as an interpolator (srgan.init_as_interpolator)", {}
    return model, "trained from scratch (PyTorch's random initialisation)", {}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=NAMES)
    p.add_argument("--steps", type=int, required=True, help="total optimizer steps")
    p.add_argument("--batch", type=int)
    p.add_argument("--patch", type=int, help="HR patch size (pixels, a multiple of the scale, <= 128)")
    p.add_argument("--lr", type=float, help="Adam learning rate, cosine to 5%%")
    p.add_argument("--n-train", type=int, default=4000, help="training surfaces (the report: 16000)")
    p.add_argument("--n-dev", type=int, default=32, help="dev surfaces for validation")
    p.add_argument("--random-init", dest="interp_init", action="store_false",
                   help="srresnet-ocean-x8: PyTorch's random initialisation (default: "
                   "srgan.init_as_interpolator)")
    p.add_argument("--val-every", type=int, default=200)
    p.add_argument("--ckpt-every", type=int, default=50)
    p.add_argument("--until", help="stop at this UTC time HH:MM (resume later with the same command)")
    p.add_argument("--ship-partial", action="store_true",
                   help="write checkpoints/NAME.pt even when stopped before --steps")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="output folder (default: checkpoints/)")
    p.add_argument("--work-dir", type=Path, help="folder of the work file (default: data/checkpoints)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    until = until_timestamp(args.until)
    cfg = setup(profile="cpu", seed=args.seed)
    record = REGISTRY[args.name]
    scale = record["scales"][0]
    patch = args.patch or record["train"]["patch"]
    batch = args.batch or record["train"]["batch"]
    lr = args.lr or record["train"]["lr"]

    t_data = time.time()
    train = ocean_dataset("train", args.n_train)["images"]
    dev = ocean_dataset("dev", args.n_dev)["images"]
    dev_lr = bicubic_down(dev, scale).clamp(0, 1)
    print(f"{args.n_train} train / {args.n_dev} dev surfaces generated in {time.time() - t_data:.0f} s")
    data = SRPatches([x[None] for x in train], scale, patch=patch, length=10**9, seed=args.seed)
    del train
    loader = DataLoader(data, batch_size=batch, shuffle=False, num_workers=0)

    model, init_note, init_meta = initial_model(args.name, cfg, args.interp_init)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps, eta_min=0.05 * lr)
    rid = run_id([args.name, args.steps, batch, patch, lr, args.n_train, args.n_dev, args.seed,
                  args.interp_init] + ([init_note] if init_meta else []))   # a new start, a new run
    work_dir = args.work_dir or cfg.data_dir / "checkpoints"
    work = work_dir / f"train_{args.name}_{rid}.pt"
    print(f"work file {work} (run the same command again to resume)")
    t0 = time.time()
    hist = train_loop(deadline_step(supervised_step(model, F.mse_loss, opt), until), loader,
                      args.steps, {"model": model}, {"opt": opt}, {"sched": sched},
                      val_fn=lambda: dev_psnr(model, dev_lr, dev, scale), val_every=args.val_every,
                      checkpoint=work, ckpt_every=args.ckpt_every, plot=False, desc=args.name)
    steps = hist["step"][-1] if hist["step"] else 0
    if steps < args.steps and not args.ship_partial:
        print(f"stopped at step {steps} of {args.steps}: run the same command again to resume")
        return 1
    model.eval()
    val = (hist["val"][-1] if hist["val_step"] and hist["val_step"][-1] == steps
           else dev_psnr(model, dev_lr, dev, scale))
    bicubic = dev_psnr(lambda x: bicubic_up(x, scale), dev_lr, dev, scale)
    command = "python data_scripts/train_heightfield.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    planned = "" if steps >= args.steps else f" (stopped at {steps} of {args.steps} planned steps)"
    note = (f"short CPU training: {steps} steps{planned}, {hist['seconds'] / 60:.0f} min ({args.threads} "
            f"thread{'s' if args.threads > 1 else ''}, shared CPU), MSE on {args.n_train} Phillips-spectrum surfaces (train split, "
            f"depth images, HR patches {patch}, flips/rot90), Adam lr {lr:g} cosine, batch {batch}; "
            f"{init_note}; the report trained on 16,000 surfaces for 100 epochs")
    meta = {"command": command, "steps": steps, "planned_steps": args.steps,
            "seconds": round(hist["seconds"], 1), "note": note, "val_psnr": round(val, 3),
            "val_bicubic_psnr": round(bicubic, 3),
            "val_images": f"ocean_dataset('dev', {args.n_dev}), shave {scale}",
            "scales": [scale], "arch": record["description"], "n_train": args.n_train,
            "init_steps": init_meta.get("steps"), "val_history": [round(v, 3) for v in hist.get("val", [])],
            "val_history_steps": hist["val_step"]}
    save_shipped(args.name, model, meta, args.out or cfg.checkpoint_dir)
    print(f"  (this run: {time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
