"""Pixels from Nothing: the course library (what the notebooks import).

One module per concern (read any of them in a minute). ``import course_utils`` is light: torch and
the modules below are imported when first used (``course_utils.setup`` imports ``profiles``).

profiles    setup(): profile (full / cpu / ci), device, seeds, folders (COURSE_DATA_DIR,
            COURSE_CHECKPOINT_DIR); cfg.pick(...)
images      load_image, save_image, built-in images
color       rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb (BT.601)
resize      imresize: MATLAB-compatible bicubic; interpolation kernels, interp_matrix, resample
degrade     mod_crop, bicubic_down, bicubic_up, add_noise
inverse     SR as an inverse problem: H = S B, its adjoint, conjugate gradient, TV gradient
metrics     psnr, ssim, sr_metrics (the papers' protocol)
data        get_images, SRPatches, sr_pair; record_data_source (the test run's data log)
gen_data    faces, MNIST digits and 2-D toys for the generation notebooks; the Gaussian model
models      architectures: SRCNN, FSRCNN, ESPCN, VDSR, DCGAN, SubPixelConv
srgan       SRResNet, the discriminator, GAN losses (notebook 08)
heightfield ocean surfaces and their depth images (notebook 08)
pixelcnn    gated PixelCNN, pixel recursive SR (notebook 11)
stylize     Johnson et al.'s transformation network (python -m course_utils.stylize)
zoo         the shipped checkpoints: one typed record each (REGISTRY), load_shipped, save_shipped,
            run_model
diagrams    layer diagrams of the networks (conv, deconv, shuffle boxes on the LR/HR grid)
features    load_features (VGG-19/16 by layer name, or the offline fallback), gram, losses
download    the dataset registry and sha256-checked fetching (data_scripts/download.py)
train       train_loop over a step function (supervised_step, gan_step, GAN losses), fit, train_or_load
checkpoints save_checkpoint, load_checkpoint, load_weights (sha256, weights_only, float16)
plots       show_images, show_zoom, power spectra, filters, LivePlot
widgets     interact_or_static, compare
checks      check, check_close, check_shape (exercise checks); claim (a run's sentences)
evaluate    the SR table, Y/RGB/stochastic methods (python -m course_utils.evaluate)
exercise    YourTurn (an unwritten answer); course_version (the stuck student's switch)

Layers: nothing here imports ``course_tools`` (the instructors' and maintainers' tools: release,
grade, site, course map, the checkpoints' README tables, the test run's data-log check), and the
modules import each other without a cycle (tests/test_layout.py).
"""
from __future__ import annotations

import importlib
from typing import Any

from .exercise import course_version

__all__ = ["setup", "Config", "course_version"]
__version__ = "0.1.0"

def _lazy(name: str) -> Any:
    profiles = importlib.import_module(".profiles", __name__)
    return getattr(profiles, name)


def __getattr__(name: str) -> Any:
    if name in ("setup", "Config"):
        return _lazy(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
