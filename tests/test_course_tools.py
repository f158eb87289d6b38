"""Profiles, the training loop, checkpoints, checks and plots (the release: test_release.py)."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils import checks
from course_tools.checkpoint_tables import table
from course_utils.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from course_utils.plots import radial_power_spectrum
from course_utils.profiles import setup
from course_utils.train import fit, train_or_load

ROOT = Path(__file__).resolve().parents[1]


def test_profile_choice_and_pick(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setenv("CI", "true")
    cfg = setup(quiet=True)
    assert cfg.profile == "ci"
    assert cfg.pick(full=100, cpu=10, ci=1) == 1
    assert cfg.pick(full=100, cpu=10) == 10 and cfg.pick(full=100) == 100
    monkeypatch.delenv("CI")
    assert setup(quiet=True).profile == ("full" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert setup(quiet=True).pick(full=100, cpu=10, ci=1) == 100
    with pytest.raises(ValueError, match="profile"):
        setup(profile="huge", quiet=True)


def test_setup_seeds_everything():
    setup(profile="ci", seed=3, quiet=True)
    a = torch.rand(3)
    setup(profile="ci", seed=3, quiet=True)
    assert torch.equal(a, torch.rand(3))


def _tiny_problem():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
    return torch.nn.Linear(4, 1), loader


def test_fit_learns_and_resumes(tmp_path):
    model, loader = _tiny_problem()
    ck = tmp_path / "lin.pt"
    h = fit(model, torch.nn.functional.mse_loss, loader, steps=150, lr=0.05, checkpoint=ck,
            ckpt_every=50, plot=False, val_fn=lambda: 0.0, val_every=50)
    assert h["loss"][-1] < 0.05 * h["loss"][0]
    assert h["val_step"] == [50, 100, 150] and ck.is_file()
    model2, _ = _tiny_problem()
    h2 = fit(model2, torch.nn.functional.mse_loss, loader, steps=160, lr=0.05, checkpoint=ck, plot=False)
    assert h2["step"][0] == 1 and h2["step"][-1] == 160 and len(h2["step"]) == 160


def test_fit_clips_gradients():
    model, loader = _tiny_problem()
    seen = []
    orig = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm):
        params = list(params)
        orig(params, max_norm)
        seen.append(torch.sqrt(sum((p.grad**2).sum() for p in params)).item())
    torch.nn.utils.clip_grad_norm_ = spy
    try:
        fit(model, torch.nn.functional.mse_loss, loader, steps=5, lr=1e-3, clip=0.01, plot=False)
    finally:
        torch.nn.utils.clip_grad_norm_ = orig
    assert len(seen) == 5 and max(seen) <= 0.01 + 1e-6


def test_checkpoint_round_trip_and_refusals(tmp_path):
    model = torch.nn.Conv2d(1, 2, 3)
    p = tmp_path / "net.pt"
    digest = save_checkpoint(p, model.state_dict(), "net", meta={"steps": 3})
    assert (tmp_path / "net.pt.sha256").read_text().split()[0] == digest
    ck = load_checkpoint(p, name="net")
    assert torch.equal(ck["state_dict"]["weight"], model.weight) and ck["meta"]["steps"] == 3
    with pytest.raises(CheckpointError, match="not 'other'"):
        load_checkpoint(p, name="other")
    # a plain state_dict that is not ours
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a Pixels-from-Nothing checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    # a pickle with code in it is refused by weights_only loading

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    torch.save({"format": "x", "obj": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="safely"):
        load_checkpoint(tmp_path / "evil.pt")
    # a damaged file: a weight's bytes changed; the digest inside the file no longer matches
    data = bytearray(p.read_bytes())
    at = bytes(data).index(model.weight.detach().numpy().tobytes())
    data[at + 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(p)


def test_checkpoint_table_comes_from_the_files(tmp_path):
    save_checkpoint(tmp_path / "b.pt", {"w": torch.ones(2)}, "b",
                    meta={"command": "python x.py --steps 5 && python x.py --steps 7",
                          "steps": 12, "seconds": 61.4, "val_psnr": 30.456})
    save_checkpoint(tmp_path / "a.pt", {"w": torch.zeros(2)}, "a",
                    meta={"command": "python y.py", "steps": 3, "seconds": 2.0})
    rows = table(tmp_path).splitlines()
    digest = (tmp_path / "b.pt.sha256").read_text().split()[0]
    assert rows[2].startswith("| a.pt | `python y.py` | 3 | 2 s | – (judged by eye) |")
    assert rows[3] == (f"| b.pt | `python x.py --steps 5` && `python x.py --steps 7` | 12 | 61 s | "
                       f"30.46 | {digest[:8]}…{digest[-4:]} |")


def test_checkpoints_readme_matches_the_shipped_files():
    root = Path(__file__).resolve().parent.parent / "checkpoints"
    expected = table(root)
    assert expected in (root / "README.md").read_text(), (
        "checkpoints/README.md is out of date: paste the output of "
        "`python -m course_tools.checkpoint_tables` into it")


def test_train_or_load_trains_then_loads(tmp_path):
    cfg = setup(profile="ci", quiet=True)
    cfg.data_dir, cfg.checkpoint_dir = tmp_path / "data", tmp_path / "shipped"
    model, loader = _tiny_problem()
    calls = []

    def train_fn(m):
        calls.append(1)
        return fit(m, torch.nn.functional.mse_loss, loader, steps=20, plot=False)
    m1, info1 = train_or_load("lin", model, train_fn, cfg)
    assert info1["source"].startswith("trained") and len(calls) == 1
    m2, info2 = train_or_load("lin", torch.nn.Linear(4, 1), train_fn, cfg)
    assert info2["source"] == "cached checkpoint" and len(calls) == 1
    assert torch.equal(m2.weight, m1.weight)


def test_train_or_load_does_not_cache_an_interrupted_training(tmp_path):
    cfg = setup(profile="ci", quiet=True)
    cfg.data_dir, cfg.checkpoint_dir = tmp_path / "data", tmp_path / "shipped"
    model, loader = _tiny_problem()
    calls = {"n": 0}

    def stop_at_5(pred, y):  # Ctrl-C in the 5th step
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return torch.nn.functional.mse_loss(pred, y)

    _, info = train_or_load("lin", model, lambda m: fit(m, stop_at_5, loader, steps=20, plot=False), cfg)
    assert "interrupted" in info["source"] and info["meta"]["steps"] == 4
    assert not (tmp_path / "data" / "checkpoints" / "lin.pt").exists()
    # the next call trains again instead of loading the half-trained model
    _, info2 = train_or_load("lin", torch.nn.Linear(4, 1),
                             lambda m: fit(m, torch.nn.functional.mse_loss, loader, steps=20, plot=False), cfg)
    assert info2["source"].startswith("trained here (") and (tmp_path / "data" / "checkpoints" / "lin.pt").is_file()


def test_checks_fail_on_wrong_answers():
    checks.check_close(torch.ones(3), torch.ones(3))
    with pytest.raises(checks.CheckFailed, match="differs"):
        checks.check_close(torch.ones(3), torch.zeros(3))
    with pytest.raises(checks.CheckFailed, match="shape"):
        checks.check_close(torch.ones(3), torch.ones(4))
    with pytest.raises(checks.CheckFailed):
        checks.check_close(20.1, 20.0, rtol=1e-4)
    with pytest.raises(checks.CheckFailed, match="expected"):
        checks.check_shape(torch.zeros(1, 3, 4, 4), (1, 1, -1, -1))


def test_power_spectrum_of_a_sinusoid_peaks_at_its_frequency():
    n = 64
    xx = torch.arange(n, dtype=torch.float64)
    img = torch.sin(2 * torch.pi * 0.25 * xx)[None, :].expand(n, n)
    f, p = radial_power_spectrum(img, bins=32)
    assert abs(f[p.argmax()] - 0.25) < 0.5 / 32 + 1e-9


def test_data_folder_default_for_a_clone_and_for_an_installed_package(tmp_path, monkeypatch):
    from course_utils import profiles
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert profiles.default_data_dir() == ROOT / "data"          # a clone / editable install
    assert setup(profile="ci", quiet=True).data_dir == ROOT / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "mine"))
    assert setup(profile="ci", quiet=True).data_dir == tmp_path / "mine"
    # an installed package: course_utils in site-packages, no pyproject.toml beside it
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.setattr(profiles, "repo_root", lambda: tmp_path / "site-packages")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert profiles.default_data_dir() == tmp_path / "cache" / "pixels-from-nothing" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert profiles.default_data_dir() == tmp_path / "home" / ".cache" / "pixels-from-nothing" / "data"


def test_non_editable_install_ships_the_registry_and_uses_a_user_folder(tmp_path):
    """`pip install .` (from a copy of the sources, so nothing is built inside the repository)."""
    import shutil
    pytest.importorskip("setuptools", minversion="70.1")  # builds wheels without `wheel`, offline
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("course_utils", "course_tools", "checkpoints"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                        "--no-build-isolation", "--target", str(tmp_path / "site"), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    code = ("import course_utils.download as d, course_utils.profiles as p\n"
            "print(d.__file__); print(sum(map(len, d.registry().values()))); print(p.default_data_dir())")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "PYTHONPATH": str(tmp_path / "site")}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    where, n_files, data_dir = r.stdout.split()
    assert where.startswith(str(tmp_path / "site")) and int(n_files) > 500
    assert data_dir == str(tmp_path / "home" / ".cache" / "pixels-from-nothing" / "data")


def test_too_old_torch_is_refused_with_what_to_do(tmp_path, monkeypatch):
    # torch.load(weights_only=True) is unsafe before 2.10 (CVE-2025-32434, CVE-2026-24747)
    from course_utils import checkpoints
    assert checkpoints.torch_too_old("2.9.1+cu121") and checkpoints.torch_too_old("1.13.0")
    assert not checkpoints.torch_too_old("2.10.0a0+git") and not checkpoints.torch_too_old("3.0")
    assert not checkpoints.torch_too_old(torch.__version__)  # the course runs on this torch
    save_checkpoint(tmp_path / "a.pt", {"w": torch.ones(2)}, "a")
    monkeypatch.setattr(torch, "__version__", "2.9.1")
    with pytest.raises(CheckpointError, match=r"torch 2\.9\.1 is too old.*pip install 'torch>=2\.10'"):
        load_checkpoint(tmp_path / "a.pt")


def test_course_version_binds_one_or_several_names_and_records_the_label(monkeypatch, capsys):
    from course_utils import exercise
    monkeypatch.setattr(exercise, "COURSE_VERSIONS", {"90.1": "math:sqrt", "90.2": "math:floor,ceil"})
    monkeypatch.setattr(exercise, "USED_COURSE_VERSION", [])
    import math
    assert exercise.course_version("90.1") is math.sqrt
    assert exercise.course_version("90.2") == (math.floor, math.ceil)
    assert exercise.USED_COURSE_VERSION == ["90.1", "90.2"]
    assert "Exercise 90.2: going on with the course's version" in capsys.readouterr().out
    with pytest.raises(KeyError, match="90.1, 90.2"):
        exercise.course_version("90.3")


# ---- course_tools.runs: the training scripts' skeleton ---------------------------------------------

def _run(tmp_path, settings, capsys=None):
    from types import SimpleNamespace
    from course_tools.runs import Run
    return Run("train_sr.py", "fsrcnn-x3", settings, SimpleNamespace(data_dir=tmp_path / "data"),
               ["fsrcnn-x3", "--steps", "2", "--ship"])


def test_a_run_folder_per_settings_and_a_notice_of_the_runs_not_resumed(tmp_path, capsys):
    a = _run(tmp_path, [2, 1e-3])
    a.work.write_bytes(b"work")
    a.log(steps=2, stopped=None)
    assert _run(tmp_path, [2, 1e-3]).folder == a.folder
    assert "resuming it" in capsys.readouterr().out
    b = _run(tmp_path, [2, 5e-4])
    assert b.folder != a.folder and b.folder.parent == a.folder.parent
    out = capsys.readouterr().out
    assert "a new run" in out and f"not resuming {a.folder.name}" in out and "0.001" in out
    assert a.meta(2, 1.04)["command"] == "python data_scripts/train_sr.py fsrcnn-x3 --steps 2"
    assert a.meta(2, 1.04)["threads"] == torch.get_num_threads()


def test_ship_only_with_ship_and_only_after_its_checks(tmp_path, capsys):
    from course_tools.runs import finish
    from course_utils.zoo import build
    run = _run(tmp_path, [2])
    out = tmp_path / "shipped"
    out.mkdir()
    good = build("fsrcnn-x3").state_dict()
    meta = run.meta(2, 1.0)
    kw = dict(planned=2, out_dir=out, ship_partial=False)
    assert finish(run, good, meta, steps=2, stopped=None, ship=False, **kw) == 0
    assert run.result.is_file() and not (out / "fsrcnn-x3.pt").exists()
    for steps, stopped, partial, why in [(0, None, False, "trained 0 steps"),
                                         (1, "interrupted", True, "interrupted (Ctrl-C)"),
                                         (1, "deadline", False, "add --ship-partial")]:
        assert finish(run, good, meta, steps=steps, stopped=stopped, ship=True,
                      **{**kw, "ship_partial": partial}) == 1
        assert why in capsys.readouterr().err and not (out / "fsrcnn-x3.pt").exists()
    wrong = build("espcn-x3").state_dict()                       # another architecture
    assert finish(run, wrong, meta, steps=2, stopped=None, ship=True, **kw) == 1
    assert "do not fit FSRCNN" in capsys.readouterr().err
    nan = {k: v.clone() for k, v in good.items()}
    nan["deconv.bias"][0] = float("nan")
    assert finish(run, nan, meta, steps=2, stopped=None, ship=True, **kw) == 1
    assert "NaN" in capsys.readouterr().err and not (out / "fsrcnn-x3.pt").exists()
    assert finish(run, good, meta, steps=1, stopped="deadline", ship=True,
                  **{**kw, "ship_partial": True}) == 0
    assert load_checkpoint(out / "fsrcnn-x3.pt", name="fsrcnn-x3")["meta"]["steps"] == 2
    import json
    log = json.loads(run.log_file.read_text())
    assert [i["shipped"] for i in log["invocations"]][-1] == str(out / "fsrcnn-x3.pt")
    assert log["invocations"][1]["refused"] == ["the run trained 0 steps: there is nothing new to ship"]


def test_a_result_is_stored_as_its_record_says(tmp_path, capsys):
    from types import SimpleNamespace
    from course_tools.runs import Run, finish
    from course_utils.zoo import REGISTRY, build
    kw = dict(steps=2, planned=2, stopped=None, ship=False, ship_partial=False, out_dir=tmp_path)
    for name in ("fsrcnn-x3", "dcgan-mnist"):     # float16 and float32 in the registry
        run = Run("x.py", name, [2], SimpleNamespace(data_dir=tmp_path / "data"), [])
        assert finish(run, build(name).state_dict(), run.meta(2, 1.0), **kw) == 0
        assert load_checkpoint(run.result, name=name).get("stored", "float32") == REGISTRY[name].storage
    run = Run("x.py", "not-shipped", [2], SimpleNamespace(data_dir=tmp_path / "data"), [])
    assert finish(run, torch.nn.Linear(2, 2).state_dict(), run.meta(2, 1.0), **kw) == 0
    assert load_checkpoint(run.result, name="not-shipped").get("stored", "float32") == "float32"


def test_steps_done_and_final_val_read_the_history():
    from course_tools.runs import final_val, steps_done
    calls = []

    def val_now():
        calls.append(1)
        return 9.0
    assert steps_done({"step": []}) == 0 and steps_done({"step": [1, 2, 7]}) == 7
    hist = {"step": [1, 2, 3, 4], "val": [20.0, 21.5], "val_step": [2, 4]}
    assert final_val(hist, 4, val_now) == 21.5 and calls == []      # validated at the last step
    assert final_val(hist, 5, val_now) == 9.0 and calls == [1]      # not: validate now
    assert final_val({"step": [], "val": [], "val_step": []}, 0, val_now) == 9.0


def test_guarded_turns_what_a_user_can_fix_into_one_line_and_exit_2(capsys):
    from course_tools.runs import RunError, guarded, until_timestamp

    def raising(e):
        def main(argv):
            raise e
        return main
    for e, text in [(RunError("bad thing"), "error: bad thing"),
                    (FileNotFoundError("dataset 'T91' is not available offline"), "T91"),
                    (PermissionError(13, "Permission denied", "/x/work.pt"),
                     "/x/work.pt: cannot read or write it (Permission denied); give yourself read and write"),
                    (PermissionError(13, "Permission denied"), "a file: cannot read or write it"),
                    (CheckpointError("/x/best.pt: damaged"), "/x/best.pt: damaged")]:
        assert guarded(raising(e)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and text in err and len(err.strip().splitlines()) == 1
    assert guarded(lambda argv: until_timestamp("3pm")) == 2
    assert "HH:MM" in capsys.readouterr().err
    assert guarded(raising(KeyboardInterrupt())) == 130
