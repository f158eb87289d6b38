"""course_utils.evaluate for every kind of model: Y, RGB, stochastic, extra inputs; bad input."""
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

from course_utils.checkpoints import save_checkpoint
from course_utils.degrade import bicubic_down, mod_crop
from course_utils.evaluate import (BadOutput, ImageTooSmall, ScaleNotSupported, bicubic,
                                   compare_methods, evaluate_images, format_table)
from course_utils.images import save_image
from course_utils.metrics import quantize, sr_metrics
from course_utils.zoo import build
from course_utils.resize import imresize

ROOT = Path(__file__).resolve().parent.parent


def _rgb(h=30, w=33, seed=0):
    g = torch.Generator().manual_seed(seed)
    return quantize(torch.rand(1, 3, h, w, generator=g, dtype=torch.float64))


def test_rgb_method_is_scored_on_y_of_its_rounded_rgb_output():
    hr = _rgb()
    r = evaluate_images(bicubic, [hr], 3, rgb=True)
    ref_hr = mod_crop(hr, 3)
    ref = sr_metrics(quantize(imresize(bicubic_down(ref_hr, 3), 3)), ref_hr, 3)
    assert r["per_image"][0][1:] == pytest.approx(ref)
    assert r["ssim"] == pytest.approx(ref[1])


def test_an_oracle_with_an_extra_input_scores_infinity():
    hrs = [_rgb(seed=1), _rgb(27, 24, seed=2)]
    crops = [mod_crop(h, 3) for h in hrs]
    r = evaluate_images(lambda lr, s, hr: hr, hrs, 3, rgb=True, inputs={"hr": crops})
    assert r["psnr"] == float("inf") and r["ssim"] == pytest.approx(1.0)


def test_rgb_method_returning_one_channel_is_a_bad_output():
    with pytest.raises(BadOutput):
        evaluate_images(lambda lr, s: imresize(lr, s)[:, :1], [_rgb()], 3, rgb=True)


def test_grayscale_image_reaches_an_rgb_method_as_three_channels():
    seen = []

    def method(lr, s):
        seen.append(lr.shape[1])
        return imresize(lr, s)
    evaluate_images(method, [_rgb()[:, :1]], 2, rgb=True)
    assert seen == [3]


def test_stochastic_method_gets_seeded_samples():
    def noisy(lr, s, generator, temperature=1.0):
        up = imresize(lr, s)
        return up + temperature * 0.02 * torch.randn(up.shape, generator=generator, dtype=up.dtype)
    imgs = [_rgb()[:, :1], _rgb(seed=3)[:, :1]]
    a = evaluate_images(noisy, imgs, 3, samples=3, seed=5, options={"temperature": 0.5})
    b = evaluate_images(noisy, imgs, 3, samples=3, seed=5, options={"temperature": 0.5})
    c = evaluate_images(noisy, imgs, 3, samples=3, seed=6, options={"temperature": 0.5})
    hot = evaluate_images(noisy, imgs, 3, samples=3, seed=5, options={"temperature": 2.0})
    assert a == b and a["psnr"] != c["psnr"]
    assert len(set(a["psnr_per_sample"])) == 3
    assert a["psnr"] == pytest.approx(sum(a["psnr_per_sample"]) / 3)
    assert hot["psnr"] < a["psnr"] < evaluate_images(bicubic, imgs, 3)["psnr"]


def test_deterministic_method_gets_no_generator():
    evaluate_images(lambda lr, s: imresize(lr, s), [_rgb()[:, :1]], 2)  # would fail on generator=


def test_one_image_too_small_is_skipped_with_a_warning():
    imgs, names = [_rgb()[:, :1], _rgb(7, 30)[:, :1]], ["big", "tiny"]
    with pytest.warns(UserWarning, match="tiny"):
        r = evaluate_images(bicubic, imgs, 3, names)
    alone = evaluate_images(bicubic, imgs[:1], 3, names[:1])
    assert r["images"] == 1 and r["skipped"] == ["tiny"] and r["psnr"] == alone["psnr"]
    with pytest.raises(ImageTooSmall), pytest.warns(UserWarning):
        evaluate_images(bicubic, imgs[1:], 3, names[1:])


def test_nan_output_is_refused():
    with pytest.raises(BadOutput, match="NaN"):
        evaluate_images(lambda lr, s: imresize(lr, s) * float("nan"), [_rgb()[:, :1]], 2)


def test_compare_methods_skips_a_scale_by_exception_type_not_text():
    def only_x2(lr, s):
        if s != 2:
            raise ScaleNotSupported("no")  # any wording
        return imresize(lr, s)
    rows = compare_methods({"bicubic": bicubic, "x2 only": only_x2},
                           {"toy": ([_rgb()[:, :1]], ["a"])}, [2, 3], show=False)
    assert [(r["method"], r["scale"]) for r in rows] == [("bicubic", 2), ("x2 only", 2), ("bicubic", 3)]
    table = format_table(rows)
    assert "SSIM" in table.splitlines()[1] and f"{rows[0]['ssim']:7.4f}" in table


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "course_utils.evaluate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_refuses_nan_weights_naming_the_file(tmp_path):
    net = build("fsrcnn-x3")
    sd = net.state_dict()
    sd["deconv.weight"][0, 0, 0, 0] = float("nan")
    save_checkpoint(tmp_path / "fsrcnn-x3.pt", sd, name="fsrcnn-x3")
    save_image(_rgb(36, 42).float(), tmp_path / "imgs" / "a.png")
    out = _cli("--method", "fsrcnn-x3", "--dataset", str(tmp_path / "imgs"), "--scale", "3",
               "--checkpoints", str(tmp_path))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "fsrcnn-x3.pt" in out.stderr and "NaN" in out.stderr


def _bomb_png(path, side=100_000):
    """A valid 1x1 grayscale PNG whose header claims side x side pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def test_cli_unreadable_image_names_the_file_without_a_traceback(tmp_path):
    folder = tmp_path / "imgs"
    save_image(_rgb(36, 42).float(), folder / "good.png")
    _bomb_png(folder / "bomb.png")
    out = _cli("--method", "bicubic", "--dataset", str(folder), "--scale", "3")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "bomb.png" in out.stderr


def test_cli_small_image_is_skipped_and_the_table_printed(tmp_path):
    folder = tmp_path / "imgs"
    save_image(_rgb(36, 42).float(), folder / "good.png")
    save_image(_rgb(6, 40).float(), folder / "thin.png")
    out = _cli("--method", "bicubic", "--dataset", str(folder), "--scale", "3")
    assert out.returncode == 0, out.stderr
    assert "thin" in out.stderr and "skipped: thin" in out.stdout


def test_cli_json_at_scale_1_is_strict_json(tmp_path):
    import json
    save_image(_rgb(36, 42).float(), tmp_path / "imgs" / "a.png")
    out = _cli("--method", "bicubic", "--dataset", str(tmp_path / "imgs"), "--scale", "1", "2", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert rows[0]["scale"] == 1 and rows[0]["psnr"] is None and "infinite" in rows[0]["note"]
    assert rows[1]["scale"] == 2 and 0 < rows[1]["psnr"] < 100 and "note" not in rows[1]


def test_cli_temperature_with_a_deterministic_method_is_a_clear_error(tmp_path):
    save_image(_rgb(36, 42).float(), tmp_path / "imgs" / "a.png")
    out = _cli("--method", "bicubic", "--dataset", str(tmp_path / "imgs"), "--scale", "3",
               "--temperature", "0.8")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--temperature: bicubic is deterministic" in out.stderr


def test_cli_unreadable_folder_is_named_not_a_raw_permission_error(tmp_path, monkeypatch, capsys):
    from course_utils import evaluate as ev
    folder = tmp_path / "imgs"
    save_image(_rgb(36, 42).float(), folder / "a.png")

    def denied(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(ev, "list_images", denied)
    assert ev.main(["--method", "bicubic", "--dataset", str(folder), "--scale", "3"]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: cannot read it (Permission denied)" in err


class _ToyFeatures(torch.nn.Module):
    """relu2_2 = 12.75 x the image, relu5_4 = 12.75 x its channel mean: perceptual_loss is then the
    MSE of the images (VGG22) and of their channel means (VGG54)."""
    source = "toy features"

    def forward(self, x, layers):
        out = {"relu2_2": 12.75 * x, "relu5_4": 12.75 * x.mean(1, keepdim=True)}
        return {k: out[k] for k in layers}


def test_perceptual_distances_on_request():
    hr = _rgb(24, 24, seed=3)
    oracle = evaluate_images(lambda lr, s, hr: hr, [hr], 3, rgb=True, inputs={"hr": [hr]},
                             features=_ToyFeatures())
    assert oracle["vgg22"] == 0 and oracle["vgg54"] == 0 and oracle["features"] == "toy features"
    r = evaluate_images(bicubic, [hr], 3, rgb=True, features=_ToyFeatures())
    sr = quantize(bicubic(bicubic_down(hr, 3), 3))[..., 3:-3, 3:-3]   # shaved as PSNR is
    assert r["vgg22"] == pytest.approx(float((sr - hr[..., 3:-3, 3:-3]).pow(2).mean()), rel=1e-4)
    assert r["vgg54"] == pytest.approx(float((sr - hr[..., 3:-3, 3:-3]).mean(1).pow(2).mean()), rel=1e-4)
    assert r["vgg54"] < r["vgg22"]
    table = format_table([{"dataset": "toy", "method": "bicubic", "scale": 3, **r}])
    assert "VGG22 d" in table and f"{r['vgg22']:.4g}" in table and "features: toy features" in table
    # without features: no distances, and the table keeps its columns
    plain = evaluate_images(bicubic, [hr], 3, rgb=True)
    assert "vgg22" not in plain
    assert "VGG22" not in format_table([{"dataset": "toy", "method": "bicubic", "scale": 3, **plain}])
