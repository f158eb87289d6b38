"""Interactive figures (ipywidgets) that fall back to a static figure without a widget front end.

Sliders need a live kernel and a browser. Under nbval, in CI or in a plain script there is
none, so each function here then draws the figure once, at the sliders' starting values.
Set ``COURSE_NO_WIDGETS=1`` to force the static version.
"""
from __future__ import annotations

import os
from typing import Callable

import torch

from .plots import in_notebook, show_zoom

__all__ = ["widgets_available", "interact_or_static", "compare"]


def widgets_available() -> bool:
    """True in a Jupyter kernel with ipywidgets installed, outside CI."""
    if os.environ.get("COURSE_NO_WIDGETS") or os.environ.get("CI"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return in_notebook()


def interact_or_static(fn: Callable, **controls):
    """``ipywidgets.interact(fn, **controls)`` when widgets work, else ``fn(**start values)``.

    Each control is an ipywidgets widget (``FloatLogSlider(value=..., ...)``, ``IntSlider``,
    ``Dropdown``...); its ``value`` is what the static figure uses.
    """
    if widgets_available():
        import ipywidgets
        return ipywidgets.interact(fn, **controls)
    print("(static figure: sliders need a live Jupyter kernel)")
    return fn(**{k: w.value for k, w in controls.items()})


def compare(images: dict[str, torch.Tensor], box: tuple[int, int, int] | None = None,
            size: float = 3.0):
    """Compare SR results on the same zoomed crop; sliders move the crop when widgets work.

    Args:
        images: title -> (1, C, H, W) tensor in [0, 1], all the same size.
        box: (top, left, side) of the starting crop.
    """
    titles, imgs = list(images), list(images.values())
    h, w = imgs[0].shape[-2:]
    side0 = box[2] if box else max(8, min(h, w) // 4)
    top0 = box[0] if box else (h - side0) // 2
    left0 = box[1] if box else (w - side0) // 2

    def draw(top=top0, left=left0, side=side0):
        side = min(side, h, w)
        show_zoom(imgs, titles, (min(top, h - side), min(left, w - side), side), size=size)

    import ipywidgets as W
    return interact_or_static(
        draw,
        top=W.IntSlider(value=top0, min=0, max=h - 8, step=4, description="top"),
        left=W.IntSlider(value=left0, min=0, max=w - 8, step=4, description="left"),
        side=W.IntSlider(value=side0, min=8, max=min(h, w), step=4, description="crop"))
