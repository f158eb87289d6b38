"""Does storing a height-field SRResNet in float16 change its results? (checkpoints/README.md)

    python benchmarks/heightfield_float16.py srresnet-ocean-x8 data/checkpoints/train_srresnet-ocean-x8_RUNID.pt

Loads the float32 weights from the training's work file (``data_scripts/train_heightfield.py``
writes it), rounds them to float16 and back, and compares the two networks' PSNR on the test
surfaces (``ocean_dataset("test", --count)``, the notebook's protocol: 8-bit output, shave = scale).
This chooses only how the weights are *stored*, after training: nothing is trained or selected on
the test split. Prints one row of the README's storage table and the sizes of both files.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils.checkpoints import load_checkpoint  # noqa: E402
from course_utils.degrade import bicubic_down  # noqa: E402
from course_utils.heightfield import ocean_dataset  # noqa: E402
from course_utils.metrics import psnr, quantize  # noqa: E402
from course_utils.zoo import REGISTRY, build  # noqa: E402


def psnrs(model, hr, scale):
    """Per-image PSNR (dB) of ``model`` on depth images ``hr`` (N, 1, n, n)."""
    lr = bicubic_down(hr, scale).clamp(0, 1)
    with torch.no_grad():
        out = torch.cat([quantize(model(lr[i:i + 16]).clamp(0, 1)).float() for i in range(0, len(lr), 16)])
    sh = (..., slice(scale, -scale), slice(scale, -scale))
    return torch.tensor([psnr(out[i][sh], hr[i][sh]) for i in range(len(hr))])


def size_of(state: dict) -> int:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getbuffer().nbytes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=[n for n, r in REGISTRY.items() if r.kind == "heightfield"])
    p.add_argument("work", type=Path, help="the training's work file (float32 weights)")
    p.add_argument("--count", type=int, default=256, help="test surfaces")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    scale = REGISTRY[args.name].scales[0]
    state = load_checkpoint(args.work)["state_dict"]
    m32 = build(args.name)
    m32.load_state_dict(state)
    half = {k: v.half().float() if v.dtype == torch.float32 else v for k, v in state.items()}
    m16 = build(args.name)
    m16.load_state_dict(half)
    hr = ocean_dataset("test", args.count)["images"]
    a, b = psnrs(m32.eval(), hr, scale), psnrs(m16.eval(), hr, scale)
    d = b - a
    ok = d.abs().max().item() < 0.01
    f16 = {k: v.half() if v.dtype == torch.float32 else v for k, v in state.items()}
    print(f"| {args.name} | {size_of(state):,} B | {size_of(f16):,} B | {d.abs().max().item():.4f} | "
          f"{args.count} test surfaces x{scale} {d.mean().item():+.4f} | "
          f"{'float16' if ok else 'float32 (an image changes by more than 0.01 dB)'} |")
    print(f"mean PSNR float32 {a.mean():.4f} dB, float16 {b.mean():.4f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
