"""Layers and models as Modules, shaped like ``torch.nn``: ``Module`` and ``Parameter``,
``Sequential``, the layers a ResNet needs, and ``init`` (He initialisation).

    from learnres import nn
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
"""

from learnres.nn import init
from learnres.nn.batchnorm import BatchNorm1d, BatchNorm2d
from learnres.nn.container import Sequential
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Dropout, Flatten, Identity, Linear, ReLU
from learnres.nn.module import IncompatibleKeys, Module
from learnres.nn.parameter import Parameter
from learnres.nn.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "init",
    "Module", "Parameter", "IncompatibleKeys",
    "Sequential", "Identity", "Flatten", "Linear", "ReLU", "Dropout",
    "Conv2d", "BatchNorm1d", "BatchNorm2d",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
]  # fmt: skip

# residual blocks (learnres/nn/blocks.py): their imports and __all__ entries go below this line
from learnres.nn.blocks import (  # noqa: E402  (after the layers the blocks are built from)
    BASIC_EXPANSION,
    BOTTLENECK_EXPANSION,
    BasicBlock,
    BasicLinearBlock,
    Bottleneck,
    PlainBasicBlock,
    PlainBottleneck,
    PlainLinearBlock,
    ZeroPadShortcut,
    make_shortcut,
    projection_shortcut,
    subsample_and_zero_pad,
)

__all__ += [
    "BasicBlock",
    "Bottleneck",
    "PlainBasicBlock",
    "PlainBottleneck",
    "BasicLinearBlock",
    "PlainLinearBlock",
    "ZeroPadShortcut",
    "subsample_and_zero_pad",
    "projection_shortcut",
    "make_shortcut",
    "BASIC_EXPANSION",
    "BOTTLENECK_EXPANSION",
]
