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
    manifest = MIRROR / "manifest.tsv"
    if manifest.is_file():  # every file the mirror lists is registered with the same size, sha256, url
        rows = [line.split("\t") for line in manifest.read_text().splitlines()[1:] if line.strip()]
        ours = {e.file: (str(e.size), e.sha256, e.url) for entries in reg.values() for e in entries}
        for _, file, size, sha, url in rows:
            assert ours.get(file) == (size, sha, url), file
        assert len(reg["mnist-train"]) == 2 and all(e.file.startswith("mnist/") for e in reg["mnist-train"])


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


# ---- bad input: a clear message naming the file or folder, nothing half-written ------------------

def _png_claiming(path, width, height):
    """A tiny PNG file whose header claims width x height pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_is_refused_by_name(tmp_path, capsys):
    bomb = _png_claiming(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(ImageError, match="bomb.png.*huge"):
        load_image(bomb)
    # the evaluate CLI says which file and exits non-zero, without a traceback
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(tmp_path / "fine.png")
    rc = evaluate.main(["--dataset", str(tmp_path), "--scale", "2"])
    err = capsys.readouterr().err
    assert rc != 0 and "bomb.png" in err and "Traceback" not in err


def _cfg(tmp_path, data_dir=None, mirror=None):
    from course_utils.profiles import Config
    return Config(profile="ci", device=torch.device("cpu"), seed=0,
                  data_dir=Path(data_dir or tmp_path / "data"), checkpoint_dir=tmp_path / "ck",
                  mirror=Path(mirror) if mirror else None)


needs_mirror = pytest.mark.skipif(not MIRROR.is_dir(), reason="no local data mirror")


@needs_mirror
def test_unreadable_mirror_falls_back_with_a_message(tmp_path, monkeypatch, capsys):
    """Mirror files that cannot be opened (root ignores chmod, so open() is made to fail)."""
    real_open = open

    def failing_open(path, *args, **kwargs):
        if str(path).startswith(str(MIRROR)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(download, "open", failing_open, raising=False)
    with pytest.warns(UserWarning, match=f"cannot read the mirror {MIRROR}"):
        imgs, _, source = get_images("Set5", _cfg(tmp_path, mirror=MIRROR))
    assert "built-in" in source and len(imgs) == 5
    rc = download.main(["--mirror", str(MIRROR), "--data-dir", str(tmp_path / "d2"), "--offline", "Set5"])
    err = capsys.readouterr().err
    assert rc == 1 and f"cannot read the mirror {MIRROR}" in err and "COURSE_DATA_MIRROR" in err


def test_mirror_that_is_a_file_is_named(tmp_path):
    (tmp_path / "mirror").write_text("not a folder")
    with pytest.warns(UserWarning, match="is a file, not a folder"):
        _, _, source = get_images("Set14", _cfg(tmp_path, mirror=tmp_path / "mirror"))
    assert "built-in" in source


@needs_mirror
def test_unwritable_data_folder_falls_back_with_a_hint(tmp_path, monkeypatch, capsys):
    from course_utils.gen_data import load_faces, load_mnist
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data folder should be")
    cfg = _cfg(tmp_path, data_dir=blocked, mirror=MIRROR)
    with pytest.warns(UserWarning, match=f"cannot write to the data folder {blocked}.*COURSE_DATA_DIR"):
        _, _, source = get_images("T91", cfg)
    assert "built-in" in source
    with pytest.warns(UserWarning, match="cannot write to the data folder"):
        assert "digits" in load_faces(cfg)[2]
    with pytest.warns(UserWarning, match="cannot write to the data folder"):
        assert "digits" in load_mnist(cfg, "test")[2]
    # a read-only course folder (EROFS): the command line says to set COURSE_DATA_DIR, exit 1
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    rc = download.main(["--mirror", str(MIRROR), "--data-dir", str(tmp_path / "course" / "data"),
                        "--offline", "Set5"])
    err = capsys.readouterr().err
    assert rc == 1 and "Read-only file system" in err and "COURSE_DATA_DIR" in err
    assert "Traceback" not in err and not (tmp_path / "course" / "data" / "Set5").exists()


def test_oversized_mirror_file_is_refused_by_its_size(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "Toy").mkdir(parents=True)
    with open(mirror / "Toy" / "a.bin", "wb") as f:  # a sparse 4 GB file: cheap to make
        f.truncate(4 << 30)
    e = _entry(tmp_path, b"hello")
    read = []
    monkeypatch.setattr(download, "sha256sum", lambda p: read.append(p) or "0" * 64)
    with pytest.raises(ChecksumError, match=r"4294967296 bytes, the registry says 5"):
        fetch_file(e, tmp_path / "data", mirror, network=False)
    assert read == [] and not any((tmp_path / "data").rglob("*"))


def test_oversized_download_is_cut_off(tmp_path, monkeypatch):
    class Endless(io.BytesIO):
        def __enter__(self):
            return self

    monkeypatch.setattr(download.urllib.request, "urlopen",
                        lambda url, timeout: Endless(b"x" * (3 << 20)))
    e = _entry(tmp_path, b"hello")
    with pytest.raises(ChecksumError, match="larger than the registry's 5 bytes"):
        fetch_file(e, tmp_path / "data", None, network=True)
    assert not any((tmp_path / "data").rglob("*"))


def test_interrupted_copy_leaves_no_part_file(tmp_path, monkeypatch):
    mirror, data = tmp_path / "mirror", tmp_path / "data"
    (mirror / "Toy").mkdir(parents=True)
    (mirror / "Toy" / "a.bin").write_bytes(b"hello")

    def interrupted(src, out, limit, what):
        out.write(src.read(2))
        raise KeyboardInterrupt
    monkeypatch.setattr(download, "_copy_at_most", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_file(_entry(tmp_path, b"hello"), data, mirror, network=False)
    assert not data.exists() or not any(data.rglob("*"))


def test_stale_part_files_are_removed_by_the_next_fetch(tmp_path):
    mirror, data = tmp_path / "mirror", tmp_path / "data"
    (mirror / "Toy").mkdir(parents=True)
    (mirror / "Toy" / "a.bin").write_bytes(b"hello")
    (data / "Toy").mkdir(parents=True)
    dead = 2 ** 22 + 12345  # above the kernel's pid_max default: no such process
    stale = [data / "Toy" / f".a.bin.{dead}.k2j4x9.part", data / "Toy" / ".a.bin.oldstyle.part"]
    live = data / "Toy" / f".a.bin.{os.getpid()}.abcd.part"  # a fetch still running: kept
    for p in stale + [live]:
        p.write_bytes(b"partial")
    path, _ = fetch_file(_entry(tmp_path, b"hello"), data, mirror, network=False)
    assert path.read_bytes() == b"hello"
    assert not any(p.exists() for p in stale) and live.exists()


_SLOW_FETCH = """
import sys, time
from course_utils import download

def slow(src, out, limit, what):
    out.write(src.read(3)); out.flush()
    print("copying", flush=True)
    time.sleep(60)
download._copy_at_most = slow
sys.exit(download.main(sys.argv[1:]))
"""


def test_sigterm_during_a_fetch_leaves_no_part_file(tmp_path):
    import signal
    import subprocess
    import sys
    mirror, data = tmp_path / "mirror", tmp_path / "data"
    (mirror / "Set5").mkdir(parents=True)
    for e in download.registry()["Set5"]:
        (mirror / e.file).write_bytes(b"x" * e.size)
    root = Path(__file__).resolve().parents[1]
    p = subprocess.Popen([sys.executable, "-c", _SLOW_FETCH, "--mirror", str(mirror),
                          "--data-dir", str(data), "--offline", "Set5"], cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "copying"
        assert list(data.rglob("*.part"))  # the copy is under way
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:  # never leave the child running when an assertion above failed
            p.kill()
            p.wait()
    assert p.returncode != 0 and "interrupted" in err and "Traceback" not in err
    assert not list(data.rglob("*.part"))


# ---- the test run checks that the notebooks used the real data ----------------------------------

@needs_mirror
def test_data_log_names_stand_ins_used_while_the_real_data_was_there(tmp_path, monkeypatch):
    from course_tools.data_log import check_data_log, read_data_log
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("COURSE_DATA_LOG", str(log))
    monkeypatch.setenv("COURSE_NOTEBOOK", "05_x.ipynb")
    get_images("Set5", _cfg(tmp_path, mirror=MIRROR))
    monkeypatch.setenv("COURSE_NOTEBOOK", "06_y.ipynb")
    with pytest.warns(UserWarning, match="built-in"):
        get_images("Set14", _cfg(tmp_path, data_dir=tmp_path / "empty"))
    monkeypatch.delenv("COURSE_NOTEBOOK")
    get_images("Set14", _cfg(tmp_path, data_dir=tmp_path / "empty"))  # a unit test: not counted
    records = read_data_log(log)
    assert [(r["notebook"], r["dataset"], r["real"]) for r in records] == [
        ("05_x.ipynb", "Set5", True), ("06_y.ipynb", "Set14", False), ("", "Set14", False)]
    summary, problems = check_data_log(records, tmp_path / "data", MIRROR)
    assert summary[0].startswith("05_x.ipynb: Set5 (") and "copied from the mirror" in summary[0]
    assert "06_y.ipynb: Set14 (STAND-IN)" in summary
    assert len(problems) == 1 and "06_y.ipynb" in problems[0] and "Set14" in problems[0]
    # without the mirror the stand-in was the only choice: no problem
    assert check_data_log(records, tmp_path / "empty", None)[1] == []


def _notebook(path, *sources):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)


@needs_mirror
def test_test_run_fails_when_a_notebook_falls_back(tmp_path):
    """The repository's conftest.py, on two notebooks: one on the mirror's Set5, one made to miss it."""
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "nbs").mkdir()
    setup = "import course_utils\nfrom course_utils.data import get_images\ncfg = course_utils.setup()"
    _notebook(tmp_path / "nbs" / "a_real.ipynb", setup, 'get_images("Set5", cfg)')
    _notebook(tmp_path / "nbs" / "b_standin.ipynb", setup,
              'cfg.mirror = None\ncfg.data_dir = cfg.data_dir / "elsewhere"\nget_images("Set5", cfg)')
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_DATA_LOG", "COURSE_NOTEBOOK")}
    env.update(PYTHONPATH=str(root), COURSE_DATA_MIRROR=str(MIRROR), COURSE_DATA_DIR=str(tmp_path / "data"))
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
                        "--nbval-lax", "--nbval-current-env", "nbs"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    out = r.stdout
    assert "4 passed" in out, out          # every cell ran ...
    assert r.returncode == 1, out          # ... but the run fails, and says why
    assert "b_standin.ipynb used a built-in stand-in for Set5" in out
    assert "a_real.ipynb: Set5 (" in out and "a_real.ipynb used" not in out


def test_a_failed_fetch_leaves_no_empty_folders(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    e = FileEntry("Toy", "Toy/s1/a.bin", 5, "0" * 64, "http://127.0.0.1:9/none")
    with pytest.raises(DownloadError):
        fetch_file(e, data, None, network=False)
    assert list(data.iterdir()) == []  # neither Toy/s1 nor Toy


def test_extract_subimages_are_the_windows_that_fit_row_by_row():
    """SRCNN's sub-images (notebook 05's course version): the same as F.unfold's windows."""
    from course_utils.data import extract_subimages
    g = torch.Generator().manual_seed(0)
    for H, W, size, stride in ((47, 61, 33, 14), (50, 40, 33, 14), (29, 64, 8, 8)):
        hr, ilr = torch.rand(1, 1, H, W, generator=g), torch.rand(1, 1, H, W, generator=g)
        x, y = extract_subimages(ilr, hr, size, stride)
        for got, img in ((x, ilr), (y, hr)):
            exp = torch.nn.functional.unfold(img, size, stride=stride).transpose(1, 2).reshape(-1, 1, size, size)
            assert torch.equal(got, exp)
    assert x.shape[0] == ((29 - 8) // 8 + 1) * ((64 - 8) // 8 + 1)
