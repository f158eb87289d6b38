"""course_utils.checkpoints: float16 storage, sidecar files, weights that do not fit."""
import pytest
import torch
from torch import nn

from course_utils.checkpoints import (CheckpointError, load_checkpoint, load_weights,
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


@pytest.mark.parametrize("text", ["", "\n", "not-a-digest  a.pt\n", "abc123  a.pt\n"])
def test_empty_or_malformed_sha256_file_is_named(tmp_path, text):
    save_checkpoint(tmp_path / "a.pt", _net().state_dict(), "a")
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
