"""Device bugs caught on a CPU: the library run with models and inputs on PyTorch's ``meta`` device.

A tensor created inside ``course_utils`` without ``device=`` lands on the CPU; on a GPU, mixing it
with the caller's CUDA tensors raises "Expected all tensors to be on the same device". The ``meta``
device behaves the same way (a meta tensor mixed with a CPU tensor raises), without a GPU, so every
entry point below runs with its model and tensors on ``meta``. Meta tensors hold no values, so
:class:`MetaReads` answers the few reads the code makes (``.item()``, ``float(t)``, an explicit
``.cpu()``) with placeholder values (0.5, a mask of False), as a GPU would hand back its values:
the code then runs to its end. What is checked is only *where* tensors live: a result on another
device than its inputs, or an error that names two devices, fails the test.

Entry points covered (every public function or class of the library that takes a model or a tensor;
the plotting, file and registry helpers that only move results to the CPU are not):

* color: rgb_to_ycbcr, rgb_to_y, ycbcr_to_rgb
* degrade: mod_crop, bicubic_down, bicubic_up, add_noise
* resize: nearest_kernel, linear_kernel, cubic, imresize, resample
* metrics: psnr, ssim, shave, quantize, to_y8, sr_metrics, average_power_spectrum
* evaluate: bicubic, evaluate_images (a model on the device)
* inverse: blur, decimate, H, H_T, grad, grad_T, cg, tv_objective, tv_gradient
* data: sr_pair, extract_subimages, augment
* gen_data: fit_gaussian, sample_gaussian, reconstruct_gaussian
* heightfield: phillips, to_depth_image, height_mse, depth_psnr, homography_from_corners, random_warp
* models: SRCNN, VDSR, FSRCNN, ESPCN, SubPixelConv, DCGANGenerator, DCGANDiscriminator,
  deconv_as_conv, with_subpixel, fsrcnn_to_scale, run_model, and every registry model (build)
* srgan: SRResNet, Discriminator, init_as_interpolator, to_grey, with_tv
* features: VGGFeatures, RandomFeatures, load_features(device=), gram, content_loss, style_loss,
  gatys_loss, perceptual_loss, matched_content_weight, tv_loss
* stylize: TransformNet, stylize, square, style_targets, objective
* pixelcnn: MaskedConv2d, PlainPixelCNN, GatedPixelCNN, CondResNet, CondSPADE, PixelSR
  (digits_model, faces_model), down_shift, right_shift, gate, spade_norm, face_crops, to_levels,
  quantise, pixel_sr_losses, bits_per_dim, sample, receptive_field
* train: clip_adjustable_, to_device, supervised_step, gan_step, d_loss, g_loss_minimax,
  g_loss_nonsat, train_loop, fit (with RandomBatches on the CPU, moved by the loop), amp_policy
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from course_utils import (color, data, degrade, evaluate, features, gen_data, heightfield, inverse,
                          metrics, models, pixelcnn, resize, srgan, stylize, train, zoo)

META = torch.device("meta")


class MetaReads(TorchDispatchMode):
    """Reads of meta tensors answered with placeholders, as if a GPU had answered: ``.item()`` gives
    0.5 for a float, 0 for an int and ``truth`` for a bool; a copy to the CPU (``.cpu()``,
    ``.tolist()``) gives seeded random values in [0, 1) (False for a bool)."""

    def __init__(self, truth: bool = False):
        super().__init__()
        self.truth = truth
        self.gen = torch.Generator().manual_seed(0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        t = args[0] if args else None
        if func is torch.ops.aten._local_scalar_dense.default and t.device == META:
            return self.truth if t.dtype == torch.bool else (0.5 if t.is_floating_point() else 0)
        if func is torch.ops.aten._to_copy.default and t.device == META:
            dev = kwargs.get("device")
            if dev is not None and torch.device(dev).type == "cpu":
                dtype = kwargs.get("dtype") or t.dtype
                if dtype == torch.bool:
                    return torch.zeros(t.shape, dtype=dtype)
                return torch.rand(t.shape, generator=self.gen).to(dtype)
        return func(*args, **kwargs)


# the calls that may take tensors on two devices (CUDA allows them too): copies and indexing
MOVES = {torch.Tensor.to, torch.Tensor.copy_, torch.Tensor.__getitem__, torch.Tensor.__setitem__,
         torch.Tensor.cpu, torch.Tensor.type_as, torch._has_compatible_shallow_copy_type}


def _tensors(x):
    if torch.is_tensor(x):
        yield x
    elif isinstance(x, (tuple, list)):
        for y in x:
            yield from _tensors(y)
    elif isinstance(x, dict):
        for y in x.values():
            yield from _tensors(y)


class MetaChecks(TorchFunctionMode):
    """What a GPU run does that the meta device alone does not:

    * a call that mixes a meta tensor with a CPU tensor (not a 0-dim scalar) raises, as CUDA does
      (meta kernels such as ``conv2d`` accept a CPU weight silently); copies and indexing
      (``MOVES``) may mix, as on CUDA; so does a draw on the meta device with a CPU generator
      (``torch.randn(..., generator=g, device=...)``, ``multinomial``, ``normal_``);
    * with ``finite=True``, ``torch.isfinite`` of a meta tensor is answered all-True, on the CPU,
      so the loss and output checks of a whole training run see finite values (under
      :class:`MetaReads` every other bool read is False, so the range checks see images in
      [0, 1])."""

    def __init__(self, finite: bool = False):
        super().__init__()
        self.finite = finite

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.finite and func is torch.isfinite and torch.is_tensor(args[0]) and args[0].device == META:
            return torch.ones(args[0].shape, dtype=torch.bool)
        if func not in MOVES:
            devices = {t.device.type for t in _tensors((args, kwargs)) if t.dim() > 0}
            if "meta" in devices and len(devices) > 1:
                raise RuntimeError(f"{getattr(func, '__name__', func)}: expected all tensors to be on "
                                   f"the same device, got {sorted(devices)}")
            gen = kwargs.get("generator")
            if gen is not None and gen.device != META and (
                    any(t.device == META for t in _tensors((args, kwargs)))
                    or (kwargs.get("device") is not None and torch.device(kwargs["device"]) == META)):
                raise RuntimeError(f"{getattr(func, '__name__', func)}: a {gen.device.type} generator "
                                   "for a draw on another device (CUDA refuses it)")
        return func(*args, **kwargs)


def on_meta(fn, truth: bool = False):
    """Run ``fn()`` under :class:`MetaReads` and :class:`MetaChecks`; an error naming two devices
    becomes a test failure."""
    try:
        with MetaReads(truth), MetaChecks():
            return fn()
    except RuntimeError as e:
        msg = str(e)
        if "device" in msg and ("cpu" in msg or "same device" in msg):
            pytest.fail(f"a tensor on the wrong device: {msg.splitlines()[0]}")
        raise


def all_meta(*xs):
    """Every tensor in xs (nested in tuples, lists, dicts) lives on the meta device."""
    for x in xs:
        if torch.is_tensor(x):
            assert x.device == META, f"a result on {x.device}, not on the inputs' device"
        elif isinstance(x, (tuple, list)):
            all_meta(*x)
        elif isinstance(x, dict):
            all_meta(*x.values())


def img(n=1, c=3, h=24, w=24):
    return torch.rand(n, c, h, w, device=META)


# ---- functions of tensors ------------------------------------------------------------------------

TENSOR_CASES = {
    "color.rgb_to_ycbcr": lambda: color.rgb_to_ycbcr(img()),
    "color.rgb_to_y": lambda: color.rgb_to_y(img()),
    "color.ycbcr_to_rgb": lambda: color.ycbcr_to_rgb(img()),
    "degrade.mod_crop": lambda: degrade.mod_crop(img(h=25), 4),
    "degrade.bicubic_down": lambda: degrade.bicubic_down(img(), 4),
    "degrade.bicubic_up": lambda: degrade.bicubic_up(img(h=6, w=6), 3),
    "degrade.add_noise": lambda: degrade.add_noise(img(), 0.1),
    "degrade.add_noise(CPU generator)": lambda: degrade.add_noise(img(), 0.1, torch.Generator().manual_seed(0)),
    "resize.nearest_kernel": lambda: resize.nearest_kernel(torch.linspace(-2, 2, 9, device=META)),
    "resize.linear_kernel": lambda: resize.linear_kernel(torch.linspace(-2, 2, 9, device=META)),
    "resize.cubic": lambda: resize.cubic(torch.linspace(-2, 2, 9, device=META)),
    "resize.imresize(scale)": lambda: resize.imresize(img(), 0.5),
    "resize.imresize(size)": lambda: resize.imresize(img(), size=(10, 14)),
    "resize.resample": lambda: resize.resample(img(h=6, w=7), 3, resize.cubic, 2),
    "metrics.shave": lambda: metrics.shave(img(), 4),
    "metrics.quantize": lambda: metrics.quantize(img()),
    "metrics.to_y8": lambda: metrics.to_y8(img()),
    "metrics.average_power_spectrum": lambda: metrics.average_power_spectrum(img(n=2, c=1)),
    "evaluate.bicubic": lambda: evaluate.bicubic(img(h=8, w=8), 2),
    "inverse.blur": lambda: inverse.blur(img(c=1), torch.ones(5, device=META) / 5),
    "inverse.decimate": lambda: inverse.decimate(img(c=1), 3),
    "inverse.H": lambda: inverse.H(img(c=1), torch.ones(5, device=META) / 5, 3),
    "inverse.H_T": lambda: inverse.H_T(img(c=1, h=8, w=8), torch.ones(5, device=META) / 5, 3),
    "inverse.grad": lambda: inverse.grad(img(c=1)),
    "inverse.grad_T": lambda: inverse.grad_T(img(c=2)),
    "inverse.tv_objective": lambda: inverse.tv_objective(img(c=1), img(c=1, h=8, w=8), 0.1, 0.01,
                                                        torch.ones(5, device=META) / 5, 3),
    "inverse.tv_gradient": lambda: inverse.tv_gradient(img(c=1), img(c=1, h=8, w=8), 0.1, 0.01,
                                                      torch.ones(5, device=META) / 5, 3),
    "inverse.cg": lambda: inverse.cg(lambda v: 2 * v, img(c=1), iters=3)[0],
    "data.sr_pair": lambda: data.sr_pair(img(h=25, w=26), 3),
    "data.extract_subimages": lambda: data.extract_subimages(img(h=40, w=40), img(h=40, w=40), 33, 7),
    "data.augment": lambda: data.augment(img(), img()),
    "gen_data.fit_gaussian": lambda: gen_data.fit_gaussian(torch.rand(12, 20, device=META)),
    "gen_data.sample_gaussian": lambda: gen_data.sample_gaussian(
        *gen_data.fit_gaussian(torch.rand(12, 20, device=META)), 5),
    "gen_data.sample_gaussian(CPU generator)": lambda: gen_data.sample_gaussian(
        *gen_data.fit_gaussian(torch.rand(12, 20, device=META)), 5, generator=torch.Generator().manual_seed(0)),
    "gen_data.reconstruct_gaussian": lambda: gen_data.reconstruct_gaussian(
        torch.rand(3, 20, device=META), *gen_data.fit_gaussian(torch.rand(12, 20, device=META))[:2], 4),
    "heightfield.phillips": lambda: heightfield.phillips(torch.rand(8, 8, device=META, dtype=torch.float64),
                                                         torch.rand(8, 8, device=META, dtype=torch.float64)),
    "heightfield.to_depth_image": lambda: heightfield.to_depth_image(torch.rand(16, 16, device=META)),
    "heightfield.homography_from_corners": lambda: heightfield.homography_from_corners(
        torch.rand(4, 2, device=META)),
    "heightfield.random_warp": lambda: heightfield.random_warp(img(c=1)),
    "heightfield.random_warp(CPU generator)": lambda: heightfield.random_warp(
        img(c=1), generator=torch.Generator().manual_seed(0)),
    "features.gram": lambda: features.gram(img(c=8)),
    "features.content_loss": lambda: features.content_loss(img(c=8), img(c=8)),
    "features.style_loss": lambda: features.style_loss({"a": img(c=8)}, {"a": features.gram(img(c=8))}),
    "features.gatys_loss": lambda: features.gatys_loss({"a": img(c=8), "c": img(c=4)}, {"c": img(c=4)},
                                                       {"a": features.gram(img(c=8))}, 1.0, 1.0, "c"),
    "features.tv_loss": lambda: features.tv_loss(img()),
    "srgan.with_tv": lambda: srgan.with_tv(F.mse_loss, 0.1)(img(), img()),
    "stylize.square": lambda: stylize.square(img(h=30, w=40), 16),
    "pixelcnn.down_shift": lambda: pixelcnn.down_shift(img(c=4)),
    "pixelcnn.right_shift": lambda: pixelcnn.right_shift(img(c=4)),
    "pixelcnn.gate": lambda: pixelcnn.gate(img(c=4)),
    "pixelcnn.spade_norm": lambda: pixelcnn.spade_norm(img(c=4), img(c=4), img(c=4)),
    "pixelcnn.face_crops": lambda: pixelcnn.face_crops(torch.rand(3, 1, 56, 46, device=META)),
    "pixelcnn.to_levels": lambda: pixelcnn.to_levels(img(c=1), 4),
    "pixelcnn.quantise": lambda: pixelcnn.quantise(img(c=1), 4),
    "train.to_device": lambda: train.to_device({"x": torch.rand(2), "y": (torch.rand(3),)}, META),
    "train.d_loss": lambda: train.d_loss(torch.rand(4, 1, device=META), torch.rand(4, 1, device=META)),
    "train.g_loss_minimax": lambda: train.g_loss_minimax(torch.rand(4, 1, device=META)),
    "train.g_loss_nonsat": lambda: train.g_loss_nonsat(torch.rand(4, 1, device=META)),
}

# functions whose result is a Python number: they must run (no device error) and return a number
NUMBER_CASES = {
    "metrics.psnr": lambda: metrics.psnr(img(), img()),
    "metrics.ssim": lambda: metrics.ssim(img(c=1), img(c=1)),
    "metrics.sr_metrics": lambda: metrics.sr_metrics(img(), img(), 2),
    "heightfield.height_mse": lambda: heightfield.height_mse(img(c=1), img(c=1), 2.0),
    "heightfield.depth_psnr": lambda: heightfield.depth_psnr(img(c=1), img(c=1), 2),
    "pixelcnn.bits_per_dim": lambda: pixelcnn.bits_per_dim(torch.rand(2, 4, 6, 6, device=META),
                                                           img(n=2, c=1, h=6, w=6), 4),
    "train.clip_adjustable_": lambda: _clip(),
}


def _clip():
    p = nn.Parameter(torch.rand(5, device=META))
    p.grad = torch.rand(5, device=META)
    return train.clip_adjustable_([p], 0.01, 0.1)


@pytest.mark.parametrize("name", sorted(TENSOR_CASES))
def test_tensor_functions_stay_on_the_inputs_device(name):
    all_meta(on_meta(TENSOR_CASES[name]))


@pytest.mark.parametrize("name", sorted(NUMBER_CASES))
def test_number_functions_run_on_the_inputs_device(name):
    out = on_meta(NUMBER_CASES[name])
    assert isinstance(out, (int, float, tuple)), f"{name} returned {type(out).__name__}"


# ---- models ----------------------------------------------------------------------------------------

MODEL_CASES = {
    "models.SRCNN": (lambda: models.SRCNN(), lambda: img(c=1, h=33, w=33)),
    "models.VDSR": (lambda: models.VDSR(depth=4, width=8), lambda: img(c=1)),
    "models.FSRCNN": (lambda: models.FSRCNN(scale=3), lambda: img(c=1, h=8, w=8)),
    "models.ESPCN": (lambda: models.ESPCN(scale=3), lambda: img(c=1, h=8, w=8)),
    "models.DCGANGenerator": (lambda: models.DCGANGenerator(), lambda: torch.rand(2, 64, device=META)),
    "models.DCGANDiscriminator": (lambda: models.DCGANDiscriminator(), lambda: img(n=2, c=1, h=28, w=28)),
    "models.with_subpixel(FSRCNN)": (lambda: models.with_subpixel(models.FSRCNN(scale=3)),
                                     lambda: img(c=1, h=8, w=8)),
    "models.fsrcnn_to_scale": (lambda: models.fsrcnn_to_scale(models.FSRCNN(scale=3), 2),
                               lambda: img(c=1, h=8, w=8)),
    "srgan.SRResNet": (lambda: srgan.SRResNet(blocks=2, width=8), lambda: img(h=8, w=8)),
    "srgan.init_as_interpolator": (lambda: srgan.init_as_interpolator(srgan.SRResNet(blocks=1, width=8)),
                                   lambda: img(h=8, w=8)),
    "srgan.to_grey": (lambda: srgan.to_grey(srgan.SRResNet(blocks=1, width=8)), lambda: img(c=1, h=8, w=8)),
    "srgan.Discriminator": (lambda: srgan.Discriminator(), lambda: img(n=2, h=96, w=96)),
    "stylize.TransformNet": (lambda: stylize.TransformNet(widths=(4, 8, 8), blocks=1), lambda: img(h=32, w=32)),
    "pixelcnn.MaskedConv2d": (lambda: pixelcnn.MaskedConv2d(1, 4, 3, "A"), lambda: img(c=1)),
    "pixelcnn.PlainPixelCNN": (lambda: pixelcnn.PlainPixelCNN(), lambda: img(c=1)),
    "features.VGGFeatures": (lambda: features.VGGFeatures(features.GATYS_STYLE), lambda: img(h=32, w=32)),
    "features.RandomFeatures": (lambda: features.RandomFeatures(features.GATYS_STYLE), lambda: img(h=32, w=32)),
}


@pytest.mark.parametrize("name", sorted(MODEL_CASES))
def test_models_on_the_device_give_outputs_there(name):
    make, x = MODEL_CASES[name]
    with torch.device(META):
        model = make()
    all_meta(on_meta(lambda: model(x())))


@pytest.mark.parametrize("name", sorted(zoo.REGISTRY))
def test_every_registry_model_runs_on_the_device(name):
    with torch.device(META):  # built straight on the device: no CPU initialisation to wait for
        model = zoo.build(name)
    rec = zoo.REGISTRY[name]
    if rec.input == "z":
        args = (torch.rand(2, model.net[0].in_channels if hasattr(model, "net") else 64, device=META),)
    elif rec.kind == "pixel-sr":
        args = (img(n=2, c=1, h=16 * rec.scales[0] // 4, w=16 * rec.scales[0] // 4),
                img(n=2, c=1, h=4, w=4))
    elif rec.kind == "prior":
        args = (img(n=2, c=1, h=8, w=8),)
    else:
        args = None
    if args is not None:
        all_meta(on_meta(lambda: model(*args)))
        return
    for c in (1, 3):  # Y models take one channel, RGB models three
        try:
            out = on_meta(lambda: model(img(c=c, h=16, w=16)))
        except (RuntimeError, ValueError) as e:
            if "channel" in str(e) or "(N, 3, H, W)" in str(e):
                continue
            raise
        all_meta(out)
        return
    pytest.fail(f"{name}: neither 1 nor 3 channels accepted")


def test_run_model_and_evaluate_images_with_a_model_on_the_device():
    with torch.device(META):
        net = models.FSRCNN(scale=3)
        rgb = models.FSRCNN(scale=3, channels=3)
    all_meta(on_meta(lambda: zoo.run_model("fsrcnn-x3", net, img(c=1, h=8, w=8), 3)))
    res = on_meta(lambda: evaluate.evaluate_images(lambda lr, s: (net if lr.shape[1] == 1 else rgb)(lr.float()).double(),
                                                   [img(h=24, w=24)], 3),
                  truth=True)   # evaluate's one boolean read: "are all outputs finite?"
    assert isinstance(res, dict)


def test_deconv_as_conv_keeps_the_device():
    deconv = nn.ConvTranspose2d(4, 1, 9, stride=3, padding=3).to(META)
    conv = on_meta(lambda: models.deconv_as_conv(deconv))
    all_meta(*conv.parameters())


def test_load_features_moves_to_the_device(monkeypatch):
    monkeypatch.setenv("COURSE_FEATURES", "random")
    feats = features.load_features(features.GATYS_STYLE, device=META, verbose=False)
    all_meta(*feats.buffers(), *feats.parameters())
    all_meta(on_meta(lambda: feats(img(h=32, w=32))))
    x, y = img(h=32, w=32), img(h=32, w=32)
    all_meta(on_meta(lambda: features.perceptual_loss(feats, x, y, "relu2_1")))
    assert isinstance(on_meta(lambda: features.matched_content_weight(feats, x, y, "relu2_1")), float)


def test_stylize_functions_keep_the_device():
    net = stylize.TransformNet(widths=(4, 8, 8), blocks=1).to(META)
    all_meta(on_meta(lambda: stylize.stylize(net, img(h=30, w=30))))
    feats = features.RandomFeatures(features.GATYS_STYLE + (features.GATYS_CONTENT,)).to(META)
    grams = on_meta(lambda: stylize.style_targets(feats, img(h=32, w=32)))
    all_meta(grams)
    all_meta(on_meta(lambda: stylize.objective(feats, img(h=32, w=32), img(h=32, w=32), grams)))


def test_pixelcnn_models_losses_and_samplers_keep_the_device():
    model = pixelcnn.digits_model(prior=dict(channels=8, layers=2), cond=dict(channels=8, blocks=1)).to(META)
    hr, lr = img(n=2, c=1, h=28, w=28), img(n=2, c=1, h=7, w=7)
    all_meta(on_meta(lambda: model(hr, lr)))
    all_meta(on_meta(lambda: pixelcnn.pixel_sr_losses(model, hr, lr, 4)))
    all_meta(on_meta(lambda: pixelcnn.sample(model, img(c=1, h=2, w=2), 4)))
    all_meta(on_meta(lambda: pixelcnn.sample(model, img(c=1, h=2, w=2), 4, temperature=0.8,
                                             generator=torch.Generator().manual_seed(0))))
    faces = pixelcnn.faces_model(prior=dict(channels=8, layers=2), cond=dict(channels=8, blocks=1),
                                 spade=True).to(META)
    all_meta(on_meta(lambda: faces(img(n=2, c=1, h=32, w=32), img(n=2, c=1, h=8, w=8))))
    gated = pixelcnn.GatedPixelCNN(channels=8, layers=2).to(META).double()
    all_meta(on_meta(lambda: pixelcnn.receptive_field(gated, img(c=1, h=7, w=7), 3, 3)))


def test_training_steps_and_loops_run_on_the_device(tmp_path):
    net = models.SRCNN().to(META)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = (img(n=2, c=1, h=33, w=33), img(n=2, c=1, h=21, w=21))
    step = train.supervised_step(net, F.mse_loss, opt, clip=1.0)
    assert isinstance(on_meta(lambda: step(batch), truth=True)["loss"], float)  # truth: finite
    G, D = models.DCGANGenerator().to(META), models.DCGANDiscriminator().to(META)
    gstep = train.gan_step(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()),
                           train.d_loss, train.g_loss_nonsat)
    logs = on_meta(lambda: gstep((torch.rand(2, 64, device=META), img(n=2, c=1, h=28, w=28))))
    assert set(logs) >= {"d_loss", "g_loss"}
    # the loop moves CPU batches to the model's device
    cpu_batches = train.RandomBatches((torch.rand(8, 1, 33, 33), torch.rand(8, 1, 21, 21)), 2)
    hist = on_meta(lambda: train.fit(net, F.mse_loss, cpu_batches, 2, plot=False,
                                     val_fn=lambda: metrics.psnr(net(img(c=1, h=33, w=33))[..., :21, :21],
                                                                 img(c=1, h=21, w=21))), truth=True)
    assert hist["step"] == [1, 2]


def test_amp_policy_on_each_device():
    assert train.amp_policy("cpu") == (False, torch.float32, False)
    assert train.amp_policy("meta") == (False, torch.float32, False)
    assert train.amp_policy("cpu", amp=True) == (True, torch.bfloat16, False)


def test_network_conversions_keep_the_device():
    """A converted copy lives where its source does (notebook 08 converts a network on the GPU)."""
    rgb = srgan.SRResNet(blocks=1, width=8).to(META)
    grey = srgan.to_grey(rgb)
    assert {p.device for p in grey.parameters()} == {META}
    all_meta(on_meta(lambda: grey(img(c=1, h=8, w=8))))
    x3 = models.FSRCNN(3, d=8, s=4, m=1).to(META)
    x2 = models.fsrcnn_to_scale(x3, 2)
    assert {p.device for p in x2.parameters()} == {META}
