"""Train the course's DCGAN generator on MNIST (test split, 10k) and ship it as checkpoints/dcgan-mnist.pt.

The shipped checkpoint was made with (13.3 min on one CPU thread):
  python data_scripts/train_dcgan.py --steps 6000
MNIST comes from data/ or the mirror (COURSE_DATA_MIRROR); without it, scikit-learn's digits.
The networks are the library's reference DCGAN (``course_utils.models.DCGANGenerator`` and
``DCGANDiscriminator``, the layers and parameter names of notebook 02's classes, so the weights load
there) and the training is the library's: ``gan_step`` (D's update, then G's, the non-saturating
loss) run by ``train_loop``. The run is resumable: a work file
``data/checkpoints/train_dcgan-mnist_STEPS_BATCH_SEED.pt`` (G, D, both optimizers, the batch
stream) is written every ``--ckpt-every`` steps and picked up by the same command.
"""
import argparse
import os
import shlex
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import course_utils  # noqa: E402
from course_utils.checkpoints import save_checkpoint  # noqa: E402
from course_utils.gen_data import load_mnist  # noqa: E402
from course_utils.models import DCGANDiscriminator, DCGANGenerator, dcgan_init  # noqa: E402
from course_utils.zoo import REGISTRY  # noqa: E402
from course_utils.train import RandomBatches, d_loss, g_loss_nonsat, gan_step, train_loop  # noqa: E402


def main(argv=None) -> int:
    defaults = REGISTRY["dcgan-mnist"]["train"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=defaults["batch"])
    p.add_argument("--out", default=os.path.join(ROOT, "checkpoints", "dcgan-mnist.pt"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-every", type=int, default=500)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = course_utils.setup(profile="cpu", seed=args.seed)
    torch.set_num_threads(1)
    x, _, source = load_mnist(cfg, "test")
    print(source, tuple(x.shape), flush=True)
    x = x * 2 - 1  # [0, 1] -> [-1, 1], the tanh range
    G, D = DCGANGenerator(defaults["nz"]), DCGANDiscriminator()
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=defaults["lr"], betas=defaults["betas"])
    opt_d = torch.optim.Adam(D.parameters(), lr=defaults["lr"], betas=defaults["betas"])
    work = cfg.data_dir / "checkpoints" / f"train_dcgan-mnist_{args.steps}_{args.batch}_{args.seed}.pt"
    print(f"work file {work} (run the same command again to resume)", flush=True)
    hist = train_loop(gan_step(G, D, opt_g, opt_d, d_loss, g_loss_nonsat),
                      RandomBatches(x, args.batch, nz=G.nz, seed=args.seed), args.steps,
                      models={"G": G, "D": D}, optimizers={"G": opt_g, "D": opt_d},
                      checkpoint=work, ckpt_every=args.ckpt_every, plot=False, desc="DCGAN")
    steps = hist["step"][-1] if hist["step"] else 0
    if hist["interrupted"] or steps < args.steps:
        print(f"stopped at step {steps} of {args.steps}: run the same command again to resume")
        return 1
    seconds = hist["seconds"]
    cmd = "python data_scripts/train_dcgan.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    every50 = slice(49, None, 50)  # the losses at steps 50, 100, ... (what the first script logged)
    meta = {"command": cmd, "steps": steps, "seconds": round(seconds, 1),
            "batch": args.batch, "nz": G.nz, "data": source, "seed": args.seed,
            "threads": 1, "machine": "2-core CPU, 1 thread, nice 10",
            "note": f"DCGAN generator, {steps} steps on the {source}, {seconds / 60:.1f} min on 1 CPU thread",
            "d_loss_last": [round(v, 4) for v in hist["d_loss"][every50][-10:]],
            "g_loss_last": [round(v, 4) for v in hist["g_loss"][every50][-10:]]}
    G.eval()
    sha = save_checkpoint(args.out, G.state_dict(), name="dcgan-mnist", meta=meta,
                          half=REGISTRY["dcgan-mnist"]["storage"] == "float16")
    print(f"saved {args.out} sha256 {sha} in {seconds:.0f}s", flush=True)
    print(meta, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
