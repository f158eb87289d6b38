"""SR networks (course_utils.models) and their evaluate methods: values from the definitions."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_tools.checkpoint_tables import models_table
from course_utils.checkpoints import load_checkpoint, read_sha256, save_checkpoint
from course_utils.download import sha256sum
from course_utils.evaluate import METHODS, PAPER, ScaleNotSupported, evaluate_images, sr_method
from course_utils.models import ESPCN, FSRCNN, SRCNN, VDSR, count_parameters, count_weights, srcnn_border
from course_utils.zoo import REGISTRY, Shipped, build, load_shipped, run_model

SR_MODELS = sorted(n for n, r in REGISTRY.items() if r.kind == "sr")

ROOT = Path(__file__).resolve().parent.parent


def conv_weights(f, n_in, n_out):
    return f * f * n_in * n_out


@pytest.mark.parametrize("f1,f2,f3", [(9, 1, 5), (9, 3, 5), (9, 5, 5), (11, 1, 7)])
def test_srcnn_weight_count_and_output_size(f1, f2, f3):
    net = SRCNN(f1, f2, f3)
    expected = conv_weights(f1, 1, 64) + conv_weights(f2, 64, 32) + conv_weights(f3, 32, 1)
    assert count_weights(net) == expected
    assert count_parameters(net) == expected + 64 + 32 + 1
    b = srcnn_border(f1, f2, f3)
    assert b == (f1 + f2 + f3 - 3) // 2
    assert net(torch.rand(2, 1, 40, 37)).shape == (2, 1, 40 - 2 * b, 37 - 2 * b)


def test_srcnn_paper_counts():
    assert count_weights(SRCNN(9, 1, 5)) == 8032      # Dong et al. 2014
    assert count_weights(SRCNN(9, 5, 5)) == 57184     # SRCNN-Ex in the FSRCNN table


@pytest.mark.parametrize("d,s,m", [(56, 12, 4), (32, 5, 1), (48, 12, 3)])
def test_fsrcnn_weight_count(d, s, m):
    expected = (conv_weights(5, 1, d) + conv_weights(1, d, s) + m * conv_weights(3, s, s)
                + conv_weights(1, s, d) + conv_weights(9, d, 1))
    assert count_weights(FSRCNN(3, d, s, m)) == expected


def test_fsrcnn_56_12_4_is_12464():
    assert count_weights(FSRCNN(3)) == 12464


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_space_models_output_size(scale):
    x = torch.rand(2, 1, 11, 14)
    assert FSRCNN(scale)(x).shape == (2, 1, 11 * scale, 14 * scale)
    assert ESPCN(scale)(x).shape == (2, 1, 11 * scale, 14 * scale)


def test_fsrcnn_only_deconv_depends_on_scale():
    a, b = FSRCNN(2).state_dict(), FSRCNN(4).state_dict()
    assert a.keys() == b.keys()
    assert all(a[k].shape == b[k].shape for k in a)  # so x3 weights initialise x2/x4


def test_espcn_weights_from_definition():
    s = 3
    expected = conv_weights(5, 1, 64) + conv_weights(3, 64, 32) + conv_weights(3, 32, s * s)
    assert count_weights(ESPCN(s)) == expected


def test_vdsr_weights_size_and_residual():
    net = VDSR()
    assert count_weights(net) == conv_weights(3, 1, 64) + 18 * conv_weights(3, 64, 64) + conv_weights(3, 64, 1)
    small = VDSR(depth=4, width=8)
    x = torch.rand(1, 1, 19, 23)
    assert small(x).shape == x.shape
    with torch.no_grad():
        small.convs[-1].weight.zero_()
        small.convs[-1].bias.zero_()
    assert torch.allclose(small(x), x)  # residual: zero residual branch -> identity


def test_vdsr_receptive_field_is_2d_plus_1():
    depth = 6
    net = VDSR(depth=depth, width=4, residual=False)
    with torch.no_grad():
        for c in net.convs:
            c.weight.uniform_(0.1, 1.0)  # positive weights: every ReLU open
            c.bias.zero_()
    x = torch.rand(1, 1, 31, 31, requires_grad=True)
    net(x)[0, 0, 15, 15].backward()
    rows = (x.grad[0, 0] != 0).any(dim=1).nonzero()
    assert int(rows.max() - rows.min() + 1) == 2 * depth + 1


@pytest.mark.parametrize("name", SR_MODELS)
def test_run_model_returns_hr_size(name):
    torch.manual_seed(0)
    net = build(name).eval()
    c = 3 if REGISTRY[name].channels == "rgb" else 1
    for s in REGISTRY[name].scales:
        lr = torch.rand(1, c, 9, 10, dtype=torch.float64)
        with torch.no_grad():
            out = run_model(name, net, lr, s)
        assert out.shape == (1, c, 9 * s, 10 * s)


def test_methods_registered_and_listed():
    for name in ["srcnn-x3", "fsrcnn-x2", "fsrcnn-x3", "fsrcnn-x4", "espcn-x3", "vdsr"]:
        assert name in METHODS
    out = subprocess.run([sys.executable, "-m", "course_utils.evaluate", "--list"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"bicubic", "srcnn-x3", "fsrcnn-x2", "fsrcnn-x3", "fsrcnn-x4", "espcn-x3", "vdsr"} <= listed


def test_paper_numbers_have_sources():
    assert PAPER[("srcnn-x3", "Set5", 3)][0] == 32.39
    assert PAPER[("fsrcnn-x3", "Set5", 3)][0] == 33.06
    assert all(src for _, _, src in PAPER.values())


def test_checkpoint_round_trip_and_method(tmp_path):
    torch.manual_seed(0)
    net = build("fsrcnn-x3")
    save_checkpoint(tmp_path / "fsrcnn-x3.pt", net.state_dict(), name="fsrcnn-x3",
                    meta={"command": "test", "steps": 0, "seconds": 0.0, "note": "test", "val_psnr": 0.0})
    ck = load_checkpoint(tmp_path / "fsrcnn-x3.pt", name="fsrcnn-x3")
    other = build("fsrcnn-x3")
    other.load_state_dict(ck["state_dict"])
    x = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(other(x), net(x))
    method = sr_method("fsrcnn-x3", checkpoint_dir=tmp_path)
    hr = torch.rand(1, 1, 24, 27)
    r = evaluate_images(method, [hr], 3)
    assert r["images"] == 1 and r["psnr"] > 0
    with pytest.raises(ScaleNotSupported):
        method(torch.rand(1, 1, 8, 8), 2)


def test_missing_checkpoint_says_what_to_do(tmp_path):
    from course_utils.checkpoints import CheckpointError
    method = sr_method("vdsr", checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="train_sr.py vdsr"):
        method(torch.rand(1, 1, 8, 8), 2)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_shipped_checkpoint_loads_and_is_labelled(name):
    path = ROOT / "checkpoints" / f"{name}.pt"
    assert path.is_file(), f"{path.name}: every registered model ships its checkpoint"
    ck = load_checkpoint(path, name=name)
    build(name).load_state_dict(ck["state_dict"])
    keys = ("command", "steps", "seconds", "note") + (("val_psnr",) if REGISTRY[name].kind == "sr" else ())
    for key in keys:
        assert key in ck["meta"], key
    assert "extra" not in ck  # weights and meta only
    assert ck.get("stored", "float32") == REGISTRY[name].storage


def test_every_shipped_checkpoint_is_registered():
    files = {p.stem for p in (ROOT / "checkpoints").glob("*.pt")}
    assert files == set(REGISTRY)


def test_shipped_checkpoints_fit_the_size_budget():
    from course_tools.checkpoint_tables import MAX_FILE_BYTES, MAX_TOTAL_BYTES, budget_problems
    assert budget_problems(ROOT / "checkpoints") == []
    sizes = [p.stat().st_size for p in (ROOT / "checkpoints").glob("*.pt")]
    assert max(sizes) <= MAX_FILE_BYTES and sum(sizes) <= MAX_TOTAL_BYTES


def test_size_budget_catches_a_big_file_and_a_big_total(tmp_path):
    from course_tools.checkpoint_tables import budget_problems
    (tmp_path / "a.pt").write_bytes(b"x" * 900)
    (tmp_path / "b.pt").write_bytes(b"x" * 400)
    assert budget_problems(tmp_path, max_file=1000, max_total=2000) == []
    problems = budget_problems(tmp_path, max_file=800, max_total=1200)
    assert len(problems) == 2 and "a.pt" in problems[0] and "total" in problems[1]


def test_registry_records_are_complete_and_build_their_models():
    for name, r in REGISTRY.items():
        assert r.name == name and isinstance(r, Shipped)
        assert r.kind and r.input and r.channels and r.description and r.storage in ("float16", "float32")
        assert (ROOT / r.script).is_file(), (name, r.script)
        assert isinstance(build(name), torch.nn.Module)
        for (ds, s), (psnr, ssim, src) in r.paper.items():
            assert s in r.scales and src and 20 < psnr < 45
            assert PAPER[(name, ds, s)] == (psnr, ssim, src)


def test_run_facts_are_written_once_in_the_files_meta():
    # command, steps and wall time of a run belong to the file (its meta), not to the record
    for name, r in REGISTRY.items():
        assert not {"command", "steps", "wall time", "seconds"} & set(r.train), name


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_record_sha256_is_the_shipped_files(name):
    path = ROOT / "checkpoints" / f"{name}.pt"
    assert REGISTRY[name].sha256 == sha256sum(path), (
        f"{path.name} changed: write its new sha256 into the record {name!r} of course_utils/zoo.py")
    assert read_sha256(path.with_name(path.name + ".sha256")) == REGISTRY[name].sha256


def test_shipped_file_with_another_digest_is_refused(tmp_path, monkeypatch):
    # a copy of the course folder whose fsrcnn-x3.pt was replaced (its .sha256 rewritten too):
    # the record's digest, not the side file, decides for the shipped folder
    from course_utils import profiles, zoo
    from course_utils.checkpoints import CheckpointError
    folder = tmp_path / "checkpoints"
    save_checkpoint(folder / "fsrcnn-x3.pt", build("fsrcnn-x3").state_dict(), name="fsrcnn-x3")
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    monkeypatch.setattr(zoo, "default_checkpoint_dir", lambda: folder)
    with pytest.raises(CheckpointError, match="sha256"):
        zoo.load_shipped("fsrcnn-x3")
    # the same file from a folder the user names is checked against its own .sha256
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(folder))
    assert profiles.default_checkpoint_dir() == folder
    model, _ = zoo.load_shipped("fsrcnn-x3")
    assert not model.training


def test_checkpoint_dir_setting(monkeypatch, tmp_path):
    from course_utils import profiles
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    assert profiles.default_checkpoint_dir() == ROOT / "checkpoints"
    assert profiles.setup(profile="ci", quiet=True).checkpoint_dir == ROOT / "checkpoints"
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    assert profiles.setup(profile="ci", quiet=True).checkpoint_dir == tmp_path
    from course_utils.checkpoints import CheckpointError
    with pytest.raises(CheckpointError, match="COURSE_CHECKPOINT_DIR"):
        load_shipped("vdsr")


def test_checkpoints_readme_shows_the_registry():
    assert models_table() in (ROOT / "checkpoints" / "README.md").read_text(), (
        "checkpoints/README.md is out of date: paste the output of "
        "`python -m course_tools.checkpoint_tables` into it")


def test_dcgan_classes_load_the_shipped_generator_and_match_notebook_02_names():
    from course_utils.models import DCGANDiscriminator, DCGANGenerator, dcgan_init
    ck = load_checkpoint(ROOT / "checkpoints" / "dcgan-mnist.pt", name="dcgan-mnist")
    G = DCGANGenerator()
    G.load_state_dict(ck["state_dict"])
    G.eval()
    with torch.no_grad():
        x = G(torch.randn(4, 64, generator=torch.Generator().manual_seed(0)))
    assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1 and x.std() > 0.1
    D = DCGANDiscriminator()
    D.apply(dcgan_init)
    assert D(x).shape == (4,)
    w = [m.weight for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(abs(v.std().item() - 0.02) < 0.005 for v in w)


def test_cli_json_for_a_shipped_model():
    if not (ROOT / "checkpoints" / "fsrcnn-x3.pt").is_file():
        pytest.skip("fsrcnn-x3.pt not present")
    from course_utils.images import save_image
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        save_image(torch.rand(1, 3, 36, 42), Path(d) / "a.png")
        out = subprocess.run([sys.executable, "-m", "course_utils.evaluate", "--method", "fsrcnn-x3",
                              "--dataset", d, "--scale", "3", "--json"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    assert r[0]["method"] == "fsrcnn-x3" and r[0]["scale"] == 3 and r[0]["images"] == 1


def test_benchmark_marks_targets_from_the_numbers():
    import importlib.util
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "sr_checkpoints.py"
    spec = importlib.util.spec_from_file_location("sr_checkpoints", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def row(v):
        return {"psnr": v, "ssim": 0.9}
    rows = {("srcnn-x3", "Set5", 3): row(32.40), ("fsrcnn-x3", "Set5", 3): row(32.50),
            ("espcn-x3", "Set5", 3): row(32.54), ("fsrcnn-x2", "Set5", 2): row(35.0),
            ("vdsr", "Set5", 2): row(35.1), ("vdsr", "Set5", 3): row(32.45)}
    lines = bench.targets(rows).splitlines()
    assert "| srcnn-x3 x3 >= paper | 32.40 | 32.39 | yes |" in lines
    assert "| espcn-x3 x3 >= paper | 32.54 | 32.55 | no |" in lines
    assert "| vdsr x2 > fsrcnn-x2 | 35.10 | 35.00 | yes |" in lines
    # at x3 the bar is the better of SRCNN and FSRCNN (32.50), which 32.45 does not pass
    assert "| vdsr x3 > fsrcnn-x3 | 32.45 | 32.50 | no |" in lines
    assert not any("x4" in line for line in lines)  # no vdsr x4 row: nothing to judge


# ---- data_scripts/train_sr.py: continuations never resume another run's work file --------------
TRAIN_MIRROR = Path(os.environ.get("COURSE_DATA_MIRROR") or ROOT.parent / "shared" / "datasets")


def _train_sr(tmp_path, *args):
    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path / "data"),
           "COURSE_DATA_MIRROR": str(TRAIN_MIRROR)}
    out = subprocess.run([sys.executable, str(ROOT / "data_scripts" / "train_sr.py"), "srcnn-x3",
                          "--init", "srcnn-x3", "--out", str(tmp_path), "--val-every", "100",
                          "--ckpt-every", "1", "--batch", "4", "--ship", *args],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return load_checkpoint(tmp_path / "srcnn-x3.pt", name="srcnn-x3")


@pytest.mark.skipif(not (TRAIN_MIRROR / "T91").is_dir(), reason="no local data mirror with T91")
def test_train_sr_continuations_resume_only_their_own_run(tmp_path):
    shipped = load_checkpoint(ROOT / "checkpoints" / "srcnn-x3.pt", name="srcnn-x3")
    first = _train_sr(tmp_path, "--steps", "3")
    assert first["meta"]["steps"] == shipped["meta"]["steps"] + 3
    # The same command again finds its finished work file: nothing more is trained.
    again = _train_sr(tmp_path, "--steps", "3")
    for k, v in first["state_dict"].items():
        assert torch.equal(v, again["state_dict"][k])
    # Another continuation (fewer steps, another learning rate) trains from the shipped weights;
    # it must not pick up the first run's finished work file and report steps it never made.
    other = _train_sr(tmp_path, "--steps", "2", "--lr", "1e-4")
    assert other["meta"]["steps"] == shipped["meta"]["steps"] + 2
    changed = {k for k, v in other["state_dict"].items() if not torch.equal(v, first["state_dict"][k])}
    assert changed == set(first["state_dict"]), f"unchanged by the second run: {set(first['state_dict']) - changed}"
    moved = {k for k, v in other["state_dict"].items() if not torch.equal(v, shipped["state_dict"][k])}
    assert moved == set(shipped["state_dict"])


# ---- a deconvolution as a convolution on the LR grid + pixel shuffle (notebook 07, Exercise 7.2) ----

def _deconv_by_definition(x, w, b, s, p, out):
    """y[c, s*i - p + u, s*j - p + v] += x[ch, i, j] w[ch, c, u, v], written out with loops."""
    n, d, h, wd = x.shape
    k = w.shape[-1]
    y = torch.zeros(n, w.shape[1], out, out) + b.view(1, -1, 1, 1)
    for i in range(h):
        for j in range(wd):
            for u in range(k):
                for v in range(k):
                    Y, X = s * i - p + u, s * j - p + v
                    if 0 <= Y < out and 0 <= X < out:
                        y[:, :, Y, X] += torch.einsum("nd,dc->nc", x[:, :, i, j], w[:, :, u, v])
    return y


@pytest.mark.parametrize("s", [2, 3, 4])
def test_deconv_as_conv_and_subpixel_equal_the_deconvolution(s):
    from course_utils.models import SubPixelConv, deconv_as_conv
    torch.manual_seed(s)
    dc = nn.ConvTranspose2d(5, 2, 9, s, 4, s - 1)
    x = torch.rand(2, 5, 4, 4)
    exp = _deconv_by_definition(x, dc.weight.detach(), dc.bias.detach(), s, 4, 4 * s)
    with torch.no_grad():
        conv = deconv_as_conv(dc)
        assert conv.out_channels == 2 * s * s and conv.in_channels == 5
        assert torch.allclose(F.pixel_shuffle(conv(x), s), exp, atol=1e-5)
        fast = SubPixelConv(dc)
        assert torch.allclose(fast(x), exp, atol=1e-5)
    # the fewest taps: FSRCNN's 9x9 kernel covers 5, 3, 3 LR pixels per direction at x2, x3, x4
    assert fast.conv.kernel_size == {2: (5, 5), 3: (3, 3), 4: (3, 3)}[s]
    assert conv.kernel_size == {2: (5, 5), 3: (5, 5), 4: (3, 3)}[s]   # shift 0: x3 needs a 5x5 kernel


def test_with_subpixel_keeps_outputs_and_the_original_model():
    from course_utils.models import SubPixelConv, with_subpixel
    torch.manual_seed(0)
    net = FSRCNN(3).eval()
    fast = with_subpixel(net)
    assert isinstance(fast.deconv, SubPixelConv) and isinstance(net.deconv, nn.ConvTranspose2d)
    x = torch.rand(1, 1, 13, 10)
    with torch.no_grad():
        assert torch.allclose(fast(x), net(x), atol=1e-5)
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ConvTranspose2d(4, 1, 4, 2, 1))  # DCGAN-like
    with torch.no_grad():
        assert torch.allclose(with_subpixel(seq)(x), seq(x), atol=1e-5)


def test_deconv_as_conv_refuses_other_geometries():
    from course_utils.models import deconv_as_conv
    with pytest.raises(ValueError, match="deconv_as_conv"):
        deconv_as_conv(nn.ConvTranspose2d(4, 1, 9, 3, 4))          # output_padding 0: 3h - 2, not 3h


def test_fsrcnn_to_scale_copies_everything_and_trains_only_the_deconvolution():
    from course_utils.models import fsrcnn_to_scale
    torch.manual_seed(0)
    x3 = FSRCNN(3, 16, 5, 2)
    before = {k: v.clone() for k, v in x3.state_dict().items()}
    x4 = fsrcnn_to_scale(x3, 4)
    ref = FSRCNN(4, 16, 5, 2)
    ref.load_state_dict(before)
    x = torch.rand(1, 1, 6, 5)
    with torch.no_grad():
        assert torch.allclose(x4(x), ref(x)) and x4(x).shape == (1, 1, 24, 20) and x4.scale == 4
        x4.feature[0].weight.add_(1.0)
    assert sorted(k for k, p in x4.named_parameters() if p.requires_grad) == ["deconv.bias", "deconv.weight"]
    assert all(torch.equal(x3.state_dict()[k], v) for k, v in before.items())
    assert all(p.requires_grad for p in x3.parameters())


def _train_sr_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_sr", ROOT / "data_scripts" / "train_sr.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not (TRAIN_MIRROR / "T91").is_dir(), reason="no local data mirror with T91")
def test_train_sr_steps_0_leaves_the_shipped_checkpoint_alone(tmp_path, monkeypatch, capsys):
    """The issue's probe: `train_sr.py fsrcnn-x3 --steps 0` overwrote checkpoints/fsrcnn-x3.pt."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(TRAIN_MIRROR))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    shipped = ROOT / "checkpoints" / "fsrcnn-x3.pt"
    before = (shipped.read_bytes(), shipped.with_name("fsrcnn-x3.pt.sha256").read_bytes())
    mod = _train_sr_module()
    assert mod.main(["fsrcnn-x3", "--steps", "0"]) == 0
    assert mod.main(["fsrcnn-x3", "--steps", "0", "--ship"]) == 1
    assert "not shipped: the run trained 0 steps" in capsys.readouterr().err
    assert (shipped.read_bytes(), shipped.with_name("fsrcnn-x3.pt.sha256").read_bytes()) == before
    assert len(list((tmp_path / "data" / "runs").glob("fsrcnn-x3_*/fsrcnn-x3.pt"))) == 1


@pytest.mark.parametrize("bad", [["--init", "nope"], ["--val-every", "0"], ["--threads", "0"],
                                 ["--batch", "0"], ["--steps", "-3"], ["--lr", "nan"],
                                 ["--until", "25:99"]])
def test_train_sr_bad_arguments_exit_2_with_one_line(tmp_path, monkeypatch, capsys, bad):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as e:
        raise SystemExit(_train_sr_module().main(["fsrcnn-x3", "--steps", "1", *bad]))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err.strip().splitlines()[-1] and "Traceback" not in err


def test_train_sr_missing_t91_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "no_mirror"))
    assert _train_sr_module().main(["fsrcnn-x3", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset 'T91'") and "Traceback" not in err
