"""Figures: rows of images, zoomed crops, power spectra, filter grids, live training curves."""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from .images import to_numpy

__all__ = ["in_notebook", "capture_figures", "show_images", "show_zoom", "radial_power_spectrum",
           "plot_power_spectra", "show_filters", "history_series", "LivePlot"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where figures and widgets can update in place)."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
    except ImportError:
        return False


_capture = threading.local()


@contextmanager
def capture_figures():
    """Within this block (in this thread only), ``show_images`` and ``show_zoom`` draw on
    ``matplotlib.figure.Figure`` objects outside pyplot and append them to the yielded list
    instead of showing them. Nothing global is touched, so a widget can redraw in a kernel thread
    of its own (JupyterLab's comms over subshells) while a cell draws with pyplot."""
    outer = getattr(_capture, "figures", None)
    _capture.figures = figures = []
    try:
        yield figures
    finally:
        _capture.figures = outer


def _subplots(nrows: int, ncols: int, figsize: tuple[float, float]):
    figures = getattr(_capture, "figures", None)
    if figures is None:
        return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    figures.append(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _show():
    if getattr(_capture, "figures", None) is None:
        plt.show()


def _imshow(ax, img, title=None):
    a = to_numpy(img) if torch.is_tensor(img) else np.asarray(img)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)


def show_images(images: list, titles: list[str] | None = None, ncols: int | None = None,
                size: float = 3.0, suptitle: str | None = None):
    """Show images side by side. Each is a (1, C, H, W)/(C, H, W) tensor in [0, 1] or an array."""
    n = len(images)
    ncols = ncols or n
    nrows = math.ceil(n / ncols)
    fig, axes = _subplots(nrows, ncols, (size * ncols, size * nrows))
    for i, ax in enumerate(axes.flat):
        if i < n:
            _imshow(ax, images[i], titles[i] if titles else None)
        else:
            ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    _show()


def show_zoom(images: list[torch.Tensor], titles: list[str], box: tuple[int, int, int] | None = None,
              size: float = 3.0, suptitle: str | None = None):
    """The same zoomed crop across methods: top row the full images with the box drawn, bottom
    row the crop enlarged with nearest-neighbour pixels (where SR differences are visible).

    Args:
        images: (1, C, H, W) tensors of the same size in [0, 1].
        box: (top, left, side) of the square crop in pixels; default a centred square of H/4.
    """
    h, w = images[0].shape[-2:]
    if box is None:
        side = max(8, min(h, w) // 4)
        box = ((h - side) // 2, (w - side) // 2, side)
    top, left, side = box
    n = len(images)
    fig, axes = _subplots(2, n, (size * n, size * 2))
    for i, (img, t) in enumerate(zip(images, titles)):
        _imshow(axes[0, i], img, t)
        axes[0, i].add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False,
                                       edgecolor="red", linewidth=1.5))
        _imshow(axes[1, i], img[..., top:top + side, left:left + side])
    axes[1, 0].set_title(f"zoom: {side}x{side} px at ({top}, {left})", fontsize=9, loc="left")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    _show()


def radial_power_spectrum(img: torch.Tensor, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of a one-channel image.

    Args:
        img: (1, 1, H, W) or (H, W) tensor (use the Y channel for colour images).
    Returns:
        (f, p): normalised frequency in [0, 0.5] (cycles/pixel) and the mean of |FFT|^2 over
        each ring, for a log-log plot.
    """
    a = img.detach().double().cpu().squeeze()
    if a.dim() != 2:
        raise ValueError(f"radial_power_spectrum takes one channel, got {tuple(img.shape)}")
    a = a - a.mean()
    P = torch.fft.fftshift(torch.fft.fft2(a)).abs() ** 2 / a.numel()
    h, w = a.shape
    fy = torch.fft.fftshift(torch.fft.fftfreq(h, dtype=torch.float64))[:, None]
    fx = torch.fft.fftshift(torch.fft.fftfreq(w, dtype=torch.float64))[None, :]
    r = torch.sqrt(fy**2 + fx**2).flatten()
    edges = torch.linspace(0, 0.5, bins + 1, dtype=torch.float64)
    idx = torch.bucketize(r, edges) - 1
    keep = (idx >= 0) & (idx < bins)
    sums = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx[keep], P.flatten()[keep])
    counts = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx[keep], torch.ones_like(r[keep]))
    f = 0.5 * (edges[1:] + edges[:-1])
    p = sums / counts.clamp(min=1)
    ok = counts > 0
    return f[ok].numpy(), p[ok].numpy()


def plot_power_spectra(images: list[torch.Tensor], labels: list[str], ax=None,
                       title: str = "Radially averaged power spectrum"):
    """Log-log power spectra of several one-channel images on one axis."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for img, lab in zip(images, labels):
        f, p = radial_power_spectrum(img)
        ax.loglog(f, p, label=lab)
    ax.set_xlabel("spatial frequency (cycles / pixel)")
    ax.set_ylabel("power")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return ax


def show_filters(weight: torch.Tensor, ncols: int = 8, order_by_variance: bool = True,
                 size: float = 0.9, title: str | None = None):
    """Grid of conv filters. ``weight`` is (out, in, k, k); only input channel 0 is shown
    (or RGB when in = 3), each filter scaled to its own range; sorted by variance if asked."""
    w = weight.detach().float().cpu()
    if order_by_variance:
        w = w[torch.argsort(w.flatten(1).var(dim=1), descending=True)]
    n = w.shape[0]
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        f = w[i] if w.shape[1] == 3 else w[i, :1]
        f = (f - f.min()) / (f.max() - f.min() + 1e-12)
        _imshow(ax, f)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.show()


def history_series(hist: dict) -> tuple[list[str], list[str]]:
    """The names of the curves in a training history: (per-step series, validation series).

    Per-step series are the lists as long as ``hist["step"]`` (``loss``, ``d_loss``, ...);
    validation series are ``val`` and ``val_NAME``, one value per ``hist["val_step"]``.
    """
    val = [k for k, v in hist.items() if isinstance(v, list) and k != "val_step"
           and (k == "val" or k.startswith("val_")) and len(v) == len(hist.get("val_step", []))]
    train = [k for k, v in hist.items() if isinstance(v, list) and k not in ("step", "val_step")
             and k not in val and len(v) == len(hist["step"])]
    return train, [k for k in val if hist[k]]


class LivePlot:
    """Training curves of any named numbers, redrawn in place in Jupyter (a line elsewhere).

    ``update(hist)`` takes a history as :func:`course_utils.train.train_loop` returns it and draws
    every per-step series (``loss``, or ``d_loss`` and ``g_loss``, ...) in the first panel and the
    validation numbers (``val``, ``val_psnr``, ...) in the second; it redraws at most every
    ``every_s`` seconds.
    """

    def __init__(self, title: str = "training", every_s: float = 2.0):
        self.title, self.every_s = title, every_s
        self._last = 0.0
        self._handle = None
        self.notebook = in_notebook()

    def update(self, hist: dict, final: bool = False) -> None:
        import time
        now = time.time()
        if not final and now - self._last < self.every_s:
            return
        self._last = now
        if not hist["step"]:
            return
        if not self.notebook:
            if final:
                train, val = history_series(hist)
                print(f"{self.title}: step {hist['step'][-1]}, "
                      + ", ".join(f"{k} {hist[k][-1]:.4g}" for k in train + val if hist[k]))
            return
        from IPython.display import display
        fig = self.figure(hist)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)

    def figure(self, hist: dict):
        train, val = history_series(hist)
        ncols = 2 if val else 1
        fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3), squeeze=False)
        ax = axes[0, 0]
        for k in train:
            ys = np.asarray(hist[k], dtype=float)
            line, = ax.plot(hist["step"], ys, lw=0.8, alpha=0.5, label=k)
            if len(ys) >= 20:
                n = max(5, len(ys) // 50)
                ax.plot(hist["step"][n - 1:], np.convolve(ys, np.ones(n) / n, mode="valid"),
                        lw=1.5, color=line.get_color(), label=f"{k}, mean of {n}")
        if all(min(hist[k]) > 0 for k in train if hist[k]):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss" if train == ["loss"] else "per step")
        ax.set_title(self.title)
        ax.legend(fontsize=8)
        if val:
            ax = axes[0, 1]
            for k in val:
                ax.plot(hist["val_step"], hist[k], "o-", label=k)
            ax.set_xlabel("step")
            ax.set_ylabel("validation")
            ax.set_title("validation (held-out training images)")
            if len(val) > 1:
                ax.legend(fontsize=8)
        fig.tight_layout()
        return fig
