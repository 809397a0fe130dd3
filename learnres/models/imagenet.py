"""The ImageNet networks of Table 1: ResNet-18/34/50/101/152 and plain-18/34.

    layer     output    18-layer      34-layer      50-layer        101-layer       152-layer
    conv1     112x112   7x7, 64, stride 2
    conv2_x   56x56     3x3 max pool, stride 2, then
                        [3x3, 64]x2   [3x3, 64]x3   [1x1, 64 ]      x3  x3          x3
                                                    [3x3, 64 ]
                                                    [1x1, 256]
    conv3_x   28x28     [3x3,128]x2   x4            [1x1,128 .. 512]x4  x4          x8
    conv4_x   14x14     [3x3,256]x2   x6            [1x1,256 ..1024]x6  x23         x36
    conv5_x   7x7       [3x3,512]x2   x3            [1x1,512 ..2048]x3  x3          x3
              1x1       average pool, 1000-d fc, softmax
    FLOPs               1.8e9         3.6e9         3.8e9           7.6e9           11.3e9

(FLOPs in the paper are multiply-adds, counted by ``learnres.analysis.summary``.) The
first block of conv3_x, conv4_x and conv5_x has stride 2.

Shortcuts default to option B (projection where the shape changes), as torchvision's
models; the paper's Table 3 compares A, B and C on ResNet-34. Bottlenecks put the stride on
their first 1x1 convolution (``stride_in_1x1=True``, the paper's layout, which gives Table
1's 3.8 GFLOPs for ResNet-50); ``stride_in_1x1=False`` is torchvision's ("ResNet v1.5",
4.1 GFLOPs), needed to load its weights with ``load_torchvision_weights``. Parameter counts
are torchvision's exactly: 11,689,512 / 21,797,672 / 25,557,032 / 44,549,160 / 60,192,808.

Initialisation as torchvision: convolutions ``kaiming_normal_(mode="fan_out",
nonlinearity="relu")``, BN gamma 1 and beta 0, the fc layer its default.

``stem="cifar"`` adapts the same networks to 32x32 images (CIFAR-10/100), as CIFAR
codebases do for ResNet-18/34: conv1 becomes a 3x3 convolution with stride 1 and the max
pool is left out (``maxpool`` is then an ``Identity``, so the layout and the state-dict keys
stay Table 1's). The stages then work at 32, 16, 8 and 4 pixels instead of 56 .. 7.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping

import numpy as np

from learnres.functions.elementwise import relu
from learnres.models._checks import check_images, check_state_fits
from learnres.models.stages import init_he, make_stage
from learnres.nn.batchnorm import BatchNorm2d
from learnres.nn.blocks import (
    SHORTCUT_OPTIONS,
    BasicBlock,
    Bottleneck,
    PlainBasicBlock,
    PlainBottleneck,
)
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Flatten, Identity, Linear
from learnres.nn.module import Module
from learnres.nn.pool import AdaptiveAvgPool2d, MaxPool2d

__all__ = [
    "IMAGENET_WIDTHS",
    "IMAGENET_LAYOUTS",
    "ImageNetResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "plain18",
    "plain34",
    "STEMS",
    "torchvision_key",
    "from_torchvision_state_dict",
    "load_torchvision_weights",
]

IMAGENET_WIDTHS = (64, 128, 256, 512)  # planes of conv2_x .. conv5_x (Table 1)
STEM_WIDTH = 64  # conv1: 7x7, 64, stride 2
STEMS = ("imagenet", "cifar")  # Table 1's stem; 3x3, stride 1, no max pool for 32x32 images
# the smallest input: five halvings (conv1, max pool, conv3_x .. conv5_x) reach 1x1 from 32;
# the CIFAR stem halves three times (conv3_x .. conv5_x)
MIN_INPUT_SIZE = {"imagenet": 32, "cifar": 8}

# depth -> (residual block, plain block, blocks per stage), Table 1
IMAGENET_LAYOUTS = {
    18: (BasicBlock, PlainBasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, PlainBasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, PlainBottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, PlainBottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, PlainBottleneck, (3, 8, 36, 3)),
}


class ImageNetResNet(Module):
    """conv1 (7x7, 64, stride 2) - BN - ReLU - max pool (3x3, stride 2), stages conv2_x ..
    conv5_x, global average pool, fc (Table 1).

    Arguments:
        depth: 18, 34, 50, 101 or 152.
        residual: blocks with shortcuts (ResNet) or without (plain net).
        shortcut: "A", "B" (default) or "C" (residual nets only).
        stride_in_1x1: where a bottleneck's stride sits (see the module docstring).
        num_classes: 1000 for ImageNet.
        in_channels: 3 for colour images.
        zero_init_residual: start every block's last BN gamma at 0 (residual nets only).
        stem: "imagenet" (Table 1: 7x7, stride 2, then a 3x3 max pool) or "cifar" (3x3,
            stride 1, no max pool; for 32x32 images).

    Shapes: x (N, in_channels, H, W) with H, W >= 32 (224 in the paper; >= 8 with the CIFAR
    stem, 32 on CIFAR) -> (N, num_classes).
    """

    def __init__(
        self,
        depth: int,
        residual: bool = True,
        shortcut: str = "B",
        stride_in_1x1: bool = True,
        num_classes: int = 1000,
        in_channels: int = 3,
        zero_init_residual: bool = False,
        stem: str = "imagenet",
    ):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"stem must be 'imagenet' (Table 1) or 'cifar' (32x32), got {stem!r}")
        if depth not in IMAGENET_LAYOUTS:
            raise ValueError(
                f"ImageNet ResNets of Table 1 have depth 18, 34, 50, 101 or 152, got {depth!r}"
            )
        if shortcut not in SHORTCUT_OPTIONS:
            raise ValueError(f"shortcut must be one of 'A', 'B', 'C' (Sec. 3.3), got {shortcut!r}")
        residual_block, plain_block, counts = IMAGENET_LAYOUTS[depth]
        block = residual_block if residual else plain_block
        options = {}
        if residual:
            options.update(shortcut=shortcut, zero_init_residual=zero_init_residual)
        if block in (Bottleneck, PlainBottleneck):
            options.update(stride_in_1x1=stride_in_1x1)
        self.depth, self.residual, self.in_channels = depth, residual, in_channels
        self.num_classes, self.stem = num_classes, stem
        if stem == "imagenet":
            self.conv1 = Conv2d(in_channels, STEM_WIDTH, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = Conv2d(in_channels, STEM_WIDTH, 3, stride=1, padding=1, bias=False)
        self.bn1 = BatchNorm2d(STEM_WIDTH)
        if stem == "imagenet":
            self.maxpool = MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.maxpool = Identity()  # no max pool on 32x32 images
        in_planes = STEM_WIDTH
        for index, (planes, n) in enumerate(zip(IMAGENET_WIDTHS, counts)):
            stride = 1 if index == 0 else 2  # conv2_x is already halved by the max pool
            stage = make_stage(block, in_planes, planes, n, stride, **options)
            setattr(self, f"conv{index + 2}_x", stage)
            in_planes = planes * block.expansion
        self.avgpool = AdaptiveAvgPool2d(1)
        self.flatten = Flatten()
        self.fc = Linear(in_planes, num_classes)
        init_he(self)

    @property
    def name(self) -> str:
        stem = " (CIFAR stem)" if self.stem == "cifar" else ""
        return f"{'ResNet' if self.residual else 'plain'}-{self.depth}{stem}"

    def forward(self, x):
        halvings = "five" if self.stem == "imagenet" else "three"
        check_images(
            self.name,
            x,
            self.in_channels,
            min_size=MIN_INPUT_SIZE[self.stem],
            why=f"it halves them {halvings} times",
        )
        # shapes for a 224x224 input; with the CIFAR stem and 32x32: 32, 32, 16, 8, 4
        out = relu(self.bn1(self.conv1(x)))  # (N, 64, 112, 112) for 224x224 input
        out = self.maxpool(out)  # (N, 64, 56, 56)
        out = self.conv2_x(out)  # (N, 64 * e, 56, 56), e = block.expansion
        out = self.conv3_x(out)  # (N, 128 * e, 28, 28)
        out = self.conv4_x(out)  # (N, 256 * e, 14, 14)
        out = self.conv5_x(out)  # (N, 512 * e, 7, 7)
        out = self.avgpool(out)  # (N, 512 * e, 1, 1)
        out = self.flatten(out)  # (N, 512 * e)
        return self.fc(out)  # (N, num_classes)


def resnet18(**kwargs) -> ImageNetResNet:
    """ResNet-18: basic blocks [2, 2, 2, 2], 11.7M parameters, 1.8 GFLOPs (Table 1)."""
    return ImageNetResNet(18, **kwargs)


def resnet34(**kwargs) -> ImageNetResNet:
    """ResNet-34: basic blocks [3, 4, 6, 3], 21.8M parameters, 3.6 GFLOPs."""
    return ImageNetResNet(34, **kwargs)


def resnet50(**kwargs) -> ImageNetResNet:
    """ResNet-50: bottlenecks [3, 4, 6, 3], 25.6M parameters, 3.8 GFLOPs."""
    return ImageNetResNet(50, **kwargs)


def resnet101(**kwargs) -> ImageNetResNet:
    """ResNet-101: bottlenecks [3, 4, 23, 3], 44.5M parameters, 7.6 GFLOPs."""
    return ImageNetResNet(101, **kwargs)


def resnet152(**kwargs) -> ImageNetResNet:
    """ResNet-152: bottlenecks [3, 8, 36, 3], 60.2M parameters, 11.3 GFLOPs."""
    return ImageNetResNet(152, **kwargs)


def plain18(**kwargs) -> ImageNetResNet:
    """plain-18: ResNet-18's layers without shortcuts (Table 2: 27.94% top-1)."""
    return ImageNetResNet(18, residual=False, **kwargs)


def plain34(**kwargs) -> ImageNetResNet:
    """plain-34 (Table 2: 28.54% top-1, worse than plain-18: the degradation problem)."""
    return ImageNetResNet(34, residual=False, **kwargs)


# ---- torchvision checkpoints ---------------------------------------------------------------

_STAGE = re.compile(r"^layer([1-4])\.")


def torchvision_key(key: str) -> str:
    """A torchvision ResNet state-dict key in learnres's naming:
    ``layer1`` -> ``conv2_x`` (Table 1: layerK is conv{K+1}_x), ``downsample`` ->
    ``shortcut``; everything else (conv1, bn1, fc, a block's conv/bn) is already the same.

    >>> torchvision_key("layer2.0.downsample.0.weight")
    'conv3_x.0.shortcut.0.weight'
    """
    key = _STAGE.sub(lambda m: f"conv{int(m.group(1)) + 1}_x.", key)
    return key.replace(".downsample.", ".shortcut.")


def from_torchvision_state_dict(state_dict, model: ImageNetResNet | None = None) -> dict:
    """Rename a torchvision ResNet's state dict (name -> NumPy array, e.g.
    ``{k: v.numpy() for k, v in tv_model.state_dict().items()}``) to learnres's keys.

    With ``model``, check that the keys and shapes fit it and say which do not (a common
    cause: a bottleneck model built with ``stride_in_1x1=True`` has the same shapes but not
    torchvision's layout; build it with ``stride_in_1x1=False`` to get the same outputs).
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            "from_torchvision_state_dict expects a mapping of name -> array (such as "
            "{k: v.numpy() for k, v in tv_model.state_dict().items()}), got "
            f"{type(state_dict).__name__}"
        )
    renamed = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"torchvision state dict keys are names, got {key!r}")
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":  # object arrays, strings, complex numbers
            raise TypeError(f"{key}: expected a numeric array, got dtype {value.dtype}")
        renamed[torchvision_key(key)] = value
    if model is not None:
        check_state_fits(renamed, model, "a torchvision ResNet of the same depth")
    return renamed


def load_torchvision_weights(model: ImageNetResNet, state_dict) -> ImageNetResNet:
    """Load a torchvision ResNet state dict (NumPy arrays) into ``model``; returns model.

    For ResNet-50/101/152 the model should be built with ``stride_in_1x1=False``
    (torchvision's layout), otherwise the weights load but compute something else.
    All or nothing: a state dict that does not fit (keys, shapes, non-numeric values)
    raises before any weight of ``model`` changes.
    """
    state = from_torchvision_state_dict(state_dict, model)
    first = model.conv3_x[0]
    if isinstance(first, (Bottleneck, PlainBottleneck)) and first.conv1.stride != 1:
        warnings.warn(
            f"loading torchvision weights into {model.name} built with stride_in_1x1=True: "
            "torchvision strides the 3x3 convolution; build the model with "
            "stride_in_1x1=False to get torchvision's outputs",
            stacklevel=2,
        )
    model.load_state_dict(state, strict=True)
    return model
