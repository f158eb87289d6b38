"""Perceptual features for SRGAN's content loss and Gatys'/Johnson's style transfer (08-10).

``load_features(layers)`` returns a frozen feature extractor ``feats`` with the papers' layer names
(``relu1_1`` ... ``relu5_4``): ``feats(x)`` takes images (N, 3, H, W) in [0, 1] RGB (ImageNet
normalisation happens inside) and returns ``{name: (N, C_l, H_l, W_l)}`` for the requested layers.
The network stops after the deepest requested layer (no wasted compute).

    feats = load_features(GATYS_STYLE + (GATYS_CONTENT,))   # prints where they come from
    grams_s = {k: gram(v) for k, v in feats(y_s, GATYS_STYLE).items()}
    h_c = feats(y_c, [GATYS_CONTENT])[GATYS_CONTENT]
    f = feats(x)
    loss = alpha * content_loss(f[GATYS_CONTENT], h_c) + beta * style_loss(f, grams_s)
    plt.title(f"style transfer ({feats.source})")

Where the features come from is never silent: ``feats.source`` is a short string for every figure
title and table row ("features: ImageNet VGG-19" or "features: random multi-scale (offline)"),
and it is printed once when the features are loaded.

* **ImageNet VGG-19 / VGG-16** (Simonyan & Zisserman 2014) with torchvision's weights
  (``IMAGENET1K_V1``), from torchvision's cache (``torch.hub.get_dir()/checkpoints``) or downloaded
  once (``python data_scripts/download.py vgg19 vgg16``). Offline the download fails within seconds.
* **Offline fallback: random multi-scale filters** (Ustyuzhaninov, Brendel, Gatys & Bethge,
  "What does it take to generate natural textures?", ICLR 2017, arXiv:1606.00021): one layer of
  seeded random convolutions at five sizes, ReLU. The papers' names map onto its scales by VGG
  block: every layer of block b (``conv{b}_k``, ``relu{b}_k``, ``pool{b}``) reads scale b, with
  kernel ``RANDOM_KERNELS[b-1]`` px, average-pooled by 2^(b-1) like VGG's resolution at that block
  (so ``relu4_2`` is coarse, as in VGG). Chosen over a randomly initialised VGG-19 by measurement:
  see ``docs/features.md`` and ``benchmarks/texture_fallback.py``.

The choice is ``source="auto"`` (ImageNet if available, else the fallback), ``"imagenet"`` (raise
if the weights are absent) or ``"random"``; the environment variable ``COURSE_FEATURES`` sets the
default, e.g. ``COURSE_FEATURES=random`` to reproduce the offline results on an online machine.

Layer sets of the papers: ``SRGAN_LAYERS`` (VGG22 = relu2_2, VGG54 = relu5_4), ``GATYS_CONTENT``,
``GATYS_STYLE``, ``JOHNSON_CONTENT``, ``JOHNSON_STYLE``.

Losses, in the lecture's notation (G^l(x) the Gram matrix of layer l):

* ``gram(f)``: G^l = F F^T / (C H W) with F the (C, H*W) feature matrix (Johnson et al.'s
  normalisation; the lecture's sum over pixels divided by C*H*W).
* ``content_loss``: ||VGG^l(x) - VGG^l(y)||^2, by default relative to ||VGG^l(y)||^2.
* ``style_loss``: sum over layers of ||G^l(x) - G^l(y)||_F^2, by default each relative to
  ||G^l(y)||_F^2 (every layer counts equally; alpha/beta mean the same for both feature sources).
* ``perceptual_loss``: SRGAN's VGG loss, the MSE of feature maps divided by 12.75.
* ``matched_content_weight``: the weight that brings a feature loss to the size of the pixel MSE
  (what SRGAN's 1/12.75 does for ImageNet VGG-19; the offline features need their own).
* ``tv_loss``: the lecture's total variation ||nabla x||_1 (mean absolute neighbour difference).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from .download import sha256sum

__all__ = ["layer_names", "build_vgg", "load_features", "gram", "content_loss", "style_loss", "gatys_loss",
           "perceptual_loss", "matched_content_weight", "tv_loss", "VGGFeatures", "RandomFeatures", "SRGAN_LAYERS",
           "GATYS_CONTENT", "GATYS_STYLE", "JOHNSON_CONTENT", "JOHNSON_STYLE",
           "IMAGENET_MEAN", "IMAGENET_STD", "RANDOM_KERNELS", "RANDOM_CHANNELS", "SRGAN_RESCALE"]

SRGAN_LAYERS = {"VGG22": "relu2_2", "VGG54": "relu5_4"}
GATYS_CONTENT = "relu4_2"
GATYS_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
JOHNSON_CONTENT = "relu2_2"
JOHNSON_STYLE = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SRGAN_RESCALE = 12.75  # SRGAN divides VGG feature maps by 12.75 (loss scale comparable to MSE)
RANDOM_KERNELS = (3, 5, 9, 15, 23)  # fallback kernel size (px) for VGG blocks 1..5
RANDOM_CHANNELS = 64  # fallback filters per scale

_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}  # convolutions per block
_WIDTHS = (64, 128, 256, 512, 512)
_NAMES = {"vgg16": "VGG-16", "vgg19": "VGG-19"}
_IMAGENET_FAILED: dict[str, str] = {}  # arch -> why the weights could not be had (this process)


def layer_names(arch: str = "vgg19") -> list[str]:
    """The names of ``torchvision.models.<arch>().features``' modules, in order, as the papers
    call them: ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...`` (37 for VGG-19, 31
    for VGG-16). Index i of the list is module i of torchvision's ``features``."""
    if arch not in _BLOCKS:
        raise ValueError(f"unknown arch {arch!r}; choose 'vgg19' or 'vgg16'")
    names = []
    for b, n in enumerate(_BLOCKS[arch], 1):
        for k in range(1, n + 1):
            names += [f"conv{b}_{k}", f"relu{b}_{k}"]
        names.append(f"pool{b}")
    return names


def build_vgg(arch: str = "vgg19", upto: str | None = None) -> nn.Sequential:
    """The convolutional part of VGG (torchvision's ``features``: 3x3 convolutions, ReLU, 2x2 max
    pooling), without weights (torchvision's initialisation: Kaiming normal, zero bias), up to
    and including the layer named ``upto`` (default: all of it). Its ``state_dict`` keys are
    torchvision's without the ``features.`` prefix."""
    names = layer_names(arch)
    n_modules = len(names) if upto is None else names.index(upto) + 1
    layers: list[nn.Module] = []
    c_in = 3
    for n, width in zip(_BLOCKS[arch], _WIDTHS):
        for _ in range(n):
            conv = nn.Conv2d(c_in, width, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=False)]
            c_in = width
        layers.append(nn.MaxPool2d(2, 2))
        if len(layers) >= n_modules:
            break
    return nn.Sequential(*layers[:n_modules])


def _check_input(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) or (N, 1, H, W) in [0, 1] -> (N, 3, H, W) normalised by ImageNet's mean/std."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"features expect images (N, 3, H, W) RGB in [0, 1] (or (N, 1, H, W), "
                         f"repeated to RGB); got shape {tuple(x.shape)}. Add a batch dimension "
                         "with x[None] if needed.")
    if not x.is_floating_point():
        raise TypeError(f"features expect float images in [0, 1], got {x.dtype}; convert 8-bit "
                        "images with x.float() / 255")
    if not x.requires_grad and x.abs().amax() > 10:  # (an image being optimised may overshoot)
        raise ValueError(f"features expect pixel values in [0, 1]; got values up to "
                         f"{x.abs().amax().item():.4g}. Divide 8-bit images by 255.")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def _names(layers) -> tuple[str, ...]:
    """A layer name or a sequence of names -> a tuple without repeats, in the given order
    (``JOHNSON_STYLE + (JOHNSON_CONTENT,)`` names relu2_2 twice)."""
    return tuple(dict.fromkeys([layers] if isinstance(layers, str) else layers))


def _known_names(layers, arch: str) -> tuple[str, ...]:
    """``_names(layers)``, refused with the list of valid names unless all are layers of ``arch``."""
    names = layer_names(arch)
    wanted = _names(layers)
    unknown = [name for name in wanted if name not in names]
    if unknown or not wanted:
        raise KeyError(f"unknown {_NAMES[arch]} layers {unknown}; names are {names}")
    return wanted


def _wanted(requested, available: tuple[str, ...]) -> list[str]:
    layers = available if requested is None else _names(requested)
    missing = [name for name in layers if name not in available]
    if missing:
        raise KeyError(f"layers {missing} were not requested when the features were loaded "
                       f"(available: {list(available)}); pass them to load_features(...).")
    return list(layers)


class VGGFeatures(nn.Module):
    """VGG truncated after the deepest requested layer; ``forward(x)`` -> {name: features}.

    Args:
        layers: names from :func:`layer_names` (e.g. ``GATYS_STYLE``).
        arch: "vgg19" or "vgg16".
        state_dict: weights in torchvision's layout (``features.0.weight``, ...); None keeps the
            random initialisation (for tests and the random-VGG comparison).
        source: the label stored in ``self.source``.
    """

    def __init__(self, layers, arch: str = "vgg19", state_dict: dict | None = None,
                 source: str | None = None):
        super().__init__()
        names = layer_names(arch)
        self.layers = _known_names(layers, arch)
        last = max(names.index(name) for name in self.layers)
        self.body = build_vgg(arch, upto=names[last])  # nothing beyond the deepest layer
        self.names = names[:last + 1]
        if state_dict is not None:  # torchvision's keys features.<i>.weight/bias, i <= last
            convs = {k[len("features."):]: v for k, v in state_dict.items()
                     if k.startswith("features.") and int(k.split(".")[1]) <= last}
            self.body.load_state_dict(convs)
        self.arch = arch
        self.source = source or f"features: random-init {_NAMES[arch]}"
        self.imagenet = state_dict is not None and "ImageNet" in self.source
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        """x: (N, 3, H, W) in [0, 1] RGB -> {name: (N, C_l, H_l, W_l)} for ``layers`` (default:
        all layers given at construction). Gradients flow to x; the weights are frozen."""
        wanted = _wanted(layers, self.layers)
        h = _check_input(x)
        out = {}
        for name, module in zip(self.names, self.body):
            h = module(h)
            if name in wanted:
                out[name] = h
                if len(out) == len(wanted):
                    break
        return {name: out[name] for name in wanted}


def _block(name: str) -> int:
    m = re.fullmatch(r"(?:conv|relu)(\d)_\d|pool(\d)", name)
    if m is None:
        raise KeyError(f"unknown layer {name!r}; use the papers' names (relu1_1 ... relu5_4)")
    return int(m.group(1) or m.group(2))


class RandomFeatures(nn.Module):
    """The offline fallback: one layer of seeded random filters at several scales, ReLU
    (Ustyuzhaninov et al. 2017), behind the papers' VGG layer names.

    Scale b (1..5) is a bank of ``channels`` random filters of ``kernels[b-1]`` px on the
    ImageNet-normalised RGB image (Gaussian, each filter of unit norm, not zero-mean so that the
    Gram matrices also hold the mean colour; zero padding), then ReLU, then (``pooled=True``)
    an average pooling by 2^(b-1), so that layer ``relu{b}_k`` has VGG's spatial size at block b.
    Names map by block: ``conv{b}_k`` -> the scale's responses before ReLU, ``relu{b}_k`` ->
    after ReLU (all k of a block give the same tensor), ``pool{b}`` -> after ReLU, pooled by 2
    once more. Only the requested scales are computed.
    The filters are a function of ``seed`` alone (a private generator, the global RNG untouched).
    """

    def __init__(self, layers, arch: str = "vgg19", seed: int = 0,
                 kernels: tuple[int, ...] = RANDOM_KERNELS, channels: int = RANDOM_CHANNELS,
                 pooled: bool = True):
        super().__init__()
        self.layers = _known_names(layers, arch)
        self.arch, self.seed, self.kernels, self.pooled = arch, seed, tuple(kernels), pooled
        self.imagenet = False
        self.source = "features: random multi-scale (offline)"
        gen = torch.Generator().manual_seed(seed)
        for b, k in enumerate(self.kernels, 1):  # all scales drawn, so each is seed-determined
            w = torch.randn(channels, 3, k, k, generator=gen)
            w = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            self.register_buffer(f"weight{b}", w)
        self.eval()

    def forward(self, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
        """x: (N, 3, H, W) in [0, 1] RGB -> {name: (N, channels, H_b, W_b)} with
        H_b = H // 2^(b-1) when pooled, else H."""
        wanted = _wanted(layers, self.layers)
        h = _check_input(x)
        scales: dict[int, torch.Tensor] = {}
        out = {}
        for name in wanted:
            b = _block(name)
            if b not in scales:
                w = getattr(self, f"weight{b}")
                scales[b] = F.conv2d(h, w, padding=w.shape[-1] // 2)
            f = scales[b] if name.startswith("conv") else F.relu(scales[b])
            if self.pooled and b > 1:
                f = F.avg_pool2d(f, 2 ** (b - 1))
            if name.startswith("pool"):
                f = F.avg_pool2d(f, 2)
            out[name] = f
        return out


_SHA_SEEN: dict[tuple, bool] = {}  # (path, size, mtime) -> the file's sha256 matches its name


def _weights_file(arch: str):
    """(path, genuine) of torchvision's cached ``arch`` weights: ``genuine`` when the file's sha256
    starts with the hash torchvision puts in its name (``vgg19-dcbb9e9d.pth``), as torch.hub checks
    on download. A file placed there by hand (a test's random weights) is not genuine."""
    from torchvision.models import VGG16_Weights, VGG19_Weights

    url = {"vgg19": VGG19_Weights, "vgg16": VGG16_Weights}[arch].IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    m = re.search(r"-([0-9a-f]{6,})\.", path.name)
    if not path.is_file() or m is None:
        return path, False
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_SEEN:
        _SHA_SEEN[key] = sha256sum(path).startswith(m.group(1))
    return path, _SHA_SEEN[key]




def load_features(layers, arch: str = "vgg19", source: str | None = None, seed: int = 0,
                  device: str | torch.device = "cpu", verbose: bool = True
                  ) -> VGGFeatures | RandomFeatures:
    """A frozen feature extractor for ``layers`` (the papers' names, e.g. ``GATYS_STYLE``).

    Args:
        layers: a layer name or a sequence of names (see :func:`layer_names`).
        arch: "vgg19" (SRGAN, Gatys) or "vgg16" (Johnson).
        source: "auto" (ImageNet weights if cached or downloadable, else the offline fallback),
            "imagenet" (raise ``DownloadError`` if they cannot be had) or "random" (the fallback).
            Default: ``$COURSE_FEATURES`` or "auto".
        seed: the fallback's filters (deterministic; the global RNG is not touched).
        verbose: print one line saying which features were loaded (and why the fallback).

    Returns:
        ``feats`` with ``feats(x)`` -> {name: tensor} for x (N, 3, H, W) in [0, 1], and
        ``feats.source`` (a string for figure titles), ``feats.imagenet`` (bool), ``feats.layers``.
    """
    from .download import DownloadError, vgg19_weights

    source = (source or os.environ.get("COURSE_FEATURES") or "auto").strip().lower()
    if source not in ("auto", "imagenet", "random"):
        raise ValueError(f"source must be 'auto', 'imagenet' or 'random', got {source!r} "
                         "(check $COURSE_FEATURES)")
    if arch not in _BLOCKS:
        raise ValueError(f"unknown arch {arch!r}; choose 'vgg19' or 'vgg16'")
    why = "COURSE_FEATURES=random" if source == "random" else ""
    if source != "random":
        if arch in _IMAGENET_FAILED and source == "auto":
            why = _IMAGENET_FAILED[arch]  # tried in this process already: do not wait again
        else:
            try:
                state = vgg19_weights(download=True, arch=arch)
                file, genuine = _weights_file(arch)
                label = (f"features: ImageNet {_NAMES[arch]}" if genuine else
                         f"features: {_NAMES[arch]} from an unverified {file.name} (not torchvision's)")
                feats = VGGFeatures(layers, arch, state, label)
                if verbose:
                    print(f"{feats.source} " + ("(torchvision IMAGENET1K_V1)" if genuine else
                          "(its sha256 does not match the hash in its name: not the ImageNet "
                          "weights; delete it and run `python data_scripts/download.py "
                          f"{arch}` for them)") + f", layers {', '.join(feats.layers)}")
                return feats.to(device)
            except DownloadError as e:
                if source == "imagenet":
                    raise
                why = _IMAGENET_FAILED[arch] = str(e).split(". ")[0]
    feats = RandomFeatures(layers, arch, seed=seed)
    if verbose:
        print(f"{feats.source}, seed {seed}, layers {', '.join(feats.layers)}")
        if why:
            print(f"  (ImageNet {_NAMES[arch]} not used: {why}"
                  + (f"; to use it, run `python data_scripts/download.py {arch}` once while "
                     "online)" if source == "auto" else ")"))
    return feats.to(device)


def gram(f: torch.Tensor) -> torch.Tensor:
    """Gram matrices G^l of feature maps: (N, C, H, W) -> (N, C, C).

    G[n, m, k] = sum_{i,j} f[n, m, i, j] f[n, k, i, j] / (C H W): the lecture's G^l divided by
    C*H*W (Johnson et al. 2016's normalisation), so that images of different sizes and layers of
    different widths give comparable values. Symmetric, positive semi-definite.
    """
    if f.dim() != 4:
        raise ValueError(f"gram expects feature maps (N, C, H, W), got shape {tuple(f.shape)}")
    n, c, h, w = f.shape
    m = f.reshape(n, c, h * w)
    return m @ m.transpose(1, 2) / (c * h * w)


def content_loss(fx: torch.Tensor, fy: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """The lecture's content loss ||VGG^l(x) - VGG^l(y)||_2^2 for feature maps (N, C, H, W).

    ``normalize=True``: divided by ||VGG^l(y)||_2^2 (a relative error; 1 for x's features 0),
    so that alpha means the same for every layer and both feature sources. ``normalize=False``:
    the mean over all elements (the lecture's code, ``((hx - hy)**2).mean()``). A scalar.
    """
    if fx.shape[1:] != fy.shape[1:]:
        raise ValueError(f"content_loss: feature shapes differ, {tuple(fx.shape)} vs "
                         f"{tuple(fy.shape)}; x and y must have the same size")
    err = (fx - fy).pow(2)
    if normalize:
        energy = fy.pow(2).sum() * (fx.shape[0] / fy.shape[0])  # y may be one image for N
        return err.sum() / energy.clamp_min(1e-12)
    return err.mean()


def style_loss(fx: dict[str, torch.Tensor], grams_y: dict[str, torch.Tensor],
               weights: dict[str, float] | None = None, normalize: bool = True) -> torch.Tensor:
    """The lecture's style loss sum_l w_l ||G^l(x) - G^l(y)||_F^2 over the layers of ``grams_y``.

    Args:
        fx: features of x, {name: (N, C, H, W)} (e.g. ``feats(x)``).
        grams_y: target Gram matrices {name: (1 or N, C, C)}, ``gram(feats(y)[name])``.
        weights: w_l per layer (default 1).
        normalize: divide each layer's term by ||G^l(y)||_F^2, so every layer counts equally
            and beta means the same for both feature sources; False: the lecture's formula.
    Returns:
        a scalar: the sum over layers of the mean over the batch.
    """
    total = 0.0
    for name, gy in grams_y.items():
        gx = gram(fx[name])
        term = (gx - gy).pow(2).sum(dim=(1, 2)).mean()
        if normalize:
            term = term / gy.pow(2).sum(dim=(1, 2)).mean().clamp_min(1e-12)
        total = total + (1.0 if weights is None else weights[name]) * term
    return total


def gatys_loss(fx: dict[str, torch.Tensor], fc: dict[str, torch.Tensor], grams_s: dict[str, torch.Tensor],
               alpha: float, beta: float, layer: str) -> torch.Tensor:
    """Gatys' objective on features already computed (notebook 09, Exercise 9.2's course version):
    alpha * ||F^l(x) - F^l(c)||^2 / ||F^l(c)||^2 (``layer``) + beta * sum over ``grams_s`` of
    ||G(F^k(x)) - G_s^k||_F^2 / ||G_s^k||_F^2, sums over the whole batch. A scalar."""
    content = (fx[layer] - fc[layer]).pow(2).sum() / fc[layer].pow(2).sum()
    style = sum((gram(fx[k]) - g).pow(2).sum() / g.pow(2).sum() for k, g in grams_s.items())
    return alpha * content + beta * style


def perceptual_loss(feats: nn.Module, sr: torch.Tensor, hr: torch.Tensor,
                    layer: str = "relu5_4") -> torch.Tensor:
    """SRGAN's VGG loss: mean((VGG^l(sr) - VGG^l(hr))^2) with feature maps divided by 12.75.

    Args:
        feats: from :func:`load_features` with ``layer`` among its layers.
        sr, hr: (N, 3, H, W) in [0, 1]; gradients flow to ``sr`` only.
        layer: "relu2_2" (SRGAN's VGG22) or "relu5_4" (VGG54), see ``SRGAN_LAYERS``.
    Returns:
        a scalar (= MSE of the raw feature maps / 12.75^2 = 162.56).
    """
    with torch.no_grad():
        fh = feats(hr, [layer])[layer]
    fs = feats(sr, [layer])[layer]
    return F.mse_loss(fs / SRGAN_RESCALE, fh / SRGAN_RESCALE)


def matched_content_weight(feats: nn.Module, sr: torch.Tensor, hr: torch.Tensor,
                           layer: str = "relu5_4") -> float:
    """The weight w with w * perceptual_loss(feats, sr, hr, layer) == mse(sr, hr) on these pairs.

    SRGAN divides VGG-19's feature maps by 12.75 so that the VGG loss is "of a scale comparable to
    the MSE loss"; that constant belongs to ImageNet VGG-19. The offline features (random filters)
    give losses of another size (at relu5_4 a few hundred times smaller than the MSE on bicubic
    enlargements: x344 on the 16 training patches of the shipped srgan-x4), so a content loss built on them hardly counts beside 1e-3 x the adversarial term.
    Measuring w on training pairs (e.g. bicubic enlargements and their HR patches) restores the
    balance the paper intended. Returns a Python float > 0.

    Args:
        feats: from :func:`load_features` with ``layer`` among its layers.
        sr, hr: (N, 3, H, W) in [0, 1], the pairs to match on (sr != hr somewhere).
    """
    with torch.no_grad():
        pixel = F.mse_loss(sr, hr).item()
        feature = perceptual_loss(feats, sr, hr, layer).item()
    if not (pixel > 0 and feature > 0):
        raise ValueError(f"matched_content_weight needs pairs that differ in pixels and in {layer} "
                         f"features (pixel MSE {pixel:.3g}, feature loss {feature:.3g}): pass e.g. "
                         "bicubic enlargements and their HR patches")
    return pixel / feature


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation ||nabla x||_1 of images (N, C, H, W): the mean absolute difference between
    vertical neighbours plus the mean between horizontal neighbours (a scalar, 0 for a flat image;
    Johnson et al.'s smoothness term, weighted by gamma)."""
    if x.dim() != 4:
        raise ValueError(f"tv_loss expects images (N, C, H, W), got shape {tuple(x.shape)}")
    return ((x[..., 1:, :] - x[..., :-1, :]).abs().mean()
            + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())
