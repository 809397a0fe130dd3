"""The ImageNet networks of Table 1 (learnres/models/imagenet.py) and the torchvision
converter, tested on a torchvision-layout ResNet written here in torch (torchvision itself
is not installed): same module names, so the same state-dict keys."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from learnres import Tensor
from learnres.autograd import OpError
from learnres.models import (
    from_torchvision_state_dict,
    load_torchvision_weights,
    plain18,
    plain34,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from learnres.models.imagenet import ImageNetResNet, torchvision_key
from learnres.nn import Bottleneck, Identity

# torchvision's counts (its model cards); DESIGN.md
TORCHVISION_PARAMS = {
    resnet18: 11_689_512,
    resnet34: 21_797_672,
    resnet50: 25_557_032,
    resnet101: 44_549_160,
    resnet152: 60_192_808,
}


@functools.cache
def built(build):
    """One model per constructor for the tests that only look at it (building ResNet-152
    takes seconds)."""
    return build()


# ---- a torchvision-layout ResNet in torch (torchvision/models/resnet.py, abridged) -------


class TVBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class TVBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5: stride here
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class TVResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and running statistics (not the defaults, so eval mode means something)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("num_batches_tracked"):
                t.fill_(7)
            elif t.is_floating_point():  # BN gammas near 1, everything else near 0
                centre = 1.0 if t.ndim == 1 and name.endswith("weight") else 0.0
                scale = 0.2 if t.ndim > 1 else 0.5
                t.copy_(centre + scale * torch.randn(t.shape, generator=g))
    return model.eval()


def numpy_state(model: nn.Module) -> dict:
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


# ---- tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("build", list(TORCHVISION_PARAMS), ids=lambda f: f.__name__)
def test_parameter_counts_equal_torchvision(build):
    assert built(build).num_parameters() == TORCHVISION_PARAMS[build]


def test_the_torch_replica_is_torchvision_shaped():
    replica = TVResNet(TVBottleneck, [3, 4, 6, 3])
    assert sum(p.numel() for p in replica.parameters()) == TORCHVISION_PARAMS[resnet50]


def test_table_1_layout():
    model = built(resnet34)
    assert [len(getattr(model, f"conv{i}_x")) for i in range(2, 6)] == [3, 4, 6, 3]
    assert (model.conv1.kernel_size, model.conv1.stride, model.conv1.out_channels) == (7, 2, 64)
    assert (model.maxpool.kernel_size, model.maxpool.stride) == (3, 2)
    assert [len(getattr(built(resnet152), f"conv{i}_x")) for i in range(2, 6)] == [3, 8, 36, 3]
    assert isinstance(built(resnet101).conv4_x[22], Bottleneck)
    assert model.fc.out_features == 1000
    assert not any(hasattr(m, "shortcut") for m in built(plain34).modules())
    x = Tensor(np.zeros((1, 3, 64, 64), dtype=np.float32))
    assert plain18()(x).shape == (1, 1000)


def test_option_b_projects_only_where_the_shape_changes():
    modules = dict(built(resnet34).named_modules())
    projections = [n for n, m in modules.items() if n.endswith("shortcut") and m.num_parameters()]
    assert projections == ["conv3_x.0.shortcut", "conv4_x.0.shortcut", "conv5_x.0.shortcut"]
    projection_params = sum(modules[n].num_parameters() for n in projections)
    option_b = built(resnet34).num_parameters()
    assert resnet34(shortcut="A").num_parameters() == option_b - projection_params


def test_torchvision_keys_are_renamed_to_the_papers():
    assert torchvision_key("layer1.0.conv1.weight") == "conv2_x.0.conv1.weight"
    assert (
        torchvision_key("layer4.0.downsample.1.running_var") == "conv5_x.0.shortcut.1.running_var"
    )
    assert torchvision_key("fc.bias") == "fc.bias"
    assert torchvision_key("bn1.num_batches_tracked") == "bn1.num_batches_tracked"


@pytest.mark.parametrize(
    "depth, tv_block, layers",
    [(18, TVBasicBlock, [2, 2, 2, 2]), (50, TVBottleneck, [3, 4, 6, 3])],
    ids=["resnet18", "resnet50"],
)
def test_torchvision_weights_give_torchvision_outputs(depth, tv_block, layers):
    torch.manual_seed(0)
    tv = randomised(TVResNet(tv_block, layers).double(), seed=depth)
    model = ImageNetResNet(depth, stride_in_1x1=False).double().eval()
    load_torchvision_weights(model, numpy_state(tv))
    x = np.random.default_rng(depth).standard_normal((2, 3, 64, 64))
    ours = model(Tensor(x)).data
    theirs = tv(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10 * np.abs(theirs).max())
    assert model.conv2_x[0].bn1.num_batches_tracked == 7


def test_loading_into_the_papers_bottleneck_layout_warns():
    tv = TVResNet(TVBottleneck, [3, 4, 6, 3])
    with pytest.warns(UserWarning, match="stride_in_1x1=False"):
        load_torchvision_weights(built(resnet50), numpy_state(tv))


def test_a_checkpoint_of_another_depth_is_refused_with_reasons():
    state = numpy_state(TVResNet(TVBasicBlock, [2, 2, 2, 2]))
    with pytest.raises(ValueError, match=r"does not fit ResNet-34.*missing key\(s\)"):
        from_torchvision_state_dict(state, built(resnet34))
    state["fc.weight"] = state["fc.weight"][:10]
    with pytest.raises(ValueError, match="size mismatch for fc.weight"):
        from_torchvision_state_dict(state, built(resnet18))


@pytest.mark.parametrize("depth", [16, 20, 200])
def test_unknown_imagenet_depth(depth):
    with pytest.raises(ValueError, match="18, 34, 50, 101 or 152"):
        ImageNetResNet(depth)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 3, 16, 16), "at least 32x32"),
        ((1, 1, 64, 64), r"\(N, 3, H, W\)"),
        ((3, 224, 224), "add the batch axis"),
    ],
)
def test_wrong_input_sizes(shape, message):
    with pytest.raises(OpError, match=message):
        built(resnet18)(Tensor(np.zeros(shape, dtype=np.float32)))


# ---- the CIFAR stem (the "-cifar" models of the CIFAR-100 comparison) ---------------------


@pytest.mark.parametrize("depth", [18, 34])
def test_cifar_stem_keeps_the_32x32_map(depth):
    model = ImageNetResNet(depth, stem="cifar", shortcut="A", num_classes=100)
    assert (model.conv1.kernel_size, model.conv1.stride, model.conv1.padding) == (3, 1, 1)
    assert isinstance(model.maxpool, Identity) and model.name == f"ResNet-{depth} (CIFAR stem)"
    # the same weights as Table 1's net but for conv1 (3x3 instead of 7x7) and the fc layer
    imagenet = built(resnet18 if depth == 18 else resnet34)
    difference = 64 * 3 * (7 * 7 - 3 * 3) + 512 * (1000 - 100) + (1000 - 100)
    projections = sum(
        m.num_parameters() for n, m in imagenet.named_modules() if n.endswith("shortcut")
    )  # option B's; option A has none
    assert model.num_parameters() == imagenet.num_parameters() - difference - projections
    sizes = []
    x = Tensor(np.zeros((2, 3, 32, 32), dtype=np.float32))
    out = stem = model.maxpool(model.bn1(model.conv1(x)))
    for k in range(2, 6):
        out = getattr(model, f"conv{k}_x")(out)
        sizes.append(out.shape[2])
    assert stem.shape[2] == 32 and sizes == [32, 16, 8, 4]
    assert model(x).shape == (2, 100)


def test_cifar_stem_input_checks():
    model = plain18(stem="cifar").eval()  # 8x8 reaches conv5_x at 1x1
    assert model(Tensor(np.zeros((1, 3, 8, 8), dtype=np.float32))).shape == (1, 1000)
    with pytest.raises(OpError, match=r"at least 8x8 \(it halves them three times\)"):
        model(Tensor(np.zeros((1, 3, 4, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match="stem must be 'imagenet'.*or 'cifar'"):
        ImageNetResNet(18, stem="tiny")


def test_cifar_models_in_the_registry():
    from learnres.models import get_model

    resnet, plain = get_model("resnet34-cifar"), get_model("plain34_cifar")
    assert resnet.stem == plain.stem == "cifar"
    # option A by default: the ResNet has exactly its plain partner's parameters (Table 2)
    assert resnet.num_parameters() == plain.num_parameters()
    assert get_model("resnet18-cifar", shortcut="B").conv3_x[0].shortcut.num_parameters() > 0


@pytest.mark.parametrize(
    "bad",
    [np.array(["x"] * 1000), np.array([None] * 1000, dtype=object)],
    ids=["strings", "object array of None"],
)
def test_a_bad_last_entry_changes_no_weight(bad):
    """All or nothing (issue 15, item 5): main copied every earlier weight before failing on
    the last entry, or loaded the Nones silently as NaN."""
    state = numpy_state(TVResNet(TVBasicBlock, [2, 2, 2, 2]))
    state["fc.bias"] = bad
    model = built(resnet18)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(TypeError, match="fc.bias: expected a numeric array"):
        load_torchvision_weights(model, state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_the_converter_given_a_list_says_what_it_expects():
    with pytest.raises(TypeError, match="expects a mapping of name -> array.*got list"):
        from_torchvision_state_dict([1, 2])
    with pytest.raises(TypeError, match="expects a mapping"):
        load_torchvision_weights(built(resnet18), [("fc.bias", np.zeros(1000))])
