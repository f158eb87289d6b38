"""Interactive figures: the first state is a static figure, sliders start on their grid, and a
notebook executed without a front end never waits on a widget."""
import time
from pathlib import Path

import ipywidgets as W
import matplotlib
import pytest

from course_utils import widgets

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


def _drawer(calls):
    from matplotlib.figure import Figure

    def draw(t=0.5, k=1):
        calls.append((t, k))
        fig = Figure()
        fig.subplots().plot([0, 1], [0, t])
        return fig  # the figure to show; it must not become the cell's Out[n]
    return draw


@pytest.mark.parametrize("live", [False, True])
def test_interact_or_static_draws_the_first_state_on_the_slider_grid(monkeypatch, live):
    monkeypatch.setattr(widgets, "widgets_available", lambda: live)
    calls = []
    t = W.FloatSlider(value=0.33, min=0, max=1, step=0.05)
    k = W.IntSlider(value=6, min=1, max=20, step=4)
    assert widgets.interact_or_static(_drawer(calls), t=t, k=k) is None
    assert calls == [(0.35, 5)]          # 0 + 7 * 0.05 and 1 + 1 * 4: the nearest grid points
    assert (t.value, k.value) == (0.35, 5)
    if live:                             # moving a slider redraws with the new value
        t.value = 0.8
        assert calls[-1] == (0.8, 5)


def test_log_slider_starts_on_its_grid_of_exponents():
    s = widgets.on_step_grid(W.FloatLogSlider(value=3.7e-3, base=10, min=-6, max=0, step=0.25))
    assert s.value == pytest.approx(10 ** -2.5)
    s = widgets.on_step_grid(W.IntSlider(value=99, min=8, max=99, step=4))
    assert s.value == 96                 # the last grid point below max, not max itself


def test_headless_execution_with_widgets_enabled_keeps_static_figures(monkeypatch):
    """03 executed by nbclient (no front end) with widgets on, in the ci profile: under 2 minutes,
    and the compare cell keeps a PNG of its first state (no Out[n] of a function)."""
    import nbformat
    from nbclient import NotebookClient

    for var in ("COURSE_NO_WIDGETS", "CI", "MPLBACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "ci")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    nb = nbformat.read(ROOT / "solutions" / "03_interpolation.ipynb", as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "solutions")}}).execute()
    seconds = time.time() - t0
    print(f"03_interpolation executed headless with widgets on in {seconds:.1f} s")
    assert seconds < 120
    cells = [c for c in nb.cells if c.cell_type == "code" and "compare(" in c.source]
    assert cells
    for c in cells:
        kinds = [(o.output_type, sorted(o.get("data", {}))) for o in c.outputs]
        assert any("image/png" in d for _, d in kinds), kinds
        assert not any(t == "execute_result" for t, _ in kinds), kinds


def test_a_redraw_in_another_thread_leaves_pyplot_alone():
    """JupyterLab 4.6 handles widget messages in a second kernel thread: a redraw there must not
    create, show or close pyplot figures that the main thread is drawing."""
    import threading

    import matplotlib.pyplot as plt
    import torch

    from course_utils import plots

    img = torch.rand(1, 1, 32, 32)
    plt.close("all")                     # figures other tests left open
    mine = plt.figure()                  # the main thread's figure, drawn meanwhile
    out = []

    def draw(top=4):
        plots.show_zoom([img, 1 - img], ["a", "b"], (top, 4, 8))

    thread = threading.Thread(target=lambda: out.extend(widgets._render(draw, {"top": 8})))
    thread.start()
    thread.join()
    assert plt.get_fignums() == [mine.number]
    assert len(out) == 1 and out[0].data[:4] == b"\x89PNG"
    assert widgets._render(draw, {"top": 8})[0].data == out[0].data   # same state, same image
    assert widgets._render(draw, {"top": 12})[0].data != out[0].data
    plt.close(mine)


def test_a_drawer_that_shows_nothing_gets_a_clear_message():
    with pytest.raises(TypeError, match="course_utils.plots"):
        widgets._render(lambda t=1: None, {"t": 1})
