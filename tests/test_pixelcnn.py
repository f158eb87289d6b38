"""course_utils.pixelcnn: causal masks, the blind spot, the gated PixelCNN, losses and samplers."""
import math

import pytest
import torch

from course_utils.pixelcnn import (CondResNet, GatedPixelCNN, PixelSR, PlainPixelCNN, bits_per_dim,
                                   causal_mask, down_shift, pixel_sr_losses, prior_window, quantise,
                                   receptive_field, sample, to_levels)


def _fields(net, size):
    torch.manual_seed(0)
    x = torch.rand(1, 1, size, size)
    return [receptive_field(net, x, *divmod(i, size)).flatten() for i in range(size * size)]


def test_causal_mask_values():
    assert causal_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert causal_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    assert causal_mask(1, "A").tolist() == [[0]] and causal_mask(1, "B").tolist() == [[1]]
    assert causal_mask(5, "B").sum() == 13


@pytest.mark.parametrize("k, kind", [(4, "A"), (3, "C")])
def test_causal_mask_rejects_bad_arguments(k, kind):
    with pytest.raises(ValueError, match="odd k"):
        causal_mask(k, kind)


@pytest.mark.parametrize("make", [lambda: PlainPixelCNN(4, 3, K=3), lambda: GatedPixelCNN(4, 3, K=3)],
                         ids=["plain", "gated"])
def test_pixelcnns_are_causal(make):
    torch.manual_seed(1)
    net = make().double()
    for i, g in enumerate(_fields(net, 7)):
        assert (g[i:] == 0).all(), f"output {divmod(i, 7)} depends on a later input pixel"
        if i % 7 > 0:
            assert g[i - 1] != 0, "each output sees its left neighbour"


def test_a_leaky_shift_breaks_causality():
    # the causality test can fail: without the row shift the vertical stack leaks the current row
    torch.manual_seed(1)
    net = GatedPixelCNN(4, 3, K=3, shift=lambda v: v).double()
    assert any((g[i:] != 0).any() for i, g in enumerate(_fields(net, 6)))


def test_plain_has_a_blind_spot_gated_does_not():
    torch.manual_seed(2)
    plain, gated = PlainPixelCNN(8, 5, K=4).double(), GatedPixelCNN(8, 5, K=4).double()
    x = torch.rand(1, 1, 15, 15)
    rp, rg = receptive_field(plain, x, 7, 7), receptive_field(gated, x, 7, 7)
    assert rp[6, 8] != 0 and rp[6, 9] == 0 and rp[4, 11] == 0          # the blind wedge
    assert (rg[2:7, 2:13] != 0).all() and (rg[7, 2:7] != 0).all()      # every pixel above in reach


def test_down_shift():
    v = torch.arange(12.0).reshape(1, 1, 3, 4)
    assert down_shift(v)[0, 0].tolist() == [[0, 0, 0, 0], [0, 1, 2, 3], [4, 5, 6, 7]]


def test_levels_and_losses():
    x = torch.tensor([0.0, 0.2, 0.5, 0.9, 1.0]).reshape(1, 1, 1, 5)
    assert to_levels(x, 4).tolist() == [[[0, 1, 2, 3, 3]]]
    assert torch.allclose(quantise(x, 4), torch.tensor([0, 1 / 3, 2 / 3, 1, 1]).reshape(1, 1, 1, 5))
    assert bits_per_dim(torch.zeros(2, 4, 3, 3), torch.rand(2, 1, 3, 3), 4) == pytest.approx(2.0)
    torch.manual_seed(0)
    model = PixelSR(GatedPixelCNN(4, 2, K=4), CondResNet(2, 4, 1, K=4))
    hr = quantise(torch.rand(3, 1, 8, 8), 4)
    losses = pixel_sr_losses(model, hr, torch.rand(3, 1, 4, 4), 4)
    assert torch.isclose(losses["loss"], losses["ce_both"] + losses["ce_cond"])
    assert 0.5 * math.log(4) < losses["ce_cond"].item() < 2 * math.log(4)


def test_cond_resnet_shapes():
    assert CondResNet(4, 8, 1, K=5)(torch.rand(2, 1, 7, 7)).shape == (2, 5, 28, 28)
    with pytest.raises(ValueError, match="power-of-2"):
        CondResNet(3)


def test_windowed_sampler_matches_the_naive_one():
    torch.manual_seed(3)
    model = PixelSR(GatedPixelCNN(6, 3, K=4), CondResNet(2, 6, 1, K=4)).eval()
    lr = torch.rand(2, 1, 5, 5)
    w = prior_window(model.prior)
    # the prior's logits on the window equal those on the whole image, row by row
    y = quantise(torch.rand(2, 1, 10, 10), 4)
    full = model.prior(y)
    for i in range(10):
        r0 = max(0, i + 1 - w)
        assert torch.allclose(model.prior(y[:, :, r0:i + 1])[:, :, i - r0], full[:, :, i], atol=1e-5)
    naive = sample(model, lr, 4, 1.0, torch.Generator().manual_seed(5), scale=2)
    fast = sample(model, lr, 4, 1.0, torch.Generator().manual_seed(5), scale=2, window=w)
    assert torch.equal(naive, fast)
    assert set((naive * 3).round().unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    other = sample(model, lr, 4, 1.0, torch.Generator().manual_seed(6), scale=2, window=w)
    assert not torch.equal(naive, other)


def test_zero_temperature_is_greedy():
    torch.manual_seed(4)
    model = PixelSR(GatedPixelCNN(4, 2, K=3), CondResNet(2, 4, 1, K=3)).eval()
    lr = torch.rand(1, 1, 3, 3)
    a = sample(model, lr, 3, 0.0, torch.Generator().manual_seed(0), scale=2)
    b = sample(model, lr, 3, 0.0, torch.Generator().manual_seed(9), scale=2)
    assert torch.equal(a, b)
    with torch.no_grad():   # the last pixel is the argmax of its conditional given the others
        logits = model(a, lr)[0][0, :, -1, -1]
    assert a[0, 0, -1, -1].item() == pytest.approx(logits.argmax().item() / 2)
