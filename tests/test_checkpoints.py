"""course_utils.checkpoints: float16 storage, sidecar files, weights that do not fit, the digest
inside the file, saves killed half-way."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from course_utils.checkpoints import (FORMAT, CheckpointError, load_checkpoint, load_weights,
                                      read_sha256, save_checkpoint)
from course_utils.zoo import build, load_shipped


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 64, 5), nn.BatchNorm2d(64), nn.Conv2d(64, 64, 3))


def test_float16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    net = _net()
    save_checkpoint(tmp_path / "a.pt", net.state_dict(), "a")
    save_checkpoint(tmp_path / "b.pt", net.state_dict(), "b", half=True)
    full, half = (tmp_path / "a.pt").stat().st_size, (tmp_path / "b.pt").stat().st_size
    assert half < 0.6 * full
    ck = load_checkpoint(tmp_path / "b.pt", name="b")
    assert ck["stored"] == "float16"
    sd = net.state_dict()
    for k, v in ck["state_dict"].items():
        assert v.dtype == sd[k].dtype  # float32 back, integer buffers untouched
        assert torch.equal(v, sd[k].half().to(sd[k].dtype) if sd[k].is_floating_point() else sd[k])


def _first_format(path, state_dict, name):
    """A checkpoint as the first format wrote it (no digest inside, its sha256 beside it)."""
    from course_utils.download import sha256sum
    torch.save({"format": FORMAT, "name": name, "state_dict": state_dict, "meta": {}}, path)
    path.with_name(path.name + ".sha256").write_text(f"{sha256sum(path)}  {path.name}\n")


@pytest.mark.parametrize("text", ["", "\n", "not-a-digest  a.pt\n", "abc123  a.pt\n"])
def test_empty_or_malformed_sha256_file_is_named(tmp_path, text):
    _first_format(tmp_path / "a.pt", _net().state_dict(), "a")
    side = tmp_path / "a.pt.sha256"
    side.write_text(text)
    with pytest.raises(CheckpointError, match="empty|malformed") as e:
        load_checkpoint(tmp_path / "a.pt")
    assert str(side) in str(e.value)


def test_sha256_file_is_read_as_written(tmp_path):
    digest = save_checkpoint(tmp_path / "a.pt", _net().state_dict(), "a")
    assert read_sha256(tmp_path / "a.pt.sha256") == digest


def test_right_sha256_wrong_shapes_is_a_checkpoint_error_naming_the_file(tmp_path):
    # a genuine course checkpoint (its sha256 matches) of another architecture
    save_checkpoint(tmp_path / "fsrcnn-x3.pt", build("espcn-x3").state_dict(), "fsrcnn-x3")
    with pytest.raises(CheckpointError, match="do not fit FSRCNN") as e:
        load_shipped("fsrcnn-x3", checkpoint_dir=tmp_path)
    assert "fsrcnn-x3.pt" in str(e.value)


def test_nan_weights_are_refused(tmp_path):
    net = nn.Linear(2, 2)
    sd = net.state_dict()
    sd["bias"][1] = float("inf")
    with pytest.raises(CheckpointError, match="NaN or inf"):
        load_weights(nn.Linear(2, 2), sd, tmp_path / "x.pt")


# ---- the digest lives inside the file: no side file needed, no side file can block it ----------

def test_a_damaged_checkpoint_without_its_sha256_file_is_refused(tmp_path):
    save_checkpoint(tmp_path / "a.pt", _net().state_dict(), "a")
    (tmp_path / "a.pt.sha256").unlink()
    assert load_checkpoint(tmp_path / "a.pt", name="a")["name"] == "a"   # intact: loads
    # one weight changed in the file's content (as a damaged or doctored file would be)
    obj = torch.load(tmp_path / "a.pt", weights_only=True)
    obj["state_dict"]["0.weight"][0, 0, 0, 0] += 1.0
    torch.save(obj, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="does not match the digest") as e:
        load_checkpoint(tmp_path / "a.pt")
    assert "a.pt" in str(e.value)


def test_a_checkpoint_with_no_digest_anywhere_is_refused(tmp_path):
    # the format marker on an untrained network, written by hand, with no .sha256 beside it
    torch.save({"format": FORMAT, "name": "a", "state_dict": _net().state_dict(), "meta": {}},
               tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="no digest inside it and no a.pt.sha256"):
        load_checkpoint(tmp_path / "a.pt")


def test_first_format_files_still_load_through_their_sha256(tmp_path):
    _first_format(tmp_path / "a.pt", _net().state_dict(), "a")
    assert load_checkpoint(tmp_path / "a.pt", name="a")["name"] == "a"
    with open(tmp_path / "a.pt", "ab") as f:
        f.write(b"x")
    with pytest.raises(CheckpointError, match="sha256 is"):
        load_checkpoint(tmp_path / "a.pt")


def test_a_save_killed_before_its_sha256_file_leaves_a_loadable_file(tmp_path):
    save_checkpoint(tmp_path / "w.pt", _net().state_dict(), "w", meta={"step": 1})
    old_side = (tmp_path / "w.pt.sha256").read_text()
    net = _net()
    with torch.no_grad():
        net[0].weight.add_(1)
    save_checkpoint(tmp_path / "w.pt", net.state_dict(), "w", meta={"step": 2})
    (tmp_path / "w.pt.sha256").write_text(old_side)   # the state a kill between the two leaves
    ck = load_checkpoint(tmp_path / "w.pt", name="w")
    assert ck["meta"]["step"] == 2 and torch.equal(ck["state_dict"]["0.weight"], net[0].weight)


def test_a_save_killed_while_writing_leaves_no_part_file_for_ever(tmp_path):
    """A real kill: a child process is SIGKILLed inside torch.save; the next save cleans up."""
    code = (
        "import os, signal, torch, course_utils.checkpoints as c\n"
        "real = torch.save\n"
        "def dying(obj, f):\n"
        "    f.write(b'half a file')\n"
        "    f.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "torch.save = dying\n"
        f"c.save_checkpoint({str(tmp_path / 'a.pt')!r}, {{'w': torch.zeros(2)}}, 'a')\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert r.returncode == -9
    parts = list(tmp_path.glob(".a.pt.*.part"))
    assert len(parts) == 1 and not (tmp_path / "a.pt").exists()
    save_checkpoint(tmp_path / "a.pt", {"w": torch.ones(2)}, "a")
    assert list(tmp_path.glob(".a.pt.*.part")) == []
    assert torch.equal(load_checkpoint(tmp_path / "a.pt")["state_dict"]["w"], torch.ones(2))


def test_an_unreadable_checkpoint_is_named_not_a_raw_permission_error(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "a.pt", _net().state_dict(), "a")

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(torch, "load", denied)
    with pytest.raises(CheckpointError, match="cannot read it") as e:
        load_checkpoint(tmp_path / "a.pt")
    assert "a.pt" in str(e.value)
