"""The training scripts train on their device: caught on a CPU with PyTorch's ``meta`` device.

``data_scripts/train_*.py`` pick CUDA when there is one (``--device``). A script that builds its
network, loss, feature network or validation inputs without moving them there would, on a GPU
machine, either stop with "Expected all tensors to be on the same device" or, worse, quietly train
on the CPU (``train_loop`` moves batches to the first model's device, so a model left on the CPU
takes its batches with it). Here each script runs two steps (and validates) with ``setup``'s device
replaced by ``meta``, under ``test_devices.MetaReads`` (reads of meta tensors answered with
placeholders), and the test checks that every model handed to ``train_loop`` lives on that device,
that nothing mixes devices, and that the shipped result is a CPU checkpoint that loads.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

import course_utils
from course_utils.checkpoints import load_checkpoint
from test_devices import META, MetaChecks, MetaReads


ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("COURSE_DATA_MIRROR") or ROOT.parent / "shared" / "datasets")


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"_{name}_on_meta", ROOT / "data_scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# script, its arguments (tiny sizes; two steps, validated at each but DCGAN's, which has no
# validation), the data it reads from the mirror
CASES = {
    "sr (fsrcnn-x3)": ("train_sr", ["fsrcnn-x3", "--batch", "2", "--patch", "24", "--n-val", "1"], "T91"),
    "sr (vdsr)": ("train_sr", ["vdsr", "--batch", "2", "--patch", "24", "--n-val", "1"], "T91"),
    "srgan (srresnet-x4)": ("train_srgan", ["srresnet-x4", "--batch", "2", "--patch", "32", "--n-val", "1",
                                            "--no-builtin"], "T91"),
    "srgan (srgan-x4, VGG54 matched)": ("train_srgan", [
        "srgan-x4", "--init", "srresnet-x4", "--batch", "2", "--patch", "32", "--n-val", "1", "--no-builtin",
        "--features", "random", "--content-weight", "matched", "--tv", "2e-8"], "T91"),
    "heightfield (srresnet-ocean-x4)": ("train_heightfield", [
        "srresnet-ocean-x4", "--batch", "2", "--patch", "32", "--n-train", "4", "--n-dev", "2"], None),
    "johnson": ("train_johnson", ["--style", "starry_night", "--size", "32", "--batch", "1",
                                  "--style-size", "32", "--features", "random", "--n-val", "1"], "styles"),
    "pixelsr (faces, SPADE)": ("train_pixelsr", ["--data", "faces", "--cond", "spade"], "olivetti"),
    "dcgan": ("train_dcgan", ["--batch", "4"], "mnist"),
}


@pytest.mark.filterwarnings("ignore:.*copying from a non-meta parameter")
@pytest.mark.parametrize("case", list(CASES))
def test_training_script_trains_on_its_device(case, tmp_path, monkeypatch, capsys):
    script, args, data = CASES[case]
    if data and not any(MIRROR.glob(f"{data}*")):
        pytest.skip(f"no {data} in the data mirror {MIRROR}")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(MIRROR))
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)   # the script's choice, not the suite's
    mod = _script(script)
    real_setup = course_utils.setup

    def on_meta_device(*a, **kw):
        return real_setup(*a, **{**kw, "device": "meta"})
    monkeypatch.setattr(course_utils, "setup", on_meta_device)
    if hasattr(mod, "setup"):
        monkeypatch.setattr(mod, "setup", on_meta_device)
    seen, real_loop = {}, mod.train_loop

    def loop(step, batches, steps, models, *a, **kw):
        seen.update({k: {p.device for p in m.parameters()} | {b.device for b in m.buffers()}
                     for k, m in models.items()})
        return real_loop(step, batches, steps, models, *a, **kw)
    monkeypatch.setattr(mod, "train_loop", loop)

    out = tmp_path / "out"
    with MetaReads(), MetaChecks(finite=True):
        rc = mod.main([*args, *([] if script == "train_dcgan" else ["--val-every", "1"]),
                       "--steps", "2", "--ckpt-every", "1",
                       "--runs-dir", str(tmp_path / "runs"), "--out", str(out), "--ship"])
    err = capsys.readouterr().err
    assert rc == 0, err[-2000:]
    assert seen and all(devices == {META} for devices in seen.values()), \
        f"models handed to train_loop not (only) on the run's device: {seen}"
    shipped = list(out.glob("*.pt"))
    assert len(shipped) == 1, shipped
    ck = load_checkpoint(shipped[0])
    assert {t.device.type for t in ck["state_dict"].values()} == {"cpu"}
    assert ck["meta"]["device"] == "meta" and "on meta" in ck["meta"]["note"]


def test_device_argument_refuses_what_it_cannot_use(capsys):
    mod = _script("train_sr")
    for bad in [["--device", "tpu"], ["--device", "meta"]] + ([] if torch.cuda.is_available() else
                                                           [["--device", "cuda"]]):
        with pytest.raises(SystemExit) as e:
            mod.main(["fsrcnn-x3", "--steps", "1", *bad])
        assert e.value.code == 2
        assert f"--device: {bad[1]!r}" in capsys.readouterr().err
