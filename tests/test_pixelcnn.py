"""course_utils.pixelcnn: causal masks, the blind spot, the gated PixelCNN, losses and samplers."""
import math

import pytest
import torch

from course_utils.pixelcnn import (CondResNet, CondSPADE, GatedPixelCNN, PixelSR, PlainPixelCNN,
                                   bits_per_dim, cached_sample, causal_mask, digits_model, down_shift,
                                   face_crops, faces_model, gate, pixel_sr_losses, prior_window, quantise,
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


@pytest.mark.parametrize("k, T", [(3, 1.0), (5, 0.7), (3, 0.0), (3, 1.6)])
def test_cached_sampler_matches_the_naive_one(k, T):
    torch.manual_seed(7)
    model = PixelSR(GatedPixelCNN(6, 3, k=k, K=5), CondResNet(2, 6, 1, K=5)).eval()
    with torch.no_grad():   # larger weights than the initialisation: sharper, less uniform logits
        for prm in model.prior.parameters():
            prm.mul_(3)
    lr = torch.rand(3, 1, 4, 5)
    naive = sample(model, lr, 5, T, torch.Generator().manual_seed(11), scale=2)
    fast, logits = cached_sample(model, lr, 5, T, torch.Generator().manual_seed(11), scale=2,
                                 return_logits=True)
    assert fast.shape == naive.shape == (3, 1, 8, 10)
    assert torch.equal(naive, fast), f"{(naive != fast).sum().item()} pixels differ"
    with torch.no_grad():   # the logits each pixel was drawn from = one full pass on the result
        full = model(naive, lr)[0]
    assert (logits - full).abs().max().item() < 1e-4
    assert full.std() > 1, "a degenerate test: the logits hardly vary"
    if T > 0:
        other = cached_sample(model, lr, 5, T, torch.Generator().manual_seed(12), scale=2)
        assert not torch.equal(fast, other)


def test_cached_sampler_draws_what_it_drew_before_the_rewrite():
    # the shipped digits model; the hashes and level counts are those of cached_sample as of commit
    # 5565858 (torch 2.14, before its per-pixel work was cut down), which drew the naive sampler's samples
    import hashlib

    from course_utils.zoo import load_shipped
    model = load_shipped("pixelcnn-sr-digits")[0].cpu().eval()
    lr = torch.rand(2, 1, 7, 7, generator=torch.Generator().manual_seed(3))
    before = {0.8: ("219b38b82c01828d34c01d461bc69bc83e6c5d7d6e61846ce84d9541dd8d9325", [804, 140, 136, 488]),
              0.0: ("aaf839fc679b2600a9705274548fe460930b01d4c58270a0a48e88c487409f40", [853, 108, 127, 480])}
    for T, (digest, counts) in before.items():
        levels = (cached_sample(model, lr, 4, T, torch.Generator().manual_seed(4)) * 3).round().to(torch.uint8)
        assert torch.bincount(levels.flatten(), minlength=4).tolist() == counts, f"T={T}"
        assert hashlib.sha256(levels.numpy().tobytes()).hexdigest() == digest, f"T={T}"


def test_cached_sampler_draws_the_same_without_its_gumbel_shortcut(monkeypatch):
    # the draw reproduces torch.multinomial from the same random numbers; where that check fails
    # (another torch), torch.multinomial itself is called: both give the naive sampler's samples
    import course_utils.pixelcnn as pixelcnn
    torch.manual_seed(3)
    model = PixelSR(GatedPixelCNN(5, 2, K=6), CondResNet(2, 5, 1, K=6)).eval()
    lr = torch.rand(2, 1, 3, 4)
    naive = sample(model, lr, 6, 0.9, torch.Generator().manual_seed(8), scale=2)
    assert pixelcnn._multinomial_is_gumbel_max(2, 6) in (True, False)
    fast = cached_sample(model, lr, 6, 0.9, torch.Generator().manual_seed(8), scale=2)
    monkeypatch.setattr(pixelcnn, "_multinomial_is_gumbel_max", lambda n, K: False)
    plain = cached_sample(model, lr, 6, 0.9, torch.Generator().manual_seed(8), scale=2)
    assert torch.equal(naive, fast) and torch.equal(naive, plain)
    g1, g2 = torch.Generator().manual_seed(8), torch.Generator().manual_seed(8)
    sample(model, lr, 6, 0.9, g1, scale=2)
    cached_sample(model, lr, 6, 0.9, g2, scale=2)
    assert torch.equal(g1.get_state(), g2.get_state()), "the two samplers used different random numbers"


def test_cached_sampler_timings_add_up_and_change_nothing():
    torch.manual_seed(4)
    model = PixelSR(GatedPixelCNN(4, 2, K=3), CondResNet(2, 4, 1, K=3)).eval()
    lr = torch.rand(1, 1, 3, 3)
    plain = cached_sample(model, lr, 3, 1.0, torch.Generator().manual_seed(2), scale=2)
    timings = {"layers": 1.0}                  # added to, not replaced
    timed = cached_sample(model, lr, 3, 1.0, torch.Generator().manual_seed(2), scale=2, timings=timings)
    assert torch.equal(plain, timed)
    assert set(timings) == {"setup", "rows", "layers", "head", "draw"}
    assert timings["layers"] > 1.0 and all(v > 0 for v in timings.values())


def test_cached_sampler_refuses_non_finite_logits():
    torch.manual_seed(4)
    model = PixelSR(GatedPixelCNN(4, 2, K=3), CondResNet(2, 4, 1, K=3)).eval()
    with torch.no_grad():
        model.prior.out[3].bias[1] = float("nan")
    with pytest.raises(ValueError, match="not finite"):
        cached_sample(model, torch.rand(1, 1, 2, 2), 3, 1.0, torch.Generator().manual_seed(0), scale=2)


def test_digits_model_builds_its_prior_with_the_given_shift_and_gate():
    calls = []

    def my_gate(h):
        calls.append(h.shape)
        return gate(h)
    model = digits_model({"channels": 4, "layers": 2}, {"channels": 4, "blocks": 1}, shift=down_shift,
                         gate_fn=my_gate)
    reference = digits_model({"channels": 4, "layers": 2}, {"channels": 4, "blocks": 1})
    reference.load_state_dict(model.state_dict())
    hr, lr = quantise(torch.rand(2, 1, 28, 28), 4), torch.rand(2, 1, 7, 7)
    assert calls == [] and all(l.gate_fn is my_gate for l in model.prior.layers)
    with torch.no_grad():
        both, cond = model(hr, lr)
        both_ref, _ = reference(hr, lr)
    assert len(calls) == 2 * 2                       # two gates per layer, two layers
    assert torch.allclose(both, both_ref)


def test_cached_sampler_refuses_other_priors():
    model = PixelSR(GatedPixelCNN(4, 2, K=3, shift=lambda v: down_shift(v)), CondResNet(2, 4, 1, K=3))
    with pytest.raises(ValueError, match="down_shift"):
        cached_sample(model, torch.rand(1, 1, 2, 2), 3, scale=2)


def test_spade_conditioning_network():
    torch.manual_seed(0)
    net = CondSPADE(4, 8, 2, K=6)
    lr = torch.rand(3, 1, 8, 8)
    assert net(lr).shape == (3, 6, 32, 32)
    # the scale and shift come from the LR image: with fixed features, another image changes them
    x = torch.randn(3, 8, 8, 8)
    spade = net.blocks[0].n1.eval()
    assert not torch.allclose(spade(x, lr - 0.5), spade(x, lr.flip(-1) - 0.5))
    with pytest.raises(ValueError, match="power-of-2"):
        CondSPADE(3)
    # a faces model with SPADE conditioning trains: the loss drops on a fixed batch
    model = faces_model(prior=dict(channels=4, layers=2), cond=dict(channels=8, blocks=1), spade=True)
    hr = quantise(torch.rand(4, 1, 32, 32), 16)
    lr = torch.rand(4, 1, 8, 8)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(15):
        loss = pixel_sr_losses(model, hr, lr, 16)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first - 0.1


def test_face_crops():
    faces = torch.rand(2, 1, 112, 92)
    out = face_crops(faces, 32, offsets=(6, 10), flips=True)
    assert out.shape == (8, 1, 32, 32) and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out[4:], out[:4].flip(-1))                 # the mirror images come last
    assert not torch.allclose(out[0], out[2])                     # another crop offset
    with pytest.raises(ValueError, match="does not fit"):
        face_crops(faces, 32, offsets=(30,))
