"""MATLAB bicubic, colour and metrics: properties and values computed from the definitions."""
import math

import numpy as np
import pytest
import torch

from course_utils.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from course_utils.degrade import bicubic_down, check_divisible, mod_crop
from course_utils.metrics import psnr, quantize, shave, sr_metrics, ssim
from course_utils.resize import cubic, imresize, resize_weights


def test_cubic_kernel_interpolates_and_sums_to_one():
    ints = torch.arange(-3, 4, dtype=torch.float64)
    assert torch.equal(cubic(ints), (ints == 0).double())
    for t in torch.linspace(0, 1, 11, dtype=torch.float64):
        taps = t - torch.arange(-2, 3, dtype=torch.float64)
        assert cubic(taps).sum().item() == pytest.approx(1.0, abs=1e-12)


def test_keys_kernel_formula_at_half():
    # Keys (1981), a = -0.5: h(0.5) = (a+2)/8 - (a+3)/4 + 1 = 0.5625, h(1.5) = -0.0625
    assert cubic(torch.tensor([0.5, 1.5], dtype=torch.float64)).tolist() == pytest.approx([0.5625, -0.0625])


def test_identity_at_scale_one():
    x = torch.rand(2, 3, 17, 13)
    assert torch.equal(imresize(x, 1.0), x)


@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 1.5])
def test_constants_preserved(scale):
    x = torch.full((1, 1, 24, 36), 0.37, dtype=torch.float64)
    y = imresize(x, scale)
    assert y.shape[-2:] == (math.ceil(24 * scale), math.ceil(36 * scale))
    assert torch.allclose(y, torch.full_like(y, 0.37), atol=1e-12)


def test_weights_rows_sum_to_one_and_symmetric_border():
    W = resize_weights(10, 5, 0.5)
    assert torch.allclose(W.sum(1), torch.ones(5, dtype=W.dtype))
    # symmetric padding: reversing the input reverses the output
    x = torch.rand(10, dtype=torch.float64)
    assert torch.allclose(W @ x.flip(0), (W @ x).flip(0))


def test_downscale_of_a_known_pattern_by_definition():
    # a 1-D x2 downscale, computed by hand from MATLAB's definition: output sample k (1-based)
    # sits at u = 2k - 0.5; kernel h(t) = 0.5 * cubic(0.5 t) over the 10 taps from floor(u - 4),
    # normalised; outside samples mirrored (index 0 -> 1, n+1 -> n).
    n = 8
    x = torch.arange(n, dtype=torch.float64) ** 2
    got = imresize(x.view(1, 1, 1, n), size=(1, n // 2))[0, 0, 0]
    expect = []
    for k in range(1, n // 2 + 1):
        u = 2 * k - 0.5
        taps = [j for j in range(math.floor(u - 4), math.floor(u - 4) + 10)]
        w = np.array([0.5 * cubic(torch.tensor(0.5 * (u - j))).item() for j in taps])
        w /= w.sum()
        idx = [1 - j if j < 1 else (2 * n + 1 - j if j > n else j) for j in taps]
        expect.append(sum(wi * x[i - 1].item() for wi, i in zip(w, idx)))
    assert got.tolist() == pytest.approx(expect, rel=1e-10, abs=1e-10)


def test_upscale_hits_known_samples_for_odd_scale():
    # with scale 3 every 3rd output pixel (centre of the block) sits exactly on an input sample
    x = torch.rand(1, 1, 6, 6, dtype=torch.float64)
    y = imresize(x, 3)
    assert torch.allclose(y[..., 1::3, 1::3], x, atol=1e-12)


def test_resize_is_linear_and_differentiable():
    a, b = torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12)
    assert torch.allclose(imresize(2 * a + b, 1 / 3), 2 * imresize(a, 1 / 3) + imresize(b, 1 / 3), atol=1e-6)
    x = torch.rand(1, 1, 12, 12, requires_grad=True)
    imresize(x, 2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_resize_rejects_bad_input():
    with pytest.raises(TypeError, match="float"):
        imresize(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), 2)
    with pytest.raises(ValueError, match="N, C, H, W"):
        imresize(torch.zeros(4, 4), 2)


def test_mod_crop_and_divisibility_message():
    x = torch.rand(1, 3, 31, 17)
    assert mod_crop(x, 4).shape[-2:] == (28, 16)
    with pytest.raises(ValueError, match="mod_crop"):
        bicubic_down(x, 4)
    check_divisible(mod_crop(x, 3), 3)


def test_bt601_y_formula():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert rgb_to_y(rgb).item() == pytest.approx((16 + 65.481) / 255)
    white = torch.ones(1, 3, 1, 1)
    assert rgb_to_y(white).item() == pytest.approx(235 / 255, abs=1e-4)
    gray = torch.rand(1, 1, 5, 5)
    assert torch.equal(rgb_to_y(gray), gray)  # a single-channel image is Y already
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-10)


def test_psnr_of_a_known_pair():
    x = torch.zeros(1, 1, 10, 10)
    y = x + 0.1  # mse = 0.01 -> 20 dB
    assert psnr(x, y) == pytest.approx(20.0, abs=1e-6)
    assert psnr(x * 255, y * 255, 255) == pytest.approx(20.0, abs=1e-6)
    assert psnr(x, x) == math.inf
    with pytest.raises(ValueError):
        psnr(x, torch.zeros(1, 1, 9, 10))


def _ssim_reference(a, b, L=255.0):
    """SSIM straight from Wang et al. 2004: 11x11 Gaussian sigma 1.5, valid window positions."""
    r = np.arange(11) - 5
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g)
    w /= w.sum()
    C1, C2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    H, W = a.shape
    vals = []
    for i in range(H - 10):
        for j in range(W - 10):
            pa, pb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            vals.append(((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma**2 + mb**2 + C1) * (va + vb + C2)))
    return float(np.mean(vals))


def test_ssim_matches_the_reference_definition():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 255, (24, 20))
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    got = ssim(torch.from_numpy(b), torch.from_numpy(a), 255.0)
    assert got == pytest.approx(_ssim_reference(b, a), abs=1e-6)
    assert ssim(torch.from_numpy(a), torch.from_numpy(a), 255.0) == pytest.approx(1.0)


def test_sr_metrics_protocol_shaves_and_quantizes():
    hr = quantize(torch.rand(1, 1, 30, 30, dtype=torch.float64))
    sr = hr.clone()
    sr[..., :3, :] = 0  # damage only the border that scale 3 shaves
    p, s = sr_metrics(sr, hr, 3)
    assert p == math.inf and s == pytest.approx(1.0)
    sr2 = hr + 0.4 / 255  # rounds back to hr
    assert sr_metrics(sr2, hr, 3)[0] == math.inf
    assert shave(hr, 3).shape[-2:] == (24, 24)


def test_other_kernels_match_pytorch_and_cubic_matches_imresize():
    # the kernel parameter: nearest/linear on MATLAB's pixel centres are PyTorch's (align_corners=False)
    import torch.nn.functional as F
    from course_utils.resize import interp_matrix, linear_kernel, nearest_kernel, resample
    x = torch.rand(2, 1, 5, 7, dtype=torch.float64)
    for s in (2, 3, 4):
        assert torch.allclose(resample(x, s, nearest_kernel, 1), F.interpolate(x, scale_factor=s, mode="nearest"),
                              atol=1e-12)
        assert torch.allclose(resample(x, s, linear_kernel, 1),
                              F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False), atol=1e-12)
        assert torch.equal(resample(x, s, cubic, 2), imresize(x, s))
        W = interp_matrix(5, s, linear_kernel, 1)
        assert W.shape == (5 * s, 5) and W.dtype == torch.float64
        u = (torch.arange(5 * s, dtype=torch.float64) + 0.5) / s - 0.5   # HR centres in LR pixels
        inner = (u >= 0) & (u <= 4)
        assert torch.allclose((W @ torch.arange(5.0, dtype=torch.float64))[inner], u[inner], atol=1e-12)
    t = torch.tensor([-0.5, 0.4999, 0.5, 1.0, -0.25])
    assert nearest_kernel(t).tolist() == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert linear_kernel(t).tolist() == pytest.approx([0.5, 0.5001, 0.5, 0.0, 0.75], abs=1e-6)
