"""Pixels from Nothing: the course library.

One module per concern (read any of them in a minute):

profiles    setup(): profile (full / cpu / ci), device, seeds, folders; cfg.pick(...)
images      load_image, save_image, built-in images
color       rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb (BT.601)
resize      imresize: MATLAB-compatible bicubic
degrade     mod_crop, bicubic_down, bicubic_up, add_noise
metrics     psnr, ssim, sr_metrics (the papers' protocol)
data        get_images, SRPatches, sr_pair
gen_data    faces, MNIST digits and 2-D toys for the generation notebooks
models      SRCNN, FSRCNN, ESPCN, VDSR, DCGAN; REGISTRY of the shipped models, load_shipped
diagrams    layer diagrams of the networks (conv, deconv, shuffle boxes on the LR/HR grid)
features    load_features (VGG-19/16 by layer name, or the offline fallback), gram, losses
download    the dataset registry and sha256-checked fetching (data_scripts/download.py)
train       train_loop over a step function (supervised_step, gan_step), fit, train_or_load
checkpoints save_checkpoint, load_checkpoint, load_weights (sha256, weights_only, float16)
plots       show_images, show_zoom, power spectra, filters, LivePlot
widgets     interact_or_static, compare
checks      check, check_close, check_shape (exercise checks)
evaluate    the SR table, Y/RGB/stochastic methods (python -m course_utils.evaluate)
release     student notebooks from solutions (python -m course_utils.release)
exercise    YourTurn (an unwritten answer); course_version (the stuck student's switch)
grade       grade submissions with the solutions' hidden tests (python -m course_utils.grade)
"""
from .exercise import course_version
from .profiles import Config, setup

__all__ = ["setup", "Config", "course_version"]
__version__ = "0.1.0"
