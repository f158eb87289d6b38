"""Layer diagrams (course_utils.diagrams): the boxes, grids and weight counts a figure shows."""
import matplotlib
import matplotlib.pyplot as plt
import pytest

from course_utils.diagrams import block, conv, deconv, dense, diagram_weights, layer_diagram, shuffle
from course_utils.models import ESPCN, FSRCNN, SRCNN, VDSR, count_weights
from course_utils.srgan import DISC_LAYERS, Discriminator, SRResNet

matplotlib.use("Agg")

SRCNN_LAYERS = [conv(9, 64, 1, "ReLU"), conv(1, 32, 64, "ReLU"), conv(5, 1, 32)]
VDSR_LAYERS = [conv(3, 64, 1, "ReLU"), conv(3, 64, 64, "ReLU", repeat=18), conv(3, 1, 64)]
FSRCNN_LAYERS = [conv(5, 56, 1, "PReLU"), conv(1, 12, 56, "PReLU"), conv(3, 12, 12, "PReLU", repeat=4),
                 conv(1, 56, 12, "PReLU"), deconv(9, 1, 56, stride=3)]
ESPCN_LAYERS = [conv(5, 64, 1, "tanh"), conv(3, 32, 64, "tanh"), conv(3, 9, 32), shuffle(3, 1)]
SRRESNET_LAYERS = [conv(9, 64, 3, "PReLU"),
                   block([conv(3, 64, 64, "BN, PReLU"), conv(3, 64, 64, "BN, + x")], 16, "residual block"),
                   conv(3, 64, 64, "BN"), block([conv(3, 256, 64), shuffle(2, 64)], 2, "sub-pixel stage", "PReLU"),
                   conv(9, 3, 64)]
DISC_DIAGRAM = ([conv(3, 64, 3, "LReLU")]
                + [conv(3, n, c, "BN, LReLU", stride=s) for (n, s), (c, _) in zip(DISC_LAYERS[1:], DISC_LAYERS)]
                + [dense(1024, 512 * 6 * 6, "LReLU"), dense(1, 1024, "sigmoid")])


@pytest.mark.parametrize("layers, model", [(SRCNN_LAYERS, SRCNN()), (VDSR_LAYERS, VDSR()),
                                           (FSRCNN_LAYERS, FSRCNN(3)), (ESPCN_LAYERS, ESPCN(3)),
                                           (SRRESNET_LAYERS, SRResNet()), (DISC_DIAGRAM, Discriminator(96))],
                         ids=["SRCNN", "VDSR", "FSRCNN", "ESPCN", "SRResNet", "SRGAN-D"])
def test_weight_count_of_the_diagram_is_the_model_s(layers, model):
    assert diagram_weights(layers) == count_weights(model)


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_boxes_labels_and_grids():
    fig, ax = plt.subplots()
    try:
        assert layer_diagram(FSRCNN_LAYERS, "FSRCNN", inp="LR in", out="SR out", ax=ax) is ax
        texts = _texts(ax)
        # one box per layer and per image, in order, in the lecture's notation
        boxes = [t for t in texts if "Conv" in t or t in ("LR in", "SR out")]
        assert boxes == ["LR in", "Conv(5,56,1)\nPReLU", "Conv(1,12,56)\nPReLU", "4 x\nConv(3,12,12)\nPReLU",
                         "Conv(1,56,12)\nPReLU", "DeConv(9,1,56)\nstride 3", "SR out"]
        # the deconvolution moves to the HR grid: one LR band, then one HR band
        assert [t for t in texts if "grid" in t] == ["LR grid (h x w)", "HR grid (s h x s w)"]
        assert ax.get_title() == "FSRCNN: 12,464 weights"
    finally:
        plt.close(fig)


def test_hr_space_network_with_residual_and_shuffle():
    fig, (a, b) = plt.subplots(2)
    try:
        layer_diagram(VDSR_LAYERS, inp="x", out="y", space="hr", skip=True, ax=a)
        assert [t for t in _texts(a) if "grid" in t] == ["HR grid (s h x s w)"]   # starts and stays on HR
        assert "+" in _texts(a) and any("residual" in t for t in _texts(a))
        layer_diagram(ESPCN_LAYERS, ax=b)
        assert "PS(x3)\npixel shuffle\n-> 1 ch" in _texts(b)
        assert [t for t in _texts(b) if "grid" in t] == ["LR grid (h x w)", "HR grid (s h x s w)"]
        assert "+" not in _texts(b)
    finally:
        plt.close(fig)


def test_own_figure_returns_nothing(monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(plt.gcf()))
    assert layer_diagram(SRCNN_LAYERS, "SRCNN") is None
    assert len(shown) == 1 and shown[0].axes[0].get_title() == "SRCNN: 8,032 weights"
    plt.close(shown[0])


@pytest.mark.parametrize("layers, space, what", [([], "lr", "no layers"), ([("conv", 3, 8, 1)], "lr", "layer 0"),
                                                 (SRCNN_LAYERS, "ilr", "space='ilr'")])
def test_bad_input_says_what_to_do(layers, space, what):
    with pytest.raises(ValueError, match="layer_diagram") as e:
        layer_diagram(layers, space=space)
    assert what in str(e.value)


def test_blocks_dense_layers_and_a_long_skip():
    fig, (a, b) = plt.subplots(2)
    try:
        layer_diagram(SRRESNET_LAYERS, "SRResNet", inp="LR", out="SR", skip=(0, 2), ax=a)
        texts = _texts(a)
        assert "16 x residual block\nConv(3,64,64)\nBN, PReLU\nConv(3,64,64)\nBN, + x" in texts
        assert "2 x sub-pixel stage\nConv(3,256,64)\nPS(x2)\nPReLU" in texts
        # the "+" of the long skip sits after the body's last convolution, before the sub-pixel stages
        order = [t for t in texts if t in ("+", "Conv(3,64,64)\nBN", "Conv(9,3,64)") or "sub-pixel" in t]
        assert order[:3] == ["Conv(3,64,64)\nBN", "+", "2 x sub-pixel stage\nConv(3,256,64)\nPS(x2)\nPReLU"]
        assert "skip connection" in texts
        # the block with a shuffle moves to the HR grid: the tail runs there
        assert [t for t in texts if "grid" in t] == ["LR grid (h x w)", "HR grid (s h x s w)"]
        layer_diagram(DISC_DIAGRAM, "D", space="hr", ax=b)
        assert "Dense(1024)\nLReLU" in _texts(b) and "+" not in _texts(b)
        assert b.get_title() == f"D: {count_weights(Discriminator(96)):,} weights"
    finally:
        plt.close(fig)


@pytest.mark.parametrize("skip", [(2, 1), (0, 5), (0,)])
def test_bad_skip_says_what_to_do(skip):
    with pytest.raises(ValueError, match="skip="):
        layer_diagram(SRRESNET_LAYERS, skip=skip)
