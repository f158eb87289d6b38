"""The full profile without a GPU: COURSE_MAX_STEPS, the capped smoke, FLOP logs, mixed precision.

The slow test runs ``benchmarks/full_profile_smoke.py`` for the notebooks whose capped full run is
cheap. CI budget: about 2 minutes on the course's 2-core CI machine, spent on 01, 02 and 03
(measured 51 s, 22 s and 33 s capped at 2 steps, under a load average of 7-12). The others stay out
of CI: 00 (56 s, mostly its full-size evaluation table), 04 (its exercise checks need the full CG and
TV iterations, so it runs them), 05-11 (full-size evaluation, timing and VGG passes: 2.5 to 15 min
each on a CPU). Run all twelve with ``python benchmarks/full_profile_smoke.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from course_utils import profiles, train

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_estimates  # noqa: E402

CI_NOTEBOOKS = ["01_gaussian_generation", "02_gans", "03_interpolation"]


@pytest.fixture
def no_cap(monkeypatch):
    monkeypatch.delenv("COURSE_MAX_STEPS", raising=False)
    monkeypatch.delenv("COURSE_FLOP_LOG", raising=False)
    monkeypatch.setattr(profiles, "_CAP_SAID", False)


def cfg_for(profile):
    return profiles.Config(profile=profile, device=torch.device("cpu"), seed=0, data_dir=Path("."),
                           checkpoint_dir=Path("."), mirror=None)


def test_without_the_switch_nothing_is_capped(no_cap):
    assert profiles.max_steps() is None
    assert profiles.cap(20_000) == 20_000
    assert cfg_for("full").steps(full=20_000, cpu=2_000, ci=20) == 20_000
    assert cfg_for("ci").steps(full=20_000, cpu=2_000, ci=20) == 20


def test_the_switch_caps_numbers_and_lists_and_says_so_once(no_cap, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_MAX_STEPS", "50")
    cfg = cfg_for("full")
    assert cfg.steps(full=20_000, cpu=2_000, ci=20) == 50
    assert cfg.steps(full=30, cpu=2_000) == 30                      # below the cap: unchanged
    assert cfg.steps(full=(10, 20, 50, 100, 500)) == (10, 20, 50)   # a table keeps its columns <= N
    assert cfg.steps(full=[500, 200]) == [50]
    assert cfg.steps(full=0) == 0 and profiles.cap(None) is None
    assert cfg.pick(full=20_000) == 20_000                          # sizes are not touched
    out = capsys.readouterr().out
    assert out.count("COURSE_MAX_STEPS=50") == 1 and "not this profile's results" in out


@pytest.mark.parametrize("bad", ["0", "-3", "ten", "2.5"])
def test_a_bad_value_is_named_at_setup(no_cap, monkeypatch, bad):
    monkeypatch.setenv("COURSE_MAX_STEPS", bad)
    with pytest.raises(ValueError, match="COURSE_MAX_STEPS"):
        profiles.setup(profile="ci", quiet=True)


def _tiny():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 1, 3, padding=1))
    data = train.RandomBatches((torch.rand(16, 1, 8, 8), torch.rand(16, 1, 8, 8)), 4)
    return net, data


def test_train_loop_honours_the_cap_and_logs_flops_per_step(no_cap, monkeypatch, tmp_path):
    log = tmp_path / "flops.jsonl"
    monkeypatch.setenv("COURSE_MAX_STEPS", "3")
    monkeypatch.setenv("COURSE_FLOP_LOG", str(log))
    monkeypatch.setenv("COURSE_NOTEBOOK", "99_test.ipynb")
    net, data = _tiny()
    hist = train.fit(net, F.mse_loss, data, 1000, plot=False, val_fn=lambda: 1.0, val_every=2)
    assert hist["step"] == [1, 2, 3]
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    loop = [r for r in rows if r["what"] == "train_loop"][0]
    assert loop["notebook"] == "99_test.ipynb" and loop["requested"] == 1000
    assert loop["steps_run"] == 3 and loop["val_run"] == 2 and loop["amp_step"] is True
    # two 3x3 convolutions on 4 images of 8 x 8, forward and backward: 2 * 2 * 4*64*(1*4 + 4*1)*9 * 3
    per_step = loop["steps"] / 3
    assert per_step == pytest.approx(2 * 4 * 64 * 9 * (4 + 4) * 3, rel=0.35)
    assert any(r["what"] == "cap" and r["requested"] == 1000 for r in rows)


def test_estimates_extrapolate_train_loops_and_other_loops():
    rows2 = [{"what": "train_loop", "requested": 1000, "val_every": 100, "amp_step": True,
              "steps": 2e12, "steps_run": 2, "val": 1e11, "val_run": 1},
             {"what": "cap", "label": "training 'x'", "requested": 1000, "capped": 2},
             {"what": "cap", "label": "a loop", "requested": 500, "capped": 2},
             {"what": "total", "flops": 2e12 + 1e11 + 5e12}]
    rows1 = [{"what": "train_loop", "requested": 1000, "val_every": 100, "amp_step": True,
              "steps": 1e12, "steps_run": 1, "val": 1e11, "val_run": 1},
             {"what": "total", "flops": 1e12 + 1e11 + 4e12}]
    est = gpu_estimates.estimate(rows2, rows1)
    # train 1000 x 1e12 + 10 validations x 1e11 + (5e12 once incl. 2 other steps) + 1e12 x 498 more
    assert est["flops"] == pytest.approx(1000e12 + 10 * 1e11 + 5e12 + 498e12)
    t4 = (1000e12 / 8e12 + (10e11 + 5e12 + 498e12) / 4e12 + 3e-3 * 1500 + 60) / 60
    assert est["t4_min"] == pytest.approx(t4, abs=0.06)
    assert est["a100_min"] < est["t4_min"]
    without = gpu_estimates.estimate(rows2, None)
    assert without["flops"] < est["flops"] and "lower bound" in without["note"]
    with pytest.raises(ValueError, match="did not run"):
        gpu_estimates.estimate(rows2[:3], None)


def test_amp_policy_and_an_autocast_step_on_the_cpu():
    assert train.amp_policy("cpu") == (False, torch.float32, False)
    assert train.amp_policy("cpu", amp=True) == (True, torch.bfloat16, False)
    assert train.amp_policy("cuda", amp=False) == (False, torch.float32, False)
    losses = {}
    for amp in (False, True):
        net, data = _tiny()
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        step = train.supervised_step(net, F.mse_loss, opt, amp=amp)
        batch = next(data)
        losses[amp] = [step(batch)["loss"] for _ in range(3)]
    # bfloat16 keeps ~3 significant digits: the losses agree to 2% and fall the same way
    assert losses[True] == pytest.approx(losses[False], rel=0.02)
    assert losses[True][-1] < losses[True][0]


def test_gan_step_with_autocast_on_the_cpu():
    from course_utils.models import DCGANDiscriminator, DCGANGenerator
    torch.manual_seed(0)
    G, D = DCGANGenerator(nz=8, ch=4), DCGANDiscriminator(ch=4)
    step = train.gan_step(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()),
                          train.d_loss, train.g_loss_nonsat, amp=True)
    logs = step((torch.randn(4, 8), torch.rand(4, 1, 28, 28) * 2 - 1))
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert all(p.dtype == torch.float32 for p in G.parameters())   # weights stay float32


def test_the_fake_vgg_cache_is_loaded_and_labelled_unverified(tmp_path, monkeypatch, capsys):
    import full_profile_smoke
    from course_utils import features
    paths = full_profile_smoke.fake_vgg_cache(tmp_path / "torch")
    assert [p.name for p in paths] == ["vgg19-dcbb9e9d.pth", "vgg16-397923af.pth"]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("COURSE_FEATURES", raising=False)
    monkeypatch.setattr(features, "_IMAGENET_FAILED", {})
    feats = features.load_features(["relu1_1"])
    assert isinstance(feats, features.VGGFeatures) and not feats.imagenet
    assert "unverified vgg19-dcbb9e9d.pth" in feats.source


def test_smoke_rows_are_recorded_as_full_smoke_and_keep_the_rest(tmp_path):
    import full_profile_smoke
    path = tmp_path / "run_times.json"
    path.write_text(json.dumps({"notebooks": {"08_srgan": {"cpu": {"seconds": 500.0}}}, "other": 1}))
    rows = [{"notebook": "08_srgan", "ok": True, "seconds": 80.5, "peak_mb": 2900, "error": "",
             "load": [3.0, 4.1]},
            {"notebook": "09_gatys", "ok": False, "seconds": 12.0, "peak_mb": 700, "error": "boom"}]
    full_profile_smoke.record(rows, 2, "cpu", path)
    data = json.loads(path.read_text())
    assert data["other"] == 1 and data["notebooks"]["08_srgan"]["cpu"] == {"seconds": 500.0}
    s08, s09 = data["notebooks"]["08_srgan"]["full_smoke"], data["notebooks"]["09_gatys"]["full_smoke"]
    assert (s08["ok"], s08["seconds"], s08["peak_mb"], s08["max_steps"], s08["load"]) == (True, 80.5, 2900, 2, [3.0, 4.1])
    assert s09["ok"] is False and s09["load"] is None
    assert not path.with_suffix(".part").exists()


@pytest.mark.slow
def test_capped_full_profile_smoke_of_the_cheap_notebooks(tmp_path):
    """CI's share of benchmarks/full_profile_smoke.py: 01, 02, 03 (budget about 2 minutes)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "full_profile_smoke.py"),
                          *CI_NOTEBOOKS, "--max-steps", "2", "--json", str(tmp_path / "r.json")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [r["notebook"] for r in rows] == CI_NOTEBOOKS and all(r["ok"] for r in rows)
    assert all(r["peak_mb"] > 50 for r in rows)   # the kernel's memory was sampled
