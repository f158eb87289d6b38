"""course_utils.train: the step functions, the loop, resume, Ctrl-C (behaviour, not names)."""
import copy
import os
import signal

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.plots import history_series
from course_utils.train import (RandomBatches, fit, gan_step, supervised_step, train_loop,
                                train_or_load)


def _problem(seed=0):
    torch.manual_seed(seed)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    return nn.Linear(4, 1), loader


def _adam_steps(opt):
    return {int(s["step"]) for s in opt.state.values()}


def test_supervised_step_is_one_adam_update():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    ref = copy.deepcopy(model)
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    logs = supervised_step(model, F.mse_loss, opt)((x, y))
    # Adam's first step moves every weight by lr * sign(gradient) (m / sqrt(v) = g / |g|)
    loss = F.mse_loss(ref(x), y)
    loss.backward()
    assert logs["loss"] == pytest.approx(loss.item())
    expected = ref.weight - 0.1 * torch.sign(ref.weight.grad)
    assert torch.allclose(model.weight, expected, atol=1e-6)


def test_conditional_step_feeds_the_target_and_the_condition():
    seen = []

    class Cond(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, y, x):
            seen.append((y.clone(), x.clone()))
            return self.w * y + x

    m = Cond()
    x, y = torch.zeros(2, 1), torch.full((2, 1), 3.0)
    supervised_step(m, F.mse_loss, torch.optim.SGD(m.parameters(), lr=0.0), conditional=True)((x, y))
    assert torch.equal(seen[0][0], y) and torch.equal(seen[0][1], x)


def test_fit_history_keys_and_validation_steps(tmp_path):
    model, loader = _problem()
    h = fit(model, F.mse_loss, loader, steps=150, lr=0.05, val_fn=lambda: 1.0, val_every=50,
            plot=False, checkpoint=tmp_path / "w.pt", ckpt_every=50)
    assert set(h) == {"step", "loss", "val_step", "val", "seconds", "interrupted"}
    assert h["step"] == list(range(1, 151)) and h["val_step"] == [50, 100, 150]
    assert h["loss"][-1] < 0.05 * h["loss"][0] and not h["interrupted"]
    assert load_checkpoint(tmp_path / "w.pt")["meta"]["step"] == 150


def _sigint_at(n):
    calls = {"n": 0}

    def loss(pred, y):
        calls["n"] += 1
        if calls["n"] == n:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C or Jupyter's stop button
        return F.mse_loss(pred, y)
    return loss


def test_ctrl_c_during_a_step_finishes_it_and_saves_what_was_applied(tmp_path):
    model, loader = _problem()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    ck = tmp_path / "w.pt"
    h = fit(model, _sigint_at(7), loader, steps=100, optimizer=opt, plot=False, checkpoint=ck)
    assert h["interrupted"] and h["step"][-1] == 7 and len(h["loss"]) == 7
    saved = load_checkpoint(ck)
    assert saved["meta"]["step"] == 7 == _adam_steps(opt).pop()  # steps saved = updates applied
    assert torch.equal(saved["state_dict"]["weight"], model.weight)
    state = saved["extra"]["optimizers"]["optimizer"]["state"]
    assert {int(s["step"]) for s in state.values()} == {7}


def test_ctrl_c_during_validation_keeps_history_and_checkpoint_consistent(tmp_path):
    model, loader = _problem()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    calls = {"n": 0}

    def val_fn():
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return 0.5
    ck = tmp_path / "w.pt"
    h = fit(model, F.mse_loss, loader, steps=50, optimizer=opt, val_fn=val_fn, val_every=5,
            plot=False, checkpoint=ck)
    assert h["interrupted"] and h["step"][-1] == 10
    assert h["val_step"] == [5] and h["val"] == [0.5]  # the interrupted validation left nothing
    saved = load_checkpoint(ck)
    assert saved["meta"]["step"] == 10 == _adam_steps(opt).pop()
    assert saved["extra"]["history"]["val_step"] == [5]
    assert saved["extra"]["history"]["step"] == h["step"]


def test_keyboard_interrupt_raised_inside_a_step_counts_only_finished_steps():
    model, loader = _problem()
    calls = {"n": 0}

    def loss(pred, y):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return F.mse_loss(pred, y)
    opt = torch.optim.Adam(model.parameters())
    h = fit(model, loss, loader, steps=100, optimizer=opt, plot=False)
    assert h["interrupted"] and len(h["loss"]) == 6 and _adam_steps(opt) == {6}


def test_resume_continues_exactly(tmp_path):
    _, loader = _problem()
    xy = loader.dataset.tensors

    def run(split):
        model, _ = _problem()
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        sched = torch.optim.lr_scheduler.StepLR(opt, 4, 0.5)
        ck = tmp_path / f"w{split}.pt"
        for n in split:
            h = fit(model, F.mse_loss, RandomBatches(xy, 8, seed=2), n, optimizer=opt,
                    scheduler=sched, plot=False, checkpoint=ck)
            model, _ = _problem(seed=1)  # a fresh process: new model, optimizer, scheduler
            opt = torch.optim.Adam(model.parameters(), lr=0.01)
            sched = torch.optim.lr_scheduler.StepLR(opt, 4, 0.5)
        return load_checkpoint(ck), h
    (a, ha), (b, hb) = run((10,)), run((3, 10))
    assert torch.equal(a["state_dict"]["weight"], b["state_dict"]["weight"])
    assert ha["loss"] == hb["loss"] and hb["step"] == list(range(1, 11))
    assert a["extra"]["schedulers"] == b["extra"]["schedulers"]


def test_resume_with_more_steps_than_asked_says_so_and_keeps_the_file(tmp_path):
    model, loader = _problem()
    ck = tmp_path / "w.pt"
    fit(model, F.mse_loss, loader, 12, plot=False, checkpoint=ck)
    before = ck.read_bytes()
    model2, _ = _problem(seed=1)
    with pytest.warns(UserWarning, match="holds 12 steps, more than the 5 asked"):
        h = fit(model2, F.mse_loss, loader, 5, plot=False, checkpoint=ck)
    assert h["step"][-1] == 12 and ck.read_bytes() == before  # not relabelled as 5 steps
    assert torch.equal(model2.weight, model.weight)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_empty_or_corrupt_resume_file_names_the_file(tmp_path, content):
    model, loader = _problem()
    ck = tmp_path / "work.pt"
    ck.write_bytes(content)
    with pytest.raises(CheckpointError, match="cannot resume") as e:
        fit(model, F.mse_loss, loader, 5, plot=False, checkpoint=ck)
    assert str(ck) in str(e.value) and "delete" in str(e.value)


def test_resume_file_of_another_model_is_refused_by_name(tmp_path):
    model, loader = _problem()
    ck = tmp_path / "work.pt"
    fit(model, F.mse_loss, loader, 3, plot=False, checkpoint=ck)
    other = nn.Linear(4, 2)
    loader2 = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        torch.randn(8, 4), torch.randn(8, 2)), batch_size=4)
    with pytest.raises(CheckpointError, match="do not fit Linear") as e:
        fit(other, F.mse_loss, loader2, 5, plot=False, checkpoint=ck)
    assert str(ck) in str(e.value)


def test_nan_loss_stops_with_the_step_number():
    model, loader = _problem()
    with pytest.raises(FloatingPointError, match="step 1: the loss became nan"):
        fit(model, lambda p, y: p.sum() * float("nan"), loader, 3, plot=False)


# ---- GANs ------------------------------------------------------------------------------------
def _gan(seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.LeakyReLU(0.2), nn.Linear(8, 1),
                      nn.Flatten(0))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    return G, D, opt_g, opt_d


def d_loss(a_real, a_fake):
    return -(F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean())


def g_loss(a_fake):
    return -F.logsigmoid(a_fake).mean()


def test_gan_step_is_the_lectures_algorithm():
    G, D, opt_g, opt_d = _gan()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    opt_g2 = torch.optim.Adam(G2.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d2 = torch.optim.Adam(D2.parameters(), lr=1e-3, betas=(0.5, 0.999))
    step = gan_step(G, D, opt_g, opt_d, d_loss, g_loss)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        z, real = torch.randn(16, 2, generator=gen), torch.randn(16, 2, generator=gen) + 3
        logs = step((z, real))
        # reference: notebook 02's gan_step as first written (D's update, then G's)
        fake = G2(z)
        ld = d_loss(D2(real), D2(fake.detach()))
        opt_d2.zero_grad(); ld.backward(); opt_d2.step()
        lg = g_loss(D2(fake))
        opt_g2.zero_grad(); lg.backward(); opt_g2.step()
        assert logs == {"d_loss": pytest.approx(ld.item(), abs=1e-6),
                        "g_loss": pytest.approx(lg.item(), abs=1e-6)}
    for a, b in zip(list(G.parameters()) + list(D.parameters()),
                    list(G2.parameters()) + list(D2.parameters())):
        assert torch.allclose(a, b, atol=1e-6)
    assert all(p.requires_grad for p in D.parameters())  # D unfrozen after G's update


def test_gan_step_generator_first_leaves_d_alone_during_gs_update():
    G, D, opt_g, opt_d = _gan()
    D_before = copy.deepcopy(D)
    seen = {}
    orig = opt_g.step

    def spy(*a, **k):
        seen["D at G's update"] = [p.detach().clone() for p in D.parameters()]
        seen["D grads"] = [p.grad for p in D.parameters()]
        return orig(*a, **k)
    opt_g.step = spy
    gan_step(G, D, opt_g, opt_d, d_loss, g_loss, d_first=False)((torch.randn(8, 2), torch.randn(8, 2)))
    assert all(torch.equal(a, b) for a, b in zip(seen["D at G's update"], D_before.parameters()))
    assert all(g is None for g in seen["D grads"])  # D was frozen: G's loss gave it no gradient
    assert not all(torch.equal(a, b) for a, b in zip(D.parameters(), D_before.parameters()))


def test_conditional_gan_step_adds_the_weighted_content_loss():
    G, D, opt_g, opt_d = _gan()
    x, real = torch.randn(8, 2), torch.randn(8, 2)
    logs = gan_step(G, D, opt_g, opt_d, d_loss, g_loss, content_loss=F.mse_loss,
                    adv_weight=1e-3)((x, real))
    assert logs["g_loss"] == pytest.approx(logs["content"] + 1e-3 * logs["g_adv"], rel=1e-5)


def test_gan_training_resumes_all_models_optimizers_and_the_stream(tmp_path):
    data = torch.randn(100, 2) + 2

    def run(split):
        ck = tmp_path / f"gan{split}.pt"
        for n in split:
            G, D, opt_g, opt_d = _gan(seed=5)  # a fresh start each time: only the file carries state
            batches = RandomBatches(data, 16, nz=2, seed=3)
            h = train_loop(gan_step(G, D, opt_g, opt_d, d_loss, g_loss), batches, n,
                           models={"G": G, "D": D}, optimizers={"G": opt_g, "D": opt_d},
                           checkpoint=ck, plot=False)
        return G, D, h
    G1, D1, h1 = run((8,))
    G2, D2, h2 = run((3, 8))
    assert h1["d_loss"] == h2["d_loss"] and h1["g_loss"] == h2["g_loss"]
    for a, b in zip(list(G1.state_dict().values()) + list(D1.state_dict().values()),
                    list(G2.state_dict().values()) + list(D2.state_dict().values())):
        assert torch.equal(a, b)


def test_random_batches_draw_indices_then_codes():
    data = torch.arange(10.0)[:, None]
    z, real = next(RandomBatches(data, 4, nz=3, seed=7))
    g = torch.Generator().manual_seed(7)
    assert torch.equal(real, data[torch.randint(10, (4,), generator=g)])
    assert torch.equal(z, torch.randn(4, 3, generator=g))


def test_history_series_names_every_curve():
    hist = {"step": [1, 2, 3], "d_loss": [1, 2, 3], "g_loss": [3, 2, 1], "val_step": [3],
            "val_psnr": [30.0], "seconds": 1.0, "interrupted": False}
    assert history_series(hist) == (["d_loss", "g_loss"], ["val_psnr"])


def test_train_or_load_falls_back_to_training_on_wrong_shapes(tmp_path):
    from course_utils import setup
    cfg = setup(profile="ci", quiet=True)
    cfg.data_dir, cfg.checkpoint_dir = tmp_path / "data", tmp_path / "shipped"
    save_checkpoint(cfg.checkpoint_dir / "lin.pt", nn.Linear(4, 3).state_dict(), name="lin")
    model, loader = _problem()
    calls = []

    def train_fn(m):
        calls.append(1)
        return fit(m, F.mse_loss, loader, steps=3, plot=False)
    with pytest.warns(UserWarning, match="lin.pt: its weights do not fit Linear"):
        _, info = train_or_load("lin", model, train_fn, cfg)
    assert calls == [1] and info["source"].startswith("trained")


# ---- SRPatches: a resumable stream ---------------------------------------------------------
def _patches(length=10**9):
    from course_utils.data import SRPatches
    g = torch.Generator().manual_seed(0)
    imgs = [torch.rand(1, 1, 40, 44, generator=g), torch.rand(1, 1, 36, 36, generator=g)]
    return SRPatches(imgs, 3, patch=12, length=length, seed=4)


def test_sr_patches_stream_is_items_in_order_and_never_permuted():
    ds = _patches()
    loader = torch.utils.data.DataLoader(ds, batch_size=4)  # a billion items: nothing precomputed
    it = iter(loader)
    x0, y0 = next(it)
    x1, _ = next(it)
    assert torch.equal(x0[2], ds[2][0]) and torch.equal(y0[3], ds[3][1])
    assert torch.equal(x1[0], ds[4][0]) and ds.state_dict()["position"] == 8
    with pytest.raises(ValueError, match="shuffle"):
        torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)


def test_sr_patches_next_pass_continues_instead_of_replaying():
    ds = _patches(length=5)
    first, second = list(ds), list(ds)
    assert len(first) == len(second) == 5
    assert torch.equal(second[0][1], ds[5][1]) and not torch.equal(second[0][1], first[0][1])


def test_resumed_sr_training_continues_the_patch_stream(tmp_path):
    from course_utils.models import ESPCN

    def run(split):
        ck = tmp_path / f"espcn{split}.pt"
        for n in split:
            torch.manual_seed(0)
            net = ESPCN(3, n1=4, n2=4)
            loader = torch.utils.data.DataLoader(_patches(), batch_size=2)
            h = fit(net, F.mse_loss, loader, n, lr=1e-2, plot=False, checkpoint=ck)
        return net, h
    a, ha = run((6,))
    b, hb = run((2, 6))
    assert ha["loss"] == hb["loss"]
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert load_checkpoint(tmp_path / "espcn(2, 6).pt")["extra"]["data"]["position"] == 12


MIRROR = os.environ.get("COURSE_DATA_MIRROR", "")


@pytest.mark.skipif(not os.path.isdir(os.path.join(MIRROR, "mnist")), reason="no mirror with MNIST")
def test_train_dcgan_script_ships_a_generator_the_library_loads(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path
    from course_utils.models import DCGANGenerator
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    path = Path(__file__).resolve().parent.parent / "data_scripts" / "train_dcgan.py"
    spec = importlib.util.spec_from_file_location("train_dcgan", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the script's choice, not the suite's
    args = ["--steps", "3", "--ckpt-every", "2", "--out", str(tmp_path)]
    assert script.main(args) == 0
    assert not (tmp_path / "dcgan-mnist.pt").exists()      # no --ship: the shipped file is sacred
    assert script.main(args + ["--ship"]) == 0            # the finished run, shipped after its checks
    ck = load_checkpoint(tmp_path / "dcgan-mnist.pt", name="dcgan-mnist")
    assert ck["meta"]["steps"] == 3 and ck["meta"]["threads"] == torch.get_num_threads()
    DCGANGenerator().load_state_dict(ck["state_dict"])
    work, = (tmp_path / "data" / "runs").glob("dcgan-mnist_*/work.pt")
    work = load_checkpoint(work)
    assert set(work["extra"]["optimizers"]) == {"G", "D"} and "D" in work["extra"]["models"]


def test_gan_losses_on_logits_match_the_formulas_and_stay_finite():
    from course_utils.train import d_loss as lib_d_loss, g_loss_minimax, g_loss_nonsat
    a_r = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    a_f = torch.tensor([-2.0, 1.5], dtype=torch.float64)
    D_r, D_f = torch.sigmoid(a_r), torch.sigmoid(a_f)
    assert lib_d_loss(a_r, a_f).item() == pytest.approx(-(D_r.log().mean() + (1 - D_f).log().mean()).item(), rel=1e-12)
    assert g_loss_minimax(a_f).item() == pytest.approx((1 - D_f).log().mean().item(), rel=1e-12)
    assert g_loss_nonsat(a_f).item() == pytest.approx(-D_f.log().mean().item(), rel=1e-12)
    big = torch.tensor([200.0])
    for v in (lib_d_loss(-big, big), g_loss_minimax(big), g_loss_nonsat(-big)):
        assert torch.isfinite(v)


def test_clip_adjustable_bounds_each_component_by_theta_over_lr():
    """VDSR's adjustable clipping (notebook 06's course version)."""
    from course_utils.train import clip_adjustable_
    p, q = nn.Parameter(torch.zeros(4)), nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([-5.0, 0.5, 3.0, -0.2])
    assert clip_adjustable_(iter([p, q]), theta=0.01, lr=0.01) == 5.0   # before clipping; q skipped
    assert torch.equal(p.grad, torch.tensor([-1.0, 0.5, 1.0, -0.2])) and q.grad is None
    p.grad = torch.tensor([-5.0, 0.5, 3.0, -0.2])
    clip_adjustable_([p], theta=0.01, lr=0.1)
    assert torch.allclose(p.grad, torch.tensor([-0.1, 0.1, 0.1, -0.1]))


@pytest.mark.skipif(not os.path.isdir(os.path.join(MIRROR, "olivetti")), reason="no mirror with the faces")
def test_train_pixelsr_truncated_best_file_is_one_line_and_nothing_ships(tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    path = Path(__file__).resolve().parent.parent / "data_scripts" / "train_pixelsr.py"
    spec = importlib.util.spec_from_file_location("train_pixelsr", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = ["--data", "faces", "--steps", "1", "--val-every", "1", "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path)]
    assert script.main(args) == 0
    assert not (tmp_path / "pixelcnn-sr-faces.pt").exists()   # no --ship: nothing shipped
    best, = (tmp_path / "runs").glob("pixelcnn-sr-faces_*/best.pt")
    best.write_bytes(best.read_bytes()[:1000])                # a kill or a full disk cut it short
    capsys.readouterr()
    assert script.main(args + ["--ship"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "best.pt" in err and "Traceback" not in err
    assert not (tmp_path / "pixelcnn-sr-faces.pt").exists()


def test_gan_train_step_is_one_iteration_of_gan_step_with_the_course_losses():
    from course_utils import train
    G, D, opt_g, opt_d = _gan()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    opt_g2 = torch.optim.Adam(G2.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d2 = torch.optim.Adam(D2.parameters(), lr=1e-3, betas=(0.5, 0.999))
    step = gan_step(G2, D2, opt_g2, opt_d2, train.d_loss, train.g_loss_nonsat)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        z, real = torch.randn(12, 2, generator=gen), torch.randn(10, 2, generator=gen) + 3
        out = train.gan_train_step(G, D, opt_g, opt_d, z, real)
        logs = step((z, real))
        assert isinstance(out, tuple) and all(isinstance(v, float) for v in out)
        assert out == (pytest.approx(logs["d_loss"], abs=1e-6), pytest.approx(logs["g_loss"], abs=1e-6))
    for a, b in zip(list(G.parameters()) + list(D.parameters()), list(G2.parameters()) + list(D2.parameters())):
        assert torch.allclose(a, b, atol=1e-6)


# ---- train_or_load: the FSRCNN x2/x4 fallback and a read-only course folder ---------------------
def _cfg(tmp_path):
    from course_utils import setup
    cfg = setup(profile="ci", quiet=True)
    cfg.data_dir, cfg.checkpoint_dir = tmp_path / "data", tmp_path / "shipped"
    return cfg


def test_fsrcnn_x4_fallback_starts_from_the_x3_model_converted(tmp_path):
    from course_utils.models import FSRCNN
    cfg = _cfg(tmp_path)
    torch.manual_seed(3)
    x3 = FSRCNN(3)
    save_checkpoint(cfg.checkpoint_dir / "fsrcnn-x3.pt", x3.state_dict(), name="fsrcnn-x3")
    seen = {}

    def train_fn(m):  # what the training starts from, then one update of what is trainable
        seen["state"] = {k: v.clone() for k, v in m.state_dict().items()}
        seen["trainable"] = sorted(k for k, p in m.named_parameters() if p.requires_grad)
        with torch.no_grad():
            m.deconv.bias.add_(0.5)
        return {"step": [1], "seconds": 0.1}
    torch.manual_seed(4)
    model, info = train_or_load("fsrcnn-x4", FSRCNN(4), train_fn, cfg)
    assert all(torch.equal(seen["state"][k], v) for k, v in x3.state_dict().items())
    assert seen["trainable"] == ["deconv.bias", "deconv.weight"]
    assert model(torch.rand(1, 1, 5, 6)).shape[-2:] == (20, 24)
    assert "fsrcnn-x3.pt" in info["meta"]["note"]
    cached = load_checkpoint(cfg.data_dir / "checkpoints" / "fsrcnn-x4.pt", name="fsrcnn-x4")
    assert torch.equal(cached["state_dict"]["feature.0.weight"], x3.feature[0].weight.detach())
    assert torch.allclose(cached["state_dict"]["deconv.bias"], x3.deconv.bias.detach() + 0.5)


def test_fsrcnn_x2_without_an_x3_model_refuses_to_train_from_random_weights(tmp_path):
    from course_utils.models import FSRCNN
    cfg = _cfg(tmp_path)
    calls = []
    with pytest.raises(CheckpointError, match="fsrcnn-x2 is trained from fsrcnn-x3.*Train or load fsrcnn-x3 first"):
        train_or_load("fsrcnn-x2", FSRCNN(2), lambda m: calls.append(1) or {"step": [1]}, cfg)
    assert calls == [] and not (cfg.data_dir / "checkpoints" / "fsrcnn-x2.pt").exists()


def test_train_or_load_in_a_read_only_folder_keeps_the_trained_model(tmp_path, monkeypatch):
    import course_utils.train as train_mod
    cfg = _cfg(tmp_path)
    model, loader = _problem()
    before = model.weight.detach().clone()

    def read_only(path, *a, **k):  # what a read-only folder does (chmod does not stop root)
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(train_mod, "save_checkpoint", read_only)
    with pytest.warns(UserWarning, match="could not cache the trained lin .*Permission denied.*COURSE_DATA_DIR"):
        trained, info = train_or_load("lin", model, lambda m: fit(m, F.mse_loss, loader, steps=5, plot=False), cfg)
    assert trained is model and not torch.equal(model.weight.detach(), before)
    assert info["source"].startswith("trained here") and "not cached" in info["source"]
    assert not (cfg.data_dir / "checkpoints" / "lin.pt").exists()


def test_train_or_load_in_a_really_read_only_folder(tmp_path):
    cfg = _cfg(tmp_path)
    (cfg.data_dir).mkdir(parents=True)
    (cfg.data_dir / "checkpoints").write_text("a file where the cache folder should be")  # unwritable for root too
    model, loader = _problem()
    with pytest.warns(UserWarning, match="could not cache the trained lin"):
        _, info = train_or_load("lin", model, lambda m: fit(m, F.mse_loss, loader, steps=3, plot=False), cfg)
    assert "not cached" in info["source"]
