"""The residual blocks (learnres/nn/blocks.py): layout, shortcut options, and parity with
their PyTorch twins under a random upstream gradient (tests/nn/parity.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from learnres import Tensor
from learnres.autograd import OpError
from learnres.nn import (
    BOTTLENECK_EXPANSION,
    BasicBlock,
    BasicLinearBlock,
    Bottleneck,
    Identity,
    PlainBasicBlock,
    PlainBottleneck,
    PlainLinearBlock,
    Sequential,
    ZeroPadShortcut,
    init,
    subsample_and_zero_pad,
)
from learnres.reference import to_torch
from learnres.testing import compare_with_torch
from tests.nn.parity import check_layer

# (block factory, input shape): every option where the shape changes and where it does not
BLOCKS = {
    "basic-A-same": (lambda: BasicBlock(4, 4, 1, "A"), (2, 4, 6, 6)),
    "basic-A-down": (lambda: BasicBlock(4, 8, 2, "A"), (2, 4, 7, 7)),
    "basic-B-down": (lambda: BasicBlock(4, 8, 2, "B"), (2, 4, 6, 6)),
    "basic-B-same": (lambda: BasicBlock(4, 4, 1, "B"), (2, 4, 5, 5)),
    "basic-C-same": (lambda: BasicBlock(4, 4, 1, "C"), (2, 4, 5, 5)),
    "basic-C-down": (lambda: BasicBlock(4, 8, 2, "C"), (2, 4, 6, 6)),
    "basic-zero-init": (lambda: BasicBlock(4, 4, 1, "A", zero_init_residual=True), (2, 4, 5, 5)),
    "plain-basic-down": (lambda: PlainBasicBlock(4, 8, 2), (2, 4, 6, 6)),
    "bottleneck-B-1x1": (lambda: Bottleneck(8, 2, 2, "B", stride_in_1x1=True), (2, 8, 6, 6)),
    "bottleneck-B-3x3": (lambda: Bottleneck(8, 2, 2, "B", stride_in_1x1=False), (2, 8, 6, 6)),
    "bottleneck-A-widen": (lambda: Bottleneck(4, 2, 1, "A"), (2, 4, 5, 5)),
    "bottleneck-C-same": (lambda: Bottleneck(8, 2, 1, "C"), (2, 8, 5, 5)),
    "plain-bottleneck": (lambda: PlainBottleneck(8, 4, 2), (2, 8, 6, 6)),
    "linear-residual": (lambda: BasicLinearBlock(6), (4, 6)),
    "linear-plain": (lambda: PlainLinearBlock(6), (4, 6)),
}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_matches_its_torch_twin(name, training, device):
    make, shape = BLOCKS[name]
    block = make()
    check_layer(block, to_torch(block), shape, device=device, training=training)


def test_block_matches_torch_in_float32():
    block = BasicBlock(4, 8, 2, "A")
    check_layer(block, to_torch(block), (2, 4, 6, 6), dtype=np.float32)


def test_parameters_register_in_forward_order():
    names = [n for n, _ in BasicBlock(4, 8, 2, "B").named_parameters()]
    assert names == [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "conv2.weight",
        "bn2.weight",
        "bn2.bias",
        "shortcut.0.weight",
        "shortcut.1.weight",
        "shortcut.1.bias",
    ]
    names = [n for n, _ in Bottleneck(8, 2, 1, "C").named_parameters()]
    assert [n.split(".")[0] for n in names] == ["conv1"] + ["bn1"] * 2 + ["conv2"] + ["bn2"] * 2 + [
        "conv3"
    ] + ["bn3"] * 2 + ["shortcut"] * 3


def test_shortcut_options_follow_section_3_3():
    assert isinstance(BasicBlock(4, 4, 1, "A").shortcut, Identity)
    assert isinstance(BasicBlock(4, 8, 2, "A").shortcut, ZeroPadShortcut)  # parameter-free
    assert BasicBlock(4, 8, 2, "A").shortcut.num_parameters() == 0
    assert isinstance(BasicBlock(4, 4, 1, "B").shortcut, Identity)  # B: identity where it can
    projection = BasicBlock(4, 8, 2, "B").shortcut
    assert isinstance(projection, Sequential)
    assert projection[0].kernel_size == 1 and projection[0].stride == 2
    assert isinstance(BasicBlock(4, 4, 1, "C").shortcut, Sequential)  # C: projection everywhere
    assert not hasattr(BasicBlock(4, 4), "downsample")
    assert not hasattr(PlainBasicBlock(4, 4), "shortcut")


@pytest.mark.parametrize("option", ["D", "a", None])
def test_unknown_shortcut_option_is_refused(option):
    with pytest.raises(ValueError, match="'A', 'B', 'C'"):
        BasicBlock(4, 8, 2, option)


def test_bottleneck_expands_by_four_and_places_its_stride():
    assert Bottleneck.expansion == BOTTLENECK_EXPANSION == 4
    paper, torchvision = Bottleneck(64, 64, 2), Bottleneck(64, 64, 2, stride_in_1x1=False)
    assert (paper.conv1.stride, paper.conv2.stride) == (2, 1)
    assert (torchvision.conv1.stride, torchvision.conv2.stride) == (1, 2)
    x = Tensor(np.zeros((1, 64, 8, 8), dtype=np.float32))
    assert paper(x).shape == torchvision(x).shape == (1, 256, 4, 4)


def test_zero_init_residual_starts_the_block_as_its_shortcut():
    init.manual_seed(0)
    block = BasicBlock(4, 4, 1, "A", zero_init_residual=True).double()
    assert not block.bn2.weight.data.any()
    x = np.abs(np.random.default_rng(0).standard_normal((2, 4, 5, 5)))  # relu(x) = x
    np.testing.assert_allclose(block(Tensor(x)).data, x)
    assert Bottleneck(8, 2, zero_init_residual=True).bn3.weight.data.sum() == 0


def test_option_a_subsamples_and_appends_zero_channels_after_the_existing_ones():
    x = np.arange(2 * 3 * 5 * 5, dtype=np.float64).reshape(2, 3, 5, 5)
    y = subsample_and_zero_pad(Tensor(x), 7, 2).data
    assert y.shape == (2, 7, 3, 3)
    np.testing.assert_array_equal(y[:, :3], x[:, :, ::2, ::2])  # the old channels come first
    assert not y[:, 3:].any()


def test_option_a_gradient_matches_torch():
    def torch_option_a(x):
        return TF.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, 5))

    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5))
    compare_with_torch(
        lambda t: subsample_and_zero_pad(t, 8, 2), torch_option_a, [x], name="option A"
    ).assert_ok()


def test_option_a_cannot_narrow():
    with pytest.raises(OpError, match="cannot zero-pad 8 channels down to 4"):
        subsample_and_zero_pad(Tensor(np.zeros((1, 8, 4, 4))), 4, 2)


def test_torch_twin_of_option_a_appends_channels_like_learnres():
    shortcut = ZeroPadShortcut(3, 5, 2)
    x = np.random.default_rng(2).standard_normal((1, 3, 4, 4))
    ours = shortcut(Tensor(x)).data
    theirs = to_torch(shortcut, dtype=np.float64)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_blocks_say_what_input_they_expected():
    with pytest.raises(OpError, match="4 channels"):
        BasicBlock(4, 8, 2)(Tensor(np.zeros((1, 3, 8, 8), dtype=np.float32)))
