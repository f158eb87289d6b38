"""course_utils.widgets.which_is_real: the "which is real?" game of notebooks 11 and 08."""
import matplotlib
import pytest
import torch

from course_utils import widgets

matplotlib.use("Agg")


def _images(n=4):
    real = torch.zeros(n, 1, 6, 6)
    fakes = [torch.full((n, 1, 6, 6), 0.5), torch.ones(n, 1, 6, 6)]
    return real, fakes


def test_static_game_tallies_the_picks(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    real, fakes = _images()
    key = widgets.which_is_real(real, fakes, seed=3)["real_position"]
    assert len(key) == 4 and all(0 <= p < 3 for p in key)
    right = widgets.which_is_real(real, fakes, seed=3, answers=key)
    assert (right["answered"], right["correct"]) == (4, 4)
    wrong = widgets.which_is_real(real, fakes, seed=3, answers=[(p + 1) % 3 for p in key])
    assert (wrong["answered"], wrong["correct"]) == (4, 0)
    half = widgets.which_is_real(real, fakes, seed=3, answers=key[:2])
    assert (half["answered"], half["correct"]) == (2, 2)
    out = capsys.readouterr().out
    assert "answer key: round 1: " + "ABC"[key[0]] in out and "4 of 4 right" in out


def test_order_depends_on_the_seed_only(monkeypatch):
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    real, fakes = _images(12)
    a = widgets.which_is_real(real, fakes, seed=1)["real_position"]
    assert widgets.which_is_real(real, fakes, seed=1)["real_position"] == a
    assert widgets.which_is_real(real, fakes, seed=2)["real_position"] != a
    assert len(set(a)) > 1, "the real image must not always sit at the same place"


def test_static_figure_shows_the_real_image_where_the_key_says(monkeypatch):
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    shown = []
    monkeypatch.setattr("course_utils.plots.show_images", lambda imgs, *a, **k: shown.extend(imgs))
    real, fakes = _images(3)
    key = widgets.which_is_real(real, fakes[0], seed=0)["real_position"]   # one tensor of fakes
    for r, p in enumerate(key):
        assert torch.equal(shown[2 * r + p], real[r:r + 1])


def test_bad_inputs_are_explained(monkeypatch):
    monkeypatch.setenv("COURSE_NO_WIDGETS", "1")
    real, fakes = _images()
    with pytest.raises(ValueError, match="same shape"):
        widgets.which_is_real(real, [fakes[0][:2]])
    with pytest.raises(ValueError, match="not a position"):
        widgets.which_is_real(real, fakes, answers=[5])


def test_live_game_counts_button_clicks(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setattr(widgets, "widgets_available", lambda: True)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda w: shown.append(w))
    real, fakes = _images(2)
    tally = widgets.which_is_real(real, fakes, seed=5)
    box = shown[0]
    buttons = box.children[1].children
    key = tally["real_position"]
    buttons[key[0]].click()                       # right
    buttons[(key[1] + 1) % 3].click()             # wrong
    buttons[0].click()                            # the game is over: ignored
    assert (tally["answered"], tally["correct"]) == (2, 1)
    assert box.children[2].value.startswith("Done: 1 of 2 right")
