"""Feed-forward style transfer (Johnson, Alahi and Fei-Fei 2016): the transformation network.

A network f(y_c; theta_s) trained once per style y_s with Gatys' loss plus total variation,

    min_theta  sum_i  alpha l_content(x_i; y_c^i) + beta sum_j l_style^j(x_i; y_s) + gamma ||grad x_i||_1,
    x_i = f(y_c^i; theta_s),

then stylises any photo with one forward pass (notebook 10; the losses are in
:mod:`course_utils.features`, the training script is ``data_scripts/train_johnson.py``).

The architecture (its classes are in :mod:`course_utils.models`; their names stay importable
from here) is that of the paper's supplementary material, with two changes that are not the
paper's: instance normalisation (Ulyanov, Vedaldi and Lempitsky 2016, a later change to this
network; Johnson et al. used batch normalisation) and, by default, resize-convolution upsampling
(the course's choice, after Odena, Dumoulin and Olah 2016)::

    conv 9x9, w1, stride 1   - instance norm - ReLU        (N, w1, H,   W)
    conv 3x3, w2, stride 2   - instance norm - ReLU        (N, w2, H/2, W/2)   2 strided convolutions
    conv 3x3, w3, stride 2   - instance norm - ReLU        (N, w3, H/4, W/4)   down
    B residual blocks (conv 3x3 - IN - ReLU - conv 3x3 - IN, plus the input)
    upsample x2, w2          - instance norm - ReLU        (N, w2, H/2, W/2)   2 upsampling stages:
    upsample x2, w1          - instance norm - ReLU        (N, w1, H,   W)     resize-convolution or
    conv 9x9, 3              - sigmoid                     (N, 3,  H,   W)     fractionally strided

with (w1, w2, w3) = (32, 64, 128) and B = 5 in the paper (``widths``, ``blocks``; the course ships
smaller networks trained on a CPU). Every convolution pads by reflection (no dark frame at the
borders). Upsampling is ``upsample="resize"`` (nearest-neighbour x2, then a 3x3 convolution:
Odena, Dumoulin and Olah 2016, no checkerboard from uneven overlap; the course's default) or ``"transposed"`` (the paper's fractionally
strided 3x3 convolution, stride 2, whose uneven overlap makes checkerboard artefacts).
The output goes through a sigmoid, so it is an image in [0, 1] (the paper: a scaled tanh).

    python -m course_utils.stylize --style starry_night photo.png out.png   # a shipped network
    python -m course_utils.stylize --list
"""
from __future__ import annotations

import argparse
import sys

import torch
from torch import nn
import torch.nn.functional as F

# the architecture is in models.py (with the course's other networks); its names stay here too
from .models import JOHNSON_PAPER as PAPER, JOHNSON_SMALL as SMALL, ResidualBlock, TransformNet, upsample_conv
from .zoo import PREFIX, load_shipped, style_names  # PREFIX: registry names are johnson-<style>

__all__ = ["ResidualBlock", "TransformNet", "RandomCrops", "upsample_conv", "stylize", "style_targets",
           "objective", "lbfgs_pixels", "square", "style_names", "record_name", "load_style", "main", "SMALL",
           "PAPER", "LAYERS"]

# Gatys' layers: the network is trained on, and judged by, the objective of notebook 09
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2")


def stylize(net: nn.Module, photo: torch.Tensor) -> torch.Tensor:
    """One feed-forward stylisation of ``photo`` (1 or N, 3 or 1, H, W) in [0, 1], any H, W >= 4:
    reflection-padded to multiples of 4, passed through ``net`` without gradients, cropped back.
    Returns (N, 3, H, W) in [0, 1]."""
    if photo.dim() == 3:
        photo = photo[None]
    if photo.shape[1] == 1:
        photo = photo.expand(-1, 3, -1, -1)
    h, w = photo.shape[-2:]
    ph, pw = -h % 4, -w % 4
    x = F.pad(photo, (0, pw, 0, ph), mode="reflect") if ph or pw else photo
    with torch.no_grad():
        out = net(x.to(next(net.parameters()).device))
    return out[..., :h, :w]


def square(img: torch.Tensor, side: int) -> torch.Tensor:
    """Centre crop of ``img`` (1, C, H, W) to a square, resized to side x side (antialiased
    bicubic), clamped to [0, 1] (the style targets of notebooks 09 and 10)."""
    h, w = img.shape[-2:]
    s = min(h, w)
    img = img[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return F.interpolate(img, size=(side, side), mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1)


def style_targets(feats, style_img: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
    """{layer: G^l(y_s)} (1, C, C) for the style layers (default Gatys' relu1_1 ... relu5_1)."""
    from .features import GATYS_STYLE, gram
    layers = list(layers or GATYS_STYLE)
    with torch.no_grad():
        return {k: gram(v) for k, v in feats(style_img, layers).items()}


def objective(feats, x: torch.Tensor, photo: torch.Tensor, grams_s: dict, alpha: float = 1.0,
              beta: float = 1.0, gamma: float = 0.0, layer: str = "relu4_2",
              fc: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Gatys' objective of images x (N, 3, H, W) for photos (N, 3, H, W), plus Johnson's TV term.

    Returns {"content", "style", "tv", "gatys", "loss"}: scalars for the whole batch, with
    gatys = alpha * content + beta * style (notebook 09's relative losses, ``features.content_loss``
    and ``features.style_loss``) and loss = gatys + gamma * tv (what the networks are trained on).
    ``fc``: the photos' features at ``layer`` if already computed.
    """
    from .features import content_loss, style_loss, tv_loss
    wanted = list(dict.fromkeys(list(grams_s) + [layer]))
    if fc is None:
        with torch.no_grad():
            fc = feats(photo, [layer])[layer]
    fx = feats(x, wanted)
    content = content_loss(fx[layer], fc)
    style = style_loss(fx, grams_s)
    tv = tv_loss(x)
    gatys = alpha * content + beta * style
    return {"content": content, "style": style, "tv": tv, "gatys": gatys, "loss": gatys + gamma * tv}


def lbfgs_pixels(loss_fn, x0: torch.Tensor, evals: int, keep=(), history_size: int = 20,
                 eps: float = 1e-3) -> tuple[torch.Tensor, list[float], dict[int, torch.Tensor]]:
    """Minimise ``loss_fn(x)`` over images x in (0, 1) with L-BFGS (Gatys et al.'s optimiser).

    The pixels are not optimised directly: x = sigmoid(z) and L-BFGS runs on the unconstrained z,
    started at z0 = logit(x0 clamped to [eps, 1 - eps]) (so x starts within ``eps`` of ``x0``).
    Clamping x to [0, 1] inside the closure, the usual shortcut, changes the point L-BFGS has just
    evaluated behind its back: its line search and curvature pairs no longer describe the function
    it minimises, and it stalls (the last evaluations repeat the same few values; see
    ``tests/test_stylize.py``). The sigmoid keeps every evaluated point a valid image instead.

    Args:
        loss_fn: images (1 or N, 3, H, W) in (0, 1) -> scalar tensor (differentiable).
        x0: the start, same shape, values in [0, 1] (the photo, or noise).
        evals: the budget, in loss evaluations (one forward and backward pass each; the line search
            counts too). L-BFGS may stop a little earlier or later; ``len(history)`` says.
        keep: evaluation counts k at which to return the best image of the first k evaluations.
        history_size: L-BFGS's memory (curvature pairs).
        eps: the margin of the start inside (0, 1).
    Returns:
        (the best image seen (its loss is ``min(history)``), detached, in (0, 1);
         the loss after each evaluation; {k: the best image of the first k evaluations} for k in
         ``keep`` (the overall best where L-BFGS stopped before k)).
    """
    z = torch.logit(x0.detach().clamp(eps, 1 - eps)).requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=1, max_iter=evals, max_eval=evals, history_size=history_size,
                            tolerance_grad=0, tolerance_change=0, line_search_fn="strong_wolfe")
    history: list[float] = []
    best: list = [float("inf"), torch.sigmoid(z).detach().clone()]
    snaps: dict[int, torch.Tensor] = {}
    keep = set(keep)

    def closure():
        opt.zero_grad()
        x = torch.sigmoid(z)
        loss = loss_fn(x)
        loss.backward()
        value = loss.item()
        history.append(value)
        if value < best[0]:
            best[0], best[1] = value, x.detach().clone()
        if len(history) in keep:
            snaps[len(history)] = best[1]
        return loss

    opt.step(closure)
    for k in keep:
        snaps.setdefault(k, best[1])
    return best[1], history, snaps


class RandomCrops:
    """Endless batches (batch, 3, size, size) of random crops of ``images`` (each (1, 3, H, W) in
    [0, 1]), the training data of the style networks: an image drawn at random, rescaled by a
    random factor in [0.7, 1.3] (images smaller than the crop are first enlarged to ``size``; a
    rescaled side never goes below ``size``), a random crop, a random horizontal flip. All draws
    come from one seeded generator whose state is saved with the work file (resume)."""

    def __init__(self, images, size: int, batch: int, seed: int = 0):
        self.images, self.size, self.batch = images, size, batch
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return self

    def _one(self):
        g = self.generator
        img = self.images[int(torch.randint(len(self.images), (1,), generator=g))]
        h, w = img.shape[-2:]
        lo = self.size / min(h, w)
        f = max(lo, float(torch.empty(1).uniform_(0.7, 1.3, generator=g)) * max(lo, 1.0))
        nh, nw = max(self.size, round(h * f)), max(self.size, round(w * f))
        img = F.interpolate(img, size=(nh, nw), mode="bicubic", antialias=True,
                            align_corners=False).clamp(0, 1)
        i = int(torch.randint(nh - self.size + 1, (1,), generator=g))
        j = int(torch.randint(nw - self.size + 1, (1,), generator=g))
        crop = img[..., i:i + self.size, j:j + self.size]
        if torch.rand(1, generator=g) < 0.5:
            crop = crop.flip(-1)
        return crop

    def __next__(self):
        return torch.cat([self._one() for _ in range(self.batch)])

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


def record_name(style: str) -> str:
    """The registry name of the shipped network of ``style``: ``johnson-<style>``."""
    return PREFIX + style


def load_style(style: str, checkpoint_dir=None, device="cpu") -> tuple[TransformNet, dict]:
    """(network in eval mode, meta) of a shipped style; KeyError listing the styles if unknown."""
    if style not in style_names():
        raise KeyError(f"no shipped style network {style!r}; available: {', '.join(style_names())}")
    return load_shipped(record_name(style), checkpoint_dir, device)


MIN_SIDE = 8              # px: the network's 9x9 reflection padding needs more than 4
MAX_PIXELS = 2_000_000    # the command line's default: a larger photo is downscaled first


def fit_size(photo: torch.Tensor, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """``photo`` (N, C, H, W) in [0, 1], downscaled (antialiased bilinear, aspect kept) to at most
    ``max_pixels`` pixels; unchanged when it is already that small. Raises ``ValueError`` for a
    photo under ``MIN_SIDE`` px on a side."""
    h, w = photo.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"the photo is {w}x{h} px; the network needs at least {MIN_SIDE} px on "
                         "each side")
    if h * w <= max_pixels:
        return photo
    f = (max_pixels / (h * w)) ** 0.5
    size = (max(MIN_SIDE, int(h * f)), max(MIN_SIDE, int(w * f)))
    return F.interpolate(photo.float(), size=size, mode="bilinear", antialias=True,
                         align_corners=False).clamp(0, 1)


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.stylize --style NAME IN OUT``; returns the exit status
    (0 done, 2 bad input: unknown style, unreadable image or folder, a photo too small,
    unwritable output). A photo over ``--max-pixels`` is downscaled first, with a message."""
    from .checkpoints import CheckpointError
    from .images import ImageError, load_image, save_image, unreadable
    p = argparse.ArgumentParser(prog="python -m course_utils.stylize",
                                description="Stylise a photo with a shipped Johnson et al. network "
                                            "(one forward pass).")
    p.add_argument("--style", help="style name (see --list)")
    p.add_argument("--list", action="store_true", help="list the shipped styles and exit")
    p.add_argument("--checkpoints", default=None, help="folder of the checkpoints (default: the "
                   "course's checkpoints/)")
    p.add_argument("input", nargs="?", help="the photo to stylise (PNG, JPEG, ...)")
    p.add_argument("output", nargs="?", help="where to write the result (.png recommended)")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help=f"downscale larger photos to this many pixels first (default {MAX_PIXELS:,}; "
                   "memory grows with the photo: about 1 GB per 2 million pixels)")
    a = p.parse_args(argv)
    if a.max_pixels < MIN_SIDE * MIN_SIDE:
        p.error(f"--max-pixels must be at least {MIN_SIDE * MIN_SIDE}")
    if a.list:
        for s in style_names():
            print(s)
        return 0
    if not a.style or not a.input or not a.output:
        p.print_usage(sys.stderr)
        print("error: give --style NAME, the input photo and the output file "
              f"(styles: {', '.join(style_names())})", file=sys.stderr)
        return 2
    if a.style not in style_names():
        print(f"error: unknown style {a.style!r}; available: {', '.join(style_names())}",
              file=sys.stderr)
        return 2
    try:
        photo = load_image(a.input, "rgb")
        net, meta = load_style(a.style, a.checkpoints)
        shape = tuple(photo.shape[-2:])
        photo = fit_size(photo, a.max_pixels)
    except (ImageError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {a.input}: {e}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"error: {unreadable(e, a.input)}", file=sys.stderr)
        return 2
    if tuple(photo.shape[-2:]) != shape:
        print(f"note: {a.input} is {shape[1]}x{shape[0]} px; stylising a copy downscaled to "
              f"{photo.shape[-1]}x{photo.shape[-2]} (--max-pixels {a.max_pixels}; raise it if "
              "you have the memory)", file=sys.stderr)
    out = stylize(net, photo)
    try:
        save_image(out.cpu(), a.output)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: cannot write {a.output} ({type(e).__name__}: {e}); use a writable path "
              "ending in .png or .jpg", file=sys.stderr)
        return 2
    print(f"{a.output}: {a.input} in the style of {a.style} ({photo.shape[-1]}x{photo.shape[-2]}, "
          f"{meta.get('features', 'features: ?')}, {meta.get('steps', '?')} training steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
