"""The CIFAR networks of Sec. 4.2 (learnres/models/cifar.py) and the model registry."""

from __future__ import annotations

import numpy as np
import pytest

from learnres import Tensor
from learnres.autograd import OpError
from learnres.models import (
    MODELS,
    get_model,
    list_models,
    mlp,
    plain,
    plain20,
    resnet,
    resnet20,
    resnet56,
)
from learnres.nn import BasicBlock, BasicLinearBlock, PlainBasicBlock, PlainLinearBlock, init

# Table 6: parameters (option A, BN included), printed in the paper to two digits
TABLE_6 = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}  # millions


@pytest.mark.parametrize("depth", list(TABLE_6))
def test_parameter_counts_round_to_table_6(depth):
    count = resnet(depth).num_parameters()
    digits = 1 if depth == 110 else 2
    assert round(count / 1e6, digits) == TABLE_6[depth]


def test_plain_net_has_the_same_layers_without_shortcuts():
    # option A shortcuts have no parameters: a plain net counts exactly as its ResNet
    assert plain(32).num_parameters() == resnet(32).num_parameters()
    assert [n for n, _ in plain(20).named_parameters()] == [
        n for n, _ in resnet(20).named_parameters()
    ]


def test_layout_of_section_4_2():
    model = resnet56()
    n = 9
    stages = [model.conv2_x, model.conv3_x, model.conv4_x]
    assert [len(s) for s in stages] == [n, n, n]
    assert [s[0].conv1.out_channels for s in stages] == [16, 32, 64]
    assert [s[0].conv1.stride for s in stages] == [1, 2, 2]
    assert all(b.conv1.stride == 1 for s in stages for b in list(s)[1:])
    assert all(isinstance(b, BasicBlock) for s in stages for b in s)
    assert all(isinstance(b, PlainBasicBlock) for b in plain20().conv3_x)
    weighted = [m for m in model.modules() if type(m).__name__ in ("Conv2d", "Linear")]
    assert len(weighted) == 56  # 6n+2: conv1, 3 stages x n blocks x 2 convs, fc
    assert not any(getattr(m, "kernel_size", 3) == 1 for m in weighted)  # A: no projections


def test_forward_shapes_on_cifar_images():
    x = Tensor(np.zeros((2, 3, 32, 32), dtype=np.float32))
    assert resnet20()(x).shape == (2, 10)
    assert resnet(14, num_classes=100)(x).shape == (2, 100)
    grey = Tensor(np.zeros((2, 1, 28, 28), dtype=np.float32))
    assert resnet20(in_channels=1)(grey).shape == (2, 10)


def test_he_initialisation_fan_out():
    init.manual_seed(0)
    model = resnet(110)
    w = model.conv4_x[5].conv1.weight.data  # 64 * 3 * 3 fan_out
    assert abs(w.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.03
    assert abs(w.mean()) < 0.01 * w.std()
    bn = model.conv4_x[5].bn1
    assert (bn.weight.data == 1).all() and (bn.bias.data == 0).all()


def test_seeded_models_are_reproducible():
    init.manual_seed(3)
    a = resnet20().state_dict()
    init.manual_seed(3)
    b = resnet20().state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("depth", [0, 7, 21, 110.0, 1203, "20"])
def test_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ValueError, match=r"6n\+2.*20, 32, 44, 56, 110, 1202"):
        resnet(depth)
    with pytest.raises(ValueError, match=r"6n\+2"):
        plain(depth)


def test_unknown_shortcut_option():
    with pytest.raises(ValueError, match="'A', 'B', 'C'"):
        resnet(20, shortcut="E")


@pytest.mark.parametrize(
    "shape, message",
    [
        ((3, 32, 32), "add the batch axis"),
        ((2, 32, 32, 3), "channels-last"),
        ((2, 4, 32, 32), r"expects images \(N, 3, H, W\)"),
        ((2, 3 * 32 * 32), r"expects images \(N, 3, H, W\)"),
    ],
)
def test_wrong_input_says_what_was_expected(shape, message):
    with pytest.raises(OpError, match=message):
        resnet20()(Tensor(np.zeros(shape, dtype=np.float32)))


# ---- deep MLPs ------------------------------------------------------------------------------


@pytest.mark.parametrize("residual", [False, True])
def test_mlp_has_depth_weighted_layers(residual):
    model = mlp(20, 32, residual=residual)
    linears = [m for m in model.modules() if type(m).__name__ == "Linear"]
    assert len(linears) == 20
    block = BasicLinearBlock if residual else PlainLinearBlock
    assert len(model.blocks) == 9 and all(isinstance(b, block) for b in model.blocks)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32)))
    assert model.double()(x).shape == (4, 10)


def test_mlp_takes_fashion_mnist():
    model = mlp(6, 16, residual=True, in_features=28 * 28)
    assert model(Tensor(np.zeros((3, 1, 28, 28), dtype=np.float32))).shape == (3, 10)
    with pytest.raises(OpError, match="expects 784 values per example"):
        model(Tensor(np.zeros((3, 3, 32, 32), dtype=np.float32)))


@pytest.mark.parametrize("depth", [1, 7, 0])
def test_mlp_depth_must_be_even(depth):
    with pytest.raises(ValueError, match="even number"):
        mlp(depth, 8)


# ---- the registry -----------------------------------------------------------------------------


def test_registry_knows_every_named_model():
    names = list_models()
    for depth in (20, 32, 44, 56, 110, 1202, 18, 34, 50, 101, 152):
        assert f"resnet{depth}" in names
    for depth in (20, 32, 44, 56, 110, 18, 34):
        assert f"plain{depth}" in names
    assert MODELS["resnet20"].input_shape == (3, 32, 32)
    assert MODELS["resnet50"].input_shape == (3, 224, 224)
    assert get_model("ResNet-20").num_parameters() == resnet20().num_parameters()
    assert get_model("resnet20", shortcut="B").conv3_x[0].shortcut.num_parameters() > 0


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet21'.*resnet20, resnet32"):
        get_model("resnet21")


def test_a_batch_of_no_images_gives_no_logits_in_eval_and_a_clear_error_in_training():
    # eval: BatchNorm uses its running statistics, so N = 0 is fine (as in torch): (0, 10)
    model = resnet20().eval()
    x = Tensor(np.zeros((0, 3, 32, 32), dtype=np.float32))
    y = model(x)
    assert y.shape == (0, 10) and y.dtype == np.float32
    # training: batch statistics over no values would be NaN; the first BatchNorm says so
    with pytest.raises(OpError, match=r"more than one value per channel .* \(0, 16, 32, 32\)"):
        model.train()(x)
