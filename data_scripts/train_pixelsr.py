"""Train the course's pixel recursive SR model on MNIST and ship it as checkpoints/pixelcnn-sr-digits.pt.

The shipped checkpoint was made with (9.5 min on one CPU thread, nice 10, a 2-core machine shared
with other jobs):
  python data_scripts/train_pixelsr.py --steps 1200
and the prior alone (an unconditional gated PixelCNN, the same prior network and recipe, loss
CE(prior); checkpoints/pixelcnn-digits-prior.pt, for the "prior only" row of the bits/dim table) with
  python data_scripts/train_pixelsr.py --steps 1200 --prior-only

The recipe is notebook 11's cpu profile (``course_utils.pixelcnn.DIGITS``): a gated PixelCNN prior and
a ResNet conditioning network, 28x28 HR digits on K = 4 levels, 7x7 LR (x^LR = S B x^HR, MATLAB
bicubic), the loss CE(prior + cond) + CE(cond), Adam, batches drawn from the first 58,000 images of
MNIST's training split (the last 2,000 are the notebook's validation digits; the test split is never
touched). The training is the library's ``train_loop``; the run is resumable: a work file
``data/checkpoints/train_pixelsr_STEPS_SEED.pt`` is written every ``--ckpt-every`` steps and picked up
by the same command. The command and time of the shipped file are in its meta
(``python -m course_utils.checkpoints`` lists them).
"""
import argparse
import math
import os
import shlex
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import course_utils  # noqa: E402
from course_utils.checkpoints import save_checkpoint  # noqa: E402
from course_utils.degrade import bicubic_down  # noqa: E402
from course_utils.gen_data import load_mnist  # noqa: E402
from course_utils.pixelcnn import (DIGITS, GatedPixelCNN, bits_per_dim, digits_model,  # noqa: E402
                                   pixel_sr_losses, quantise, to_levels)
from course_utils.train import RandomBatches, train_loop  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--out", default=os.path.join(ROOT, "checkpoints", "pixelcnn-sr-digits.pt"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--prior-only", action="store_true",
                   help="train the prior network alone (no LR input) -> checkpoints/pixelcnn-digits-prior.pt")
    args = p.parse_args(argv)
    name = "pixelcnn-digits-prior" if args.prior_only else "pixelcnn-sr-digits"
    if args.prior_only and args.out.endswith("pixelcnn-sr-digits.pt"):
        args.out = os.path.join(ROOT, "checkpoints", "pixelcnn-digits-prior.pt")
    cfg = course_utils.setup(profile="cpu", seed=args.seed)
    torch.set_num_threads(1)
    K, scale = DIGITS["K"], DIGITS["scale"]
    x, _, source = load_mnist(cfg, "train")
    if len(x) < 60_000:
        print(f"{source}: not the 60k training split; set COURSE_DATA_MIRROR or fetch mnist-train")
        return 2
    hr = quantise(x[:58_000], K)
    lr = bicubic_down(hr, scale).clamp(0, 1)
    hr_val = quantise(x[-2_000:], K)
    lr_val = bicubic_down(hr_val, scale).clamp(0, 1)
    torch.manual_seed(args.seed)
    model = GatedPixelCNN(K=K, **DIGITS["prior"]) if args.prior_only else digits_model()
    opt = torch.optim.Adam(model.parameters(), lr=DIGITS["lr"])

    def step(batch):
        lr_b, hr_b = batch
        model.train()
        if args.prior_only:
            ce = F.cross_entropy(model(hr_b), to_levels(hr_b, K))
            losses = {"loss": ce}
        else:
            losses = pixel_sr_losses(model, hr_b, lr_b, K)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()
        return {k: v.item() / math.log(2) for k, v in losses.items()}

    def val():
        if args.prior_only:
            return {"both": bits_per_dim(model(hr_val), hr_val, K), "cond": float("nan")}
        both, cond = model(hr_val, lr_val)
        return {"both": bits_per_dim(both, hr_val, K), "cond": bits_per_dim(cond, hr_val, K)}

    work = cfg.data_dir / "checkpoints" / f"train_{name}_{args.steps}_{args.seed}.pt"
    print(f"work file {work} (run the same command again to resume)", flush=True)
    hist = train_loop(step, RandomBatches((lr, hr), DIGITS["batch"], seed=args.seed), args.steps,
                      models={"model": model}, optimizers={"optimizer": opt}, val_fn=val, val_every=500,
                      checkpoint=work, ckpt_every=args.ckpt_every, plot=False, desc="pixel recursive SR")
    steps = hist["step"][-1] if hist["step"] else 0
    if hist["interrupted"] or steps < args.steps:
        print(f"stopped at step {steps} of {args.steps}: run the same command again to resume")
        return 1
    cmd = "python data_scripts/train_pixelsr.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    what = "the prior alone (unconditional gated PixelCNN)" if args.prior_only else "pixel recursive SR"
    meta = {"command": cmd, "steps": steps, "seconds": round(hist["seconds"], 1), "data": source,
            "seed": args.seed, "threads": 1, "recipe": DIGITS,
            ("val_bits" if args.prior_only else "val_bits_both"): round(hist["val_both"][-1], 4),
            "note": f"{what} on MNIST, {steps} steps, {hist['seconds'] / 60:.1f} min on 1 CPU thread; "
                    f"validation {hist['val_both'][-1]:.3f} bits/dim"
                    + ("" if args.prior_only else f" (cond. alone {hist['val_cond'][-1]:.3f})")}
    if not args.prior_only:
        meta["val_bits_cond"] = round(hist["val_cond"][-1], 4)
    model.eval()
    sha = save_checkpoint(args.out, model.state_dict(), name=name, meta=meta)
    print(f"saved {args.out} sha256 {sha}", flush=True)
    print(meta, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
