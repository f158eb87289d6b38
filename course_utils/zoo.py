"""The course's shipped models: one typed record per file ``checkpoints/NAME.pt``, loading, saving.

``REGISTRY[name]`` is a :class:`Shipped` record: how to build the network (an untrained module of
the checkpoint's architecture), what it does (kind, scales, input space, channels, stochastic),
how it is stored (float16 or float32), the sha256 of the shipped file, the papers' numbers for the
same architecture, and the defaults of its training script. What a run did (command, steps, wall
time, held-out scores, notes) is written once, in the file's own ``meta``: ``load_shipped``
returns it and ``checkpoints/README.md``'s files table is made from it.

    model, meta = load_shipped("fsrcnn-x3")          # sha256 checked, weights_only, eval mode
    sr = run_model("fsrcnn-x3", model, lr_y, 3)      # (1, 1, h, w) -> (1, 1, 3h, 3w)

The folder of the checkpoints is :func:`course_utils.profiles.default_checkpoint_dir`
(``COURSE_CHECKPOINT_DIR``, else the course folder's ``checkpoints/``, else the copy installed by
``pip install .``). A file loaded from the shipped folder must have the sha256 of its record; a
file from another folder (``checkpoint_dir=``, ``COURSE_CHECKPOINT_DIR``: your own retrained
models) is checked against its ``.sha256`` beside it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from . import pixelcnn, srgan
from .checkpoints import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from .models import ESPCN, FSRCNN, JOHNSON_SMALL, SRCNN, VDSR, DCGANGenerator, TransformNet
from .profiles import default_checkpoint_dir
from .resize import imresize

__all__ = ["PREFIX", "Shipped", "REGISTRY", "build", "checkpoint_path", "load_shipped", "save_shipped",
           "run_model", "style_names"]


@dataclass(frozen=True)
class Shipped:
    """One shipped checkpoint ``checkpoints/NAME.pt``.

    builder     -> an untrained model of the checkpoint's architecture
    kind        "sr" (an SR method for evaluate), "generator" (samples from codes z), "pixel-sr",
                "prior", "style" (a Johnson et al. network) or "heightfield" (notebook 08's oceans)
    scales      the scales it handles (() when none)
    input       "lr", "ilr" (bicubic-enlarged LR), "z" (codes), "photo" or "none"
    channels    "y" (the Y channel), "rgb", "gray" (MNIST, faces) or "depth" (height fields)
    stochastic  True when its output depends on a seed (evaluate draws several samples)
    storage     "float16" when storing the weights in half precision was measured to change PSNR
                by < 0.01 dB (see checkpoints/README.md), else "float32"
    description one line: the architecture and what it was trained for
    sha256      of the shipped file (the ``.sha256`` beside it says the same; a test keeps both)
    paper       (dataset, scale) -> (PSNR dB, SSIM or None, source): the published numbers of the
                same architecture and training set, Y channel, shave = scale, MATLAB bicubic
    report      {scale: {"bicubic"/"model": (PSNR dB, SSIM, height-field MSE)}} (the ocean models:
                the report's Table 4, their surfaces)
    train       the defaults of its training script (HR patch, batch, Adam lr, clip, ...)
    script      its training script
    start       the shipped model its training starts from ("" when none): FSRCNN x2/x4 start from
                fsrcnn-x3 converted by ``models.fsrcnn_to_scale``; ``train.train_or_load`` never
                trains such a model from random weights
    """

    name: str
    builder: Callable[[], nn.Module]
    kind: str
    scales: tuple[int, ...]
    input: str
    channels: str
    stochastic: bool
    storage: str
    description: str
    sha256: str
    paper: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    script: str = "data_scripts/train_sr.py"
    start: str = ""


PREFIX = "johnson-"  # the records of the style networks: johnson-<style>
_VDSR = "Kim et al. 2016 (VDSR), Table 3"
_SRGAN = "Ledig et al. 2017 (trained on 350k ImageNet images), Table 1:"
_FSRCNN_TRAIN = {"patch": 48, "batch": 32, "lr": 1e-3, "clip": None}
# train_johnson.py's defaults: 128 px crops of T91 + 3 built-in photos, Adam, Gatys' objective
# (alpha content at relu4_2 + beta style at relu1_1..relu5_1, relative losses) + gamma TV
_JOHNSON_TRAIN = {"crop": 128, "batch": 4, "lr": 2e-3, "alpha": 1.0, "beta": 1.0, "gamma": 0.1,
                  "style_size": 256, "features": "offline random multi-scale"}


def _johnson(style: str, sha256: str) -> Shipped:
    """The record of the shipped style network for ``style`` (notebook 10)."""
    return Shipped(
        name=PREFIX + style, builder=partial(TransformNet, **JOHNSON_SMALL), kind="style", scales=(),
        input="photo", channels="rgb", stochastic=False, storage="float16",
        description="Johnson et al. transformation net (16-32-64, 3 res. blocks, resize-conv, "
                    f"instance norm), style {style}",
        sha256=sha256, train=_JOHNSON_TRAIN, script="data_scripts/train_johnson.py")


_RECORDS = [
    Shipped("srcnn-x3", partial(SRCNN, 9, 1, 5), "sr", (3,), "ilr", "y", False, "float16",
            "SRCNN 9-1-5 (64, 32) on Y, ILR input, trained for x3",
            "5fa136e8c4e2d128774cde7b991844cd9bfd3dfec238c6b85db460655ffb8cbb",
            paper={("Set5", 3): (32.39, None, "Dong et al. 2014 (SRCNN 9-1-5, 91 images), ECCV")},
            train={"patch": 33, "batch": 32, "lr": 1e-3, "clip": None}),
    Shipped("fsrcnn-x2", partial(FSRCNN, 2), "sr", (2,), "lr", "y", False, "float16",
            "FSRCNN(56,12,4) on Y, x2 (deconvolution fine-tuned from x3)",
            "9c79abae1e6821b2e0d4cd6ce76c14f31a9718e5213e116874f20113c4247dfd",
            paper={("Set5", 2): (36.94, None, "Dong et al. 2016 (FSRCNN, 91 images), ECCV")},
            train=_FSRCNN_TRAIN, start="fsrcnn-x3"),
    Shipped("fsrcnn-x3", partial(FSRCNN, 3), "sr", (3,), "lr", "y", False, "float16",
            "FSRCNN(56,12,4) on Y, x3",
            "67291ae02088d05fc47c5e01fd81dd1ced7600a7f3cec1063cf038bad74b034d",
            # also the last column of the lecture's table
            paper={("Set5", 3): (33.06, None, "Dong et al. 2016 (FSRCNN, 91 images), ECCV")},
            train=_FSRCNN_TRAIN),
    Shipped("fsrcnn-x4", partial(FSRCNN, 4), "sr", (4,), "lr", "y", False, "float16",
            "FSRCNN(56,12,4) on Y, x4 (deconvolution fine-tuned from x3)",
            "8e783e6ffee312e5b018bc9097b217925cb1972f30a7e299df8bdf362a4878fb",
            paper={("Set5", 4): (30.55, None, "Dong et al. 2016 (FSRCNN, 91 images), ECCV")},
            train=_FSRCNN_TRAIN, start="fsrcnn-x3"),
    Shipped("espcn-x3", partial(ESPCN, 3), "sr", (3,), "lr", "y", False, "float16",
            "ESPCN (5-3-3, 64, 32) on Y, sub-pixel convolution, x3",
            "ccec87b037e1c0134b606b0ae9d8c15fa941b2992b6f37fbf991c853cc2b76c4",
            paper={("Set5", 3): (32.55, None, "Shi et al. 2016 (ESPCN, 91 images), CVPR")},
            train={"patch": 51, "batch": 32, "lr": 1e-3, "clip": None}),
    Shipped("vdsr", VDSR, "sr", (2, 3, 4), "ilr", "y", False, "float16",
            "VDSR 20x3x3x64 on Y, residual, one model for x2, x3, x4",
            "ff691e66f169dd7f553619dba5c08b4c907254a48fe4a5d26b6e1dc30e61737a",
            # the paper's own 291-image model
            paper={("Set5", 2): (37.53, 0.9587, _VDSR), ("Set5", 3): (33.66, 0.9213, _VDSR),
                   ("Set5", 4): (31.35, 0.8838, _VDSR), ("Set14", 2): (33.03, 0.9124, _VDSR),
                   ("Set14", 3): (29.77, 0.8314, _VDSR), ("Set14", 4): (28.01, 0.7674, _VDSR)},
            train={"patch": 41, "batch": 16, "lr": 1e-4, "clip": 0.4}),
    Shipped("dcgan-mnist", DCGANGenerator, "generator", (), "z", "gray", True, "float32",
            "DCGAN generator (nz 64, ch 32) for 28x28 MNIST digits in [-1, 1]",
            "88aa568b9722b556586fadf4afc3349723261c21a6c9afd39fd387f4869eb3ac",
            train={"batch": 64, "lr": 2e-4, "betas": (0.5, 0.999), "nz": 64},
            script="data_scripts/train_dcgan.py"),
    Shipped("pixelcnn-sr-digits", pixelcnn.digits_model, "pixel-sr", (4,), "lr", "gray", True,
            "float32", "pixel recursive SR (gated PixelCNN prior + conditioning ResNet), MNIST "
            "7x7 -> 28x28, 4 grey levels",
            "109378dffb68c42f6c1d37a157547b9e3f54eed2c4f819a3344053a85c25d96d",
            train={"batch": 32, "lr": 1e-3}, script="data_scripts/train_pixelsr.py"),
    Shipped("pixelcnn-digits-prior",
            partial(pixelcnn.GatedPixelCNN, K=pixelcnn.DIGITS["K"], **pixelcnn.DIGITS["prior"]),
            "prior", (), "none", "gray", True, "float32",
            "the same gated PixelCNN prior trained alone (no LR image), 28x28 MNIST, 4 levels",
            "a01f4c6dc1a55a61439a5ace3ee1bad1ad7beb04a59cc19675f5138f9b2d90e5",
            train={"batch": 32, "lr": 1e-3}, script="data_scripts/train_pixelsr.py"),
    Shipped("pixelcnn-sr-faces", pixelcnn.faces_model, "pixel-sr", (4,), "lr", "gray", True,
            "float16", "pixel recursive SR (gated PixelCNN prior + conditioning ResNet), ORL faces "
            "8x8 -> 32x32, 16 grey levels, split by person; the step of best validation "
            "bits/dim (its curve, and the SPADE run's, in the meta)",
            "1c41ffa027fdde66d26f8149d63444a63485a4e1dacf1cbc1e97ec4b0a441c5e",
            train={"batch": 16, "lr": 1e-3, "augmentation": "5 crop offsets x flips"},
            script="data_scripts/train_pixelsr.py"),
    # the paper's model was trained on 350k ImageNet images, ours on T91 (+ photos) on a CPU
    Shipped("srresnet-x4", srgan.SRResNet, "sr", (4,), "lr", "rgb", False, "float16",
            "SRResNet (16 residual blocks 3x3x64, BN, PReLU, two sub-pixel stages) on RGB, x4, "
            "MSE loss (SRResNet-MSE)",
            "643efdf5fb2464a5ccbe35c0712b7185af37eda750432b96787737d4c99750b6",
            paper={("Set5", 4): (32.05, 0.9019, _SRGAN + " SRResNet-MSE"),
                   ("Set14", 4): (28.49, 0.8184, _SRGAN + " SRResNet-MSE")},
            train={"patch": 48, "batch": 16, "lr": 5e-4, "clip": None},
            script="data_scripts/train_srgan.py"),
    Shipped("srgan-x4", srgan.SRResNet, "sr", (4,), "lr", "rgb", False, "float16",
            "SRGAN generator (the SRResNet architecture) on RGB, x4, initialised from "
            "srresnet-x4, VGG54 content loss + 1e-3 adversarial loss",
            "96e4d39f9595d5ce5065345811c8a65eb69fbf16cd2c4a4a552e8c1e640fa99b",
            paper={("Set5", 4): (29.40, 0.8472, _SRGAN + " SRGAN-VGG54"),
                   ("Set14", 4): (26.02, 0.7397, _SRGAN + " SRGAN-VGG54")},
            train={"patch": 48, "batch": 16, "lr": 1e-4, "clip": None},
            script="data_scripts/train_srgan.py"),
    # Johnson et al.'s feed-forward style networks (notebook 10), one per painting of the styles
    # dataset, trained with data_scripts/train_johnson.py on the offline features (the command,
    # steps, wall time and held-out objective of each file are in its meta: checkpoints/README.md)
    _johnson("starry_night", "31d9d06b608ab79baab097508e3701a0aa89e123badd9a260e4facb4b226bafd"),
    _johnson("great_wave_off_kanagawa",
             "3ef10e272c64c0142bd0ca9ce913e0f3764e31af1b24a7b4c9f3ed9698210faf"),
    _johnson("udnie", "ea3f75e6803b15d5b69947a87d34df8ba5db64e78f3a831fe59de0006d288a4f"),
    # notebook 08, section 6: 1-channel SRResNets on depth images of Phillips-spectrum ocean
    # surfaces (course_utils.heightfield), trained with data_scripts/train_heightfield.py; "report"
    # holds the report's Table 4 (Jin, "Recovering high frequency geometric details", section 5,
    # their surfaces)
    Shipped("srresnet-ocean-x4", partial(srgan.SRResNet, channels=1, scale=4), "heightfield",
            (4,), "lr", "depth", False, "float32",
            "SRResNet (16 blocks) on 1-channel depth images of ocean surfaces, x4, MSE, "
            "fine-tuned from srresnet-x4 (made 1-channel by srgan.to_grey)",
            "b3efe433613d4ba27fe80734ca0991f21875d248ed51c1683bda767b193d56e3",
            report={4: {"bicubic": (42.0, 0.983, 6.22e-4), "model": (46.2, 0.993, 2.34e-4)}},
            train={"patch": 64, "batch": 16, "lr": 1e-4, "clip": None},
            script="data_scripts/train_heightfield.py"),
    Shipped("srresnet-ocean-x8", partial(srgan.SRResNet, channels=1, scale=8), "heightfield",
            (8,), "lr", "depth", False, "float32",
            "SRResNet (16 blocks, three sub-pixel x2 stages) on 1-channel depth images of ocean "
            "surfaces, x8, MSE, from scratch (interpolator initialisation)",
            "488392ecde689a3c58060d80d039b16b02b95f34d3b6140afed98d44636cd793",
            report={8: {"bicubic": (32.8, 0.917, 5.30e-3), "model": (40.2, 0.975, 8.66e-4)}},
            train={"patch": 64, "batch": 16, "lr": 5e-4, "clip": None},
            script="data_scripts/train_heightfield.py"),
]
REGISTRY: dict[str, Shipped] = {r.name: r for r in _RECORDS}


def build(name: str) -> nn.Module:
    """An untrained model of the architecture of the shipped checkpoint ``name``."""
    if name not in REGISTRY:
        raise KeyError(f"no shipped model called {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name].builder()


def style_names() -> list[str]:
    """The styles with a shipped network (the ``johnson-<style>`` records), sorted."""
    return sorted(n[len(PREFIX):] for n, r in REGISTRY.items() if r.kind == "style")


def checkpoint_path(name: str, checkpoint_dir: str | Path | None = None) -> Path:
    """``<folder>/NAME.pt``, the folder being ``checkpoint_dir`` or the default (module doc)."""
    return Path(checkpoint_dir or default_checkpoint_dir()) / f"{name}.pt"


def _train_command(r: Shipped) -> str:
    if r.kind == "style":
        return f"`python {r.script} --style {r.name[len(PREFIX):]}`"
    return f"`python {r.script} {r.name}`"


def load_shipped(name: str, checkpoint_dir: str | Path | None = None,
                 device="cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta) from ``NAME.pt``: the one loader of shipped models.

    The file is loaded with ``weights_only=True``; its sha256 must be the record's when it comes
    from the shipped folder (no ``checkpoint_dir``, no ``COURSE_CHECKPOINT_DIR``), else the one
    of its ``.sha256`` file; weights that do not fit the record's architecture or hold NaN/inf
    raise ``CheckpointError`` naming the file.
    """
    model = build(name)
    r = REGISTRY[name]
    path = checkpoint_path(name, checkpoint_dir)
    shipped = checkpoint_dir is None and not os.environ.get("COURSE_CHECKPOINT_DIR")
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing: the method {name!r} needs the course's checkpoint. Restore it "
            f"from the repository (`git checkout -- checkpoints/`), point COURSE_CHECKPOINT_DIR "
            f"at a folder that holds it, or train it with {_train_command(r)}.")
    ck = load_checkpoint(path, name=name, expected_sha256=r.sha256 if shipped else None)
    load_weights(model, ck["state_dict"], path)
    return model.to(device).eval(), ck.get("meta", {})


def save_shipped(name: str, model: nn.Module, meta: dict, folder: str | Path) -> tuple[Path, str]:
    """Write a trained model as ``folder/NAME.pt`` (+ ``.sha256``) in the storage its record
    names (float16 or float32); returns (path, sha256). A file written into the shipped folder
    is only loaded once its record's ``sha256`` (in this module) says the new digest."""
    out = Path(folder) / f"{name}.pt"
    digest = save_checkpoint(out, model.state_dict(), name=name, meta=meta,
                             half=REGISTRY[name].storage == "float16")
    print(f"wrote {out} sha256 {digest}\n  {meta}")
    if digest != REGISTRY[name].sha256:
        print(f"  to ship it, write this sha256 into the record {name!r} of course_utils/zoo.py")
    return out, digest


def run_model(name: str, model: nn.Module, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Apply a shipped-architecture SR model to an LR image (1, C, h, w) -> (1, C, s*h, s*w).

    C is 1 (Y) or 3 (RGB), as the record's ``channels`` says. ILR models get the
    MATLAB-bicubic enlargement; SRCNN's input is padded by replicating its border pixels
    (``srcnn_border`` on each side) so its valid convolutions return the HR size.
    """
    x = lr.float()
    if REGISTRY[name].input == "ilr":
        x = imresize(x, scale)
    if isinstance(model, SRCNN):
        b = model.border
        x = F.pad(x, (b, b, b, b), mode="replicate")
    return model(x)
