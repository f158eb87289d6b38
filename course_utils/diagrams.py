"""Layer diagrams of the course's networks, drawn with matplotlib (no pasted pictures).

A network is a list of layers, each made by one of a few small functions, in the lecture's
notation Conv(f, n, c) = n filters of size f x f x c::

    from course_utils.diagrams import conv, deconv, shuffle, layer_diagram
    fsrcnn = [conv(5, 56, 1, "PReLU"), conv(1, 12, 56, "PReLU"), conv(3, 12, 12, "PReLU", repeat=4),
              conv(1, 56, 12, "PReLU"), deconv(9, 1, 56, stride=3)]
    layer_diagram(fsrcnn, "FSRCNN(56, 12, 4), x3", inp="$x^{LR}$", out="$x^{SR}$")

Each layer is a box (its height grows with the number of filters n); the background shows on
which grid the layer runs: the LR grid (h x w) or the HR grid (s h x s w). ``deconv`` and
``shuffle`` move from the LR to the HR grid. ``skip=True`` draws VDSR's residual connection
(output = input + network); ``skip=(i, j)`` a skip from the output of layer i to a "+" after layer
j (SRResNet's long skip). ``block`` draws repeated groups of layers as one box (SRResNet's 16
residual blocks), ``dense`` a fully connected layer (SRGAN's discriminator)::

    srresnet = [conv(9, 64, 3, "PReLU"),
                block([conv(3, 64, 64, "BN, PReLU"), conv(3, 64, 64, "BN, + x")], 16, "residual block"),
                conv(3, 64, 64, "BN"),
                block([conv(3, 256, 64), shuffle(2, 64)], 2, "sub-pixel stage", "PReLU"),
                conv(9, 3, 64)]
    layer_diagram(srresnet, "SRResNet, x4", skip=(0, 2)) The title gets the weight count (:func:`diagram_weights`, as the
papers count: filter weights only, no biases).
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

__all__ = ["conv", "deconv", "shuffle", "dense", "block", "diagram_weights", "layer_diagram"]

_COLOURS = {"conv": "#9ecae1", "deconv": "#fdae6b", "shuffle": "#a1d99b", "image": "#f0f0f0",
            "dense": "#dadaeb", "block": "#c6dbef"}
_KINDS = ("conv", "deconv", "shuffle", "dense", "block")
_GRID = {"lr": ("#e8f1fa", "LR grid (h x w)"), "hr": ("#fdf0e4", "HR grid (s h x s w)")}


def conv(f: int, n: int, c: int, act: str | None = None, stride: int = 1, repeat: int = 1) -> dict:
    """Conv(f, n, c): n filters of f x f x c (stride ``stride``), then ``act`` (e.g. "ReLU");
    ``repeat`` identical layers drawn as one box "repeat x / Conv(...)"."""
    return {"kind": "conv", "f": f, "n": n, "c": c, "act": act, "stride": stride, "repeat": repeat}


def deconv(f: int, n: int, c: int, stride: int, act: str | None = None) -> dict:
    """DeConv(f, n, c): a transposed convolution of stride ``stride`` (LR grid -> HR grid)."""
    return {"kind": "deconv", "f": f, "n": n, "c": c, "act": act, "stride": stride, "repeat": 1}


def shuffle(s: int, c: int | None = None) -> dict:
    """The periodic shuffle PS (``F.pixel_shuffle``): s^2 c channels on the LR grid -> c on the HR
    grid (no weights); ``c`` is only written in the box."""
    return {"kind": "shuffle", "f": None, "n": c, "c": None, "act": None, "stride": s, "repeat": 1}


def dense(n: int, c: int, act: str | None = None) -> dict:
    """Dense(n): a fully connected layer from c inputs to n outputs (n c weights), then ``act``."""
    return {"kind": "dense", "f": None, "n": n, "c": c, "act": act, "stride": 1, "repeat": 1}


def block(layers: list[dict], repeat: int = 1, name: str = "block", act: str | None = None) -> dict:
    """``repeat`` identical groups of ``layers`` (made with :func:`conv`, :func:`shuffle`, ...) drawn
    as one box headed "repeat x name", ``act`` last; a group with a :func:`shuffle` moves to the HR
    grid."""
    _check(layers)
    return {"kind": "block", "f": None, "n": max(l["n"] or 1 for l in layers), "c": None, "act": act,
            "stride": 1, "repeat": repeat, "layers": list(layers), "name": name}


def diagram_weights(layers: list[dict]) -> int:
    """Weights of the drawn network, as the papers count them (no biases): f^2 n c per
    (de)convolution, n c per dense layer, times their repeats."""
    total = 0
    for l in layers:
        if l["kind"] in ("conv", "deconv"):
            total += l["f"] ** 2 * l["n"] * l["c"] * l["repeat"]
        elif l["kind"] == "dense":
            total += l["n"] * l["c"]
        elif l["kind"] == "block":
            total += l["repeat"] * diagram_weights(l["layers"])
    return total


def _moves_to_hr(l: dict) -> bool:
    return l["kind"] in ("deconv", "shuffle") or (l["kind"] == "block" and any(map(_moves_to_hr, l["layers"])))


def _label(l: dict) -> str:
    if l["kind"] == "block":
        inner = [f"PS(x{x['stride']})" if x["kind"] == "shuffle" else _label(x) for x in l["layers"]]
        return "\n".join([f"{l['repeat']} x {l['name']}" if l["repeat"] > 1 else l["name"]] + inner
                         + ([l["act"]] if l["act"] else []))
    if l["kind"] == "dense":
        return "\n".join([f"Dense({l['n']})"] + ([l["act"]] if l["act"] else []))
    if l["kind"] == "shuffle":
        lines = [f"PS(x{l['stride']})", "pixel shuffle"] + ([f"-> {l['n']} ch"] if l["n"] else [])
        return "\n".join(lines)
    name = "Conv" if l["kind"] == "conv" else "DeConv"
    lines = [f"{l['repeat']} x"] * (l["repeat"] > 1) + [f"{name}({l['f']},{l['n']},{l['c']})"]
    if l["stride"] != 1:
        lines.append(f"stride {l['stride']}")
    if l["act"]:
        lines.append(l["act"])
    return "\n".join(lines)


def _check(layers) -> None:
    if not layers:
        raise ValueError("layer_diagram: no layers to draw; build them with conv(), deconv(), shuffle()")
    for i, l in enumerate(layers):
        if not isinstance(l, dict) or l.get("kind") not in _KINDS:
            raise ValueError(f"layer_diagram: layer {i} is {l!r}; make each layer with "
                             "course_utils.diagrams.conv(), deconv(), shuffle(), dense() or block()")


def layer_diagram(layers: list[dict], title: str = "", inp: str = "input", out: str = "output",
                  space: str = "lr", skip: bool | tuple[int, int] = False, ax=None):
    """Draw ``layers`` left to right, from the image ``inp`` to the image ``out``.

    Args:
        layers: made with :func:`conv`, :func:`deconv`, :func:`shuffle`.
        title: the figure's title; the weight count is appended.
        space: "lr" when the network starts on the LR grid (FSRCNN, ESPCN), "hr" when it starts
            on the HR grid (SRCNN and VDSR take the interpolated image x^ILR).
        skip: True: a residual connection from the input to a "+" before the output (VDSR);
            (i, j): a skip from the output of layer i to a "+" after layer j (0-based, i <= j).
        ax: a matplotlib Axes to draw into (returned); when None, a new figure is shown and
            nothing is returned (so a notebook cell prints no object).
    """
    _check(layers)
    if space not in _GRID:
        raise ValueError(f"layer_diagram: space={space!r}; use 'lr' or 'hr'")
    if isinstance(skip, tuple):
        if len(skip) != 2 or not 0 <= skip[0] <= skip[1] < len(layers):
            raise ValueError(f"layer_diagram: skip={skip!r}; give (i, j) with 0 <= i <= j < {len(layers)} "
                             "(from the output of layer i to a '+' after layer j)")
        plus_at = skip[1] + 2                      # the index of the "+" among the drawn items
    else:
        plus_at = len(layers) + 1 if skip else None
    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(1.9 * (len(layers) + 2 + bool(skip)) + 0.5, 2.9))
    width, gap = 1.6, 0.35
    heights = [0.9 + 0.28 * math.log2(max(l["n"] or 1, 1)) for l in layers]
    top = max(heights + [1.0]) / 2 + 0.25
    # boxes: input image, layers, (+), output image; each with the grid it runs on
    items = [("image", inp, 1.0, space)]
    grid = space
    for l, h in zip(layers, heights):
        items.append((l["kind"], _label(l), h, grid))
        if _moves_to_hr(l):
            grid = "hr"
        if len(items) == plus_at:
            items.append(("plus", "+", 0.5, grid))
    items.append(("image", out, 1.0, grid))
    xs = [i * (width + gap) for i in range(len(items))]
    # background bands: where the grid changes
    start = 0
    for i in range(1, len(items) + 1):
        if i == len(items) or items[i][3] != items[start][3]:
            colour, name = _GRID[items[start][3]]
            x0, x1 = xs[start] - gap / 2, xs[i - 1] + width + gap / 2
            ax.add_patch(Rectangle((x0, -top - 0.35), x1 - x0, 2 * top + 0.35, color=colour, zorder=0))
            ax.text((x0 + x1) / 2, -top - 0.2, name, ha="center", va="center", fontsize=8, color="0.35")
            start = i
    for x, (kind, text, h, _) in zip(xs, items):
        if kind == "plus":
            ax.add_patch(plt.Circle((x + width / 2, 0), 0.25, fc="white", ec="0.2", zorder=2))
            ax.text(x + width / 2, 0, "+", ha="center", va="center", fontsize=14, zorder=3)
            continue
        ax.add_patch(FancyBboxPatch((x, -h / 2), width, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    fc=_COLOURS[kind], ec="0.25", lw=1, zorder=2))
        ax.text(x + width / 2, 0, text, ha="center", va="center", fontsize=11 if kind == "image" else 8, zorder=3,
                style="italic" if kind == "image" else "normal")
    for a, b, ia, ib in zip(xs, xs[1:], items, items[1:]):
        x0 = a + (width / 2 + 0.25 if ia[0] == "plus" else width)
        x1 = b + (width / 2 - 0.25 if ib[0] == "plus" else 0)
        ax.add_patch(FancyArrowPatch((x0, 0), (x1, 0), arrowstyle="-|>", mutation_scale=10, color="0.2", zorder=1))
    if skip:  # from the input box (or after layer i) up, over the layers, down into the "+"
        if isinstance(skip, tuple):
            xa, y0, text = xs[skip[0] + 1] + width + gap / 2, 0.0, "skip connection"
        else:
            xa, y0, text = xs[0] + width / 2, 0.5, "residual: output = input + network"
        xp = xs[plus_at] + width / 2
        path = [(xa, y0), (xa, top), (xp, top), (xp, 0.25)]
        for (p0, p1), last in zip(zip(path, path[1:]), (False, False, True)):
            ax.add_patch(FancyArrowPatch(p0, p1, arrowstyle="-|>" if last else "-", mutation_scale=10,
                                         color="#c0392b", shrinkA=0, shrinkB=0, zorder=1))
        ax.text((xa + xp) / 2, top + 0.08, text,
                ha="center", va="bottom", fontsize=8, color="#c0392b")
    ax.set_xlim(-gap, xs[-1] + width + gap)
    ax.set_ylim(-top - 0.4, top + 0.4)
    ax.set_aspect("equal")
    ax.set_axis_off()
    # text in points, boxes in data units: shrink the text to fit the boxes at the size drawn
    box = ax.get_position()
    w_in, h_in = box.width * ax.figure.get_figwidth(), box.height * ax.figure.get_figheight()
    points_per_unit = 72 * min(w_in / (xs[-1] + width + 2 * gap), h_in / (2 * top + 0.8))
    scale = min(1.0, 0.19 * points_per_unit / 8)
    for t in ax.texts:
        t.set_fontsize(t.get_fontsize() * scale)
    ax.set_title(f"{title}{': ' if title else ''}{diagram_weights(layers):,} weights", fontsize=10)
    if own:
        plt.tight_layout()
        plt.show()
        return None
    return ax
