"""VGG-16/19 (learnres/models/vgg.py) against torchvision's layout: a torchvision-shaped VGG
written here in torch (torchvision/models/vgg.py, abridged; torchvision itself is not
installed), parameter counts derived from the configurations and compared with
torchvision's published ones, the weight converter, and the CIFAR variant."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from learnres import Tensor
from learnres.autograd import OpError
from learnres.models import (
    VGG,
    CifarVGG,
    canonical_name,
    from_torchvision_state_dict,
    get_model,
    list_models,
    load_torchvision_weights,
    normalise_name,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)
from learnres.models.vgg import torchvision_names
from learnres.nn import BatchNorm2d, Conv2d, MaxPool2d, init
from tests.models.test_imagenet import numpy_state, randomised

# torchvision's configurations "D" and "E" (its cfgs: 'M' is a 2x2 max pool)
CFGS = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
}
# torchvision's published counts (the num_params of its VGG16/19(_BN)_Weights)
TORCHVISION_PARAMS = {
    (vgg16, False): 138_357_544,
    (vgg16_bn, True): 138_365_992,
    (vgg19, False): 143_667_240,
    (vgg19_bn, True): 143_678_248,
}


@functools.lru_cache(maxsize=1)
def full_size(build) -> VGG:
    """The last full-size VGG built (building one allocates ~140M weights twice over: the
    default initialisation and torchvision's; the counting and the loading test share one)."""
    return build()


def params_from_cfg(cfg, batch_norm: bool, num_classes: int = 1000, fc=(4096, 4096)) -> int:
    """Parameters counted from the configuration alone: each 3x3 conv c_in*c_out*9 + c_out
    (bias), its BN 2*c_out, then 512*7*7 -> fc[0] -> fc[1] -> num_classes with biases."""
    total, c_in = 0, 3
    for v in cfg:
        if v != "M":
            total += c_in * v * 9 + v + (2 * v if batch_norm else 0)
            c_in = v
    widths = [512 * 7 * 7, *fc, num_classes]
    return total + sum(a * b + b for a, b in zip(widths, widths[1:]))


# ---- a torchvision-layout VGG in torch (torchvision/models/vgg.py, abridged) -------------


def tv_make_layers(cfg, batch_norm: bool) -> nn.Sequential:
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            conv = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            else:
                layers += [conv, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class TVVGG(nn.Module):
    """torchvision's VGG; ``width`` is 4096 there (smaller here for the quick output tests)."""

    def __init__(self, features, num_classes=1000, width=4096):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, width),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(width, width),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(width, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# ---- counts and layout ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, batch_norm", list(TORCHVISION_PARAMS), ids=["vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]
)
def test_parameter_counts_equal_torchvision(build, batch_norm):
    depth = 16 if build in (vgg16, vgg16_bn) else 19
    counted = params_from_cfg(CFGS[depth], batch_norm)
    assert counted == TORCHVISION_PARAMS[(build, batch_norm)]
    model = full_size(build)
    assert model.num_parameters() == counted
    assert model.batch_norm == batch_norm and model.depth == depth
    convs = [m for m in model.modules() if isinstance(m, Conv2d)]
    assert [c.out_channels for c in convs] == [v for v in CFGS[depth] if v != "M"]
    assert all(c.kernel_size == 3 and c.padding == 1 and c.bias is not None for c in convs)
    bns = sum(isinstance(m, BatchNorm2d) for m in model.modules())
    assert bns == (len(convs) if batch_norm else 0)


def test_the_torch_replica_is_torchvision_shaped():
    for depth, bn in [(16, False), (19, True)]:
        replica = TVVGG(tv_make_layers(CFGS[depth], bn))
        count = sum(p.numel() for p in replica.parameters())
        assert count == TORCHVISION_PARAMS[(vgg16 if depth == 16 else vgg19_bn, bn)]


def test_stages_follow_configurations_d_and_e():
    for depth, per_stage in [(16, [2, 2, 3, 3, 3]), (19, [2, 2, 4, 4, 4])]:
        model = VGG(depth, fc_width=8)  # same stages, a narrow classifier: quick to build
        assert [len(getattr(model, f"conv{k}")) // 2 for k in range(1, 6)] == per_stage
        assert all(isinstance(getattr(model, f"pool{k}"), MaxPool2d) for k in range(1, 6))
        assert (model.fc6.in_features, model.avgpool.output_size) == (512 * 7 * 7, (7, 7))
        assert [m.p for m in (model.drop6, model.drop7)] == [0.5, 0.5]


def test_forward_shapes_at_any_size_from_32():
    model = VGG(16, batch_norm=True, fc_width=16, num_classes=10).eval()
    for size in (32, 40, 64):
        x = Tensor(np.zeros((2, 3, size, size), dtype=np.float32))
        assert model(x).shape == (2, 10)
    with pytest.raises(OpError, match=r"VGG-16-BN expects images of at least 32x32 \(five 2x2"):
        model(Tensor(np.zeros((1, 3, 16, 16), dtype=np.float32)))
    with pytest.raises(ValueError, match="depth 16 or 19"):
        VGG(11)


def test_dropout_is_active_in_training_only():
    init.manual_seed(0)
    model = VGG(16, fc_width=32, num_classes=5)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    assert not np.array_equal(model(x).data, model(x).data)  # new masks each call
    model.eval()
    assert np.array_equal(model(x).data, model(x).data)


def test_initialisation_is_torchvisions():
    init.manual_seed(0)
    model = VGG(19, fc_width=256)
    conv = model.conv4[2]  # conv4_2 ([conv, ReLU] per layer): 512 -> 512, fan_out = 512 * 9
    assert abs(conv.weight.data.std() - np.sqrt(2 / (512 * 9))) < 0.01 * np.sqrt(2 / (512 * 9))
    assert not conv.bias.data.any() and not model.fc7.bias.data.any()
    assert abs(model.fc6.weight.data.std() - 0.01) < 2e-4


# ---- torchvision weights -----------------------------------------------------------------


def test_torchvision_names_follow_features_and_classifier():
    names = torchvision_names(VGG(16, fc_width=8))
    assert [names[f"features.{i}"] for i in (0, 2, 4, 5, 30)] == [
        "conv1.0",
        "conv1.2",
        "pool1",
        "conv2.0",
        "pool5",
    ]
    names = torchvision_names(VGG(16, batch_norm=True, fc_width=8))
    assert [names[f"features.{i}"] for i in (1, 6, 7, 43)] == [
        "conv1.1",
        "pool1",
        "conv2.0",
        "pool5",
    ]
    assert [names[f"classifier.{i}"] for i in (0, 3, 6)] == ["fc6", "fc7", "fc8"]


@pytest.mark.parametrize("depth, batch_norm", [(16, False), (19, True)], ids=["vgg16", "vgg19_bn"])
def test_torchvision_weights_give_torchvision_outputs(depth, batch_norm):
    """Random weights and running statistics in the torchvision layout (a narrow classifier
    keeps float64 quick), loaded through the converter: the same logits at 32x32 (pool5 at
    1x1, repeated to 7x7) and 64x64 (overlapping 7x7 bins over 2x2)."""
    torch.manual_seed(depth)
    tv = randomised(TVVGG(tv_make_layers(CFGS[depth], batch_norm), 10, width=64).double(), depth)
    model = VGG(depth, batch_norm=batch_norm, num_classes=10, fc_width=64).double().eval()
    load_torchvision_weights(model, numpy_state(tv))
    for size in (32, 64):
        x = np.random.default_rng(size).standard_normal((2, 3, size, size))
        ours = model(Tensor(x)).data
        theirs = tv(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10 * np.abs(theirs).max())


def test_full_size_torchvision_state_dict_loads_where_it_belongs():
    """torchvision's vgg19_bn keys and shapes, full size, land on the layer they name."""
    tv = TVVGG(tv_make_layers(CFGS[19], True))
    model = load_torchvision_weights(full_size(vgg19_bn), numpy_state(tv))
    pairs = [
        (model.conv2[0], tv.features[7]),
        (model.conv5[9], tv.features[49]),
        (model.fc6, tv.classifier[0]),
        (model.fc8, tv.classifier[6]),
    ]
    for ours, theirs in pairs:
        assert np.array_equal(ours.weight.data, theirs.weight.detach().numpy())
    assert np.array_equal(model.conv1[1].running_var, tv.features[1].running_var.numpy())


def test_a_checkpoint_of_another_layout_is_refused_with_reasons():
    state = numpy_state(TVVGG(tv_make_layers(CFGS[16], False), width=8))
    with pytest.raises(ValueError, match=r"does not fit VGG-19.*missing key\(s\): conv3"):
        from_torchvision_state_dict(state, VGG(19, fc_width=8))
    with pytest.raises(ValueError, match=r"with batch norm\?\): missing.*conv1.1.weight"):
        from_torchvision_state_dict(state, VGG(16, batch_norm=True, fc_width=8))
    with pytest.raises(TypeError, match="load into a learnres VGG"):
        from_torchvision_state_dict(state, CifarVGG(16))


# ---- the CIFAR variant and the registry --------------------------------------------------


def test_cifar_vgg_has_vggs_convolutions_and_one_fc_layer():
    for depth in (16, 19):
        model = CifarVGG(depth, num_classes=100)
        convs = params_from_cfg(CFGS[depth], batch_norm=True, fc=()) - (512 * 49 * 1000 + 1000)
        assert model.num_parameters() == convs + 512 * 100 + 100
        x = Tensor(np.zeros((2, 3, 32, 32), dtype=np.float32))
        assert model(x).shape == (2, 100)
        assert model.name == f"VGG-{depth}-BN (CIFAR)"


def test_registry_names():
    names = list_models()
    for name in ("vgg16", "vgg16-bn", "vgg19", "vgg19-bn", "vgg16-cifar", "vgg19-cifar"):
        assert name in names
    assert canonical_name("VGG19_BN") == "vgg19-bn"
    assert canonical_name("vgg16cifar") == "vgg16-cifar"
    # one spelling rule for models and stored runs (learnres.lectures.runs uses it too)
    assert {normalise_name(n) for n in ("ResNet-56", "resnet_56", "resnet 56")} == {"resnet56"}
    assert canonical_name("ResNet 56") == "resnet56"
    assert isinstance(get_model("vgg19_cifar", num_classes=100), CifarVGG)
    with pytest.raises(ValueError, match="unknown model 'vgg13'.*vgg16, vgg16-bn"):
        get_model("vgg13")
