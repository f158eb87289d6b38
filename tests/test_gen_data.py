"""Data of the generation notebooks: IDX parsing, faces/MNIST loaders and their fallbacks, toy 2-D samplers.

Values are computed from the definitions (IDX header layout, mixture centres), never stored outputs.
"""
import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils.gen_data import (IDXError, MAGIC_IMAGES, MAGIC_LABELS, load_digits, load_faces,
                                   load_mnist, read_idx, toy_2d, toy_2d_centers)
from course_utils.profiles import Config

# The data mirror: COURSE_DATA_MIRROR (as CI sets it), else ../shared/datasets beside the course.
_SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MIRROR = os.environ.get("COURSE_DATA_MIRROR") or (str(_SHARED) if _SHARED.is_dir() else None)


def make_cfg(tmp_path, mirror=None):
    return Config(profile="ci", device=torch.device("cpu"), seed=0, data_dir=Path(tmp_path) / "data",
                  checkpoint_dir=Path(tmp_path) / "ck", mirror=Path(mirror) if mirror else None)


def write_idx(path, arr, magic=None, gz=True, extra=b""):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    magic = (0x08 << 8 | arr.ndim) if magic is None else magic
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in arr.shape) + arr.tobytes() + extra
    (gzip.open if gz else open)(path, "wb").write(raw)
    return path


# ---- IDX ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (1, 28, 28)])
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, shape, gz):
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    p = write_idx(tmp_path / ("f.gz" if gz else "f.idx"), a, gz=gz)
    b = read_idx(p)
    assert b.dtype == np.uint8 and b.shape == shape and np.array_equal(a, b)


def test_read_idx_magic_numbers_are_checked(tmp_path):
    imgs = write_idx(tmp_path / "i.gz", np.zeros((2, 3, 3)))
    labs = write_idx(tmp_path / "l.gz", np.zeros(2))
    assert read_idx(imgs, MAGIC_IMAGES).shape == (2, 3, 3)
    assert read_idx(labs, MAGIC_LABELS).shape == (2,)
    with pytest.raises(IDXError, match="magic"):
        read_idx(labs, MAGIC_IMAGES)      # labels where images are expected
    with pytest.raises(IDXError, match="magic"):
        read_idx(write_idx(tmp_path / "bad.gz", np.zeros(4), magic=0x0D01))  # float type, not bytes


@pytest.mark.parametrize("extra, cut", [(b"", 5), (b"\x00" * 3, 0)])
def test_read_idx_rejects_wrong_sizes(tmp_path, extra, cut):
    p = tmp_path / "x.gz"
    write_idx(p, np.ones((4, 5, 5)), extra=extra)
    if cut:
        raw = gzip.open(p).read()[:-cut]
        gzip.open(p, "wb").write(raw)
    with pytest.raises(IDXError, match="bytes"):
        read_idx(p)


def test_read_idx_rejects_non_gzip(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(b"this is not gzip at all")
    with pytest.raises(IDXError, match="fetch it again"):
        read_idx(p)


# ---- fallbacks (no data folder, no mirror) ------------------------------------------------------

def test_faces_fallback_is_digits_with_a_warning(tmp_path):
    cfg = make_cfg(tmp_path)
    with pytest.warns(UserWarning, match="digits"):
        x, y, source = load_faces(cfg)
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and "digits" in source
    assert load_faces(cfg, scale=0.5)[0].shape == (1797, 1, 8, 8)   # the stand-in is never shrunk
    with pytest.raises(FileNotFoundError, match="download.py olivetti"):
        load_faces(cfg, fallback=False)


def test_mnist_fallback_is_digits_28(tmp_path):
    cfg = make_cfg(tmp_path)
    x, y, source = load_mnist(cfg, "test")
    assert x.shape == (1797, 1, 28, 28) and y.shape == (1797,)
    assert 0 <= x.min() and x.max() <= 1 and "digits" in source
    assert set(y.tolist()) == set(range(10))
    with pytest.raises(FileNotFoundError):
        load_mnist(cfg, "test", fallback=False)
    with pytest.raises(ValueError):
        load_mnist(cfg, "validation")


def test_load_digits_values_match_sklearn():
    from sklearn.datasets import load_digits as sk
    d = sk()
    x, y = load_digits()
    assert torch.allclose(x[:, 0].double(), torch.from_numpy(d.images / 16.0))
    assert torch.equal(y, torch.from_numpy(d.target).long())


def test_corrupt_mnist_files(tmp_path):
    """Damaged files in the data folder fail the registry's sha256 (the dataset counts as absent and
    is re-copied from a mirror when there is one); read_idx names the damage itself."""
    from course_utils.download import registry
    cfg = make_cfg(tmp_path)
    folder = cfg.data_dir / "mnist"
    folder.mkdir(parents=True)
    for e in registry()["mnist"]:
        (cfg.data_dir / e.file).write_bytes(b"corrupt")
    # no mirror: the registry's sha256 rejects the files, the dataset counts as absent -> fallback
    x, _, source = load_mnist(cfg)
    assert "digits" in source
    # read_idx itself reports the damage clearly
    with pytest.raises(IDXError):
        read_idx(folder / "t10k-images-idx3-ubyte.gz", MAGIC_IMAGES)


# ---- real data through the mirror (CI sets COURSE_DATA_MIRROR) ----------------------------------

@pytest.mark.skipif(not MIRROR, reason="COURSE_DATA_MIRROR not set")
def test_faces_from_mirror(tmp_path):
    x, person, source = load_faces(make_cfg(tmp_path, MIRROR))
    assert x.shape == (400, 1, 112, 92) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and source.startswith("ORL")
    assert torch.equal(torch.bincount(person), torch.full((40,), 10))
    assert torch.equal(person, torch.arange(400) // 10)       # s1..s40 in numeric order
    small, _, _ = load_faces(make_cfg(tmp_path, MIRROR), scale=0.5)
    assert small.shape == (400, 1, 56, 46) and 0 <= small.min() and small.max() <= 1


@pytest.mark.skipif(not MIRROR, reason="COURSE_DATA_MIRROR not set")
def test_mnist_test_split_from_mirror(tmp_path):
    x, y, source = load_mnist(make_cfg(tmp_path, MIRROR), "test")
    assert x.shape == (10000, 1, 28, 28) and y.shape == (10000,) and "test split" in source
    assert x.min() == 0 and x.max() == 1
    assert torch.equal(x * 255, (x * 255).round())             # exactly the stored bytes / 255
    counts = torch.bincount(y, minlength=10)
    assert counts.sum() == 10000 and counts.min() > 800        # every digit is well represented


@pytest.mark.skipif(not MIRROR, reason="COURSE_DATA_MIRROR not set")
def test_mnist_train_split_from_mirror(tmp_path, monkeypatch):
    import torchvision
    monkeypatch.setattr(torchvision.datasets, "MNIST", None)  # the registry's copy, not torchvision's
    x, y, source = load_mnist(make_cfg(tmp_path, MIRROR), "train")
    assert x.shape == (60000, 1, 28, 28) and y.shape == (60000,) and "training split" in source
    assert torch.equal(x * 255, (x * 255).round())
    assert torch.bincount(y, minlength=10).min() > 5000       # every digit, ~6000 each
    assert (tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


# ---- toy 2-D mixtures ---------------------------------------------------------------------------

def test_ring_centers_on_circle():
    c = toy_2d_centers("ring", 8, radius=2.0)
    assert c.shape == (8, 2)
    assert torch.allclose(c.norm(dim=1), torch.full((8,), 2.0))
    ang = torch.atan2(c[:, 1], c[:, 0])
    gaps = torch.diff(torch.sort(torch.remainder(ang, 2 * math.pi)).values)
    assert torch.allclose(gaps, torch.full((7,), 2 * math.pi / 8), atol=1e-5)


def test_grid_centers():
    c = toy_2d_centers("grid", 25, radius=2.0)
    assert c.shape == (25, 2)
    assert sorted(set(c[:, 0].tolist())) == pytest.approx(torch.linspace(-2, 2, 5).tolist())
    with pytest.raises(ValueError):
        toy_2d_centers("grid", 8)
    with pytest.raises(ValueError):
        toy_2d_centers("spiral")


@pytest.mark.parametrize("kind, k", [("ring", 8), ("grid", 9)])
def test_toy_samples_cluster_round_their_modes(kind, k):
    g = torch.Generator().manual_seed(0)
    std = 0.05
    x = toy_2d(20000, kind, k, std=std, generator=g)
    c = toy_2d_centers(kind, k)
    d = torch.cdist(x, c)
    nearest = d.argmin(1)
    counts = torch.bincount(nearest, minlength=k).float()
    assert torch.all((counts / len(x) - 1 / k).abs() < 0.02)               # equal weights
    resid = x - c[nearest]
    assert resid.mean(0).abs().max() < 0.005                               # centred on the modes
    assert resid.std(0) == pytest.approx(torch.tensor([std, std]), rel=0.05)  # isotropic std


def test_toy_is_reproducible():
    a = toy_2d(10, generator=torch.Generator().manual_seed(3))
    b = toy_2d(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_mnist_train_offline_falls_back_fast(tmp_path, monkeypatch):
    """Without the network, torchvision's downloader fails within seconds; the test split is used
    instead and no empty folder is left behind."""
    import socket
    import time

    def no_network(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    mirror = None
    if MIRROR:  # a mirror with the test split only
        mirror = tmp_path / "mirror"
        (mirror / "mnist").mkdir(parents=True)
        for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
            (mirror / "mnist" / name).symlink_to(Path(MIRROR) / "mnist" / name)
    cfg = make_cfg(tmp_path, mirror)
    t0 = time.time()
    with pytest.warns(UserWarning, match="torchvision could not download"):
        x, _, source = load_mnist(cfg, "train")
    assert time.time() - t0 < 30
    assert "train" not in source.lower() or "test" in source.lower()
    assert not (cfg.data_dir / "torchvision").exists()
