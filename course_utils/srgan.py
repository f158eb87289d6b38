"""SRResNet and the SRGAN discriminator (Ledig et al., CVPR 2017, arXiv:1609.04802), notebook 08.

**SRResNet** (the generator G): LR RGB (N, 3, h, w) in [0, 1] -> SR RGB (N, 3, 4h, 4w)::

    head:     Conv 9x9, 3 -> 64, PReLU                                 (features h0)
    body:     B residual blocks  x + BN(Conv3x3(PReLU(BN(Conv3x3(x)))))   (B = 16)
    body_end: Conv 3x3, 64 -> 64, BN;  then the long skip: + h0
    upsample: two sub-pixel stages  Conv 3x3, 64 -> 256, pixel_shuffle(2), PReLU   (x2 each)
    tail:     Conv 9x9, 64 -> 3 (linear output)

About 1.55 M parameters for B = 16 (:func:`srresnet_parameters` counts them from the
definition). Parameter names (``head.0``, ``body.{i}.conv1``, ``body.{i}.bn1``, ``body.{i}.prelu``,
``body.{i}.conv2``, ``body.{i}.bn2``, ``body_end.0``, ``body_end.1``, ``upsample.{j}.conv``,
``upsample.{j}.prelu``, ``tail``) are part of the course: notebook 08 asks students to write
``ResidualBlock`` and ``Upsampler`` with the same names, so the shipped ``srresnet-x4`` and
``srgan-x4`` state dicts load into their models (``SRResNet(block=TheirBlock,
upsampler=TheirUpsampler)``).

**Discriminator** D: RGB (N, 3, P, P) in [0, 1] -> one logit per image (N,), D(x) = sigmoid::

    Conv 3x3 64 s1, LeakyReLU(0.2)
    7 x [Conv 3x3, BN, LeakyReLU(0.2)] with (channels, stride) = (64, 2), (128, 1), (128, 2),
                                       (256, 1), (256, 2), (512, 1), (512, 2)
    Dense 1024, LeakyReLU(0.2), Dense 1

Eight convolutions, 64 -> 512 filters, four strided ones (P -> P/16); the first dense layer reads
the 512 x (P/16)^2 features, so D is built for one patch size P (the paper: 96).

**Total variation regulariser** (:func:`with_tv`): the report *Recovering high frequency geometric
details* adds a total variation term of weight ``SRGAN_TV_WEIGHT`` = 2e-8 to G's loss whenever the
content loss is a VGG loss (SRRes-VGG22/VGG54 and the SRGAN variants), "as in" SRGAN
(arXiv:1609.04802, 2016), for stability and smoothness. The report does not write the term's
normalisation; the course uses ``features.tv_loss`` (mean absolute neighbour differences, a
per-pixel average like the course's other losses), so the weight's effect depends on that choice.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from .features import tv_loss

__all__ = ["srresnet_parameters", "discriminator_parameters", "init_as_interpolator", "to_grey", "with_tv",
           "ResidualBlock", "Upsampler", "SRResNet", "Discriminator", "DISC_LAYERS", "SRGAN_TV_WEIGHT"]

# (out channels, stride) of the discriminator's eight convolutions
DISC_LAYERS = ((64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2))
SRGAN_TV_WEIGHT = 2e-8  # the report's TV weight beside the VGG losses ("as in" SRGAN, arXiv:1609.04802)


def srresnet_parameters(blocks: int = 16, width: int = 64, channels: int = 3, scale: int = 4,
                        prelu_channels: bool = True) -> int:
    """The number of parameters of SRResNet written out from the definition (weights, biases,
    BN scales and shifts, PReLU slopes; BN running statistics are buffers, not parameters)."""
    a = width if prelu_channels else 1             # PReLU slopes per activation
    conv = lambda k, cin, cout: k * k * cin * cout + cout  # noqa: E731 - weights + biases
    bn = 2 * width
    stages = {2: 1, 4: 2, 8: 3}[scale]
    return (conv(9, channels, width) + a                              # head
            + blocks * (2 * conv(3, width, width) + 2 * bn + a)       # residual blocks
            + conv(3, width, width) + bn                              # body_end
            + stages * (conv(3, width, 4 * width) + a)                # sub-pixel stages
            + conv(9, width, channels))                               # tail


def discriminator_parameters(patch: int = 96, channels: int = 3) -> int:
    """The number of parameters of :class:`Discriminator` for ``patch`` x ``patch`` inputs."""
    n, cin = 0, channels
    for i, (cout, _) in enumerate(DISC_LAYERS):
        n += 9 * cin * cout + cout + (2 * cout if i else 0)  # conv (+ BN after the first)
        cin = cout
    flat = 512 * (patch // 16) ** 2
    return n + flat * 1024 + 1024 + 1024 + 1


def with_tv(content: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
            tv_weight: float = SRGAN_TV_WEIGHT) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """G's content loss with the report's total variation regulariser:
    ``loss(sr, hr) = content(sr, hr) + tv_weight * features.tv_loss(sr)``.

    Args:
        content: a content loss ``(sr, hr) -> scalar`` (e.g. a VGG loss), sr and hr (N, C, H, W)
            in [0, 1]; the TV term reads ``sr`` only (it smooths the output, whatever the target).
        tv_weight: >= 0; default the report's 2e-8 (see the module docstring for the
            normalisation); 0 gives ``content`` back unchanged.
    Returns:
        a loss function with the same signature, usable as ``gan_step(content_loss=...)`` or as
        ``fit``'s ``loss_fn``.
    """
    if not tv_weight >= 0:
        raise ValueError(f"tv_weight must be a number >= 0, got {tv_weight}")
    if tv_weight == 0:
        return content

    def loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return content(sr, hr) + tv_weight * tv_loss(sr)
    return loss


@torch.no_grad()
def init_as_interpolator(net: "SRResNet") -> "SRResNet":
    """Initialise an SRResNet so that, untrained, it enlarges its input by smoothed nearest-neighbour
    interpolation (an "identity" initialisation; the architecture is unchanged). Returns ``net``.

    The first ``C`` head features copy the input channels (a centre tap of 1), every residual
    block's last batch-norm scale and ``body_end``'s batch norm start at 0 (each block, and the
    body, start as the identity: zero-init residuals, Goyal et al. 2017), each sub-pixel stage
    copies those C features to its 4 sub-pixel positions (nearest-neighbour x2), and the 9x9 output
    convolution smooths them with a 7-tap triangle. All other weights keep PyTorch's random
    initialisation, so training starts near interpolation instead of at a constant image: on a CPU
    budget of a few hundred steps this is the difference between being below and above bicubic.
    """
    c = net.tail.out_channels
    head = net.head[0]
    head.weight[:c] = 0
    head.bias[:c] = 0
    for i in range(c):
        head.weight[i, i, head.kernel_size[0] // 2, head.kernel_size[1] // 2] = 1
    for blk in net.body:
        if hasattr(blk, "bn2"):
            blk.bn2.weight.zero_()
    net.body_end[1].weight.zero_()
    net.body_end[1].bias.zero_()
    for up in net.upsample:
        k = up.conv.kernel_size[0] // 2
        up.conv.weight[:4 * c] = 0
        up.conv.bias[:4 * c] = 0
        for i in range(c):
            up.conv.weight[4 * i:4 * i + 4, i, k, k] = 1
    t = torch.tensor([1., 2., 3., 4., 3., 2., 1.]) / 16
    net.tail.weight.zero_()
    net.tail.bias.zero_()
    off = (net.tail.kernel_size[0] - 7) // 2
    for i in range(c):
        net.tail.weight[i, i, off:off + 7, off:off + 7] = torch.outer(t, t)
    return net


@torch.no_grad()
def to_grey(net: "SRResNet") -> "SRResNet":
    """A 1-channel copy of an RGB SRResNet that computes, on a grey image g (N, 1, h, w),
    exactly ``net(g.expand(-1, 3, -1, -1)).mean(1, keepdim=True)`` (the way notebook 08 runs the
    natural-image model on depth images).

    The head's 9x9 filters are summed over the three input channels (the input channels are
    equal), the tail's filters and bias averaged over the three outputs (the mean is linear);
    everything else is copied. Returns a new ``SRResNet(channels=1, scale=net.scale)`` on the
    device and in the mode ``net`` is in; ``net`` is unchanged.
    """
    if net.head[0].in_channels != 3 or net.tail.out_channels != 3:
        raise ValueError("to_grey needs an RGB SRResNet (3 input and 3 output channels), got "
                         f"{net.head[0].in_channels} -> {net.tail.out_channels}")
    grey = SRResNet(blocks=len(net.body), width=net.head[0].out_channels, channels=1,
                    scale=net.scale).to(next(net.parameters()).device)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["head.0.weight"] = state["head.0.weight"].sum(1, keepdim=True)
    state["tail.weight"] = state["tail.weight"].mean(0, keepdim=True)
    state["tail.bias"] = state["tail.bias"].mean(0, keepdim=True)
    grey.load_state_dict(state)
    return grey.train(net.training)


class ResidualBlock(nn.Module):
    """x + BN(Conv3x3(PReLU(BN(Conv3x3(x))))), ``width`` channels, size kept (padding 1).

    Input/output (N, width, h, w). Parameters: conv1, bn1, prelu, conv2, bn2.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.prelu = nn.PReLU(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class Upsampler(nn.Module):
    """One sub-pixel stage: Conv3x3 (width -> 4 width), pixel_shuffle(2), PReLU (width slopes).

    (N, width, h, w) -> (N, width, 2h, 2w). Parameters: conv, prelu.
    """

    def __init__(self, width: int = 64):
        super().__init__()
        self.conv = nn.Conv2d(width, 4 * width, 3, padding=1)
        self.prelu = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(F.pixel_shuffle(self.conv(x), 2))


class SRResNet(nn.Module):
    """SRResNet (the generator of SRGAN): LR (N, C, h, w) in [0, 1] -> SR (N, C, s h, s w).

    Args:
        blocks: residual blocks B (16 in the paper).
        width: feature channels (64).
        channels: 3 for RGB (the paper), 1 for a height field.
        scale: 2, 4 or 8 (one x2 sub-pixel stage per factor 2).
        block, upsampler: the classes of a residual block and of a sub-pixel stage, called with
            ``width`` (notebook 08 passes the student's); default :class:`ResidualBlock`,
            :class:`Upsampler`.
    The output is linear (not clamped): clamp to [0, 1] when you show or score it.
    """

    def __init__(self, blocks: int = 16, width: int = 64, channels: int = 3, scale: int = 4,
                 block: type = ResidualBlock, upsampler: type = Upsampler):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8 (x2 sub-pixel stages), not {scale}")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))
        self.body = nn.Sequential(*[block(width) for _ in range(blocks)])
        self.body_end = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
        self.upsample = nn.Sequential(*[upsampler(width) for _ in range(scale.bit_length() - 1)])
        self.tail = nn.Conv2d(width, channels, 9, padding=4)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        h0 = self.head(lr)
        h = self.body_end(self.body(h0)) + h0   # the long skip connection
        return self.tail(self.upsample(h))


class Discriminator(nn.Module):
    """SRGAN's discriminator for ``patch`` x ``patch`` images (a multiple of 16), see the module
    docstring. Input (N, channels, patch, patch) in [0, 1]; output logits (N,).

    Parameters: features.* (the convolutions and BNs), classifier.1 (dense 1024), classifier.3
    (dense 1).
    """

    def __init__(self, patch: int = 96, channels: int = 3):
        super().__init__()
        if patch % 16:
            raise ValueError(f"patch must be a multiple of 16 (four stride-2 convolutions), "
                             f"not {patch}")
        self.patch = patch
        layers, cin = [], channels
        for i, (cout, stride) in enumerate(DISC_LAYERS):
            layers.append(nn.Conv2d(cin, cout, 3, stride, 1))
            if i:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(512 * (patch // 16) ** 2, 1024),
                                        nn.LeakyReLU(0.2), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.patch, self.patch):
            raise ValueError(f"this discriminator was built for {self.patch}x{self.patch} "
                             f"patches, got {tuple(x.shape[-2:])}: build Discriminator(patch=...)")
        return self.classifier(self.features(x)).flatten()
