"""VGG-16 and VGG-19 (Simonyan & Zisserman, 2015): the plain networks the paper measures
its ResNets against. Fig. 3 sets VGG-19 (19.6 billion FLOPs) beside the 34-layer plain net
and ResNet-34 (3.6 billion). Layout, names of the weights and parameter counts are
torchvision's; the stages are named as in the VGG paper's models (conv3_2 is the second
convolution of ``conv3``; pool3; fc6, fc7, fc8).

Configurations D (16 weight layers) and E (19) of the VGG paper, for 224x224 images:

    stage   output    VGG-16          VGG-19
    conv1   224x224   [3x3, 64] x2    [3x3, 64] x2      then pool1: 2x2 max pool, stride 2
    conv2   112x112   [3x3, 128] x2   [3x3, 128] x2     pool2
    conv3   56x56     [3x3, 256] x3   [3x3, 256] x4     pool3
    conv4   28x28     [3x3, 512] x3   [3x3, 512] x4     pool4
    conv5   14x14     [3x3, 512] x3   [3x3, 512] x4     pool5: 7x7
            fc6 4096 - ReLU - dropout, fc7 4096 - ReLU - dropout, fc8 1000
    parameters        138,357,544     143,667,240       (torchvision's counts)
    mult-adds         15.5 G          19.6 G            (the paper's "19.6 billion FLOPs")

Every convolution is 3x3 with padding 1 and a bias, followed by ReLU; with
``batch_norm=True`` by BN and then ReLU, as torchvision's ``vgg16_bn`` / ``vgg19_bn``
(138,365,992 / 143,678,248 parameters: BN adds a gamma and a beta per channel). Each stage
``convK`` is a ``Sequential`` of [Conv2d, (BatchNorm2d,) ReLU] per layer: the children of
torchvision's ``features``, stage by stage, with its max pools as ``poolK``.

Between pool5 and fc6 sits torchvision's ``AdaptiveAvgPool2d((7, 7))``: at 224x224 its input
is already 7x7 and it changes nothing; smaller inputs pass too (a 32x32 image reaches pool5
at 1x1, which it repeats 7x7 times), which keeps ``learnres check vgg16`` fast.

``load_torchvision_weights(model, state_dict)`` loads a torchvision VGG's state dict (NumPy
arrays): ``features.i`` is renamed to the stage and position of layer i, ``classifier.0/3/6``
to ``fc6/fc7/fc8`` (``torchvision_names``).

``CifarVGG`` (``vgg16_cifar``, ``vgg19_cifar``): the same convolution stages, with BN, for
32x32 images (pool5 leaves 1x1x512), then global average pooling and a single fc layer
(512 -> num_classes) instead of the three wide ones, as CIFAR codebases do: 14.7M / 20.0M
parameters. It is the plain partner of the CIFAR-stem ResNet-18/34 (``learnres.models.
imagenet``) in the CIFAR-100 comparison (``learnres train --model vgg16-cifar``).

Initialisation as torchvision: convolutions ``kaiming_normal_(mode="fan_out",
nonlinearity="relu")`` with zero bias, BN gamma 1 and beta 0, fully connected weights
N(0, 0.01^2) with zero bias.
"""

from __future__ import annotations

import numpy as np

from learnres.functions.elementwise import relu
from learnres.models._checks import check_images, check_state_fits
from learnres.nn import init
from learnres.nn.batchnorm import BatchNorm2d
from learnres.nn.container import Sequential
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Dropout, Flatten, Linear, ReLU
from learnres.nn.module import Module
from learnres.nn.pool import AdaptiveAvgPool2d, MaxPool2d

__all__ = [
    "VGG_WIDTHS",
    "VGG_LAYOUTS",
    "VGG",
    "CifarVGG",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "vgg16_cifar",
    "vgg19_cifar",
    "make_vgg_stage",
    "init_vgg",
    "torchvision_names",
    "from_torchvision_state_dict",
    "load_torchvision_weights",
]

VGG_WIDTHS = (64, 128, 256, 512, 512)  # filters of conv1 .. conv5
# depth -> 3x3 convolutions per stage: configurations D and E of the VGG paper
VGG_LAYOUTS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
FC_WIDTH = 4096  # fc6 and fc7
POOL_OUTPUT = 7  # torchvision's AdaptiveAvgPool2d((7, 7)) before fc6
MIN_INPUT_SIZE = 32  # five 2x2 max pools take 32x32 to 1x1


def make_vgg_stage(in_channels: int, width: int, n: int, batch_norm: bool) -> Sequential:
    """One stage: ``n`` 3x3 convolutions (padding 1, with bias) of ``width`` filters, each
    followed by (BN and) ReLU. The children are numbered as in torchvision's ``features``."""
    layers = []
    for _ in range(n):
        layers.append(Conv2d(in_channels, width, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(BatchNorm2d(width))
        layers.append(ReLU())
        in_channels = width
    return Sequential(*layers)


def _add_stages(model: Module, depth: int, batch_norm: bool, in_channels: int) -> None:
    """conv1, pool1, ..., conv5, pool5 on ``model``, in forward order."""
    if depth not in VGG_LAYOUTS:
        raise ValueError(f"VGG has depth 16 or 19 (configurations D and E), got {depth!r}")
    for k, (width, n) in enumerate(zip(VGG_WIDTHS, VGG_LAYOUTS[depth]), start=1):
        setattr(model, f"conv{k}", make_vgg_stage(in_channels, width, n, batch_norm))
        setattr(model, f"pool{k}", MaxPool2d(kernel_size=2, stride=2))
        in_channels = width


def init_vgg(model: Module) -> Module:
    """torchvision's VGG initialisation: convolutions He-normal (fan_out) with zero bias,
    fully connected layers N(0, 0.01^2) with zero bias; BN layers keep gamma 1, beta 0."""
    for module in model.modules():
        if isinstance(module, Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            init.zeros_(module.bias)
        elif isinstance(module, Linear):
            init.normal_(module.weight, 0.0, 0.01)
            init.zeros_(module.bias)
    return model


class VGG(Module):
    """conv1 .. conv5 of 3x3 convolutions, each stage followed by a 2x2 max pool, then
    fc6, fc7 (4096 units, ReLU, dropout) and fc8 (see the module docstring).

    Arguments:
        depth: 16 or 19.
        batch_norm: BN after every convolution (torchvision's ``vgg16_bn``).
        num_classes: 1000 for ImageNet.
        in_channels: 3 for colour images.
        dropout: probability of the dropout after fc6 and fc7 (0.5, the VGG paper's).
        fc_width: units of fc6 and fc7 (4096, the paper's; fewer make a small VGG for
            quick tests of the same layout).

    Shapes: x (N, in_channels, H, W) with H, W >= 32 (224 in the paper) -> (N, num_classes).
    """

    def __init__(
        self,
        depth: int,
        batch_norm: bool = False,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.5,
        fc_width: int = FC_WIDTH,
    ):
        super().__init__()
        self.depth, self.batch_norm = depth, batch_norm
        self.num_classes, self.in_channels = num_classes, in_channels
        _add_stages(self, depth, batch_norm, in_channels)
        self.avgpool = AdaptiveAvgPool2d((POOL_OUTPUT, POOL_OUTPUT))
        self.flatten = Flatten()
        self.fc6 = Linear(VGG_WIDTHS[-1] * POOL_OUTPUT * POOL_OUTPUT, fc_width)
        self.drop6 = Dropout(dropout)
        self.fc7 = Linear(fc_width, fc_width)
        self.drop7 = Dropout(dropout)
        self.fc8 = Linear(fc_width, num_classes)
        init_vgg(self)

    @property
    def name(self) -> str:
        return f"VGG-{self.depth}{'-BN' if self.batch_norm else ''}"

    def forward(self, x):
        check_images(
            self.name,
            x,
            self.in_channels,
            min_size=MIN_INPUT_SIZE,
            why="five 2x2 max pools halve them",
        )
        out = self.pool1(self.conv1(x))  # (N, 64, 112, 112) for 224x224 input
        out = self.pool2(self.conv2(out))  # (N, 128, 56, 56)
        out = self.pool3(self.conv3(out))  # (N, 256, 28, 28)
        out = self.pool4(self.conv4(out))  # (N, 512, 14, 14)
        out = self.pool5(self.conv5(out))  # (N, 512, 7, 7)
        out = self.avgpool(out)  # (N, 512, 7, 7) whatever the input size
        out = self.flatten(out)  # (N, 512 * 7 * 7)
        out = self.drop6(relu(self.fc6(out)))  # (N, fc_width = 4096)
        out = self.drop7(relu(self.fc7(out)))  # (N, 4096)
        return self.fc8(out)  # (N, num_classes)


class CifarVGG(Module):
    """VGG's convolution stages for 32x32 images, global average pooling and one fc layer.

    Arguments:
        depth: 16 or 19 (the convolutions of configuration D or E: 13 or 16).
        num_classes: 10 for CIFAR-10, 100 for CIFAR-100.
        in_channels: 3 for colour images.
        batch_norm: BN after every convolution (default; deep VGGs train badly without).

    Shapes: x (N, in_channels, H, W) with H, W >= 32 (32 on CIFAR) -> (N, num_classes).
    """

    def __init__(
        self, depth: int, num_classes: int = 10, in_channels: int = 3, batch_norm: bool = True
    ):
        super().__init__()
        self.depth, self.batch_norm = depth, batch_norm
        self.num_classes, self.in_channels = num_classes, in_channels
        _add_stages(self, depth, batch_norm, in_channels)
        self.avgpool = AdaptiveAvgPool2d(1)
        self.flatten = Flatten()
        self.fc = Linear(VGG_WIDTHS[-1], num_classes)
        init_vgg(self)

    @property
    def name(self) -> str:
        return f"VGG-{self.depth}{'-BN' if self.batch_norm else ''} (CIFAR)"

    def forward(self, x):
        check_images(
            self.name,
            x,
            self.in_channels,
            min_size=MIN_INPUT_SIZE,
            why="five 2x2 max pools halve them",
        )
        out = self.pool1(self.conv1(x))  # (N, 64, 16, 16) for 32x32 input
        out = self.pool2(self.conv2(out))  # (N, 128, 8, 8)
        out = self.pool3(self.conv3(out))  # (N, 256, 4, 4)
        out = self.pool4(self.conv4(out))  # (N, 512, 2, 2)
        out = self.pool5(self.conv5(out))  # (N, 512, 1, 1)
        out = self.avgpool(out)  # (N, 512, 1, 1)
        out = self.flatten(out)  # (N, 512)
        return self.fc(out)  # (N, num_classes)


def vgg16(**kwargs) -> VGG:
    """VGG-16 (configuration D): 138,357,544 parameters, 15.5 GFLOPs at 224x224."""
    return VGG(16, **kwargs)


def vgg16_bn(**kwargs) -> VGG:
    """VGG-16 with BN after every convolution (torchvision's vgg16_bn): 138,365,992."""
    return VGG(16, batch_norm=True, **kwargs)


def vgg19(**kwargs) -> VGG:
    """VGG-19 (configuration E): 143,667,240 parameters, 19.6 GFLOPs (Fig. 3)."""
    return VGG(19, **kwargs)


def vgg19_bn(**kwargs) -> VGG:
    """VGG-19 with BN after every convolution (torchvision's vgg19_bn): 143,678,248."""
    return VGG(19, batch_norm=True, **kwargs)


def vgg16_cifar(**kwargs) -> CifarVGG:
    """VGG-16's 13 convolutions with BN, global average pooling and one fc layer (32x32)."""
    return CifarVGG(16, **kwargs)


def vgg19_cifar(**kwargs) -> CifarVGG:
    """VGG-19's 16 convolutions with BN, global average pooling and one fc layer (32x32)."""
    return CifarVGG(19, **kwargs)


# ---- torchvision checkpoints ---------------------------------------------------------------


def torchvision_names(model: VGG) -> dict:
    """torchvision module name -> learnres module name, for ``model``'s layout.

    torchvision numbers the layers of all stages in one ``features`` Sequential, max pools
    included; its classifier is ``Sequential(fc6, ReLU, Dropout, fc7, ReLU, Dropout, fc8)``.

    >>> torchvision_names(vgg16())["features.5"]  # after conv1's 4 layers and pool1
    'conv2.0'
    """
    names, index = {}, 0
    for k in range(1, len(VGG_WIDTHS) + 1):
        for j in range(len(getattr(model, f"conv{k}"))):
            names[f"features.{index}"] = f"conv{k}.{j}"
            index += 1
        names[f"features.{index}"] = f"pool{k}"
        index += 1
    names.update({"classifier.0": "fc6", "classifier.3": "fc7", "classifier.6": "fc8"})
    return names


def from_torchvision_state_dict(state_dict, model: VGG) -> dict:
    """Rename a torchvision VGG's state dict (name -> NumPy array, e.g.
    ``{k: v.numpy() for k, v in tv_model.state_dict().items()}``) to ``model``'s keys, and
    check that keys and shapes fit it (the message says which do not)."""
    if not isinstance(model, VGG):
        raise TypeError(
            f"torchvision VGG weights load into a learnres VGG (vgg16, vgg19_bn, ...), got "
            f"{type(model).__name__}; pass the VGG they are for (its layout decides the names)"
        )
    names = torchvision_names(model)
    renamed = {}
    for key, value in state_dict.items():
        module, _, leaf = key.rpartition(".")  # "features.3.weight" -> "features.3", "weight"
        renamed[f"{names.get(module, module)}.{leaf}"] = np.asarray(value)
    bn = "with" if model.batch_norm else "without"
    check_state_fits(renamed, model, f"torchvision's VGG of the same depth, {bn} batch norm")
    return renamed


def load_torchvision_weights(model: VGG, state_dict) -> VGG:
    """Load a torchvision VGG state dict (NumPy arrays) into ``model``; returns model."""
    model.load_state_dict(from_torchvision_state_dict(state_dict, model), strict=True)
    return model
