"""Image files of every odd kind, datasets, the download registry and safe fetching."""
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import download, evaluate
from course_utils.data import SRPatches, get_images, sr_pair
from course_utils.download import ChecksumError, DownloadError, FileEntry, fetch_file
from course_utils.images import ImageError, load_builtin, load_image

# The data mirror: COURSE_DATA_MIRROR (as CI sets it), else ../shared/datasets beside the course.
MIRROR = Path(os.environ.get("COURSE_DATA_MIRROR")
              or Path(__file__).resolve().parents[2] / "shared" / "datasets")


@pytest.fixture
def odd_images(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((20, 24), 128, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    g16 = (rng.integers(0, 65536, (20, 24))).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "gray16.png")
    Image.fromarray(rgb).save(tmp_path / "pic.bmp")
    return tmp_path, rgb, g16


def test_odd_but_valid_files_are_converted(odd_images):
    folder, rgb, g16 = odd_images
    x = load_image(folder / "rgb.png")
    assert x.shape == (1, 3, 20, 24) and x.dtype == torch.float32
    assert torch.allclose(x[0].permute(1, 2, 0), torch.from_numpy(rgb).float() / 255)
    assert load_image(folder / "gray.png").shape == (1, 3, 20, 24)
    assert load_image(folder / "gray.png", mode="auto").shape == (1, 1, 20, 24)
    assert load_image(folder / "rgb.png", mode="y").shape == (1, 1, 20, 24)
    with pytest.warns(UserWarning, match="alpha"):
        a = load_image(folder / "rgba.png")
    assert torch.allclose(a, x)
    for name in ("palette.png", "cmyk.jpg", "pic.bmp"):
        y = load_image(folder / name)
        assert y.shape == (1, 3, 20, 24) and 0 <= y.min() and y.max() <= 1
    y16 = load_image(folder / "gray16.png", mode="auto")
    assert torch.allclose(y16[0, 0].double(), torch.from_numpy(g16 / 65535.0), atol=1e-6)


def test_broken_files_are_refused_by_name(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 7).save(buf, format="PNG")
    (tmp_path / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    for name in ("empty.png", "text.png", "truncated.png", "missing.png"):
        with pytest.raises(ImageError, match=name):
            load_image(tmp_path / name)


def test_builtin_images_need_no_download():
    x = load_builtin("astronaut")
    assert x.shape[:2] == (1, 3) and 0 <= x.min() and x.max() <= 1
    assert load_builtin("camera", mode="y").shape[1] == 1


def test_get_images_falls_back_to_builtin_when_absent(tmp_path, monkeypatch):
    from course_utils.profiles import setup
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    cfg = setup(profile="ci", quiet=True)
    cfg.data_dir, cfg.mirror = tmp_path, None
    with pytest.warns(UserWarning, match="built-in"):
        imgs, names, source = get_images("Set5", cfg)
    assert "built-in" in source and len(imgs) == len(names) > 0


def test_sr_patches_are_aligned():
    img = torch.rand(1, 1, 60, 60)
    ds = SRPatches([img], 3, patch=24, length=20, augment=False)
    hr, lr = sr_pair(img, 3)
    x, y = ds[0]
    assert x.shape == (1, 8, 8) and y.shape == (1, 24, 24)
    # the LR patch is the matching window of the whole LR image
    found = any(torch.equal(lr[0, :, i:i + 8, j:j + 8], x) and torch.equal(hr[0, :, 3 * i:3 * i + 24, 3 * j:3 * j + 24], y)
                for i in range(13) for j in range(13))
    assert found
    ms = SRPatches([img], [2, 3, 4], patch=24, interpolate=True, length=10)
    assert all(ms[i][0].shape == ms[i][1].shape == (1, 24, 24) for i in range(10))
    with pytest.raises(ValueError, match="interpolate"):
        SRPatches([img], [2, 3], patch=24)


def _entry(tmp_path, content: bytes, name="Toy/a.bin"):
    import hashlib
    return FileEntry("Toy", name, len(content), hashlib.sha256(content).hexdigest(),
                     "http://127.0.0.1:9/none")


def test_fetch_from_mirror_verifies_and_caches(tmp_path):
    mirror, data = tmp_path / "mirror", tmp_path / "data"
    (mirror / "Toy").mkdir(parents=True)
    (mirror / "Toy" / "a.bin").write_bytes(b"hello")
    e = _entry(tmp_path, b"hello")
    path, src = fetch_file(e, data, mirror, network=False)
    assert path.read_bytes() == b"hello" and src.startswith("mirror")
    assert fetch_file(e, data, mirror, network=False)[1] == "cached"


def test_tampered_mirror_file_is_refused_and_leaves_nothing(tmp_path):
    mirror, data = tmp_path / "mirror", tmp_path / "data"
    (mirror / "Toy").mkdir(parents=True)
    (mirror / "Toy" / "a.bin").write_bytes(b"hellO")
    e = _entry(tmp_path, b"hello")
    with pytest.raises(ChecksumError) as info:
        fetch_file(e, data, mirror, network=False)
    msg = str(info.value)
    assert "Toy/a.bin" in msg and e.sha256 in msg
    assert not data.exists() or not any(data.rglob("*"))


def test_no_network_no_mirror_says_how(tmp_path):
    e = _entry(tmp_path, b"x")
    with pytest.raises(DownloadError, match="mirror"):
        fetch_file(e, tmp_path / "data", None, network=False)


def test_download_cli_tampered_mirror_exits_nonzero(tmp_path, capsys):
    mirror = tmp_path / "mirror"
    (mirror / "Set5").mkdir(parents=True)
    for e in download.registry()["Set5"]:
        (mirror / e.file).write_bytes(b"t" * e.size)  # the right size, the wrong bytes
    rc = download.main(["--mirror", str(mirror), "--data-dir", str(tmp_path / "data"), "--offline", "Set5"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err and "expected" in err and "actual" in err
    assert not any(p.is_file() for p in (tmp_path / "data").rglob("*"))
    for e in download.registry()["Set5"]:
        (mirror / e.file).write_bytes(b"tampered")  # the wrong size: refused before copying
    rc = download.main(["--mirror", str(mirror), "--data-dir", str(tmp_path / "data"), "--offline", "Set5"])
    err = capsys.readouterr().err
    assert rc == 1 and "8 bytes, the registry says" in err and "Traceback" not in err
    assert not any(p.is_file() for p in (tmp_path / "data").rglob("*"))


def test_registry_matches_the_mirror_manifest():
    reg = download.registry()
    assert {"Set5", "Set14", "T91", "olivetti", "mnist", "styles"} <= set(reg)
    assert len(reg["Set5"]) == 5 and len(reg["Set14"]) == 14 and len(reg["T91"]) == 91
    for entries in reg.values():
        for e in entries:
            assert len(e.sha256) == 64 and e.size > 0 and e.url.startswith("https://")


@pytest.mark.skipif(not MIRROR.is_dir(), reason="no local data mirror")
def test_real_mirror_fetch(tmp_path):
    path = download.fetch("Set5", tmp_path, MIRROR, network=False, verbose=False)
    assert sorted(p.name for p in path.iterdir()) == sorted(Path(e.file).name for e in download.registry()["Set5"])


def test_evaluate_cli_folder_with_odd_and_bad_files(odd_images, capsys):
    folder, _, _ = odd_images
    rc = evaluate.main(["--dataset", str(folder), "--scale", "2", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["images"] == 7 and out[0]["method"] == "bicubic" and out[0]["scale"] == 2
    (folder / "zz_broken.png").write_text("garbage")
    rc = evaluate.main(["--dataset", str(folder), "--scale", "2"])
    captured = capsys.readouterr()
    assert rc == 2 and "zz_broken.png" in captured.err and "Traceback" not in captured.err


@pytest.mark.skipif(not MIRROR.is_dir(), reason="no local data mirror")
@pytest.mark.parametrize("dataset,expected", [("Set5", [33.66, 30.39, 28.42]),
                                              ("Set14", [30.24, 27.55, 26.00])])
def test_bicubic_reproduces_the_published_table(dataset, expected, capsys):
    rc = evaluate.main(["--dataset", str(MIRROR / dataset), "--scale", "2", "3", "4", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["scale"] for r in res] == [2, 3, 4]
    for r, e in zip(res, expected):
        assert abs(r["psnr"] - e) <= 0.02, (dataset, r)
