"""Interactive figures (ipywidgets) that never depend on a widget front end.

A figure with sliders is drawn first as an ordinary image, at the sliders' starting values; in a
live Jupyter kernel the sliders below it redraw that image in place. So a notebook executed
without a browser (nbval, ``jupyter nbconvert --execute``, nbclient) never waits on a widget and
keeps a static figure of each widget's first state. Without ipywidgets, in CI (``CI`` set) or with
``COURSE_NO_WIDGETS=1``, only the static figure is drawn.

Sliders start on their step grid (``value = min + k * step``; for ``FloatLogSlider`` on the grid
of exponents), so the first figure is one a student can get back to by moving the slider.
"""
from __future__ import annotations

import io
import math
import os
from typing import Callable

import torch

from .plots import in_notebook, show_zoom

__all__ = ["widgets_available", "on_step_grid", "interact_or_static", "compare", "which_is_real"]


def widgets_available() -> bool:
    """True in a Jupyter kernel with ipywidgets installed, outside CI."""
    if os.environ.get("COURSE_NO_WIDGETS") or os.environ.get("CI"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return in_notebook()


def on_step_grid(w):
    """Move a slider's ``value`` to the nearest ``min + k * step`` within [min, max] (for a
    ``FloatLogSlider``: ``base ** (min + k * step)``); other widgets are returned unchanged."""
    step, lo, hi = (getattr(w, a, None) for a in ("step", "min", "max"))
    if not step or lo is None or hi is None:
        return w
    log = hasattr(w, "base")  # FloatLogSlider: min, max and step are exponents
    x = math.log(w.value, w.base) if log else w.value
    k = min(max(round((x - lo) / step), 0), math.floor((hi - lo) / step + 1e-9))
    x = lo + k * step
    if isinstance(x, float):
        x = round(x, 12)  # 0.1 + 4 * 0.05 -> 0.3, not 0.30000000000000004
    w.value = w.base ** x if log else x
    return w


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _render(fn: Callable, values: dict) -> list:
    """Call ``fn(**values)`` and return the figures it drew as PNG images (not shown).

    ``fn`` draws with ``course_utils.plots`` (``show_images``, ``show_zoom``) or returns a
    ``matplotlib.figure.Figure``. Neither touches pyplot's global state, so a redraw is safe in
    the kernel thread that handles widget messages (JupyterLab 4.6 runs comms over subshells)
    while the main thread runs a cell that draws with pyplot."""
    from IPython.display import Image
    from matplotlib.figure import Figure

    from .plots import capture_figures

    with capture_figures() as figures:
        returned = fn(**values)
    if isinstance(returned, Figure) and returned not in figures:
        figures.append(returned)
    if not figures:
        raise TypeError(f"{getattr(fn, '__name__', fn)}({values}) drew no figure that the widget can "
                        "show: draw with course_utils.plots (show_images, show_zoom) or return a "
                        "matplotlib.figure.Figure (pyplot's figures are shared by all threads).")
    return [Image(data=_png(fig), format="png") for fig in figures]


def interact_or_static(fn: Callable, **controls) -> None:
    """Draw ``fn(**start values)``; in a live kernel, sliders below the figure redraw it.

    ``fn`` draws with ``course_utils.plots`` (``show_images``, ``show_zoom``) or returns a
    ``matplotlib.figure.Figure``. Each control is an ipywidgets widget (``FloatLogSlider(value=...,
    ...)``, ``IntSlider``, ``Dropdown``...); its starting ``value`` (moved onto the slider's step
    grid) is what the first figure uses. Returns None (no stray ``Out[n]``).
    """
    controls = {k: on_step_grid(w) for k, w in controls.items()}
    start = {k: w.value for k, w in controls.items()}
    if not widgets_available():
        print("(static figure: sliders need a live Jupyter kernel)")
        from matplotlib.figure import Figure
        returned = fn(**start)
        if isinstance(returned, Figure):
            from IPython.display import Image, display
            display(Image(data=_png(returned), format="png"))
        return None
    import ipywidgets
    from IPython.display import DisplayHandle, display

    # The first state is an ordinary output: saved with the notebook, shown without a front end.
    handles = []
    for img in _render(fn, start):
        handles.append(DisplayHandle())
        handles[-1].display(img)

    def redraw(change=None):
        images = _render(fn, {k: w.value for k, w in controls.items()})
        for handle, img in zip(handles, images):
            handle.update(img)

    for w in controls.values():
        if hasattr(w, "continuous_update"):
            w.continuous_update = False  # redraw when the slider is released, not at every pixel
        w.observe(redraw, names="value")
    display(ipywidgets.HBox(list(controls.values())))
    return None


def compare(images: dict[str, torch.Tensor], box: tuple[int, int, int] | None = None,
            size: float = 3.0) -> None:
    """Compare SR results on the same zoomed crop; sliders move the crop when widgets work.

    Args:
        images: title -> (1, C, H, W) tensor in [0, 1], all the same size.
        box: (top, left, side) of the starting crop, in pixels (moved onto the sliders' grid of 4).
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
    interact_or_static(
        draw,
        top=W.IntSlider(value=top0, min=0, max=h - 8, step=4, description="top"),
        left=W.IntSlider(value=left0, min=0, max=w - 8, step=4, description="left"),
        side=W.IntSlider(value=side0, min=8, max=min(h, w), step=4, description="crop"))


def which_is_real(real: torch.Tensor, fakes, seed: int = 0, size: float = 2.0,
                  answers: list[int] | None = None, what: str = "images") -> dict:
    """A "which is real?" game: each round shows one real image among generated ones.

    Round r shows ``real[r]`` and ``fake[r]`` of every tensor in ``fakes``, in an order drawn from
    ``seed``, labelled A, B, C...; the student picks the one they believe is real (a button per
    position in a live kernel) and the tally below counts the right picks. Without widgets (CI,
    ``COURSE_NO_WIDGETS=1``, no kernel) every round is drawn as one static figure with the answer
    key printed under it, and the picks can be given as ``answers`` (position index per round).

    Args:
        real: (N, C, H, W) real images in [0, 1] (e.g. HR crops); N rounds.
        fakes: one (N, C, H, W) tensor or a list of them (e.g. samples from several models).
        seed: the order of each round (same seed, same order).
        answers: picks (0 = A, 1 = B...) of the first rounds, tallied at once (headless use).
        what: what the images are, for the figure titles (e.g. "faces").
    Returns:
        the tally, a dict updated as the student plays: ``rounds``, ``answered``, ``correct``,
        ``real_position`` (the position of the real image in each round) and ``picks``.
    """
    fakes = [fakes] if torch.is_tensor(fakes) else list(fakes)
    if real.dim() != 4 or not fakes or any(f.shape != real.shape for f in fakes):
        raise ValueError(f"which_is_real needs real (N, C, H, W) and fakes of the same shape; got "
                         f"{tuple(real.shape)} and {[tuple(f.shape) for f in fakes]}: pass one generated "
                         "image per real one (e.g. fakes=[samples[:N]]).")
    n, m = len(real), len(fakes) + 1
    g = torch.Generator().manual_seed(seed)
    orders = [torch.randperm(m, generator=g).tolist() for _ in range(n)]   # order[pos] = source (0 = real)
    tally = {"rounds": n, "answered": 0, "correct": 0,
             "real_position": [o.index(0) for o in orders], "picks": []}
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def images_of(r):
        return [(real if s == 0 else fakes[s - 1])[r:r + 1] for s in orders[r]]

    def pick(r, pos):
        tally["picks"].append(pos)
        tally["answered"] += 1
        tally["correct"] += int(pos == tally["real_position"][r])

    for r, pos in enumerate(answers or []):
        if not 0 <= pos < m:
            raise ValueError(f"which_is_real: answer {pos} for round {r} is not a position 0..{m - 1}")
        pick(r, pos)
    if not widgets_available():
        from .plots import show_images
        imgs = [im for r in range(n) for im in images_of(r)]
        titles = [f"round {r + 1}: {letters[p]}" for r in range(n) for p in range(m)]
        show_images(imgs, titles, ncols=m, size=size,
                    suptitle=f"Which is real? One real among {m} {what} per row")
        print("answer key: " + ", ".join(f"round {r + 1}: {letters[p]}"
                                         for r, p in enumerate(tally["real_position"])))
        if tally["answered"]:
            print(f"your picks: {tally['correct']} of {tally['answered']} right "
                  f"(chance: {tally['answered'] / m:.1f})")
        return tally
    import ipywidgets
    from IPython.display import display
    out, label = ipywidgets.Output(), ipywidgets.Label()
    buttons = [ipywidgets.Button(description=letters[p], layout=ipywidgets.Layout(width="60px"))
               for p in range(m)]

    def draw_round(r):
        from .plots import show_images
        show_images(images_of(r), [letters[p] for p in range(m)], ncols=m, size=size,
                    suptitle=f"Round {r + 1} of {n}: which of these {what} is real?")

    def show_round():
        # drawn outside pyplot (_render): a click is handled in a kernel thread of its own
        r = tally["answered"]
        images = _render(draw_round, {"r": r}) if r < n else []
        out.clear_output(wait=True)
        with out:
            for img in images:
                display(img)
        label.value = (f"{tally['correct']} of {tally['answered']} right so far (chance: 1 in {m})"
                       if r < n else f"Done: {tally['correct']} of {n} right (chance: {n / m:.1f}).")

    def on_click(button):
        r = tally["answered"]
        if r >= n:
            return
        pick(r, letters.index(button.description))
        show_round()

    for b in buttons:
        b.on_click(on_click)
    display(ipywidgets.VBox([out, ipywidgets.HBox(buttons), label]))
    show_round()
    return tally
