"""The CNN super-resolution networks of notebooks 05-07, as plain ``nn.Module`` s on one (Y) channel.

* ``SRCNN``  (Dong et al. 2014/2016): ILR input, three *valid* convolutions f1-f2-f3 (9-1-5,
  9-5-5); the output is ``f1 + f2 + f3 - 3`` pixels smaller than the input.
* ``VDSR``   (Kim et al. 2016): ILR input, 20 convolutions 3x3x64 ("same" padding), predicts the
  residual x^HR - x^ILR and adds the input back.
* ``FSRCNN`` (Dong et al. 2016): LR input; feature extraction, shrinking, m mapping layers,
  expanding, then a 9x9 deconvolution (transposed convolution, stride = scale).
* ``ESPCN``  (Shi et al. 2016): LR input; three convolutions, the last with scale^2 channels,
  then a sub-pixel convolution (``pixel_shuffle``).

Parameter names are part of the course: the notebooks ask students to write these classes with
the same names, so the shipped state_dicts (``checkpoints/NAME.pt``) load into their models.

``sr_method(name)`` turns a shipped checkpoint into an evaluation method
``f(lr_y, scale) -> sr_y`` for :mod:`course_utils.evaluate`.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from .resize import imresize

__all__ = ["count_weights", "count_parameters", "srcnn_border", "SRCNN", "VDSR", "FSRCNN",
           "ESPCN", "SHIPPED", "build", "load_shipped", "sr_method"]


def count_weights(model: nn.Module) -> int:
    """The number of filter weights, as the papers count parameters (biases and PReLU slopes
    excluded): the sum of ``numel`` over parameters with more than one dimension."""
    return sum(p.numel() for p in model.parameters() if p.dim() > 1)


def count_parameters(model: nn.Module) -> int:
    """All trainable numbers (weights, biases, PReLU slopes)."""
    return sum(p.numel() for p in model.parameters())


def srcnn_border(f1: int = 9, f2: int = 1, f3: int = 5) -> int:
    """Pixels lost at each side by SRCNN's valid convolutions: (f1 + f2 + f3 - 3) / 2."""
    return (f1 - 1) // 2 + (f2 - 1) // 2 + (f3 - 1) // 2


class SRCNN(nn.Module):
    """SRCNN f1-f2-f3 with n1, n2 filters; valid convolutions (no padding), ReLU, linear output.

    Input: the interpolated LR image (N, C, H, W) in [0, 1]. Output: (N, C, H - 2b, W - 2b)
    with b = :func:`srcnn_border` (6 for 9-1-5, 8 for 9-5-5). Parameters: conv1, conv2, conv3.
    """

    def __init__(self, f1: int = 9, f2: int = 1, f3: int = 5, n1: int = 64, n2: int = 32,
                 channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, n1, f1)
        self.conv2 = nn.Conv2d(n1, n2, f2)
        self.conv3 = nn.Conv2d(n2, channels, f3)
        self.border = srcnn_border(f1, f2, f3)

    def forward(self, ilr: torch.Tensor) -> torch.Tensor:
        return self.conv3(F.relu(self.conv2(F.relu(self.conv1(ilr)))))


class VDSR(nn.Module):
    """VDSR: ``depth`` 3x3 convolutions (``width`` filters, ReLU between them), zero padding so
    the size is kept; with ``residual`` the network predicts x^HR - x^ILR and adds x^ILR back.

    Input/output: (N, C, H, W) in [0, 1] (the ILR image in, the SR image out).
    Parameters: convs.0 ... convs.{depth-1}.
    Initialisation: He et al. (normal, fan-in, ReLU gain) and zero biases, as in the paper, with
    the last layer set to zero so training starts from x^ILR (PyTorch's default initialisation
    shrinks the signal through 20 layers and the network then barely learns).
    """

    def __init__(self, depth: int = 20, width: int = 64, channels: int = 1, residual: bool = True):
        super().__init__()
        chans = [channels] + [width] * (depth - 1) + [channels]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans, chans[1:]))
        self.residual = residual
        for conv in self.convs:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.convs[-1].weight)

    def forward(self, ilr: torch.Tensor) -> torch.Tensor:
        h = ilr
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i < len(self.convs) - 1:
                h = F.relu(h)
        return ilr + h if self.residual else h


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m) for one ``scale``: LR (N, C, h, w) -> SR (N, C, scale*h, scale*w).

    feature: Conv(5, d, C) + PReLU      shrink: Conv(1, s, d) + PReLU
    mapping: m x [Conv(3, s, s) + PReLU] expand: Conv(1, d, s) + PReLU
    deconv:  DeConv(9, C, d), stride = scale, padding 4, output_padding scale - 1.
    Parameters: feature.0, feature.1, shrink.0, shrink.1, mapping.{0..2m-1}, expand.0,
    expand.1, deconv. Only ``deconv`` depends on the scale.
    """

    def __init__(self, scale: int = 3, d: int = 56, s: int = 12, m: int = 4, channels: int = 1):
        super().__init__()
        self.scale = scale
        self.feature = nn.Sequential(nn.Conv2d(channels, d, 5, padding=2), nn.PReLU(d))
        self.shrink = nn.Sequential(nn.Conv2d(d, s, 1), nn.PReLU(s))
        self.mapping = nn.Sequential(*[layer for _ in range(m)
                                       for layer in (nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s))])
        self.expand = nn.Sequential(nn.Conv2d(s, d, 1), nn.PReLU(d))
        self.deconv = nn.ConvTranspose2d(d, channels, 9, stride=scale, padding=4,
                                         output_padding=scale - 1)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.expand(self.mapping(self.shrink(self.feature(lr)))))


class ESPCN(nn.Module):
    """ESPCN: Conv(5, 64) tanh, Conv(3, 32) tanh, Conv(3, C*scale^2), pixel_shuffle(scale).

    LR (N, C, h, w) -> SR (N, C, scale*h, scale*w). Parameters: conv1, conv2, conv3.
    """

    def __init__(self, scale: int = 3, n1: int = 64, n2: int = 32, channels: int = 1):
        super().__init__()
        self.scale = scale
        self.conv1 = nn.Conv2d(channels, n1, 5, padding=2)
        self.conv2 = nn.Conv2d(n1, n2, 3, padding=1)
        self.conv3 = nn.Conv2d(n2, channels * scale * scale, 3, padding=1)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.conv2(torch.tanh(self.conv1(lr))))
        return F.pixel_shuffle(self.conv3(h), self.scale)


# The shipped checkpoints: name -> (what it is, the scales it handles, its input).
SHIPPED = {
    "srcnn-x3": ("SRCNN 9-1-5 (64, 32) on Y, ILR input, trained for x3", (3,), "ilr"),
    "fsrcnn-x2": ("FSRCNN(56,12,4) on Y, x2 (deconvolution fine-tuned from x3)", (2,), "lr"),
    "fsrcnn-x3": ("FSRCNN(56,12,4) on Y, x3", (3,), "lr"),
    "fsrcnn-x4": ("FSRCNN(56,12,4) on Y, x4 (deconvolution fine-tuned from x3)", (4,), "lr"),
    "espcn-x3": ("ESPCN (5-3-3, 64, 32) on Y, sub-pixel convolution, x3", (3,), "lr"),
    "vdsr": ("VDSR 20x3x3x64 on Y, residual, one model for x2, x3, x4", (2, 3, 4), "ilr"),
}


def build(name: str) -> nn.Module:
    """An untrained model of the architecture of the shipped checkpoint ``name``."""
    if name == "srcnn-x3":
        return SRCNN(9, 1, 5)
    if name.startswith("fsrcnn-x"):
        return FSRCNN(scale=int(name[len("fsrcnn-x"):]))
    if name == "espcn-x3":
        return ESPCN(scale=3)
    if name == "vdsr":
        return VDSR()
    raise KeyError(f"no shipped model called {name!r}; known: {', '.join(SHIPPED)}")


def load_shipped(name: str, checkpoint_dir: str | Path | None = None,
                 device="cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta) from ``checkpoints/NAME.pt`` (sha256-checked)."""
    from .checkpoints import CheckpointError, load_checkpoint
    from .profiles import repo_root
    path = Path(checkpoint_dir or repo_root() / "checkpoints") / f"{name}.pt"
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing: the method {name!r} needs the course's checkpoint. Restore it "
            f"from the repository (`git checkout -- checkpoints/`) or train it with "
            f"`python data_scripts/train_sr.py {name}`.")
    ck = load_checkpoint(path, name=name)
    model = build(name)
    model.load_state_dict(ck["state_dict"])
    return model.to(device).eval(), ck.get("meta", {})


def run_model(name: str, model: nn.Module, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Apply a shipped-architecture model to an LR Y image (1, 1, h, w) -> (1, 1, s*h, s*w).

    ILR models get the MATLAB-bicubic enlargement; SRCNN's input is padded by replicating its
    border pixels (``srcnn_border`` on each side) so its valid convolutions return the HR size.
    """
    x = lr.float()
    if SHIPPED[name][2] == "ilr":
        x = imresize(x, scale)
    if isinstance(model, SRCNN):
        b = model.border
        x = F.pad(x, (b, b, b, b), mode="replicate")
    return model(x)


def sr_method(name: str, checkpoint_dir: str | Path | None = None):
    """An evaluation method ``f(lr_y, scale) -> sr_y`` for the shipped checkpoint ``name``.

    The checkpoint is loaded on the first call (so listing methods costs nothing); a missing
    checkpoint or an unsupported scale raises an error that says what to do.
    """
    cache: dict = {}

    def method(lr: torch.Tensor, scale: int) -> torch.Tensor:
        scales = SHIPPED[name][1]
        if scale not in scales:
            raise ValueError(f"{name} is trained for x{'/x'.join(map(str, scales))}, not x{scale}: "
                             f"use --scale {' '.join(map(str, scales))}")
        if "model" not in cache:
            cache["model"], cache["meta"] = load_shipped(name, checkpoint_dir)
        with torch.no_grad():
            return run_model(name, cache["model"], lr, scale).to(lr.dtype)

    method.__name__ = name.replace("-", "_")
    return method
