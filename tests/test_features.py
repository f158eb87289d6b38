"""course_utils.features: layer names, truncation, the weight-loading path, the offline fallback,
the Gram matrix and the losses. Nothing here touches the network: ImageNet weights are a small
random file the test writes into a temporary TORCH_HOME, and downloads are patched to fail."""
import urllib.error
import urllib.request

import pytest
import torch
from torch import nn
import torch.nn.functional as F
from torchvision.models.vgg import cfgs, make_layers

from course_utils import download, features
from course_utils.features import (GATYS_CONTENT, GATYS_STYLE, JOHNSON_STYLE, RANDOM_CHANNELS,
                                   SRGAN_LAYERS, RandomFeatures, VGGFeatures, build_vgg,
                                   content_loss, gram, layer_names, load_features,
                                   matched_content_weight, perceptual_loss, style_loss, tv_loss)


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """An empty torch hub cache and downloads that fail at once; no memory of earlier failures."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("COURSE_FEATURES", raising=False)
    monkeypatch.setattr(features, "_IMAGENET_FAILED", {})

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in the tests")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tmp_path


# ---- layer names and shapes --------------------------------------------------------------------

@pytest.mark.parametrize("arch, cfg", [("vgg19", "E"), ("vgg16", "D")])
def test_layer_names_match_torchvision_modules(arch, cfg):
    names = layer_names(arch)
    tv = make_layers(cfgs[cfg])  # torchvision's own `features` (no weights)
    assert len(names) == len(tv) == len(build_vgg(arch))
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for name, module in zip(names, tv):
        assert isinstance(module, kinds[name[:4]]), (name, module)
    assert build_vgg(arch).state_dict().keys() == tv.state_dict().keys()
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]


def test_paper_layer_sets_exist():
    assert SRGAN_LAYERS == {"VGG22": "relu2_2", "VGG54": "relu5_4"}
    assert set(SRGAN_LAYERS.values()) | set(GATYS_STYLE) | {GATYS_CONTENT} <= set(layer_names())
    assert set(JOHNSON_STYLE) <= set(layer_names("vgg16"))
    assert "relu5_4" not in layer_names("vgg16") and "relu5_3" in layer_names("vgg16")


@pytest.mark.parametrize("arch, deepest", [("vgg19", "relu5_4"), ("vgg16", "relu5_3")])
def test_vgg_feature_shapes(arch, deepest):
    layers = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", deepest]
    out = VGGFeatures(layers, arch)(torch.rand(2, 3, 32, 48))
    assert list(out) == layers
    widths = [64, 128, 256, 512, 512]
    for i, name in enumerate(layers):
        assert out[name].shape == (2, widths[i], 32 >> i, 48 >> i), name
        assert (out[name] >= 0).all()  # after ReLU


def test_unknown_layer_is_refused_with_the_names():
    with pytest.raises(KeyError, match="relu1_1"):
        VGGFeatures(["relu5_4"], "vgg16")
    with pytest.raises(KeyError, match="relu5_4"):
        RandomFeatures(["relu6_1"])


# ---- truncation, frozen weights, input checks --------------------------------------------------

def test_truncated_after_the_deepest_requested_layer():
    feats = VGGFeatures(["relu1_1", "relu2_2"])
    assert len(feats.body) == layer_names().index("relu2_2") + 1 == 9
    assert isinstance(feats.body[-1], nn.ReLU)
    n_weights = sum(p.numel() for p in feats.parameters())
    assert n_weights == 1_792 + 36_928 + 73_856 + 147_584  # conv1_1 .. conv2_2 only
    assert list(build_vgg("vgg16", upto="pool1").state_dict()) == list(
        build_vgg("vgg16").state_dict())[:4]
    assert not any(p.requires_grad for p in feats.parameters())


def test_repeated_names_are_computed_once():
    layers = JOHNSON_STYLE + ("relu2_2",)  # Johnson's style layers and his content layer
    for feats in (VGGFeatures(layers, "vgg16"), RandomFeatures(layers, "vgg16")):
        assert feats.layers == JOHNSON_STYLE
        assert list(feats(torch.rand(1, 3, 16, 16), ["relu2_2", "relu2_2"])) == ["relu2_2"]


def test_forward_on_a_subset_stops_early():
    feats = VGGFeatures(["relu1_1", "relu3_1"])
    calls = []
    for i, m in enumerate(feats.body):
        m.register_forward_hook(lambda mod, inp, out, i=i: calls.append(i))
    out = feats(torch.rand(1, 3, 16, 16), ["relu1_1"])
    assert list(out) == ["relu1_1"] and calls == [0, 1]
    with pytest.raises(KeyError, match="load_features"):
        feats(torch.rand(1, 3, 16, 16), ["relu4_1"])


def test_gradient_reaches_the_image_only():
    feats = VGGFeatures(["relu2_1"])
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    feats(x)["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in feats.parameters())


def test_imagenet_normalisation_inside_and_input_checks():
    feats = VGGFeatures(["conv1_1"])
    mean = torch.tensor(features.IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    conv = feats.body[0]
    # the ImageNet mean image is 0 after normalisation: conv1_1 outputs its bias (zero) inside
    interior = feats(mean)["conv1_1"][..., 1:-1, 1:-1]
    assert torch.allclose(interior, conv.bias.view(1, -1, 1, 1).expand_as(interior), atol=1e-5)
    grey = torch.rand(1, 1, 8, 8)
    assert torch.equal(feats(grey)["conv1_1"], feats(grey.expand(1, 3, 8, 8))["conv1_1"])
    with pytest.raises(ValueError, match="255"):
        feats(torch.rand(1, 3, 8, 8) * 255)
    with pytest.raises(ValueError, match="N, 3, H, W"):
        feats(torch.rand(3, 8, 8))


# ---- the loading path and the choice of source -------------------------------------------------

def _fake_torchvision_file(hub_dir, arch: str) -> dict:
    """A random state_dict in torchvision's layout, saved where its weights API caches it."""
    from torchvision.models import VGG16_Weights, VGG19_Weights
    url = {"vgg19": VGG19_Weights, "vgg16": VGG16_Weights}[arch].IMAGENET1K_V1.url
    state = {f"features.{k}": torch.randn_like(v) for k, v in build_vgg(arch).state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # other keys of the file are ignored
    path = hub_dir / "checkpoints" / url.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return state


@pytest.mark.parametrize("arch", ["vgg19", "vgg16"])
def test_cached_weights_are_loaded_and_marked_imagenet(no_network, capsys, arch, monkeypatch):
    state = _fake_torchvision_file(no_network / "torch" / "hub", arch)
    # the file's sha256 as torchvision's genuine file would have it (the hash in its name)
    monkeypatch.setattr(features, "sha256sum", lambda path: path.name.split("-")[1].split(".")[0] + "0" * 56)
    feats = load_features(["relu1_1", "relu2_2"], arch=arch)
    label = {"vgg19": "VGG-19", "vgg16": "VGG-16"}[arch]
    assert isinstance(feats, VGGFeatures) and feats.imagenet
    assert feats.source == f"features: ImageNet {label}"
    assert f"features: ImageNet {label}" in capsys.readouterr().out
    assert torch.equal(feats.body[2].weight, state["features.2.weight"])
    assert len(feats.body) == 9  # truncated after relu2_2


@pytest.mark.parametrize("arch", ["vgg19", "vgg16"])
def test_weights_file_not_torchvisions_is_loaded_but_labelled_unverified(no_network, capsys, arch):
    """A file in the cache whose sha256 does not match its name (random weights put there by a
    test, a truncated copy) is used, and every label says they are not the ImageNet weights."""
    state = _fake_torchvision_file(no_network / "torch" / "hub", arch)
    feats = load_features(["relu1_1", "relu2_2"], arch=arch)
    label = {"vgg19": "VGG-19", "vgg16": "VGG-16"}[arch]
    assert isinstance(feats, VGGFeatures) and not feats.imagenet
    assert feats.source.startswith(f"features: {label} from an unverified {arch}-")
    assert "ImageNet" not in feats.source
    assert "does not match" in capsys.readouterr().out
    assert torch.equal(feats.body[2].weight, state["features.2.weight"])


def test_offline_fallback_is_chosen_and_labelled(no_network, capsys):
    feats = load_features(GATYS_STYLE)
    out = capsys.readouterr().out
    assert isinstance(feats, RandomFeatures) and not feats.imagenet
    assert feats.source == "features: random multi-scale (offline)"
    assert "random multi-scale (offline)" in out and "not used" in out
    assert "download.py vgg19" in out
    # the failure is remembered: a second load does not try the network again
    def must_not_be_called(*a, **k):
        raise AssertionError("tried the network twice")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(torch.hub, "download_url_to_file", must_not_be_called)
        assert isinstance(load_features(["relu1_1"], verbose=False), RandomFeatures)


def test_imagenet_required_raises_with_what_to_do(no_network):
    with pytest.raises(download.DownloadError, match="VGG-16"):
        load_features(["relu1_1"], arch="vgg16", source="imagenet")


def test_course_features_env_forces_the_fallback(no_network, monkeypatch):
    _fake_torchvision_file(no_network / "torch" / "hub", "vgg19")
    monkeypatch.setenv("COURSE_FEATURES", "random")
    assert isinstance(load_features(["relu1_1"], verbose=False), RandomFeatures)
    monkeypatch.setenv("COURSE_FEATURES", "imagenet")
    assert isinstance(load_features(["relu1_1"], verbose=False), VGGFeatures)
    monkeypatch.setenv("COURSE_FEATURES", "gpu")
    with pytest.raises(ValueError, match="COURSE_FEATURES"):
        load_features(["relu1_1"])


def test_weights_not_cached_and_download_off_says_what_to_run(no_network):
    with pytest.raises(download.DownloadError, match="download.py vgg16"):
        download.vgg19_weights(download=False, arch="vgg16")


# ---- the seeded fallback -----------------------------------------------------------------------

def test_fallback_is_deterministic_and_leaves_the_global_rng_alone():
    x = torch.rand(1, 3, 32, 32)
    state = torch.get_rng_state()
    a = RandomFeatures(GATYS_STYLE, seed=0)(x)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(123)  # the global seed does not matter
    b = RandomFeatures(GATYS_STYLE, seed=0)(x)
    c = RandomFeatures(GATYS_STYLE, seed=1)(x)
    assert all(torch.equal(a[k], b[k]) for k in GATYS_STYLE)
    assert not torch.allclose(a["relu1_1"], c["relu1_1"])
    # a layer's filters do not depend on which other layers were requested
    assert torch.equal(RandomFeatures(["relu3_1"], seed=0)(x)["relu3_1"], a["relu3_1"])


def test_fallback_shapes_follow_vgg_resolution_by_block():
    x = torch.rand(2, 3, 64, 48)
    names = ["relu1_2", "relu2_2", "relu3_3", "relu4_2", "relu5_4", "conv3_1", "pool2"]
    out = RandomFeatures(names)(x)
    for name in ["relu1_2", "relu2_2", "relu3_3", "relu4_2", "relu5_4"]:
        b = int(name[4])
        assert out[name].shape == (2, RANDOM_CHANNELS, 64 >> (b - 1), 48 >> (b - 1)), name
        assert (out[name] >= 0).all()
    assert (out["conv3_1"] < 0).any()  # before the ReLU
    assert out["pool2"].shape[-2:] == (16, 12)
    full = RandomFeatures(["relu4_1"], pooled=False)(x)["relu4_1"]
    assert full.shape == (2, RANDOM_CHANNELS, 64, 48)


# ---- the Gram matrix ---------------------------------------------------------------------------

def test_gram_by_hand():
    f = torch.tensor([[[[1., 2.], [3., 4.]], [[0., 1.], [1., 0.]]]])  # N=1, C=2, H=W=2
    expected = torch.tensor([[[30., 5.], [5., 2.]]]) / (2 * 2 * 2)  # / (C H W)
    assert torch.allclose(gram(f), expected)


def test_gram_symmetric_psd_and_blind_to_where_things_are():
    f = torch.randn(3, 5, 6, 7)
    g = gram(f)
    assert g.shape == (3, 5, 5)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.linalg.eigvalsh(g.double()).min() > -1e-10
    perm = torch.randperm(6 * 7)
    shuffled = f.flatten(2)[..., perm].view_as(f)  # the same permutation for every channel
    assert torch.allclose(gram(shuffled), g, atol=1e-6)
    assert torch.allclose(gram(f[1:2]), g[1:2])  # images do not mix
    assert torch.allclose(gram(torch.cat([f, f], dim=3)), g, atol=1e-6)  # size-normalised


# ---- losses ------------------------------------------------------------------------------------

def test_content_loss():
    fy = torch.randn(1, 4, 5, 5)
    fx = torch.randn(1, 4, 5, 5)
    assert content_loss(fy, fy) == 0
    assert torch.isclose(content_loss(torch.zeros_like(fy), fy), torch.tensor(1.0))
    assert torch.isclose(content_loss(fx, fy, normalize=False), ((fx - fy) ** 2).mean())
    fx2 = torch.cat([fx, fx])
    assert torch.isclose(content_loss(fx2, fy), content_loss(fx, fy))  # y broadcast over N


def test_style_loss():
    fx = {"a": torch.rand(2, 3, 4, 4), "b": torch.rand(2, 6, 2, 2)}
    fy = {"a": torch.rand(1, 3, 4, 4), "b": torch.rand(1, 6, 2, 2)}
    gy = {k: gram(v) for k, v in fy.items()}
    assert style_loss(fy, gy) == 0
    raw = sum(((gram(fx[k]) - gy[k]) ** 2).sum(dim=(1, 2)).mean() for k in gy)
    assert torch.isclose(style_loss(fx, gy, normalize=False), raw)
    rel = sum(((gram(fx[k]) - gy[k]) ** 2).sum(dim=(1, 2)).mean() / (gy[k] ** 2).sum() for k in gy)
    assert torch.isclose(style_loss(fx, gy), rel)
    weighted = style_loss(fx, gy, weights={"a": 2.0, "b": 0.0}, normalize=False)
    assert torch.isclose(weighted, 2 * ((gram(fx["a"]) - gy["a"]) ** 2).sum(dim=(1, 2)).mean())


def test_perceptual_loss_is_srgan_rescaled_mse_with_gradient_to_sr_only():
    feats = VGGFeatures(["relu1_1", "relu2_2"])
    sr = torch.rand(2, 3, 16, 16, requires_grad=True)
    hr = torch.rand(2, 3, 16, 16, requires_grad=True)
    loss = perceptual_loss(feats, sr, hr, "relu2_2")
    with torch.no_grad():
        f = feats(torch.cat([sr, hr]))["relu2_2"]
    assert torch.isclose(loss, ((f[:2] - f[2:]) ** 2).mean() / 12.75 ** 2, rtol=1e-4)
    loss.backward()
    assert sr.grad.abs().sum() > 0 and hr.grad is None


def test_tv_loss():
    assert tv_loss(torch.full((1, 3, 5, 5), 0.7)) == 0
    stripes = torch.tensor([[[[0., 1.], [0., 1.]]]])  # horizontal jumps of 1, vertical of 0
    assert torch.isclose(tv_loss(stripes), torch.tensor(1.0))
    assert torch.isclose(tv_loss(stripes.transpose(2, 3)), torch.tensor(1.0))


def test_matched_content_weight_brings_the_feature_loss_to_the_pixel_mse():
    feats = load_features(["relu2_2", "relu5_4"], source="random")
    g = torch.Generator().manual_seed(3)
    hr = torch.rand(2, 3, 48, 48, generator=g)
    blurred = F.avg_pool2d(F.pad(hr, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    for layer in ("relu2_2", "relu5_4"):
        w = matched_content_weight(feats, blurred, hr, layer)
        # the definition: w x feature loss equals the pixel MSE on the pairs it was measured on
        assert w * perceptual_loss(feats, blurred, hr, layer).item() == pytest.approx(
            F.mse_loss(blurred, hr).item(), rel=1e-5)
    # the offline relu5_4 loss is far smaller than the MSE: the weight is large (the reason it exists)
    assert matched_content_weight(feats, blurred, hr, "relu5_4") > 10
    with pytest.raises(ValueError, match="differ"):
        matched_content_weight(feats, hr, hr, "relu5_4")
