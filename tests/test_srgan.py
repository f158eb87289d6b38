"""Notebook 08's library: SRResNet and the SRGAN discriminator (course_utils.srgan), ocean height
fields from the Phillips spectrum (course_utils.heightfield) and the radially averaged power
spectrum (course_utils.metrics.average_power_spectrum)."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.features import tv_loss
from course_utils.heightfield import (SPLITS, depth_psnr, height_mse, ocean_dataset, ocean_surface, phillips,
                                     to_depth_image, wave_vectors)
from course_utils.metrics import average_power_spectrum
from course_utils.models import count_parameters
from course_utils.zoo import REGISTRY, build
from course_utils.srgan import (SRGAN_TV_WEIGHT, Discriminator, ResidualBlock, SRResNet, Upsampler,
                                discriminator_parameters, srresnet_parameters, with_tv)
from course_utils.train import d_loss as d_loss_bce, g_loss_nonsat as g_loss_bce


# ---- SRResNet --------------------------------------------------------------------------------

@pytest.mark.parametrize("blocks, scale, channels", [(16, 4, 3), (16, 8, 1), (2, 2, 3)])
def test_srresnet_parameter_count_follows_the_definition(blocks, scale, channels):
    net = SRResNet(blocks=blocks, scale=scale, channels=channels)
    assert count_parameters(net) == srresnet_parameters(blocks, channels=channels, scale=scale)


def test_srresnet_x4_has_about_1_5_million_parameters():
    n = count_parameters(SRResNet())
    assert 1.45e6 < n < 1.6e6, n
    # the x8 model has one more sub-pixel stage: about 1.7 M (the report's numbers)
    assert 1.65e6 < count_parameters(SRResNet(scale=8)) < 1.75e6


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_srresnet_output_size(scale):
    net = SRResNet(blocks=1, scale=scale).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 5, 7)).shape == (2, 3, 5 * scale, 7 * scale)


def test_srresnet_rejects_other_scales():
    with pytest.raises(ValueError, match="2, 4 or 8"):
        SRResNet(scale=3)


def test_residual_block_is_the_identity_plus_its_branch():
    torch.manual_seed(0)
    blk = ResidualBlock(8).eval()
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        branch = blk.bn2(blk.conv2(blk.prelu(blk.bn1(blk.conv1(x)))))
        assert torch.allclose(blk(x), x + branch, atol=1e-6)
        blk.bn2.weight.zero_()
        blk.bn2.bias.zero_()  # the branch is now zero: the block passes its input through
        assert torch.allclose(blk(x), x)


def test_upsampler_is_conv_then_pixel_shuffle_then_prelu():
    torch.manual_seed(0)
    up = Upsampler(4)
    x = torch.randn(1, 4, 3, 3)
    ref = F.prelu(F.pixel_shuffle(F.conv2d(x, up.conv.weight, up.conv.bias, padding=1), 2),
                  up.prelu.weight)
    assert torch.allclose(up(x), ref, atol=1e-6)
    assert up(x).shape == (1, 4, 6, 6)


def test_long_skip_connection_carries_the_head_features():
    """With body_end's batch norm zeroed the body contributes nothing: what reaches the upsampler
    is head(x), carried by the long skip alone (without the skip the output would be constant)."""
    torch.manual_seed(0)
    net = SRResNet(blocks=2, width=8).eval()
    with torch.no_grad():
        net.body_end[1].weight.zero_()
        net.body_end[1].bias.zero_()
        x = torch.rand(1, 3, 6, 6)
        h0 = net.head(x)
        assert torch.allclose(net(x), net.tail(net.upsample(h0)), atol=1e-6)


def test_student_classes_plug_in_and_shipped_names_load():
    class Block(ResidualBlock):
        pass

    class Up(Upsampler):
        pass

    ours = SRResNet(blocks=2, block=Block, upsampler=Up)
    ref = SRResNet(blocks=2)
    ours.load_state_dict(ref.state_dict())
    assert isinstance(ours.body[0], Block) and isinstance(ours.upsample[1], Up)


# ---- discriminator and losses ----------------------------------------------------------------

@pytest.mark.parametrize("patch", [32, 96])
def test_discriminator_shapes_and_parameter_count(patch):
    d = Discriminator(patch)
    assert d(torch.rand(3, 3, patch, patch)).shape == (3,)
    assert count_parameters(d) == discriminator_parameters(patch)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert sum(c.stride[0] == 2 for c in convs) == 4
    slopes = {m.negative_slope for m in d.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.2}
    assert [m.out_features for m in d.modules() if isinstance(m, torch.nn.Linear)] == [1024, 1]


def test_discriminator_for_96_pixel_patches_is_the_report_size():
    # the report: "23.6 million parameters" (its dense layer reads 512 x 6 x 6 features)
    assert 23.5e6 < discriminator_parameters(96) < 23.7e6


def test_discriminator_refuses_other_sizes():
    with pytest.raises(ValueError, match="multiple of 16"):
        Discriminator(40)
    with pytest.raises(ValueError, match="built for 32x32"):
        Discriminator(32)(torch.rand(1, 3, 48, 48))


def test_gan_losses_on_hand_worked_values():
    z = torch.zeros(4)
    assert math.isclose(d_loss_bce(z, z).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(g_loss_bce(z).item(), math.log(2), rel_tol=1e-6)
    big = torch.full((4,), 30.0)
    assert d_loss_bce(big, -big).item() < 1e-10  # a perfect discriminator
    assert math.isclose(g_loss_bce(-big).item(), 30.0, rel_tol=1e-6)  # a fooled-nobody G


def test_registry_records_build_srresnet():
    for name in ("srresnet-x4", "srgan-x4"):
        r = REGISTRY[name]
        assert r.channels == "rgb" and r.scales == (4,) and r.kind == "sr"
        assert isinstance(build(name), SRResNet)
    assert REGISTRY["srresnet-x4"].paper[("Set5", 4)][:2] == (32.05, 0.9019)
    assert REGISTRY["srgan-x4"].paper[("Set14", 4)][:2] == (26.02, 0.7397)


# ---- height fields ---------------------------------------------------------------------------

def test_phillips_is_zero_at_the_origin_and_across_the_wind():
    kx, kz = wave_vectors(64, 100.0)
    for direction in (0.0, math.pi / 3):
        P = phillips(kx, kz, wind_speed=15.0, wind_direction=direction)
        assert P[0, 0] == 0 and (P >= 0).all()
        along = phillips(torch.tensor([math.cos(direction) * 0.1]),
                         torch.tensor([math.sin(direction) * 0.1]), 15.0, direction)
        across = phillips(torch.tensor([-math.sin(direction) * 0.1]),
                          torch.tensor([math.cos(direction) * 0.1]), 15.0, direction)
        assert along.item() > 0 and across.item() < 1e-12 * along.item()


def test_phillips_peaks_where_the_formula_says():
    # along the wind, exp(-1/(kL)^2)/k^4 peaks at k = 1/(sqrt(2) L), L = V^2/g
    V = 10.0
    L = V ** 2 / 9.81
    k = torch.linspace(0.2 / L, 5 / L, 20001, dtype=torch.float64)
    P = phillips(k, torch.zeros_like(k), V, 0.0, small=0.0)
    assert math.isclose(k[P.argmax()].item(), 1 / (math.sqrt(2) * L), rel_tol=1e-3)


def test_phillips_symmetric_under_k_to_minus_k():
    kx, kz = wave_vectors(32, 50.0)
    P = phillips(kx, kz, 12.0, 0.7)
    flipped = torch.roll(torch.flip(P, dims=(0, 1)), shifts=(1, 1), dims=(0, 1))  # P(-k)
    inner = [i for i in range(32) if i != 16]  # the Nyquist row/column has no -k on the grid
    assert torch.allclose(P[inner][:, inner], flipped[inner][:, inner])


def test_ocean_surface_power_follows_the_spectrum():
    # E|FFT(h)(k)|^2 / n^4 = P(k) + P(-k): h~ = h~0(k) + conj(h~0(-k)), E|h~0|^2 = P
    n, size, V, d = 16, 40.0, 10.0, 0.7
    kx, kz = wave_vectors(n, size)
    P = phillips(kx, kz, V, d)
    expected = P + torch.roll(torch.flip(P, dims=(0, 1)), shifts=(1, 1), dims=(0, 1))
    seeds = 400
    power = sum(torch.fft.fft2(ocean_surface(n, size, V, d, seed=s).double()).abs().pow(2)
                for s in range(seeds)) / seeds / n ** 4
    strong = expected > 0.05 * expected.max()
    assert strong.sum() >= 6
    assert torch.allclose(power[strong], expected[strong], rtol=0.3)
    assert power[~(expected > 0)].max() < 1e-6 * expected.max()  # nothing across the wind


def test_ocean_surface_is_deterministic_by_seed():
    a = ocean_surface(64, seed=3)
    assert torch.equal(a, ocean_surface(64, seed=3))
    assert not torch.allclose(a, ocean_surface(64, seed=4))
    assert a.dtype == torch.float32 and a.shape == (64, 64)
    assert abs(a.mean().item()) < 1e-5 * a.abs().max().item() + 1e-9  # no DC component


def test_ocean_surface_waves_run_along_the_wind():
    # crests perpendicular to the wind: heights vary faster along the wind than across it
    for direction, along_axis in ((0.0, -1), (math.pi / 2, -2)):
        h = torch.stack([ocean_surface(64, wind_speed=10.0, wind_direction=direction, seed=s)
                         for s in range(8)])
        dx = h.diff(dim=-1).pow(2).mean()
        dz = h.diff(dim=-2).pow(2).mean()
        ratio = dx / dz if along_axis == -1 else dz / dx
        assert ratio > 2, ratio  # 3 in expectation for |k^.w|^2


def test_ocean_surface_heights_grow_with_the_wind():
    calm = torch.stack([ocean_surface(64, wind_speed=6.0, seed=s) for s in range(4)]).std()
    storm = torch.stack([ocean_surface(64, wind_speed=24.0, seed=s) for s in range(4)]).std()
    assert storm > 3 * calm


def test_ocean_surface_moves_with_time_and_keeps_its_spectrum():
    a, b = ocean_surface(64, seed=1), ocean_surface(64, seed=1, t=2.0)
    assert not torch.allclose(a, b)
    assert math.isclose(a.pow(2).mean().item(), b.pow(2).mean().item(), rel_tol=0.5)


def test_to_depth_image_range_levels_and_inverse():
    h = torch.stack([ocean_surface(32, seed=s) for s in range(3)])
    img, lo, span = to_depth_image(h)
    assert img.shape == (3, 1, 32, 32) and img.dtype == torch.float32
    assert img.amin(dim=(1, 2, 3)).eq(0).all() and img.amax(dim=(1, 2, 3)).eq(1).all()
    levels = img * 255
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    back = lo[:, None, None] + span[:, None, None] * img[:, 0]
    assert (back - h).abs().max() <= span.max() / 510 + 1e-6
    flat, _, s0 = to_depth_image(torch.ones(8, 8))
    assert torch.all(flat == 0) and s0.item() == 0


def test_height_mse_scales_the_image_error():
    a, b = torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.1)
    assert math.isclose(height_mse(a, b, 3.0), 0.01 * 9, rel_tol=1e-6)
    assert math.isclose(height_mse(a, b, torch.tensor([1.0, 2.0])), 0.01 * (1 + 4) / 2, rel_tol=1e-6)


def test_depth_psnr_is_the_mean_of_per_image_psnrs_after_the_shave():
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(3, 1, 12, 12, generator=g)
    sr = (hr + 0.05 * torch.randn(3, 1, 12, 12, generator=g)).clamp(0, 1)
    sr[1, :, 0, :] = 1 - hr[1, :, 0, :]            # a bad border row: only the shave removes it
    for shave in (0, 2):
        inner = slice(shave, 12 - shave)
        want = sum(10 * math.log10(1 / float(((sr[i, :, inner, inner].double() - hr[i, :, inner, inner].double())
                                              ** 2).mean())) for i in range(3)) / 3
        assert math.isclose(depth_psnr(sr, hr, shave), want, rel_tol=1e-12)
    assert depth_psnr(sr, hr, 2) > depth_psnr(sr, hr) + 0.5     # the border row counted only without shave
    # a mean of PSNRs, not the PSNR of the pooled error: one exact image would make it infinite
    pooled = 10 * math.log10(1 / float(((sr.double() - hr.double()) ** 2).mean()))
    assert not math.isclose(depth_psnr(sr, hr), pooled, rel_tol=1e-3)
    assert depth_psnr(torch.full((1, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.6)) == pytest.approx(20.0)


@pytest.mark.parametrize("bad", [dict(sr=torch.rand(2, 1, 8, 8), hr=torch.rand(2, 1, 8, 9), shave=0),
                                 dict(sr=torch.rand(1, 8, 8), hr=torch.rand(1, 8, 8), shave=0),
                                 dict(sr=torch.rand(2, 1, 8, 8), hr=torch.rand(2, 1, 8, 8), shave=4)])
def test_depth_psnr_refuses_mismatched_shapes_and_whole_shaves(bad):
    with pytest.raises(ValueError, match="depth_psnr|shave"):
        depth_psnr(**bad)


def test_with_tv_adds_the_weighted_total_variation_of_the_output_only():
    g = torch.Generator().manual_seed(1)
    sr, hr = (torch.rand(2, 3, 8, 8, generator=g, dtype=torch.float64) for _ in range(2))
    mse = lambda a, b: F.mse_loss(a, b)  # noqa: E731
    assert with_tv(mse, 0.0) is mse
    assert SRGAN_TV_WEIGHT == 2e-8                        # the report's weight, the default
    assert with_tv(mse)(sr, hr).item() == pytest.approx(mse(sr, hr).item() + 2e-8 * tv_loss(sr).item(), rel=1e-12)
    w = 0.3
    loss = with_tv(mse, w)
    assert loss(sr, hr).item() == pytest.approx(mse(sr, hr).item() + w * tv_loss(sr).item(), rel=1e-6)
    # the term reads sr, not hr: a flat output adds nothing, a flat target changes only the MSE part
    flat = torch.full_like(sr, 0.5)
    assert loss(flat, hr).item() == pytest.approx(mse(flat, hr).item(), rel=1e-6)
    assert loss(sr, flat).item() - mse(sr, flat).item() == pytest.approx(w * tv_loss(sr).item(), rel=1e-5)
    # its gradient smooths: a step against it lowers the output's TV
    x = sr.clone().requires_grad_(True)
    with_tv(lambda a, b: 0 * a.sum(), 1.0)(x, hr).backward()
    assert tv_loss(sr - 0.01 * x.grad.sign()) < tv_loss(sr)
    with pytest.raises(ValueError, match="tv_weight"):
        with_tv(mse, -1e-8)


def test_ocean_dataset_splits_are_disjoint_and_reproducible():
    tr = ocean_dataset("train", 3, n=32)
    again = ocean_dataset("train", 5, n=32)
    assert torch.equal(tr["images"], again["images"][:3])  # sample i does not depend on count
    te = ocean_dataset("test", 3, n=32)
    assert not set(tr["seeds"]) & set(te["seeds"]) & set(ocean_dataset("dev", 3, n=32)["seeds"])
    assert not set(tr["seeds"]) & set(te["seeds"])
    assert tr["images"].shape == (3, 1, 32, 32)
    assert ((tr["wind_speed"] >= 8) & (tr["wind_speed"] <= 24)).all()
    assert set(SPLITS) == {"train", "dev", "test"}
    with pytest.raises(ValueError, match="split must be one of"):
        ocean_dataset("validation", 2)


def test_ocean_dataset_in_chunks_and_without_heights_gives_the_same_surfaces():
    whole = ocean_dataset("dev", 7, n=32, chunk=7)
    for chunk in (1, 3):
        part = ocean_dataset("dev", 7, n=32, chunk=chunk)
        for k in ("images", "heights", "lo", "span", "wind_speed", "wind_direction"):
            assert torch.equal(part[k], whole[k]), (chunk, k)
        assert part["seeds"] == whole["seeds"]
    lean = ocean_dataset("dev", 7, n=32, chunk=2, heights=False)
    assert "heights" not in lean and torch.equal(lean["images"], whole["images"])
    # the depth image still gives the heights back, to within the 8-bit rounding
    back = lean["lo"][:, None, None] + lean["span"][:, None, None] * lean["images"][:, 0]
    assert (back - whole["heights"]).abs().max() <= lean["span"].max() / 510 + 1e-5
    with pytest.raises(ValueError, match="chunk"):
        ocean_dataset("dev", 2, chunk=0)


# ---- power spectrum --------------------------------------------------------------------------

def test_average_power_spectrum_of_a_sinusoid_peaks_at_its_frequency():
    n = 64
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    for f in (4, 10, 25):
        img = torch.cos(2 * math.pi * f * x / n)[None, None].double()
        freqs, power = average_power_spectrum(img)
        assert freqs.shape == power.shape == (n // 2 + 1,)
        assert power.argmax().item() == f and math.isclose(freqs[f].item(), f / n)
        assert power[0] < 1e-20  # the mean is removed


def test_average_power_spectrum_is_normalised_per_image():
    torch.manual_seed(0)
    a = torch.rand(1, 1, 32, 32)
    _, pa = average_power_spectrum(a)
    _, pb = average_power_spectrum(100 * a + 7)  # scale and offset do not matter once normalised
    assert torch.allclose(pa, pb)
    _, raw = average_power_spectrum(100 * a, normalize=False)
    assert not torch.allclose(raw, pa)


def test_average_power_spectrum_tells_smooth_from_sharp():
    torch.manual_seed(0)
    noise = torch.rand(4, 1, 64, 64)
    blurred = F.avg_pool2d(F.pad(noise, (2, 2, 2, 2), mode="circular"), 5, stride=1)
    _, pn = average_power_spectrum(noise)
    _, pbl = average_power_spectrum(blurred)
    assert pbl[-8:].sum() < 0.25 * pn[-8:].sum()  # blurring removes the high frequencies
    with pytest.raises(ValueError, match="expects"):
        average_power_spectrum(torch.rand(3, 4, 4))


def test_missing_srresnet_checkpoint_names_its_script(tmp_path):
    from course_utils.checkpoints import CheckpointError
    from course_utils.evaluate import sr_method
    with pytest.raises(CheckpointError, match="train_srgan.py srresnet-x4"):
        sr_method("srresnet-x4", checkpoint_dir=tmp_path)(torch.rand(1, 3, 6, 6), 4)


def test_srresnet_is_an_rgb_method_of_the_evaluator(tmp_path):
    from course_utils.checkpoints import save_checkpoint
    from course_utils.evaluate import evaluate_images
    from course_utils.evaluate import sr_method
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "srresnet-x4.pt", SRResNet().state_dict(), name="srresnet-x4",
                    meta={"command": "test", "steps": 0, "seconds": 0.0, "note": "test", "val_psnr": 0.0},
                    half=True)
    method = sr_method("srresnet-x4", checkpoint_dir=tmp_path)
    r = evaluate_images(method, [torch.rand(1, 3, 24, 28)], 4, rgb=True)
    assert r["images"] == 1 and math.isfinite(r["psnr"])


def test_benchmark_judges_the_srresnet_target_from_the_numbers():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "sr_checkpoints.py"
    spec = importlib.util.spec_from_file_location("sr_checkpoints", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = {("srresnet-x4", "Set5", 4): {"psnr": 29.5}, ("srgan-x4", "Set5", 4): {"psnr": 27.25}}
    lines = bench.targets(rows).splitlines()
    assert "| srresnet-x4 x4 >= 30.0 | 29.50 | 30.00 | no |" in lines
    assert "| srgan-x4 x4 < srresnet-x4 | 27.25 | 29.50 | yes |" in lines
    rows[("srresnet-x4", "Set5", 4)] = {"psnr": 30.2}
    assert "| srresnet-x4 x4 >= 30.0 | 30.20 | 30.00 | yes |" in bench.targets(rows).splitlines()


@pytest.mark.parametrize("train", [False, True])
def test_interpolator_initialisation_enlarges_the_input(train):
    from course_utils.srgan import init_as_interpolator
    torch.manual_seed(0)
    net = init_as_interpolator(SRResNet(blocks=3)).train(train)
    x = torch.full((2, 3, 8, 8), 0.5)
    x[1, 1] = 0.2  # another colour: channels stay apart
    with torch.no_grad():
        y = net(x)
        h0 = net.head(x)
        assert torch.allclose(net.body_end(net.body(h0)) + h0, h0)  # the body starts as the identity
    inner = y[..., 8:-8, 8:-8]
    assert torch.allclose(inner[1, 1], torch.full_like(inner[1, 1], 0.2), atol=1e-5)
    assert torch.allclose(inner[0], torch.full_like(inner[0], 0.5), atol=1e-5)
    # a step edge stays an edge (no content is invented, nothing is lost)
    e = torch.zeros(1, 3, 8, 8)
    e[..., 4:] = 1.0
    with torch.no_grad():
        ye = net(e)[0, 0, 16]
    assert ye[3:12].abs().max() < 1e-5 and (ye[20:28] - 1).abs().max() < 1e-5  # 3 px: the border
    assert (ye[12:20].diff() >= -1e-6).all()  # monotone across the edge


def _train_srgan_module():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "data_scripts" / "train_srgan.py"
    spec = importlib.util.spec_from_file_location("train_srgan", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_srgan_deadline_stops_before_any_update():
    import time as _time
    mod = _train_srgan_module()
    calls = []
    step = mod.deadline_step(lambda b: calls.append(b) or {"loss": 0.0}, None)
    assert step(1) == {"loss": 0.0} and calls == [1]
    late = mod.deadline_step(lambda b: calls.append(b) or {"loss": 0.0}, _time.time() - 1)
    with pytest.raises(KeyboardInterrupt):
        late(2)
    assert calls == [1]  # the step past the deadline never ran
    assert mod.run_id(["srresnet-x4", 650]) != mod.run_id(["srresnet-x4", 651])


# ---- height-field models, augmentation and their training script -----------------------------

def test_scale_8_srresnet_has_three_subpixel_stages_and_one_channel():
    net = SRResNet(channels=1, scale=8)
    assert len(net.upsample) == 3
    assert net.head[0].in_channels == 1 and net.tail.out_channels == 1
    # one more stage than x4 (Conv3x3 64 -> 256 + bias + 64 PReLU slopes), and 1-channel ends
    extra = 9 * 64 * 256 + 256 + 64
    ends = (81 * 3 * 64 + 81 * 64 * 3 + 3) - (81 * 1 * 64 + 81 * 64 * 1 + 1)
    assert count_parameters(net) == count_parameters(SRResNet()) + extra - ends


def test_to_grey_computes_the_rgb_model_on_a_copied_grey_image():
    from course_utils.srgan import to_grey
    torch.manual_seed(0)
    rgb = SRResNet(blocks=2, scale=4)
    for m in rgb.modules():       # non-trivial batch-norm statistics, so eval mode matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    rgb.tail.weight.data[1] *= -2   # output channels that differ: the mean is what matters
    rgb.eval()
    grey = to_grey(rgb)
    assert grey.head[0].in_channels == 1 and grey.tail.out_channels == 1 and not grey.training
    x = torch.rand(2, 1, 6, 5)
    with torch.no_grad():
        want = rgb(x.expand(-1, 3, -1, -1)).mean(1, keepdim=True)
        assert torch.allclose(grey(x), want, atol=1e-5)
    assert rgb.head[0].in_channels == 3  # the original is untouched
    with pytest.raises(ValueError, match="RGB SRResNet"):
        to_grey(grey)


def test_homography_from_corners_maps_the_corners():
    from course_utils.heightfield import homography_from_corners
    dst = torch.tensor([[-0.9, -1.1], [1.05, -0.95], [0.9, 1.2], [-1.1, 0.8]])
    H = homography_from_corners(dst)
    src = torch.tensor([[-1., -1., 1.], [1., -1., 1.], [1., 1., 1.], [-1., 1., 1.]], dtype=torch.float64)
    q = src @ H.T
    assert torch.allclose(q[:, :2] / q[:, 2:], dst.double(), atol=1e-9)
    assert torch.allclose(homography_from_corners(src[:, :2]), torch.eye(3, dtype=torch.float64))


def test_random_warp_identity_range_reproducibility_and_affine():
    from course_utils.heightfield import random_warp
    x = ocean_dataset("train", 3, n=32)["images"]
    assert torch.allclose(random_warp(x, 0.0), x, atol=1e-6)          # zero strength: identity
    g = lambda: torch.Generator().manual_seed(3)                        # noqa: E731
    y = random_warp(x, 0.25, generator=g())
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1         # stays in [0, 1]
    assert (y - x).abs().mean() > 0.01                                  # it does move the content
    assert torch.equal(y, random_warp(x, 0.25, generator=g()))          # same generator, same warp
    assert not torch.equal(y[0], y[1])                                  # each image its own warp
    c = torch.full((2, 1, 16, 16), 0.3)
    assert torch.allclose(random_warp(c, 0.3), c, atol=1e-6)             # a constant stays constant
    # affine: a horizontal ramp stays a linear function of position (constant second differences)
    ramp = torch.linspace(0, 1, 32).expand(1, 1, 32, 32).contiguous()
    a = random_warp(ramp, 0.05, affine=True, generator=g())[0, 0, 8:24, 8:24]
    assert a.diff(dim=1).diff(dim=1).abs().max() < 5e-6 and a.diff(dim=0).diff(dim=0).abs().max() < 5e-6
    with pytest.raises(ValueError, match="strength"):
        random_warp(x, 0.7)


def test_ocean_registry_records_and_report_numbers():
    for name, scale in (("srresnet-ocean-x4", 4), ("srresnet-ocean-x8", 8)):
        r = REGISTRY[name]
        net = build(name)
        assert isinstance(net, SRResNet) and net.scale == scale and r.scales == (scale,)
        assert net.head[0].in_channels == 1 and r.kind == "heightfield"
        bic, model = r.report[scale]["bicubic"], r.report[scale]["model"]
        assert model[0] > bic[0] and model[1] > bic[1] and model[2] < bic[2]  # Table 4: model wins
    # the gains the issue quotes from the report's Table 4
    assert math.isclose(REGISTRY["srresnet-ocean-x4"].report[4]["model"][0]
                        - REGISTRY["srresnet-ocean-x4"].report[4]["bicubic"][0], 4.2, abs_tol=1e-9)
    assert math.isclose(REGISTRY["srresnet-ocean-x8"].report[8]["model"][0]
                        - REGISTRY["srresnet-ocean-x8"].report[8]["bicubic"][0], 7.4, abs_tol=1e-9)


def _train_heightfield_module():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "data_scripts" / "train_heightfield.py"
    spec = importlib.util.spec_from_file_location("train_heightfield", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_heightfield_until_stops_resumes_and_ships(tmp_path, capsys):
    import time as _time
    from datetime import datetime, timezone
    from course_utils.checkpoints import load_checkpoint
    mod = _train_heightfield_module()
    now = datetime(2026, 1, 2, 10, 30, tzinfo=timezone.utc)
    assert mod.until_timestamp("11:15", now) - now.timestamp() == 45 * 60
    assert mod.until_timestamp(None) is None
    with pytest.raises(SystemExit, match="HH:MM"):
        mod.until_timestamp("3pm")
    args = ["srresnet-ocean-x8", "--steps", "3", "--batch", "2", "--patch", "32", "--n-train", "4",
            "--n-dev", "2", "--val-every", "100", "--ckpt-every", "1", "--out", str(tmp_path),
            "--runs-dir", str(tmp_path / "runs")]
    past = _time.strftime("%H:%M", _time.gmtime(_time.time() - 120))
    if past > _time.strftime("%H:%M", _time.gmtime()):   # just after midnight: no "past" today
        pytest.skip("the deadline test needs a time earlier today")
    # a deadline already past: no step runs, nothing is shipped, the work file is there
    assert mod.main(args + ["--until", past]) == 1
    assert not (tmp_path / "srresnet-ocean-x8.pt").exists()
    work = list((tmp_path / "runs").glob("srresnet-ocean-x8_*/work.pt"))
    assert len(work) == 1
    # the same command without the deadline resumes that work file; --ship ships the checkpoint
    assert mod.main(args + ["--ship"]) == 0
    assert "resuming from" in capsys.readouterr().out
    ck = load_checkpoint(tmp_path / "srresnet-ocean-x8.pt", name="srresnet-ocean-x8")
    assert ck["meta"]["steps"] == 3 and ck.get("stored", "float32") == REGISTRY["srresnet-ocean-x8"].storage
    assert "dev" in ck["meta"]["val_images"] and "test" not in ck["meta"]["val_images"]
    build("srresnet-ocean-x8").load_state_dict(ck["state_dict"])


def test_train_heightfield_never_touches_the_shipped_file_without_ship(tmp_path, capsys):
    """``--steps 0`` used to overwrite checkpoints/NAME.pt and its .sha256 (exit 0)."""
    mod = _train_heightfield_module()
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "srresnet-ocean-x8.pt").write_bytes(b"the shipped weights")
    (shipped / "srresnet-ocean-x8.pt.sha256").write_text("the shipped digest\n")
    args = ["srresnet-ocean-x8", "--batch", "2", "--patch", "32", "--n-train", "4", "--n-dev", "2",
            "--out", str(shipped), "--runs-dir", str(tmp_path / "runs")]
    assert mod.main(args + ["--steps", "0"]) == 0          # a run of 0 steps: its result stays in its folder
    assert mod.main(args + ["--steps", "0", "--ship"]) == 1   # --ship refuses: nothing was trained
    assert "not shipped: the run trained 0 steps" in capsys.readouterr().err
    assert (shipped / "srresnet-ocean-x8.pt").read_bytes() == b"the shipped weights"
    assert (shipped / "srresnet-ocean-x8.pt.sha256").read_text() == "the shipped digest\n"
    assert len(list((tmp_path / "runs").glob("srresnet-ocean-x8_*/srresnet-ocean-x8.pt"))) == 1


@pytest.mark.parametrize("bad", [["--val-every", "0"], ["--threads", "0"], ["--batch", "0"],
                                 ["--steps", "-1"], ["--patch", "30"], ["--until", "3pm"]])
def test_train_heightfield_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, bad):
    mod = _train_heightfield_module()
    args = ["srresnet-ocean-x8", "--steps", "1", "--n-train", "2", "--n-dev", "1",
            "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as e:   # argparse's own exit, or guarded()'s return value
        raise SystemExit(mod.main(args + bad))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "error: " in err.strip().splitlines()[-1] and "Traceback" not in err  # (argparse: usage, then the line)
    assert not list(tmp_path.glob("*.pt"))


@pytest.mark.parametrize("argv, why", [
    (["srgan-x4", "--steps", "1", "--tv", "-1"], "--tv -1.0: give a weight >= 0"),
    (["srgan-x4", "--steps", "1", "--tv", "nan"], "--tv nan: give a weight >= 0"),
    (["srgan-x4", "--steps", "1", "--tv", "2e-8", "--content", "mse"], "--tv adds to a VGG content loss"),
    (["srresnet-x4", "--steps", "1", "--tv", "2e-8"], "--tv adds to a VGG content loss"),
])
def test_train_srgan_tv_option_refuses_what_it_cannot_do(argv, why, capsys):
    mod = _train_srgan_module()
    with pytest.raises(SystemExit) as e:
        mod._main(argv)
    assert e.value.code == 2 and why in capsys.readouterr().err
