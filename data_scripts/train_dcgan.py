"""Train the course's DCGAN generator on MNIST (test split, 10k) (checkpoints/dcgan-mnist.pt).

The shipped checkpoint was made with (13.3 min on one CPU thread):
  python data_scripts/train_dcgan.py --steps 6000
MNIST comes from data/ or the mirror (COURSE_DATA_MIRROR); without it, scikit-learn's digits.
The networks are the library's reference DCGAN (``course_utils.models.DCGANGenerator`` and
``DCGANDiscriminator``, the layers and parameter names of notebook 02's classes, so the weights load
there) and the training is the library's: ``gan_step`` (D's update, then G's, the non-saturating
loss) run by ``train_loop``. The run skeleton is ``course_tools.runs``: the run folder
``DATA/runs/dcgan-mnist_RUNID/`` holds the work file (G, D, both optimizers, the batch stream,
every ``--ckpt-every`` steps, picked up by the same command) and the result; only ``--ship``
replaces the shipped ``checkpoints/dcgan-mnist.pt`` after its checks.
"""
import argparse
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import course_utils  # noqa: E402
from course_tools.runs import (Run, add_common_arguments, deadline_step, finish, guarded,  # noqa: E402
                               nonnegative_int, positive_int, steps_done, stop_early, stopped_how,
                               until_timestamp)
from course_utils.gen_data import load_mnist  # noqa: E402
from course_utils.models import DCGANDiscriminator, DCGANGenerator, dcgan_init  # noqa: E402
from course_utils.train import RandomBatches, d_loss, g_loss_nonsat, gan_step, train_loop  # noqa: E402
from course_utils.zoo import REGISTRY  # noqa: E402


def main(argv=None) -> int:
    return guarded(_main, argv)


def _main(argv=None) -> int:
    defaults = REGISTRY["dcgan-mnist"].train
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=nonnegative_int, default=4000)
    p.add_argument("--batch", type=positive_int, default=defaults["batch"])
    add_common_arguments(p, ckpt_every=500, val_every=None)
    args = p.parse_args(argv)
    until = until_timestamp(args.until)
    torch.set_num_threads(args.threads)
    cfg = course_utils.setup(profile="cpu", seed=args.seed, device=args.device)
    torch.set_num_threads(args.threads)   # (setup may change it)
    x, _, source = load_mnist(cfg, "test")
    print(source, tuple(x.shape), flush=True)
    x = x * 2 - 1  # [0, 1] -> [-1, 1], the tanh range
    G, D = DCGANGenerator(defaults["nz"]), DCGANDiscriminator()
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    G.to(cfg.device), D.to(cfg.device)   # before their optimisers; batches are moved by train_loop
    opt_g = torch.optim.Adam(G.parameters(), lr=defaults["lr"], betas=defaults["betas"])
    opt_d = torch.optim.Adam(D.parameters(), lr=defaults["lr"], betas=defaults["betas"])
    run = Run("train_dcgan.py", "dcgan-mnist", [args.steps, args.batch, args.seed, source], cfg,
              argv, args.runs_dir)
    hist = train_loop(deadline_step(gan_step(G, D, opt_g, opt_d, d_loss, g_loss_nonsat), until),
                      RandomBatches(x, args.batch, nz=G.nz, seed=args.seed), args.steps,
                      models={"G": G, "D": D}, optimizers={"G": opt_g, "D": opt_d},
                      checkpoint=run.work, ckpt_every=args.ckpt_every, plot=False, desc="DCGAN")
    steps = steps_done(hist)
    stopped = stopped_how(hist, args.steps, until)
    if stop_early(run, hist, args.steps, stopped, args.ship_partial):
        return 1
    meta = run.meta(steps, hist["seconds"])
    every50 = slice(49, None, 50)  # the losses at steps 50, 100, ... (what the first script logged)
    meta.update({"batch": args.batch, "nz": G.nz, "data": source, "seed": args.seed,
                 "note": f"DCGAN generator, {steps} steps on the {source}, {meta['seconds'] / 60:.1f} "
                         f"min on {meta['device']}",
                 "d_loss_last": [round(v, 4) for v in hist.get("d_loss", [])[every50][-10:]],
                 "g_loss_last": [round(v, 4) for v in hist.get("g_loss", [])[every50][-10:]]})
    G.eval()
    return finish(run, G.state_dict(), meta, steps=steps, planned=args.steps, stopped=stopped,
                  ship=args.ship or args.ship_partial, ship_partial=args.ship_partial,
                  out_dir=args.out or cfg.checkpoint_dir)


if __name__ == "__main__":
    sys.exit(main())
