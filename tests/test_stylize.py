"""course_utils.stylize: Johnson et al.'s transformation network, its helpers and its command."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from course_utils.checkpoints import save_checkpoint
from course_utils.features import RandomFeatures, gram
from course_utils.images import save_image
from course_utils.zoo import REGISTRY, load_shipped
from course_utils.images import load_builtin
from course_utils.stylize import (LAYERS, SMALL, ResidualBlock, TransformNet, lbfgs_pixels, objective,
                                  record_name, square, style_names, style_targets, stylize, upsample_conv)

ROOT = Path(__file__).resolve().parent.parent


def _net(upsample="resize", seed=0):
    torch.manual_seed(seed)
    net = TransformNet(SMALL["widths"], SMALL["blocks"], upsample)
    with torch.no_grad():  # instance norms away from their (1, 0) start, so every layer matters
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return net.eval()


@pytest.mark.parametrize("upsample", ["resize", "transposed"])
def test_network_keeps_the_size_and_returns_an_image(upsample):
    net = _net(upsample)
    x = torch.rand(2, 3, 20, 28)
    with torch.no_grad():
        y = net(x)
        y_far = net(x * 50 - 20)  # any input: the sigmoid keeps the output in [0, 1]
    assert y.shape == x.shape and y.dtype == torch.float32
    assert 0 <= y.min() and y.max() <= 1 and y.std() > 1e-3
    assert 0 <= y_far.min() and y_far.max() <= 1


def test_paper_profile_is_the_papers_network():
    net = TransformNet()
    assert [net.conv1.out_channels, net.conv2.out_channels, net.conv3.out_channels] == [32, 64, 128]
    assert len(net.res) == 5 and net.conv1.kernel_size == (9, 9) and net.conv_out.kernel_size == (9, 9)
    assert net.conv2.stride == (2, 2) and net.conv3.stride == (2, 2)
    assert isinstance(TransformNet(upsample="transposed").up1, torch.nn.ConvTranspose2d)
    with pytest.raises(ValueError, match="resize' or 'transposed"):
        TransformNet(upsample="bilinear")


def test_sizes_not_multiple_of_4_are_refused_by_the_net_and_handled_by_stylize():
    net = _net()
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 3, 30, 32))
    photo = torch.rand(1, 3, 30, 33)
    out = stylize(net, photo)
    assert out.shape == photo.shape and not out.requires_grad
    # the padding is only added at the bottom/right: the top-left agrees with a size that needs none
    grey = stylize(net, torch.rand(1, 1, 16, 16))
    assert grey.shape == (1, 3, 16, 16)


def test_residual_block_is_the_identity_when_its_last_norm_outputs_zero():
    torch.manual_seed(1)
    block = ResidualBlock(8)
    x = torch.randn(2, 8, 12, 12)  # negative values too: no ReLU may follow the sum
    with torch.no_grad():
        block.in2.weight.zero_()
        block.in2.bias.zero_()
        assert torch.allclose(block(x), x)
        block.in2.bias.fill_(0.5)
        assert torch.allclose(block(x), x + 0.5, atol=1e-6)


def test_instance_norm_makes_the_output_blind_to_contrast_and_brightness():
    net = _net()
    x = torch.rand(1, 3, 24, 24) * 0.6 + 0.2
    with torch.no_grad():
        y, y2 = net(x), net(0.5 * x + 0.1)  # a darker, flatter copy of the same photo
    assert (y - y2).abs().max() < 1e-3
    with torch.no_grad():  # a per-image statistic: another image in the batch changes nothing
        pair = net(torch.cat([x, torch.rand(1, 3, 24, 24)]))
    assert (pair[:1] - y).abs().max() < 1e-5


def test_reflection_padding_keeps_a_flat_photo_flat():
    """Zero padding would make the borders of a constant photo differ from its middle."""
    net = _net()
    with torch.no_grad():
        y = net(torch.full((1, 3, 32, 32), 0.4))
    assert (y - y[..., 16:17, 16:17]).abs().max() < 1e-4


def test_transposed_convolution_makes_a_checkerboard_and_resize_convolution_does_not():
    """Odena et al. 2016: a 3x3 kernel with stride 2 overlaps unevenly; nearest x2 + conv does not."""
    h = torch.ones(1, 1, 8, 8)
    tconv, rconv = upsample_conv(1, 1, "transposed"), upsample_conv(1, 1, "resize")
    with torch.no_grad():
        for conv in (tconv, rconv):
            conv.weight.fill_(1.0)
            conv.bias.zero_()
        t = tconv(h)[0, 0, 2:-2, 2:-2]
        r = rconv(F.interpolate(h, scale_factor=2, mode="nearest"))[0, 0]
    assert t.shape == (12, 12) and r.shape == (16, 16)
    assert set(t.unique().tolist()) == {1.0, 2.0, 4.0}  # the period-2 pattern of the overlaps
    assert torch.equal(t[0::2, 0::2], torch.full((6, 6), 1.0))
    assert torch.equal(t[1::2, 1::2], torch.full((6, 6), 4.0))
    assert torch.equal(r, torch.full((16, 16), 9.0))


def test_objective_is_zero_at_the_targets_and_adds_its_terms():
    feats = RandomFeatures(LAYERS, channels=8)
    y = torch.rand(1, 3, 32, 32)
    grams = style_targets(feats, y)
    assert set(grams) == set(LAYERS) - {"relu4_2"} and all(g.shape == (1, 8, 8) for g in grams.values())
    at_target = objective(feats, y, y, grams, alpha=2.0, beta=3.0, gamma=0.5)
    assert at_target["content"].item() == pytest.approx(0, abs=1e-10)
    assert at_target["style"].item() == pytest.approx(0, abs=1e-10)
    x = torch.rand(2, 3, 32, 32)
    t = objective(feats, x, torch.cat([y, y]), grams, alpha=2.0, beta=3.0, gamma=0.5)
    assert t["content"] > 0 and t["style"] > 0
    assert t["gatys"].item() == pytest.approx(2 * t["content"].item() + 3 * t["style"].item())
    assert t["loss"].item() == pytest.approx(t["gatys"].item() + 0.5 * t["tv"].item())
    one = objective(feats, x[:1], y, grams)  # the style term of a batch: the mean over the images
    two = objective(feats, x[1:], y, grams)
    assert t["style"].item() == pytest.approx((one["style"].item() + two["style"].item()) / 2)
    g = gram(feats(x[:1], ["relu3_1"])["relu3_1"])
    assert torch.allclose(g, g.transpose(1, 2))


def test_lbfgs_on_sigmoid_pixels_keeps_decreasing_where_clamped_lbfgs_stalls():
    # Gatys' transfer from the photo, 32 px, fixed random features: L-BFGS on the pixels with a clamp
    # inside the closure (notebooks 09-10 before) stalls; L-BFGS on z with x = sigmoid(z) does not.
    feats = RandomFeatures(LAYERS, channels=16)
    photo, painting = square(load_builtin("chelsea"), 32), square(load_builtin("coffee"), 32)
    grams = style_targets(feats, painting)
    def f(x):
        return objective(feats, x, photo, grams)["gatys"]
    x = photo.clone().requires_grad_(True)
    clamped = []
    opt = torch.optim.LBFGS([x], lr=1, max_iter=60, max_eval=60, history_size=20, tolerance_grad=0,
                            tolerance_change=0, line_search_fn="strong_wolfe")

    def closure():
        with torch.no_grad():
            x.clamp_(0, 1)
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        clamped.append(loss.item())
        return loss
    opt.step(closure)
    best, history, snaps = lbfgs_pixels(f, photo, 60, keep=(30, 1000))
    assert history[0] == pytest.approx(f(photo).item(), rel=1e-2)          # starts at the photo
    assert 0 < best.min() and best.max() < 1 and best.shape == photo.shape
    assert f(best).item() == pytest.approx(min(history), rel=1e-5)
    assert f(snaps[30]).item() == pytest.approx(min(history[:30]), rel=1e-5)
    assert torch.equal(snaps[1000], best)                                 # past the end: the best
    def gain(h):
        return 1 - min(h) / min(h[:30])                             # relative gain, evals 31-60
    assert gain(clamped) < 0.01                                           # the clamped run stalls...
    assert gain(history) > 0.015                                          # ...the sigmoid one goes on
    assert min(history) < 0.98 * min(clamped)


def test_every_style_record_builds_a_small_transformation_net():
    styles = style_names()
    assert len(styles) >= 3
    for s in styles:
        r = REGISTRY[record_name(s)]
        assert r.kind == "style" and r.storage == "float16" and r.channels == "rgb"
        assert isinstance(r.builder(), TransformNet)


def test_load_shipped_round_trip(tmp_path):
    name = record_name(style_names()[0])
    net = _net()
    save_checkpoint(tmp_path / f"{name}.pt", net.state_dict(), name=name,
                    meta={"steps": 7, "features": "features: test"}, half=True)
    loaded, meta = load_shipped(name, tmp_path)
    assert meta["steps"] == 7 and not loaded.training
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        diff = (loaded(x) - net(x)).abs().max()
    assert 0 < diff < 5e-3  # float16 weights: close, and not a copy of the float32 ones
    with torch.no_grad():
        assert (_net(seed=1)(x) - net(x)).abs().max() > 10 * diff  # another net is far


def test_shipped_style_networks_stylise_held_out_photos():
    for s in style_names():
        net, meta = load_shipped(record_name(s))
        assert meta["features"].startswith("features:") and meta["steps"] > 0
        assert meta["style"] == s and "held_out" in meta
        photo = torch.rand(1, 3, 24, 40)
        out = stylize(net, photo)
        assert out.shape == photo.shape and 0 <= out.min() and out.max() <= 1
    assert sum(p.stat().st_size for p in (ROOT / "checkpoints").glob("johnson-*.pt")) < 5_000_000


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "course_utils.stylize", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_stylises_a_photo(tmp_path):
    name = record_name(style_names()[0])
    save_checkpoint(tmp_path / f"{name}.pt", _net().state_dict(), name=name,
                    meta={"steps": 3, "features": "features: test"}, half=True)
    save_image(torch.rand(1, 3, 18, 26), tmp_path / "in.png")
    out = _cli("--style", style_names()[0], str(tmp_path / "in.png"), str(tmp_path / "out.png"),
               "--checkpoints", str(tmp_path))
    assert out.returncode == 0, out.stderr
    from course_utils.images import load_image
    assert load_image(tmp_path / "out.png").shape == (1, 3, 18, 26)


def test_cli_unknown_style_lists_the_available_ones(tmp_path):
    save_image(torch.rand(1, 3, 8, 8), tmp_path / "in.png")
    out = _cli("--style", "mona_lisa", str(tmp_path / "in.png"), str(tmp_path / "out.png"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "mona_lisa" in out.stderr and all(s in out.stderr for s in style_names())
    assert not (tmp_path / "out.png").exists()


def test_cli_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    for path in (bad, tmp_path / "missing.png"):
        out = _cli("--style", style_names()[0], str(path), str(tmp_path / "out.png"))
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert path.name in out.stderr
    out = _cli(str(bad))  # no --style
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--style" in out.stderr


def test_cli_missing_checkpoint_says_how_to_train_it(tmp_path):
    save_image(torch.rand(1, 3, 8, 8), tmp_path / "in.png")
    out = _cli("--style", style_names()[0], str(tmp_path / "in.png"), str(tmp_path / "out.png"),
               "--checkpoints", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "train_johnson.py --style" in out.stderr


def test_training_crops_are_reproducible_and_resume_where_they_stopped():
    from course_utils.stylize import RandomCrops as crops
    images = [torch.rand(1, 3, 40, 50), torch.rand(1, 3, 20, 30)]  # one smaller than the crop
    a = crops(images, 32, 3, seed=5)
    first = next(a)
    assert first.shape == (3, 3, 32, 32) and 0 <= first.min() and first.max() <= 1
    state = a.state_dict()
    second = next(a)
    b = crops(images, 32, 3, seed=5)
    assert torch.equal(next(b), first)
    c = crops(images, 32, 3, seed=99)
    c.load_state_dict(state)
    assert torch.equal(next(c), second) and not torch.equal(second, first)


def _ship_test_style(folder):
    name = record_name(style_names()[0])
    save_checkpoint(folder / f"{name}.pt", _net().state_dict(), name=name,
                    meta={"steps": 3, "features": "features: test"}, half=True)


def test_cli_a_tiny_photo_is_a_clear_error(tmp_path):
    _ship_test_style(tmp_path)
    save_image(torch.rand(1, 3, 4, 4), tmp_path / "in.png")
    out = _cli("--style", style_names()[0], str(tmp_path / "in.png"), str(tmp_path / "out.png"),
               "--checkpoints", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "in.png" in out.stderr and "4x4 px" in out.stderr and "at least 8 px" in out.stderr
    assert not (tmp_path / "out.png").exists()


def test_cli_a_large_photo_is_downscaled_with_a_message(tmp_path, monkeypatch, capsys):
    """A 12 MP photo (4000x3000) would need several GB: it is stylised at --max-pixels instead."""
    from course_utils import stylize as st
    from course_utils.images import load_image
    _ship_test_style(tmp_path)
    seen = []
    real = st.stylize
    monkeypatch.setattr("course_utils.images.load_image", lambda path, mode: torch.rand(1, 3, 3000, 4000))
    monkeypatch.setattr(st, "stylize", lambda net, photo: seen.append(photo.shape) or real(net, photo),
                        raising=True)
    assert st.main(["--style", style_names()[0], "big.jpg", str(tmp_path / "out.png"),
                    "--checkpoints", str(tmp_path), "--max-pixels", "12000"]) == 0
    assert seen[0][-2] * seen[0][-1] <= 12000 and abs(seen[0][-1] / seen[0][-2] - 4 / 3) < 0.05
    assert "big.jpg is 4000x3000 px; stylising a copy downscaled" in capsys.readouterr().err
    assert load_image(tmp_path / "out.png").shape[-2:] == seen[0][-2:]


def test_cli_unreadable_checkpoint_folder_is_named(tmp_path, monkeypatch, capsys):
    from course_utils import stylize as st
    save_image(torch.rand(1, 3, 16, 16), tmp_path / "in.png")

    def denied(style, folder=None):
        raise PermissionError(13, "Permission denied", str(folder))
    monkeypatch.setattr(st, "load_style", denied)
    assert st.main(["--style", style_names()[0], str(tmp_path / "in.png"), str(tmp_path / "out.png"),
                    "--checkpoints", str(tmp_path / "locked")]) == 2
    assert f"{tmp_path / 'locked'}: cannot read it (Permission denied)" in capsys.readouterr().err


# ---- data_scripts/train_johnson.py: interruptions, resumes, bad input ----------------------------
import os  # noqa: E402

JOHNSON_MIRROR = Path(os.environ.get("COURSE_DATA_MIRROR") or ROOT.parent / "shared" / "datasets")
needs_mirror = pytest.mark.skipif(not (JOHNSON_MIRROR / "T91").is_dir()
                                  or not (JOHNSON_MIRROR / "styles").is_dir(),
                                  reason="no local data mirror with T91 and styles")


def _johnson(tmp_path, monkeypatch):
    import importlib.util
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(JOHNSON_MIRROR))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the script's choice, not the suite's
    spec = importlib.util.spec_from_file_location("train_johnson", ROOT / "data_scripts" / "train_johnson.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    style = style_names()[0]
    shipped = tmp_path / "shipped"
    shipped.mkdir(exist_ok=True)
    args = ["--style", style, "--size", "32", "--batch", "1", "--style-size", "32", "--features",
            "random", "--n-val", "1", "--val-every", "50", "--ckpt-every", "1",
            "--runs-dir", str(tmp_path / "runs"), "--out", str(shipped)]
    return mod, args, shipped / f"{record_name(style)}.pt"


@needs_mirror
def test_train_johnson_ctrl_c_ships_nothing_and_the_stopped_run_ships_only_on_request(
        tmp_path, monkeypatch, capsys):
    mod, args, shipped = _johnson(tmp_path, monkeypatch)
    calls, real = [], mod.objective

    def interrupted_at_the_second_step(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt   # Ctrl-C during step 2
        return real(*a, **k)
    monkeypatch.setattr(mod, "objective", interrupted_at_the_second_step)
    assert mod.main(args + ["--steps", "3", "--ship"]) == 1
    assert not shipped.exists()                                   # no half-trained network shipped
    assert "stopped at step 1 of 3 (Ctrl-C)" in capsys.readouterr().out
    monkeypatch.setattr(mod, "objective", real)
    # shipping the stopped run as it is (before any validation: no KeyError 'val_gatys')
    assert mod.main(args + ["--steps", "3", "--ship-partial", "--until", "now"]) == 0
    ck = load_checkpoint_(shipped)
    assert ck["meta"]["steps"] == 1 and ck["meta"]["val_curve"] == [] and "stopped early" in ck["meta"]["note"]
    assert ck["meta"]["threads"] == torch.get_num_threads()


@needs_mirror
def test_train_johnson_another_lr_starts_its_own_run_instead_of_resuming(tmp_path, monkeypatch, capsys):
    mod, args, shipped = _johnson(tmp_path, monkeypatch)
    assert mod.main(args + ["--steps", "1"]) == 0
    assert not shipped.exists()                                   # no --ship: checkpoints untouched
    capsys.readouterr()
    assert mod.main(args + ["--steps", "1", "--lr", "1e-3", "--ship"]) == 0
    out = capsys.readouterr().out
    assert "a new run" in out and "not resuming johnson-" in out and "resuming from" not in out
    ck = load_checkpoint_(shipped)
    assert ck["meta"]["lr"] == 1e-3 and ck["meta"]["steps"] == 1   # all its steps at that rate
    assert len(list((tmp_path / "runs").glob("johnson-*/work.pt"))) == 2


@pytest.mark.parametrize("bad", [["--val-every", "0"], ["--threads", "0"], ["--batch", "0"],
                                 ["--lr", "0"], ["--size", "4"], ["--steps", "x"]])
def test_train_johnson_bad_arguments_exit_2_with_one_line(tmp_path, monkeypatch, capsys, bad):
    mod, args, shipped = _johnson(tmp_path, monkeypatch)
    with pytest.raises(SystemExit) as e:
        raise SystemExit(mod.main(args + bad))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err.strip().splitlines()[-1] and "Traceback" not in err


def test_train_johnson_missing_t91_is_one_line(tmp_path, monkeypatch, capsys):
    mod, args, shipped = _johnson(tmp_path, monkeypatch)
    empty = tmp_path / "empty_mirror"
    (empty / "styles").mkdir(parents=True)
    if (JOHNSON_MIRROR / "styles").is_dir():
        for f in (JOHNSON_MIRROR / "styles").iterdir():
            (empty / "styles" / f.name).symlink_to(f)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(empty))
    assert mod.main(args + ["--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "T91" in err and "Traceback" not in err


def load_checkpoint_(path):
    from course_utils.checkpoints import load_checkpoint
    return load_checkpoint(path)
