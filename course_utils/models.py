"""The course's networks as plain ``nn.Module`` s, and the one registry of its shipped models.

The CNN super-resolution networks of notebooks 05-07 (on one Y channel by default):

* ``SRCNN``  (Dong et al. 2014/2016): ILR input, three *valid* convolutions f1-f2-f3 (9-1-5,
  9-5-5); the output is ``f1 + f2 + f3 - 3`` pixels smaller than the input.
* ``VDSR``   (Kim et al. 2016): ILR input, 20 convolutions 3x3x64 ("same" padding), predicts the
  residual x^HR - x^ILR and adds the input back.
* ``FSRCNN`` (Dong et al. 2016): LR input; feature extraction, shrinking, m mapping layers,
  expanding, then a 9x9 deconvolution (transposed convolution, stride = scale).
* ``ESPCN``  (Shi et al. 2016): LR input; three convolutions, the last with scale^2 channels,
  then a sub-pixel convolution (``pixel_shuffle``).

A deconvolution of stride s is a convolution on the LR grid with s^2 times more output channels
followed by ``pixel_shuffle`` (Shi et al. 2016, "Is the deconvolution layer the same as a
convolutional layer?", arXiv:1609.07009): ``deconv_as_conv`` converts the weights (notebook 07's
Exercise 7.2), ``SubPixelConv`` is the converted layer with the fewest taps, and ``with_subpixel``
swaps it into a trained model (same outputs, several times faster on a CPU than PyTorch's
transposed convolution).

The DCGAN of notebook 02 (Radford et al. 2016, small, for 28x28 digits): ``DCGANGenerator``,
``DCGANDiscriminator`` and ``dcgan_init``.

Parameter names are part of the course: the notebooks ask students to write these classes with
the same names, so the shipped state_dicts (``checkpoints/NAME.pt``) load into their models.

Johnson et al.'s feed-forward style networks of notebook 10 (``stylize.TransformNet``, one per
painting, records ``johnson-<style>``; ``python -m course_utils.stylize`` applies them).

``REGISTRY`` holds one plain record per shipped model (builder, scales, input space, channels,
the papers' numbers, training defaults); ``evaluate``, ``data_scripts/train_sr.py``,
``benchmarks/`` and the table of ``checkpoints/README.md`` all read it. ``load_shipped(name)`` is
the one loader of a shipped checkpoint; ``sr_method(name)`` turns it into an evaluation method
``f(lr, scale) -> sr`` for :mod:`course_utils.evaluate`.
"""
from __future__ import annotations

import copy
from functools import partial
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from .resize import imresize

__all__ = ["save_shipped", "count_weights", "count_parameters", "srcnn_border", "dcgan_init", "deconv_as_conv",
           "with_subpixel", "fsrcnn_to_scale", "SRCNN", "VDSR", "FSRCNN", "ESPCN", "SubPixelConv", "DCGANGenerator", "DCGANDiscriminator", "REGISTRY", "build",
           "load_shipped", "run_model", "sr_method", "models_table"]


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


def dcgan_init(m: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), shift 0.
    Use as ``G.apply(dcgan_init)``."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _subpixel_radius(k: int, s: int, p: int, shift: int) -> int:
    # LR neighbours a - R ... a + R hold every deconvolution tap of the HR pixels s*a + r - shift
    return max((k - 1 - p + shift) // s, (s - 1 + p - shift) // s)


def deconv_as_conv(deconv: nn.ConvTranspose2d, shift: int = 0) -> nn.Conv2d:
    """The convolution on the LR grid that, followed by ``F.pixel_shuffle(., s)``, equals ``deconv``.

    ``deconv``: ConvTranspose2d(d, c, k, stride=s, padding=p, output_padding=o) with square k, s,
    p and ``k - 2p + o == s`` (so (h, w) -> (s h, s w), as FSRCNN's). Returns
    ``nn.Conv2d(d, s*s*c, 2R + 1, padding=R)``, R = max((k-1-p+shift)//s, (s-1+p-shift)//s), with

        weight[c*s*s + r*s + q, ch, m, n] = deconv.weight[ch, c, s(R-m) + r + p - shift, s(R-n) + q + p - shift]
        (0 where that index is outside [0, k)),  bias[c*s*s + r*s + q] = deconv.bias[c],

    so that ``pixel_shuffle(conv(x), s)[..., Y + shift, X + shift] == deconv(x)[..., Y, X]``. With
    ``shift=0`` (Exercise 7.2 of notebook 07) the two outputs are equal; a shift can make R smaller
    (FSRCNN x3: 5x5 -> 3x3), see :class:`SubPixelConv`. The weights are copies (no autograd link).
    """
    k, s, p, o = deconv.kernel_size[0], deconv.stride[0], deconv.padding[0], deconv.output_padding[0]
    if (len(set(deconv.kernel_size)) != 1 or len(set(deconv.stride)) != 1 or len(set(deconv.padding)) != 1
            or deconv.groups != 1 or deconv.dilation != (1, 1) or k - 2 * p + o != s):
        raise ValueError(f"deconv_as_conv: {deconv} is not a square stride-s deconvolution returning "
                         "(s h, s w) (kernel k, padding p, output_padding o with k - 2p + o = s)")
    d, c = deconv.weight.shape[:2]
    R = _subpixel_radius(k, s, p, shift)
    w = deconv.weight.detach()
    weight = w.new_zeros(c, s, s, d, 2 * R + 1, 2 * R + 1)
    for r in range(s):
        for m in range(2 * R + 1):
            u = s * (R - m) + r + p - shift
            if not 0 <= u < k:
                continue
            for q in range(s):
                for n in range(2 * R + 1):
                    v = s * (R - n) + q + p - shift
                    if 0 <= v < k:
                        weight[:, r, q, :, m, n] = w[:, :, u, v].T
    conv = nn.Conv2d(d, s * s * c, 2 * R + 1, padding=R, bias=deconv.bias is not None)
    conv = conv.to(device=w.device, dtype=w.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(s * s * c, d, 2 * R + 1, 2 * R + 1))
        if deconv.bias is not None:
            conv.bias.copy_(deconv.bias.detach().repeat_interleave(s * s))
    return conv


def with_subpixel(net: nn.Module) -> nn.Module:
    """A copy of ``net`` in which every ``nn.ConvTranspose2d`` is replaced by its
    :class:`SubPixelConv` (same outputs to float rounding, faster on a CPU); for inference."""
    net = copy.deepcopy(net)
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.ConvTranspose2d):
            parent, _, attr = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, attr, SubPixelConv(module))
    return net


def fsrcnn_to_scale(model_x3: nn.Module, scale: int) -> nn.Module:
    """A new FSRCNN for ``scale`` from a trained one (notebook 07, Exercise 7.3): a copy of every
    weight (the deconvolution's shape does not depend on the stride), the deconvolution set to
    stride ``scale`` (output_padding scale - 1), and every parameter frozen but the deconvolution's
    (the paper fine-tunes only that layer). ``model_x3`` is not modified."""
    net = copy.deepcopy(model_x3)
    old = net.deconv
    net.deconv = nn.ConvTranspose2d(old.in_channels, old.out_channels, old.kernel_size, stride=scale,
                                    padding=old.padding, output_padding=scale - 1, bias=old.bias is not None)
    net.deconv.to(device=old.weight.device, dtype=old.weight.dtype).load_state_dict(old.state_dict())
    net.scale = scale
    for p in net.parameters():
        p.requires_grad_(False)
    for p in net.deconv.parameters():
        p.requires_grad_(True)
    return net


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


class SubPixelConv(nn.Module):
    """A trained deconvolution as a convolution on the LR grid + ``pixel_shuffle``, fewest taps.

    Among the shifts 0 ... s-1 of :func:`deconv_as_conv` it takes the one with the smallest kernel
    (FSRCNN: 5x5 at x2, 3x3 at x3 instead of 5x5, 3x3 at x4); with a shift t > 0 the LR input gets
    one extra zero row and column at the bottom right and the shuffled output is cropped by t.
    Input (N, d, h, w) -> (N, c, s h, s w), equal to ``deconv``'s output up to float rounding.
    """

    def __init__(self, deconv: nn.ConvTranspose2d):
        super().__init__()
        k, s, p = deconv.kernel_size[0], deconv.stride[0], deconv.padding[0]
        self.scale = s
        self.shift = min(range(s), key=lambda t: _subpixel_radius(k, s, p, t))
        self.conv = deconv_as_conv(deconv, self.shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w, s, t = x.shape[-2], x.shape[-1], self.scale, self.shift
        if t:
            x = F.pad(x, (0, 1, 0, 1))
        return F.pixel_shuffle(self.conv(x), s)[..., t:t + s * h, t:t + s * w]


class DCGANGenerator(nn.Module):
    """DCGAN generator of notebook 02: z (N, nz) -> images (N, 1, 28, 28) in [-1, 1] (tanh).

    ConvTranspose 7x7 (1 -> 7), BatchNorm, ReLU; ConvTranspose 4x4 stride 2 (7 -> 14), BatchNorm,
    ReLU; ConvTranspose 4x4 stride 2 (14 -> 28), tanh; no biases before BatchNorm.
    Parameters: net.0, net.1, net.3, net.4, net.6 (those of notebook 02's ``Generator``).
    """

    def __init__(self, nz: int = 64, ch: int = 32):
        super().__init__()
        self.nz = nz
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 4 * ch, 7, 1, 0, bias=False),      # 1 -> 7
            nn.BatchNorm2d(4 * ch), nn.ReLU(True),
            nn.ConvTranspose2d(4 * ch, 2 * ch, 4, 2, 1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(2 * ch), nn.ReLU(True),
            nn.ConvTranspose2d(2 * ch, 1, 4, 2, 1, bias=False),       # 14 -> 28
            nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(len(z), self.nz, 1, 1))


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator of notebook 02: images (N, 1, 28, 28) in [-1, 1] -> logits (N,).

    D(x) = sigmoid(logit). Conv 4x4 stride 2 (28 -> 14), LeakyReLU(0.2); Conv 4x4 stride 2
    (14 -> 7), BatchNorm, LeakyReLU(0.2); Conv 7x7 (7 -> 1).
    """

    def __init__(self, ch: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, ch, 4, 2, 1), nn.LeakyReLU(0.2, True),                    # 28 -> 14
            nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ch),
            nn.LeakyReLU(0.2, True),                                               # 14 -> 7
            nn.Conv2d(2 * ch, 1, 7, 1, 0))                                         # 7 -> 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


# ---- the registry of shipped models ------------------------------------------------------------
# One record per file checkpoints/NAME.pt:
#   builder   -> an untrained model of the checkpoint's architecture
#   kind      "sr" (an SR method for evaluate) or "generator" (samples from codes z)
#   scales    the scales it handles; input "lr" or "ilr" (bicubic-enlarged LR) or "z" (codes)
#   channels  "y" (works on the Y channel), "rgb", or "gray" (MNIST)
#   stochastic  True when its output depends on a seed (evaluate draws several samples)
#   storage   "float16" when storing the weights in half precision was measured to change PSNR by
#             < 0.01 dB (see checkpoints/README.md), else "float32"
#   paper     (dataset, scale) -> (PSNR dB, SSIM or None, source): the published numbers of the same
#             architecture and training set, Y channel, shave = scale, MATLAB-bicubic degradation
#   train     the defaults of its training script (train_sr.py: HR patch, batch, Adam lr, clip)
#   script    (optional) its training script when it is not data_scripts/train_sr.py
#   start     (optional) the shipped model its training starts from (FSRCNN x2/x4: fsrcnn-x3,
#             converted by fsrcnn_to_scale); train.train_or_load never trains it from random weights
_VDSR = "Kim et al. 2016 (VDSR), Table 3"
_SRGAN = "Ledig et al. 2017 (trained on 350k ImageNet images), Table 1:"
_FSRCNN_TRAIN = {"patch": 48, "batch": 32, "lr": 1e-3, "clip": None}
# train_johnson.py's defaults: 128 px crops of T91 + 3 built-in photos, Adam, Gatys' objective
# (alpha content at relu4_2 + beta style at relu1_1..relu5_1, relative losses) + gamma TV
_JOHNSON_TRAIN = {"crop": 128, "batch": 4, "lr": 2e-3, "alpha": 1.0, "beta": 1.0, "gamma": 0.1,
                  "style_size": 256, "features": "offline random multi-scale"}
def _johnson(style: str, steps: int, wall_time: str) -> dict:
    """The record of the shipped style network for ``style`` (notebook 10)."""
    return {"builder": lambda: _transform_net(), "kind": "style", "scales": (), "input": "photo",
            "channels": "rgb", "stochastic": False, "storage": "float16",
            "description": "Johnson et al. transformation net (16-32-64, 3 res. blocks, resize-conv, "
                           f"instance norm), style {style}",
            "paper": {},
            "train": {**_JOHNSON_TRAIN, "steps": steps, "wall time": wall_time,
                      "command": f"nice -n 10 python data_scripts/train_johnson.py --style {style} --steps {steps}"}}


REGISTRY: dict[str, dict] = {
    "srcnn-x3": {
        "builder": partial(SRCNN, 9, 1, 5), "kind": "sr", "scales": (3,), "input": "ilr",
        "channels": "y", "stochastic": False, "storage": "float16",
        "description": "SRCNN 9-1-5 (64, 32) on Y, ILR input, trained for x3",
        "paper": {("Set5", 3): (32.39, None, "Dong et al. 2014 (SRCNN 9-1-5, 91 images), ECCV")},
        "train": {"patch": 33, "batch": 32, "lr": 1e-3, "clip": None}},
    "fsrcnn-x2": {
        "builder": partial(FSRCNN, 2), "kind": "sr", "scales": (2,), "input": "lr",
        "channels": "y", "stochastic": False, "storage": "float16",
        "description": "FSRCNN(56,12,4) on Y, x2 (deconvolution fine-tuned from x3)",
        "paper": {("Set5", 2): (36.94, None, "Dong et al. 2016 (FSRCNN, 91 images), ECCV")},
        "train": _FSRCNN_TRAIN, "start": "fsrcnn-x3"},
    "fsrcnn-x3": {
        "builder": partial(FSRCNN, 3), "kind": "sr", "scales": (3,), "input": "lr",
        "channels": "y", "stochastic": False, "storage": "float16",
        "description": "FSRCNN(56,12,4) on Y, x3",
        # also the last column of the lecture's table
        "paper": {("Set5", 3): (33.06, None, "Dong et al. 2016 (FSRCNN, 91 images), ECCV")},
        "train": _FSRCNN_TRAIN},
    "fsrcnn-x4": {
        "builder": partial(FSRCNN, 4), "kind": "sr", "scales": (4,), "input": "lr",
        "channels": "y", "stochastic": False, "storage": "float16",
        "description": "FSRCNN(56,12,4) on Y, x4 (deconvolution fine-tuned from x3)",
        "paper": {("Set5", 4): (30.55, None, "Dong et al. 2016 (FSRCNN, 91 images), ECCV")},
        "train": _FSRCNN_TRAIN, "start": "fsrcnn-x3"},
    "espcn-x3": {
        "builder": partial(ESPCN, 3), "kind": "sr", "scales": (3,), "input": "lr",
        "channels": "y", "stochastic": False, "storage": "float16",
        "description": "ESPCN (5-3-3, 64, 32) on Y, sub-pixel convolution, x3",
        "paper": {("Set5", 3): (32.55, None, "Shi et al. 2016 (ESPCN, 91 images), CVPR")},
        "train": {"patch": 51, "batch": 32, "lr": 1e-3, "clip": None}},
    "vdsr": {
        "builder": VDSR, "kind": "sr", "scales": (2, 3, 4), "input": "ilr",
        "channels": "y", "stochastic": False, "storage": "float16",
        "description": "VDSR 20x3x3x64 on Y, residual, one model for x2, x3, x4",
        # the paper's own 291-image model
        "paper": {("Set5", 2): (37.53, 0.9587, _VDSR), ("Set5", 3): (33.66, 0.9213, _VDSR),
                  ("Set5", 4): (31.35, 0.8838, _VDSR), ("Set14", 2): (33.03, 0.9124, _VDSR),
                  ("Set14", 3): (29.77, 0.8314, _VDSR), ("Set14", 4): (28.01, 0.7674, _VDSR)},
        "train": {"patch": 41, "batch": 16, "lr": 1e-4, "clip": 0.4}},
    "dcgan-mnist": {
        "builder": DCGANGenerator, "kind": "generator", "scales": (), "input": "z",
        "channels": "gray", "stochastic": True, "storage": "float32",
        "description": "DCGAN generator (nz 64, ch 32) for 28x28 MNIST digits in [-1, 1]",
        "paper": {},
        "train": {"batch": 64, "lr": 2e-4, "betas": (0.5, 0.999), "nz": 64}},
    "pixelcnn-sr-digits": {
        "builder": lambda: _pixelcnn().digits_model(), "kind": "pixel-sr", "scales": (4,),
        "input": "lr", "channels": "gray", "stochastic": True, "storage": "float32",
        "description": "pixel recursive SR (gated PixelCNN prior + conditioning ResNet), MNIST "
                       "7x7 -> 28x28, 4 grey levels",
        "paper": {},
        "train": {"steps": 1200, "batch": 32, "lr": 1e-3}},
    "pixelcnn-digits-prior": {
        "builder": lambda: _pixelcnn().GatedPixelCNN(K=_pixelcnn().DIGITS["K"],
                                                      **_pixelcnn().DIGITS["prior"]),
        "kind": "prior", "scales": (), "input": "none", "channels": "gray", "stochastic": True,
        "storage": "float32",
        "description": "the same gated PixelCNN prior trained alone (no LR image), 28x28 MNIST, 4 levels",
        "paper": {},
        "train": {"steps": 1200, "batch": 32, "lr": 1e-3}},
    "pixelcnn-sr-faces": {
        "builder": lambda: _pixelcnn().faces_model(), "kind": "pixel-sr", "scales": (4,),
        "input": "lr", "channels": "gray", "stochastic": True, "storage": "float16",
        "description": "pixel recursive SR (gated PixelCNN prior + conditioning ResNet), ORL faces "
                       "8x8 -> 32x32, 16 grey levels, split by person; the step of best validation "
                       "bits/dim (its curve, and the SPADE run's, in the meta)",
        "paper": {},
        "train": {"batch": 16, "lr": 1e-3, "augmentation": "5 crop offsets x flips"}},
    "srresnet-x4": {
        "builder": lambda: _srgan().SRResNet(), "kind": "sr", "scales": (4,), "input": "lr",
        "script": "data_scripts/train_srgan.py",
        "channels": "rgb", "stochastic": False, "storage": "float16",
        "description": "SRResNet (16 residual blocks 3x3x64, BN, PReLU, two sub-pixel stages) on "
                       "RGB, x4, MSE loss (SRResNet-MSE)",
        # the paper's model was trained on 350k ImageNet images, ours on T91 (+ photos) on a CPU
        "paper": {("Set5", 4): (32.05, 0.9019, _SRGAN + " SRResNet-MSE"),
                  ("Set14", 4): (28.49, 0.8184, _SRGAN + " SRResNet-MSE")},
        "train": {"patch": 48, "batch": 16, "lr": 5e-4, "clip": None}},
    "srgan-x4": {
        "builder": lambda: _srgan().SRResNet(), "kind": "sr", "scales": (4,), "input": "lr",
        "script": "data_scripts/train_srgan.py",
        "channels": "rgb", "stochastic": False, "storage": "float16",
        "description": "SRGAN generator (the SRResNet architecture) on RGB, x4, initialised from "
                       "srresnet-x4, VGG54 content loss + 1e-3 adversarial loss",
        "paper": {("Set5", 4): (29.40, 0.8472, _SRGAN + " SRGAN-VGG54"),
                  ("Set14", 4): (26.02, 0.7397, _SRGAN + " SRGAN-VGG54")},
        "train": {"patch": 48, "batch": 16, "lr": 1e-4, "clip": None}},
    # Johnson et al.'s feed-forward style networks (notebook 10), one per painting of the styles
    # dataset, trained with data_scripts/train_johnson.py on the offline features (the command,
    # steps, wall time and held-out objective of each file are in its meta: checkpoints/README.md)
    **{f"johnson-{style}": _johnson(style, steps=250, wall_time=wall)
       for style, wall in (("starry_night", "24 min"), ("great_wave_off_kanagawa", "27 min"),
                           ("udnie", "24 min"))},
    # notebook 08, section 6: 1-channel SRResNets on depth images of Phillips-spectrum ocean
    # surfaces (course_utils.heightfield), trained with data_scripts/train_heightfield.py; "report"
    # holds the report's Table 4 (Jin, "Recovering high frequency geometric details", section 5,
    # their surfaces): {scale: {"bicubic"/"model": (PSNR dB, SSIM, height-field MSE)}}
    "srresnet-ocean-x4": {
        "builder": lambda: _srgan().SRResNet(channels=1, scale=4), "kind": "heightfield",
        "scales": (4,), "input": "lr", "script": "data_scripts/train_heightfield.py",
        "channels": "depth", "stochastic": False, "storage": "float32",
        "description": "SRResNet (16 blocks) on 1-channel depth images of ocean surfaces, x4, MSE, "
                       "fine-tuned from srresnet-x4 (made 1-channel by srgan.to_grey)",
        "paper": {},
        "report": {4: {"bicubic": (42.0, 0.983, 6.22e-4), "model": (46.2, 0.993, 2.34e-4)}},
        "train": {"patch": 64, "batch": 16, "lr": 1e-4, "clip": None}},
    "srresnet-ocean-x8": {
        "builder": lambda: _srgan().SRResNet(channels=1, scale=8), "kind": "heightfield",
        "scales": (8,), "input": "lr", "script": "data_scripts/train_heightfield.py",
        "channels": "depth", "stochastic": False, "storage": "float32",
        "description": "SRResNet (16 blocks, three sub-pixel x2 stages) on 1-channel depth images "
                       "of ocean surfaces, x8, MSE, from scratch (interpolator initialisation)",
        "paper": {},
        "report": {8: {"bicubic": (32.8, 0.917, 5.30e-3), "model": (40.2, 0.975, 8.66e-4)}},
        "train": {"patch": 64, "batch": 16, "lr": 5e-4, "clip": None}},
}


def _srgan():
    """course_utils.srgan, imported when an SRResNet record is built (notebook 08)."""
    from . import srgan
    return srgan


def _transform_net() -> nn.Module:
    """The course's small Johnson et al. network (course_utils.stylize, imported when built)."""
    from .stylize import SMALL, TransformNet
    return TransformNet(**SMALL)


def _pixelcnn():
    """course_utils.pixelcnn, imported when a PixelCNN record is built (notebook 11)."""
    from . import pixelcnn
    return pixelcnn


def build(name: str) -> nn.Module:
    """An untrained model of the architecture of the shipped checkpoint ``name``."""
    if name not in REGISTRY:
        raise KeyError(f"no shipped model called {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]["builder"]()


def save_shipped(name: str, model: nn.Module, meta: dict, folder: str | Path) -> tuple[Path, str]:
    """Write a trained model as ``folder/NAME.pt`` (+ ``.sha256``) in the storage its REGISTRY
    record names (float16 or float32); returns (path, sha256). The training scripts' last step."""
    from .checkpoints import save_checkpoint
    out = Path(folder) / f"{name}.pt"
    digest = save_checkpoint(out, model.state_dict(), name=name, meta=meta,
                             half=REGISTRY[name]["storage"] == "float16")
    print(f"wrote {out} sha256 {digest}\n  {meta}")
    return out, digest


def load_shipped(name: str, checkpoint_dir: str | Path | None = None,
                 device="cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta) from ``checkpoints/NAME.pt``: the one loader of shipped models.

    The file's sha256 is checked, it is loaded with ``weights_only=True``, and weights that do
    not fit the registry's architecture or hold NaN/inf raise ``CheckpointError`` naming the file.
    """
    from .checkpoints import CheckpointError, load_checkpoint, load_weights
    from .profiles import repo_root
    model = build(name)
    path = Path(checkpoint_dir or repo_root() / "checkpoints") / f"{name}.pt"
    if not path.is_file():
        script, kind = REGISTRY[name].get("script"), REGISTRY[name]["kind"]
        how = (f"`python {script} {name}`" if script else
               f"`python data_scripts/train_sr.py {name}`" if kind == "sr" else
               f"`python data_scripts/train_johnson.py --style {name.split('-', 1)[1]}`"
               if kind == "style" else "its script in data_scripts/")
        raise CheckpointError(
            f"{path} is missing: the method {name!r} needs the course's checkpoint. Restore it "
            f"from the repository (`git checkout -- checkpoints/`) or train it with {how}.")
    ck = load_checkpoint(path, name=name)
    load_weights(model, ck["state_dict"], path)
    return model.to(device).eval(), ck.get("meta", {})


def run_model(name: str, model: nn.Module, lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Apply a shipped-architecture SR model to an LR image (1, C, h, w) -> (1, C, s*h, s*w).

    C is 1 (Y) or 3 (RGB), as the registry's ``channels`` says. ILR models get the
    MATLAB-bicubic enlargement; SRCNN's input is padded by replicating its border pixels
    (``srcnn_border`` on each side) so its valid convolutions return the HR size.
    """
    x = lr.float()
    if REGISTRY[name]["input"] == "ilr":
        x = imresize(x, scale)
    if isinstance(model, SRCNN):
        b = model.border
        x = F.pad(x, (b, b, b, b), mode="replicate")
    return model(x)


def sr_method(name: str, checkpoint_dir: str | Path | None = None):
    """An evaluation method ``f(lr, scale) -> sr`` for the shipped SR checkpoint ``name``.

    ``lr`` is (1, 1, h, w) Y or (1, 3, h, w) RGB as the registry's ``channels`` says. The
    checkpoint is loaded on the first call (so listing methods costs nothing); a missing checkpoint
    raises ``CheckpointError`` and a scale the model was not trained for
    ``evaluate.ScaleNotSupported``, both saying what to do.
    """
    cache: dict = {}

    def method(lr: torch.Tensor, scale: int) -> torch.Tensor:
        from .evaluate import ScaleNotSupported
        scales = REGISTRY[name]["scales"]
        if scale not in scales:
            raise ScaleNotSupported(f"{name} is trained for x{'/x'.join(map(str, scales))}, not "
                                    f"x{scale}: use --scale {' '.join(map(str, scales))}")
        if "model" not in cache:
            cache["model"], cache["meta"] = load_shipped(name, checkpoint_dir)
        with torch.no_grad():
            return run_model(name, cache["model"], lr, scale).to(lr.dtype)

    method.__name__ = name.replace("-", "_")
    return method


def models_table() -> str:
    """A markdown table of :data:`REGISTRY` (the first table of ``checkpoints/README.md``)."""
    rows = ["| model | architecture | kind | scales | input | channels | stored as | "
            "paper (Set5) | training defaults |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in REGISTRY.items():
        paper = ", ".join(f"x{s} {v[0]:.2f} dB" for (ds, s), v in sorted(r["paper"].items())
                          if ds == "Set5") or "–"
        train = ", ".join(f"{k} {v}" for k, v in r["train"].items() if v is not None)
        scales = ", ".join(f"x{s}" for s in r["scales"]) or "–"
        rows.append(f"| {name} | {r['description']} | {r['kind']} | {scales} | {r['input']} | "
                    f"{r['channels']} | {r['storage']} | {paper} | {train} |")
    return "\n".join(rows)
