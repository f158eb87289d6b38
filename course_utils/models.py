"""The course's networks as plain ``nn.Module`` s (architectures only).

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

Johnson et al.'s transformation network of notebook 10 (``TransformNet``, ``ResidualBlock``,
``upsample_conv``; described in :mod:`course_utils.stylize`, which uses it).

The shipped checkpoints of these networks (and of ``srgan``'s and ``pixelcnn``'s) are
records of :mod:`course_utils.zoo`, which loads and saves them; this module holds architectures only.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["count_weights", "count_parameters", "srcnn_border", "dcgan_init", "deconv_as_conv",
           "with_subpixel", "fsrcnn_to_scale", "SRCNN", "VDSR", "FSRCNN", "ESPCN", "SubPixelConv",
           "DCGANGenerator", "DCGANDiscriminator", "JOHNSON_PAPER", "JOHNSON_SMALL", "ResidualBlock",
           "TransformNet", "upsample_conv"]


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
    """Radford et al.: conv weights ~ N(0, 0.02²) (standard deviation 0.02), BatchNorm scale ~ N(1, 0.02²), shift 0.
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


# ---- Johnson et al.'s transformation network (notebook 10; course_utils.stylize uses it) ----------
JOHNSON_PAPER = {"widths": (32, 64, 128), "blocks": 5}   # Johnson et al.'s network
JOHNSON_SMALL = {"widths": (16, 32, 64), "blocks": 3}    # the course's shipped networks (CPU-trained)


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Conv2d:
    """A k x k convolution with reflection padding k // 2 ("same" size for stride 1)."""
    return nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, padding_mode="reflect")


def upsample_conv(c_in: int, c_out: int, upsample: str = "resize") -> nn.Module:
    """The upsampling stage's convolution: a 3x3 convolution applied after a nearest x2 resize
    (``"resize"``) or a fractionally strided (transposed) 3x3 convolution with stride 2 that
    doubles the size itself (``"transposed"``: padding 1, output_padding 1)."""
    if upsample == "resize":
        return _conv(c_in, c_out, 3)
    if upsample == "transposed":
        return nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
    raise ValueError(f"upsample must be 'resize' or 'transposed', got {upsample!r}")


class ResidualBlock(nn.Module):
    """x + IN(conv2(ReLU(IN(conv1(x))))): two 3x3 convolutions (reflection padding), instance
    normalisation with a learnt scale and shift, ReLU between them and none after the sum
    (He et al. 2016's block as Johnson et al. use it). (N, C, H, W) -> (N, C, H, W).
    Parameters: conv1, in1, conv2, in2."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = _conv(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(h))


class TransformNet(nn.Module):
    """Johnson et al.'s transformation network: photo (N, 3, H, W) in [0, 1] -> stylised image
    (N, 3, H, W) in [0, 1]. H and W must be multiples of 4 (two stride-2 stages; :func:`stylize`
    pads any image).

    Args:
        widths: (w1, w2, w3) channels at full, half and quarter resolution (paper: 32, 64, 128).
        blocks: residual blocks at quarter resolution (paper: 5).
        upsample: "resize" (nearest x2 then conv) or "transposed" (fractionally strided conv).
    Parameters: conv1, in1, conv2, in2, conv3, in3, res.0 ... res.{B-1}, up1, in4, up2, in5,
    conv_out (names shared with notebook 10, so the shipped state dicts load into its model).
    """

    def __init__(self, widths: tuple[int, int, int] = JOHNSON_PAPER["widths"], blocks: int = JOHNSON_PAPER["blocks"],
                 upsample: str = "resize"):
        super().__init__()
        w1, w2, w3 = widths
        self.widths, self.blocks, self.upsample = tuple(widths), blocks, upsample
        self.conv1, self.in1 = _conv(3, w1, 9), nn.InstanceNorm2d(w1, affine=True)
        self.conv2, self.in2 = _conv(w1, w2, 3, 2), nn.InstanceNorm2d(w2, affine=True)
        self.conv3, self.in3 = _conv(w2, w3, 3, 2), nn.InstanceNorm2d(w3, affine=True)
        self.res = nn.Sequential(*[ResidualBlock(w3) for _ in range(blocks)])
        self.up1, self.in4 = upsample_conv(w3, w2, upsample), nn.InstanceNorm2d(w2, affine=True)
        self.up2, self.in5 = upsample_conv(w2, w1, upsample), nn.InstanceNorm2d(w1, affine=True)
        self.conv_out = _conv(w1, 3, 9)

    def _up(self, conv: nn.Module, h: torch.Tensor) -> torch.Tensor:
        if self.upsample == "resize":
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        return conv(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"TransformNet expects photos (N, 3, H, W) in [0, 1], got shape "
                             f"{tuple(x.shape)}")
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"TransformNet needs H and W multiples of 4 (two stride-2 stages), got "
                             f"{tuple(x.shape[-2:])}; use stylize(net, x), which pads and crops")
        h = F.relu(self.in1(self.conv1(x)))
        h = F.relu(self.in2(self.conv2(h)))
        h = F.relu(self.in3(self.conv3(h)))
        h = self.res(h)
        h = F.relu(self.in4(self._up(self.up1, h)))
        h = F.relu(self.in5(self._up(self.up2, h)))
        return torch.sigmoid(self.conv_out(h))
