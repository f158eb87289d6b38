"""PixelCNNs for notebook 11 (pixel recursive super-resolution).

* ``causal_mask(k, kind)``: the reference mask of a k x k masked convolution (``"A"``: the pixels
  before the centre in raster order; ``"B"``: the same plus the centre).
* ``MaskedConv2d``: a convolution whose kernel is multiplied by such a mask.
* ``PlainPixelCNN``: mask A then mask B layers (van den Oord et al. 2016a), with its blind spot.
* ``GatedPixelCNN``: vertical and horizontal stacks with tanh x sigmoid gates (van den Oord et al.
  2016b), no blind spot. The shift of the vertical stack and the gate are arguments, so that the
  notebook can plug in the student's versions.
* ``CondResNet``: the conditioning network on the LR image (Dahl et al. 2017), upsampled by
  pixel shuffle to K logits per HR pixel.
* ``SPADE``, ``CondSPADE``: spatially-adaptive normalisation (Park et al. 2019) and the
  conditioning network built with it (the report's variant).
* ``PixelSR``: prior + conditioning, logits added; ``pixel_sr_losses``; ``sample`` (naive or
  windowed) and ``cached_sample`` (the exact cached sampler of Ramachandran et al. 2017).
* ``DIGITS``/``digits_model`` and ``FACES``/``faces_model``/``face_crops``: the recipes of the
  course's checkpoints (MNIST 7x7 -> 28x28; ORL faces 8x8 -> 32x32).
* ``receptive_field(net, x, i, j)``: |d out[i, j] / d x|, the pixels an output depends on.

Images: (N, 1, H, W) float in [0, 1], quantised to K levels ``0, 1/(K-1), ..., 1``; class targets
(N, H, W) int64 in 0..K-1; logits (N, K, H, W).
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["spade_norm", "causal_mask", "MaskedConv2d", "PlainPixelCNN", "down_shift", "right_shift", "gate",
           "GatedLayer", "GatedPixelCNN", "CondResNet", "SPADE", "CondSPADE", "PixelSR", "quantise", "to_levels",
           "pixel_sr_losses", "bits_per_dim", "prior_window", "sample", "cached_sample", "DIGITS", "digits_model", "FACES", "faces_model", "face_crops", "receptive_field"]


def causal_mask(k: int, kind: str) -> torch.Tensor:
    """(k, k) float mask: 1 where a k x k kernel may look. k odd; kind "A" or "B".

    Raster order: the rows above the centre, and in the centre row the pixels left of the centre
    (kind "A"), plus the centre itself (kind "B").
    """
    if k % 2 != 1 or kind not in ("A", "B"):
        raise ValueError(f"causal_mask needs an odd k and kind 'A' or 'B', got k={k}, kind={kind!r}")
    idx = torch.arange(k * k).reshape(k, k)           # raster index of each kernel position
    centre = (k * k) // 2
    return ((idx < centre) | ((idx == centre) & (kind == "B"))).float()


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded k x k convolution whose kernel is multiplied by ``mask_fn(k, kind)``."""

    def __init__(self, cin: int, cout: int, k: int, kind: str, mask_fn: Callable = causal_mask):
        super().__init__(cin, cout, k, padding=k // 2)
        self.register_buffer("mask", torch.as_tensor(mask_fn(k, kind), dtype=torch.float32).reshape(1, 1, k, k))

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask.to(self.weight.dtype), self.bias, padding=self.padding)


class PlainPixelCNN(nn.Module):
    """One mask-A layer, then ``layers - 1`` mask-B layers, ReLU between, 1x1 to ``K`` logits."""

    def __init__(self, channels: int = 16, layers: int = 5, k: int = 3, K: int = 4,
                 mask_fn: Callable = causal_mask):
        super().__init__()
        convs = [MaskedConv2d(1, channels, k, "A", mask_fn)]
        convs += [MaskedConv2d(channels, channels, k, "B", mask_fn) for _ in range(layers - 1)]
        self.convs = nn.ModuleList(convs)
        self.out = nn.Conv2d(channels, K, 1)

    def forward(self, x):
        for c in self.convs:
            x = F.relu(c(x))
        return self.out(x)


def down_shift(v: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> same shape, moved one row down: row i holds row i-1, row 0 is zero."""
    return F.pad(v, (0, 0, 1, 0))[..., :-1, :]


def right_shift(h: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> same shape, moved one column right: column j holds j-1, column 0 is zero."""
    return F.pad(h, (1, 0, 0, 0))[..., :, :-1]


def gate(h: torch.Tensor) -> torch.Tensor:
    """(N, 2C, H, W) -> (N, C, H, W): tanh(first C channels) * sigmoid(last C channels)."""
    a, b = h.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer: a vertical stack (rows <= i) and a horizontal stack (row i, columns <= j).

    The vertical features reach the horizontal stack through ``shift`` (one row down), so the
    horizontal stack at (i, j) sees rows < i from the vertical stack and row i, columns < j (first
    layer) or <= j (later layers, whose inputs are already causal) from itself.
    """

    def __init__(self, cin: int, c: int, k: int = 3, first: bool = False,
                 shift: Callable = down_shift, gate_fn: Callable = gate):
        super().__init__()
        self.k, self.first, self.shift, self.gate_fn = k, first, shift, gate_fn
        self.v = nn.Conv2d(cin, 2 * c, (k // 2 + 1, k))
        self.h = nn.Conv2d(cin, 2 * c, (1, k // 2 + 1))
        self.v2h = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_out = nn.Conv2d(c, c, 1)

    def forward(self, v, h):
        p = self.k // 2
        vf = self.v(F.pad(v, (p, p, p, 0)))                 # output row i: input rows i-p .. i
        hin = right_shift(h) if self.first else h           # first layer: exclude the pixel itself
        hf = self.h(F.pad(hin, (p, 0, 0, 0))) + self.v2h(self.shift(vf))
        h_new = self.h_out(self.gate_fn(hf))
        return self.gate_fn(vf), (h_new if self.first else h + h_new)


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN over a 1-channel image: ``layers`` gated layers, then ReLU-1x1 to K logits.

    No conditioning input: Dahl et al. add the conditioning network's logits to its output.
    """

    def __init__(self, channels: int = 32, layers: int = 5, k: int = 3, K: int = 4,
                 shift: Callable = down_shift, gate_fn: Callable = gate):
        super().__init__()
        self.layers = nn.ModuleList([GatedLayer(1 if i == 0 else channels, channels, k, i == 0, shift, gate_fn)
                                     for i in range(layers)])
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                 nn.Conv2d(channels, K, 1))

    def features(self, x):
        """The horizontal stack's last hidden state (N, C, H, W): causal, no ReLU yet."""
        v = h = x - 0.5
        for layer in self.layers:
            v, h = layer(v, h)
        return h

    def forward(self, x):
        return self.out(self.features(x))


class _ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.n1, self.n2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

    def forward(self, x):
        return x + self.n2(self.c2(F.relu(self.n1(self.c1(x)))))


class CondResNet(nn.Module):
    """The conditioning network: LR (N, 1, h, w) -> K logits per HR pixel (N, K, h*s, w*s).

    A 3x3 convolution, ``blocks`` residual blocks (conv-BN-ReLU-conv-BN) at the LR size, then for
    each factor 2 of the scale a 3x3 convolution and a pixel shuffle (Shi et al. 2016), and a 1x1
    convolution to K logits. ``scale`` must be a power of 2.
    """

    def __init__(self, scale: int = 4, channels: int = 32, blocks: int = 4, K: int = 4):
        super().__init__()
        n_up = int(round(math.log2(scale)))
        if 2 ** n_up != scale:
            raise ValueError(f"CondResNet needs a power-of-2 scale, got {scale}")
        self.inp = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.Sequential(*[_ResBlock(channels) for _ in range(blocks)])
        up = []
        for _ in range(n_up):
            up += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2), nn.ReLU()]
        self.up = nn.Sequential(*up)
        self.out = nn.Conv2d(channels, K, 1)

    def forward(self, lr):
        return self.out(self.up(self.blocks(self.inp(lr - 0.5))))


def spade_norm(h: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """SPADE's normalisation as :class:`SPADE` computes it in training mode (notebook 11, Exercise
    11.3's course version): h (N, C, H, W) normalised per channel over the batch and the image
    (biased variance), then scaled by (1 + gamma) and shifted by beta, both (N, C, H, W)."""
    mu = h.mean(dim=(0, 2, 3), keepdim=True)
    var = h.var(dim=(0, 2, 3), keepdim=True, correction=0)
    return (h - mu) / torch.sqrt(var + eps) * (1 + gamma) + beta


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. 2019): BN(x) * (1 + gamma(m)) + beta(m).

    ``x`` (N, C, H, W) is normalised per channel over the batch (no learned affine); the scale and
    shift are predicted pixel by pixel from ``m`` (N, 1, h, w), the LR image, resized (nearest) to
    H x W by a small shared 3x3 convolution + ReLU, then one 3x3 convolution each.
    """

    def __init__(self, c: int, hidden: int = 16):
        super().__init__()
        self.norm = nn.BatchNorm2d(c, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(1, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, c, 3, padding=1)
        self.beta = nn.Conv2d(hidden, c, 3, padding=1)

    def forward(self, x, m):
        if m.shape[-2:] != x.shape[-2:]:
            m = F.interpolate(m, size=x.shape[-2:], mode="nearest")
        a = self.shared(m)
        return self.norm(x) * (1 + self.gamma(a)) + self.beta(a)


class _SPADEBlock(nn.Module):
    """A SPADE residual block: x + conv(ReLU(SPADE(conv(ReLU(SPADE(x)))))) (Park et al. 2019)."""

    def __init__(self, c):
        super().__init__()
        self.n1, self.n2 = SPADE(c), SPADE(c)
        self.c1, self.c2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x, m):
        return x + self.c2(F.relu(self.n2(self.c1(F.relu(self.n1(x, m))), m)))


class CondSPADE(nn.Module):
    """The conditioning network with SPADE residual blocks: LR (N, 1, h, w) -> (N, K, h*s, w*s).

    Like :class:`CondResNet` (3x3 convolution, ``blocks`` residual blocks at the LR size, a
    pixel-shuffle stage per factor 2, 1x1 to K logits), but every normalisation is a
    :class:`SPADE` whose scale and shift come from the LR image, and each upsampling stage is
    followed by one more SPADE block at its size (the LR image resized to it), as in the report.
    Only this network normalises: the PixelCNN prior stays causal.
    """

    def __init__(self, scale: int = 4, channels: int = 32, blocks: int = 4, K: int = 4):
        super().__init__()
        n_up = int(round(math.log2(scale)))
        if 2 ** n_up != scale:
            raise ValueError(f"CondSPADE needs a power-of-2 scale, got {scale}")
        self.inp = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList([_SPADEBlock(channels) for _ in range(blocks)])
        self.up = nn.ModuleList([nn.Sequential(nn.Conv2d(channels, 4 * channels, 3, padding=1),
                                               nn.PixelShuffle(2), nn.ReLU()) for _ in range(n_up)])
        self.up_blocks = nn.ModuleList([_SPADEBlock(channels) for _ in range(n_up)])
        self.out = nn.Conv2d(channels, K, 1)

    def forward(self, lr):
        m = lr - 0.5
        x = self.inp(m)
        for b in self.blocks:
            x = b(x, m)
        for up, b in zip(self.up, self.up_blocks):
            x = b(up(x), m)
        return self.out(F.relu(x))


class PixelSR(nn.Module):
    """Pixel recursive SR (Dahl et al. 2017): logits = conditioning(LR) + prior(HR), in the paper's
    letters A_i(x) + B_i(y_<i) (``cond`` is A, ``prior`` is B).

    ``forward(hr, lr)`` returns ``(prior_logits + cond_logits, cond_logits)``, each (N, K, H, W):
    the first models p(y_i | x, y_<i), the second p(y_i | x) alone.
    """

    def __init__(self, prior: nn.Module, cond: nn.Module):
        super().__init__()
        self.prior, self.cond = prior, cond

    def forward(self, hr, lr):
        c = self.cond(lr)
        return self.prior(hr) + c, c


# The recipe of the course's digits model (MNIST 28x28, LR 7x7, K = 4 levels): the cpu profile of
# notebook 11 and data_scripts/train_pixelsr.py (checkpoints/pixelcnn-sr-digits.pt).
DIGITS = {"K": 4, "scale": 4, "prior": {"channels": 24, "layers": 5}, "cond": {"channels": 32, "blocks": 2},
          "batch": 32, "lr": 1e-3}


def digits_model(prior: dict | None = None, cond: dict | None = None, shift: Callable = down_shift,
                 gate_fn: Callable = gate) -> PixelSR:
    """A PixelSR for MNIST digits (K and scale of ``DIGITS``; sizes default to ``DIGITS``'s).
    ``shift`` and ``gate_fn`` go to the prior's :class:`GatedPixelCNN` (notebook 11 passes its own)."""
    return PixelSR(GatedPixelCNN(K=DIGITS["K"], shift=shift, gate_fn=gate_fn, **(prior or DIGITS["prior"])),
                   CondResNet(DIGITS["scale"], K=DIGITS["K"], **(cond or DIGITS["cond"])))


# The recipe of the course's faces model (ORL/Olivetti faces, 32x32 HR, 8x8 LR, K = 16 grey levels):
# data_scripts/train_pixelsr.py --data faces (checkpoints/pixelcnn-sr-faces.pt). The split is by
# person (see ``face_split``), training faces are augmented by vertical crop offsets and flips.
FACES = {"K": 16, "scale": 4, "size": 32, "prior": {"channels": 24, "layers": 5},
         "cond": {"channels": 24, "blocks": 2}, "batch": 16, "lr": 1e-3,
         "val_people": (30, 31, 32, 33, 34), "test_people": (35, 36, 37, 38, 39)}


def faces_model(prior: dict | None = None, cond: dict | None = None, spade: bool = False) -> PixelSR:
    """A PixelSR for 32x32 faces (K and scale of ``FACES``); ``spade=True``: :class:`CondSPADE`."""
    Cond = CondSPADE if spade else CondResNet
    return PixelSR(GatedPixelCNN(K=FACES["K"], **(prior or FACES["prior"])),
                   Cond(FACES["scale"], K=FACES["K"], **(cond or FACES["cond"])))


def face_crops(faces: torch.Tensor, size: int = 32, offsets=(10,), flips: bool = False) -> torch.Tensor:
    """ORL faces (N, 1, 112, 92) -> square crops (N * len(offsets) * (1 + flips), 1, size, size).

    Each face is cut to the 92 x 92 square starting at row ``offset`` (10 = centred), resized to
    ``size`` with the course's bicubic and clamped to [0, 1]; ``flips`` adds the mirror images.
    The order is offset-major: all faces at the first offset, then the next, then the flips.
    """
    from .resize import imresize
    h, w = faces.shape[-2:]
    if h < w or any(o < 0 or o + w > h for o in offsets):
        raise ValueError(f"face_crops: a {w}x{w} crop at rows {offsets} does not fit faces of {h}x{w}")
    out = torch.cat([imresize(faces[..., o:o + w, :], size=(size, size)).clamp(0, 1) for o in offsets])
    return torch.cat([out, out.flip(-1)]) if flips else out


def to_levels(x: torch.Tensor, K: int) -> torch.Tensor:
    """(N, 1, H, W) in [0, 1] -> (N, H, W) int64 classes 0..K-1 (nearest level)."""
    return (x[:, 0] * (K - 1)).round().clamp(0, K - 1).long()


def quantise(x: torch.Tensor, K: int) -> torch.Tensor:
    """x in [0, 1] rounded to the nearest of K levels 0, 1/(K-1), ..., 1 (same shape)."""
    return to_levels(x, K)[:, None].float() / (K - 1)


def pixel_sr_losses(model: PixelSR, hr: torch.Tensor, lr: torch.Tensor, K: int) -> dict:
    """The training loss of Dahl et al.: CE(A + B) + CE(A) (A: cond, B: prior), in nats per pixel.

    Returns a dict of scalar tensors: ``loss`` (the sum), ``ce_both``, ``ce_cond``.
    """
    y = to_levels(hr, K)
    both, cond = model(hr, lr)
    ce_both, ce_cond = F.cross_entropy(both, y), F.cross_entropy(cond, y)
    return {"loss": ce_both + ce_cond, "ce_both": ce_both, "ce_cond": ce_cond}


def bits_per_dim(logits: torch.Tensor, hr: torch.Tensor, K: int) -> float:
    """Mean negative log-likelihood of the quantised ``hr`` under ``logits``, in bits per pixel."""
    return F.cross_entropy(logits.double(), to_levels(hr, K)).item() / math.log(2)


def prior_window(prior: GatedPixelCNN) -> int:
    """Rows of y a GatedPixelCNN needs to compute row i exactly: rows i-L*(k//2)-1 .. i.

    Output row i depends on the input rows down to i - L*(k//2) - 1 (L layers of k//2 rows each,
    plus the one-row shift); the zero padding of a window cut there corrupts the vertical stack
    by the same number of rows, which stays above row i - 1. So L*(k//2) + 2 rows suffice.
    """
    L = len(prior.layers)
    return L * (prior.layers[0].k // 2) + 2


@torch.no_grad()
def sample(model: PixelSR, lr: torch.Tensor, K: int, temperature: float = 1.0,
           generator: torch.Generator | None = None, scale: int = 4,
           window: int | None = None) -> torch.Tensor:
    """Draw HR images pixel by pixel in raster order.

    p(y_i | x, y_<i) = softmax((prior + cond logits)_i / temperature); ``temperature == 0``
    takes the most likely level. The draws use ``generator`` only (same seed, same samples).
    ``window=None``: the naive sampler, one pass of the prior over the whole image per pixel.
    ``window=n``: the prior only sees the last n rows up to the current one (exact when n >=
    :func:`prior_window`; a cheaper pass, the same samples).
    Returns (N, 1, h*scale, w*scale) in [0, 1] on K levels.
    """
    model.eval()
    n, _, h, w = lr.shape
    H, W = h * scale, w * scale
    cond = model.cond(lr)
    y = torch.zeros(n, 1, H, W, device=lr.device)
    levels = torch.arange(K, device=lr.device, dtype=y.dtype) / (K - 1)
    for i in range(H):
        r0 = 0 if window is None else max(0, i + 1 - window)
        for j in range(W):
            logits = model.prior(y[:, :, r0:i + 1])[:, :, i - r0, j] + cond[:, :, i, j]
            if temperature == 0:
                k = logits.argmax(1)
            else:
                p = torch.softmax(logits.double() / temperature, 1)
                if generator is not None and generator.device != p.device:
                    p = p.to(generator.device)  # a CPU generator draws on the CPU (same samples)
                k = torch.multinomial(p, 1, generator=generator)[:, 0].to(y.device)
            y[:, 0, i, j] = levels[k]
    return y


def _np_linear(conv: nn.Conv2d, half: float = 1.0):
    """(cin*kh*kw, out) float32 matrix and (out,) bias of a convolution applied to one window.

    The window is flattened in the order (kh, kw, cin): a row of pixels, channels last.
    ``half``: a factor for the second half of the output channels (weights and bias), e.g. 0.5.
    """
    wt = conv.weight.detach().permute(2, 3, 1, 0).reshape(-1, conv.out_channels).float().clone()
    b = conv.bias.detach().float().clone()
    c = conv.out_channels // 2
    wt[:, c:] *= half
    b[c:] *= half
    return wt.contiguous().numpy(), b.numpy()


_DRAWS_CHECKED: dict = {}


def _multinomial_is_gumbel_max(n: int, K: int) -> bool:
    """Whether ``torch.multinomial(softmax(z), 1, generator=g)`` on (n, K) float64 draws
    ``argmax(z - log q)`` with ``q = exponential_(1, generator=g)`` on an (n, K) float64 tensor,
    from the same random numbers. It is torch's own one-sample algorithm (argmax(p / q), the
    Gumbel-max trick with exponentials); checked here once per shape, with a private generator,
    draw by draw and by the generator's state afterwards. Where it does not hold,
    :func:`cached_sample` calls torch.multinomial itself.
    """
    if (n, K) not in _DRAWS_CHECKED:
        g1, g2 = torch.Generator().manual_seed(2017), torch.Generator().manual_seed(2017)
        zs = torch.randn(24, n, K, generator=torch.Generator().manual_seed(1704), dtype=torch.float64)
        q = torch.empty(n, K, dtype=torch.float64)
        same = True
        for t, z in enumerate(zs):
            z = z * (0.5 + t / 4)                                   # flat to peaked distributions
            a = torch.multinomial(torch.softmax(z, 1), 1, generator=g1)[:, 0].numpy()
            b = (z.numpy() - np.log(q.exponential_(1, generator=g2).numpy())).argmax(1)
            same = same and np.array_equal(a, b)
        _DRAWS_CHECKED[(n, K)] = same and torch.equal(g1.get_state(), g2.get_state())
    return _DRAWS_CHECKED[(n, K)]


@torch.no_grad()
def cached_sample(model: PixelSR, lr: torch.Tensor, K: int, temperature: float = 1.0,
                  generator: torch.Generator | None = None, scale: int = 4,
                  return_logits: bool = False, timings: dict | None = None):
    """The exact cached sampler (Ramachandran et al. 2017) of a PixelSR with a GatedPixelCNN prior.

    The same draws as :func:`sample` (same arguments, same use of ``generator``), but instead of
    running the prior over the image for every pixel it keeps every layer's activations and
    computes only what a new pixel changes:

    * **vertical stack**, once per row: when row i-1 is complete, each layer's vertical
      convolution is computed for row i-1 only (its input rows i-1-k//2 .. i-1 are cached), the
      gate gives the next layer's row, and the 1x1 ``v2h`` of that row is what the horizontal
      stack of row i adds (the one-row shift);
    * **horizontal stack**, once per pixel (i, j): each layer reads its cached input at row i,
      columns j-k//2 .. j (the first layer: j-k//2-1 .. j-1, its input shifted right), adds
      ``v2h`` of column j, gates, applies the 1x1 output and the residual, and writes the result
      into the next layer's cache; the output head then gives the logits of pixel (i, j) alone.

    The caches are numpy arrays, channels last (a numpy call on a few numbers costs about a
    microsecond, a torch call several): per row, one matrix product per layer over the row's
    windows (read through strided views made once); per pixel, about ten numpy calls per layer
    (two tiny matrix products, the gate as one tanh: sigmoid(b) = (1 + tanh(b/2)) / 2), the
    head, and the draw. The draw is torch.multinomial's own one-sample algorithm, the Gumbel-max
    trick argmax(logits / T - log q) with q ~ Exp(1) drawn by torch from ``generator``: the same
    random numbers, checked once per batch shape against torch.multinomial (which is called
    instead where they differ). The arithmetic is that of the full pass in another order, so the
    logits agree to float32 rounding (about 1e-6), not bit for bit; the samples are the same
    unless a random draw falls within that distance of a boundary of the categorical
    distribution (``tests/test_pixelcnn.py`` and ``benchmarks/pixelcnn_sampler.py`` check both).
    What is left is sequential: each pixel needs the one before it, so about 60 small calls per
    pixel run one after the other, whatever the batch. CPU only.
    Returns (N, 1, h*scale, w*scale) in [0, 1] on K levels; with ``return_logits``, also the
    (N, K, H, W) float32 logits (prior + cond) each pixel was drawn from. ``timings``: a dict to
    which the wall seconds of each part are added: ``"setup"`` (the conditioning network, the
    caches), ``"rows"`` (the vertical stack, once per row), and per pixel ``"layers"`` (the
    horizontal stack), ``"head"`` (the output head), ``"draw"`` (the random draw and the write of
    the pixel into the caches); the clock itself adds a little to each.
    """
    tick = time.perf_counter if timings is not None else None
    if tick:
        for key in ("setup", "rows", "layers", "head", "draw"):
            timings.setdefault(key, 0.0)
        t0 = tick()
    prior = model.prior
    if (not isinstance(prior, GatedPixelCNN)
            or any(l.shift is not down_shift or l.gate_fn is not gate for l in prior.layers)):
        raise ValueError("cached_sample needs a PixelSR whose prior is a GatedPixelCNN with the "
                         "library's down_shift and gate; use sample() for other priors")
    if lr.device.type != "cpu":
        raise ValueError("cached_sample runs on the CPU: pass lr.cpu() and a CPU model")
    model.eval()
    n, _, h, w = lr.shape
    H, W = h * scale, w * scale
    k = prior.layers[0].k
    p = k // 2
    (w1, b1), (w2, b2) = _np_linear(prior.out[1]), _np_linear(prior.out[3])
    cond = model.cond(lr).float().permute(2, 3, 0, 1).numpy() + b2           # (H, W, n, K), + head bias
    levels = (torch.arange(K, dtype=torch.float32) / (K - 1)).numpy()
    inputs = levels - np.float32(0.5)                  # what the prior reads for each level
    logits = np.zeros((H, W, n, K), np.float32)
    # caches, numpy, channels last. X: the image minus 0.5, (p + H, n, p + W + p + 1, 1): pixel
    # (i, j) at row p + i, column p + 1 + j, zeros around; the first layer's vertical stack reads
    # columns 1.., its horizontal stack (its input shifted right) columns j .. j + p of row p + i.
    # Later layers: vertical inputs (p + H, n, p + W + p, c), horizontal inputs (H, n, p + W, c).
    C = [l.h_out.out_channels for l in prior.layers]
    X = np.zeros((p + H, n, W + 2 * p + 1, 1), np.float32)
    Vin = [X[:, :, 1:]] + [np.zeros((p + H, n, W + 2 * p, c), np.float32) for c in C[:-1]]
    Hin = [X[p:]] + [np.zeros((H, n, W + p, c), np.float32) for c in C[:-1]]
    # the windows of the vertical convolutions: views (H, W, n, p + 1, k, c) of the caches, made
    # once; output row r reads rows r .. r + p of its (padded) input
    Vwin = []
    for v in Vin:
        s0, s1, s2, s3 = v.strides
        Vwin.append(np.lib.stride_tricks.as_strided(v, (H, W, n, p + 1, k, v.shape[3]), (s0, s2, s1, s0, s2, s3),
                                                    writeable=False))
    # weights as matrices; the sigmoid half of v2h and h halved (exact), so that one tanh gives
    # tanh(a) and tanh(b / 2) = 2 sigmoid(b) - 1, and the 1/2 goes into h_out
    vert = [(torch.from_numpy(_np_linear(l.v)[0]), _np_linear(l.v)[1], torch.from_numpy(_np_linear(l.v2h, 0.5)[0]),
             _np_linear(l.v2h, 0.5)[1] + _np_linear(l.h, 0.5)[1], c) for l, c in zip(prior.layers, C)]
    wh = [_np_linear(l.h, 0.5)[0] for l in prior.layers]
    wo = [_np_linear(l.h_out)[0] * np.float32(0.5) for l in prior.layers]
    bo = [_np_linear(l.h_out)[1] for l in prior.layers]
    gumbel = temperature != 0 and _multinomial_is_gumbel_max(n, K)
    q = torch.empty(n, K, dtype=torch.float64)
    qn = q.numpy()                                      # the same memory
    last = len(prior.layers) - 1
    if tick:
        t1 = tick()
        timings["setup"] += t1 - t0
        t0 = t1
    for i in range(H):
        # the vertical stack of row i - 1 (all of its pixels are known), and v2h of it for row i
        S = []
        for li, (wv, bv, w2h, b2h, c) in enumerate(vert):
            if i == 0:                                  # the shift's zero row: v2h of zeros
                S.append(np.broadcast_to(b2h, (W, n, 2 * c)))
                continue
            win = Vwin[li][i - 1].reshape(W * n, -1)                       # (W n, (p+1) k c), a copy
            vf = torch.from_numpy(win).mm(wv).numpy() + bv                 # (W n, 2C); torch: its threads
            if li < last:
                g = np.tanh(vf[:, :c]) / (1 + np.exp(-vf[:, c:]))
                Vin[li + 1][p + i - 1, :, p:p + W] = g.reshape(W, n, c).transpose(1, 0, 2)
            S.append((torch.from_numpy(vf).mm(w2h).numpy() + b2h).reshape(W, n, 2 * c))
        layers = [(Hin[li][i], S[li], wh[li], wo[li], bo[li], C[li], Hin[li + 1][i] if li < last else None)
                  for li in range(last + 1)]
        cond_i, logits_i = cond[i], logits[i]
        if tick:
            t1 = tick()
            timings["rows"] += t1 - t0
            t0 = t1
        for j in range(W):
            for li, (hin, s, a, b, bias, c, out) in enumerate(layers):
                t = hin[:, j:j + p + 1].reshape(n, -1) @ a          # (n, 2C)
                t += s[j]
                np.tanh(t, out=t)
                x = (t[:, :c] * (1 + t[:, c:])) @ b                  # the gate, then h_out
                x += bias
                if li:                                               # the residual (not in layer 0)
                    x += hin[:, j + p]
                if out is not None:
                    out[:, j + p] = x
            if tick:
                t1 = tick()
                timings["layers"] += t1 - t0
                t0 = t1
            x = np.maximum(x, 0) @ w1
            x += b1
            z = np.add(np.maximum(x, 0, out=x) @ w2, cond_i[j], out=logits_i[j])   # (n, K)
            if tick:
                t1 = tick()
                timings["head"] += t1 - t0
                t0 = t1
            if temperature == 0:
                kk = z.argmax(1)
            elif gumbel:
                q.exponential_(1, generator=generator)                 # into qn
                kk = (np.divide(z, temperature, dtype=np.float64) - np.log(qn)).argmax(1)
            else:
                pr = torch.softmax(torch.from_numpy(z).double() / temperature, 1)
                kk = torch.multinomial(pr, 1, generator=generator)[:, 0].numpy()
            X[p + i, :, p + 1 + j, 0] = inputs[kk]      # the next pixels' input
            if tick:
                t1 = tick()
                timings["draw"] += t1 - t0
                t0 = t1
        if not np.isfinite(logits_i).all():
            raise ValueError(f"cached_sample: the model's logits in row {i} are not finite (nan or inf); "
                             "check the model's weights")
    idx = np.searchsorted(inputs, X[p:, :, p + 1:p + 1 + W, 0])           # (H, n, W): the drawn levels
    y = torch.from_numpy(levels[idx].transpose(1, 0, 2)[:, None].copy())
    return (y, torch.from_numpy(logits).permute(2, 3, 0, 1).contiguous()) if return_logits else y


def receptive_field(net: Callable, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
    """|d sum_k out[0, k, i, j] / d x[0, 0]|: (H, W), nonzero where output (i, j) looks.

    ``net`` maps (1, 1, H, W) -> (1, C, H, W) (a network, or e.g. ``GatedPixelCNN.features``:
    the ReLUs of an output head can hide dependencies of a small random network). Computed in float64 on a copy of ``x``, so exact
    zeros mean "does not depend on".
    """
    x = x.detach().double().clone().requires_grad_(True)
    out = net(x)
    out[0, :, i, j].sum().backward()
    return x.grad[0, 0].abs()
