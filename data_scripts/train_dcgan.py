"""Train the course's DCGAN generator on MNIST (test split, 10k) and ship it as checkpoints/dcgan-mnist.pt.

The shipped checkpoint was made with (13.3 min on one CPU thread):
  python data_scripts/train_dcgan.py --steps 6000
MNIST comes from data/ or the mirror (COURSE_DATA_MIRROR); without it, scikit-learn's digits.
The classes are the same as in solutions/02_gans.ipynb, so the weights load there.
"""
import argparse
import os
import shlex
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import course_utils  # noqa: E402
from course_utils.checkpoints import save_checkpoint  # noqa: E402
from course_utils.gen_data import load_mnist  # noqa: E402

NZ = 64


# ---- the same classes as in solutions/02_gans.ipynb -------------------------------------------
class Generator(nn.Module):
    """DCGAN generator: z (N, nz) -> images (N, 1, 28, 28) in [-1, 1] (tanh)."""

    def __init__(self, nz=64, ch=32):
        super().__init__()
        self.nz = nz
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 4 * ch, 7, 1, 0, bias=False),      # 1 -> 7
            nn.BatchNorm2d(4 * ch), nn.ReLU(True),
            nn.ConvTranspose2d(4 * ch, 2 * ch, 4, 2, 1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(2 * ch), nn.ReLU(True),
            nn.ConvTranspose2d(2 * ch, 1, 4, 2, 1, bias=False),       # 14 -> 28
            nn.Tanh())

    def forward(self, z):
        return self.net(z.view(len(z), self.nz, 1, 1))


class Discriminator(nn.Module):
    """DCGAN discriminator: images (N, 1, 28, 28) in [-1, 1] -> logits (N,); D(x) = sigmoid(logit)."""

    def __init__(self, ch=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ch, 4, 2, 1), nn.LeakyReLU(0.2, True),                              # 28 -> 14
            nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ch),
            nn.LeakyReLU(0.2, True),                                                         # 14 -> 7
            nn.Conv2d(2 * ch, 1, 7, 1, 0))                                                   # 7 -> 1

    def forward(self, x):
        return self.net(x).flatten()


def dcgan_init(m):
    """Radford et al.: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), shift 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
# -----------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", default=os.path.join(ROOT, "checkpoints", "dcgan-mnist.pt"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = course_utils.setup(profile="cpu", seed=args.seed)
    torch.set_num_threads(1)
    x, _, source = load_mnist(cfg, "test")
    print(source, tuple(x.shape), flush=True)
    x = x * 2 - 1  # [0, 1] -> [-1, 1], the tanh range
    G, D = Generator(NZ), Discriminator()
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    hist = {"step": [], "d_loss": [], "g_loss": []}
    for step in range(1, args.steps + 1):
        real = x[torch.randint(len(x), (args.batch,), generator=g)]
        z = torch.randn(args.batch, NZ, generator=g)
        fake = G(z)
        # discriminator: maximise log D(x) + log(1 - D(G(z)))  <=> minimise the cross-entropy
        a_real, a_fake = D(real), D(fake.detach())
        d_loss = -(F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean())
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # generator: the non-saturating loss (2), minimise -log D(G(z))
        g_loss = -F.logsigmoid(D(fake)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if step % 50 == 0:
            hist["step"].append(step)
            hist["d_loss"].append(d_loss.item())
            hist["g_loss"].append(g_loss.item())
        if step % 250 == 0:
            print(f"step {step} d_loss {d_loss.item():.3f} g_loss {g_loss.item():.3f} "
                  f"{time.time() - t0:.0f}s", flush=True)
    seconds = time.time() - t0
    cmd = "python data_scripts/train_dcgan.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    meta = {"command": cmd, "steps": args.steps, "seconds": round(seconds, 1),
            "batch": args.batch, "nz": NZ, "data": source, "seed": args.seed,
            "threads": 1, "machine": "2-core CPU, 1 thread, nice 10",
            "note": f"DCGAN generator, {args.steps} steps on the {source}, {seconds / 60:.1f} min on 1 CPU thread",
            "d_loss_last": [round(v, 4) for v in hist["d_loss"][-10:]],
            "g_loss_last": [round(v, 4) for v in hist["g_loss"][-10:]]}
    G.eval()
    sha = save_checkpoint(args.out, G.state_dict(), name="dcgan-mnist", meta=meta)
    print(f"saved {args.out} sha256 {sha} in {seconds:.0f}s", flush=True)
    print(meta, flush=True)


if __name__ == "__main__":
    main()
