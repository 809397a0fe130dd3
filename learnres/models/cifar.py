"""The CIFAR-10 networks of Sec. 4.2: ResNets and plain nets of depth 6n+2, and deep MLPs.

Layout (the paper's table in Sec. 4.2), for 32x32 inputs:

    output map size   32x32     16x16     8x8
    layers            1 + 2n    2n        2n
    filters           16        32        64

``conv1`` (3x3, 16 filters) is followed by three stages of n ``BasicBlock`` s each. The
stages are named ``conv2_x``, ``conv3_x``, ``conv4_x``, continuing the paper's Table 1
naming (conv1, then conv2_x...), so CIFAR and ImageNet models read alike. The first block
of ``conv3_x`` and of ``conv4_x`` has stride 2 (halving the map, doubling the filters);
the network ends with global average pooling and a 10-way fully connected layer: 6n + 2
weighted layers. Shortcuts are option A (zero-padded identity, parameter-free), as in the
paper's CIFAR experiments; the plain nets are the same layers without shortcuts.

Parameters (Table 6; counted with ``learnres.analysis.summary``, option A, BN included):

    model        n     layers   params (exact)   paper
    ResNet-20    3     20         269,722        0.27M
    ResNet-32    5     32         464,154        0.46M
    ResNet-44    7     44         658,586        0.66M
    ResNet-56    9     56         853,018        0.85M
    ResNet-110   18    110      1,727,962        1.7M
    ResNet-1202  200   1202    19,421,274        19.4M

(Option B adds two 1x1 projections with their BN: ResNet-20 then has 272,474; option C
projects in every block: 283,962.)

Initialisation: He et al. (2015) as the paper says: every convolution's weight from
``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` (std = sqrt(2 / (out * k * k)),
the variance of the backward signal kept, as in the authors' Torch code and torchvision);
BN gamma = 1, beta = 0; the final Linear keeps its default (torch's) initialisation.

``mlp(depth, width)`` builds the fully connected counterpart used to show the degradation
problem (Sec. 4.1-4.2) without convolutions: Flatten, a first Linear-BN-ReLU layer,
(depth - 2) / 2 blocks of two Linear-BN layers (``PlainLinearBlock``, or
``BasicLinearBlock`` with an identity shortcut every 2 layers when ``residual=True``), and
the classifier: ``depth`` weighted layers in all. Hidden Linear layers have no bias (BN
follows) and He weights ~ N(0, 2 / fan_in); the classifier keeps its default.
"""

from __future__ import annotations

from learnres.autograd.function import OpError
from learnres.functions.elementwise import relu
from learnres.models._checks import check_images
from learnres.models.stages import init_he, make_stage
from learnres.nn import init
from learnres.nn.batchnorm import BatchNorm1d, BatchNorm2d
from learnres.nn.blocks import (
    SHORTCUT_OPTIONS,
    BasicBlock,
    BasicLinearBlock,
    PlainBasicBlock,
    PlainLinearBlock,
)
from learnres.nn.container import Sequential
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Flatten, Linear
from learnres.nn.module import Module
from learnres.nn.pool import AdaptiveAvgPool2d

__all__ = [
    "CIFAR_WIDTHS",
    "CIFAR_DEPTHS",
    "CifarResNet",
    "MLP",
    "blocks_per_stage",
    "resnet",
    "plain",
    "mlp",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet1202",
    "plain20",
    "plain32",
    "plain44",
    "plain56",
    "plain110",
    "init_he",
]

CIFAR_WIDTHS = (16, 32, 64)  # filters of the three stages (Sec. 4.2)
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)  # the depths of Table 6
LAYERS_PER_BLOCK = 2  # a BasicBlock stacks two 3x3 convolutions
NUM_STAGES = 3


def blocks_per_stage(depth: int) -> int:
    """n for a 6n+2-layer CIFAR network: 1 conv + 3 stages x n blocks x 2 convs + 1 fc."""
    weighted_per_block_row = NUM_STAGES * LAYERS_PER_BLOCK  # 6
    if (
        not isinstance(depth, int)
        or depth < weighted_per_block_row + 2
        or (depth - 2) % weighted_per_block_row
    ):
        raise ValueError(
            f"a CIFAR ResNet has depth 6n+2 (n >= 1 blocks per stage: 8, 14, 20, 26, ...; the "
            f"paper's are {', '.join(map(str, CIFAR_DEPTHS))}), got depth={depth!r}"
        )
    return (depth - 2) // weighted_per_block_row


class CifarResNet(Module):
    """conv1 (3x3, 16) - BN - ReLU, stages conv2_x/conv3_x/conv4_x of n blocks (16/32/64
    filters), global average pool, fc (Sec. 4.2).

    Arguments:
        block: ``BasicBlock`` (a ResNet) or ``PlainBasicBlock`` (a plain net).
        depth: 6n + 2.
        shortcut: "A" (the paper's), "B" or "C"; ignored for plain blocks.
        num_classes: outputs of the fc layer (10 for CIFAR-10, 100 for CIFAR-100).
        in_channels: 3 for colour images, 1 for Fashion-MNIST.
        zero_init_residual: start every block's last BN gamma at 0 (residual blocks only).

    Shapes: x (N, in_channels, H, W) (32x32 in the paper) -> logits (N, num_classes).
    """

    def __init__(
        self,
        block,
        depth: int,
        shortcut: str = "A",
        num_classes: int = 10,
        in_channels: int = 3,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        n = blocks_per_stage(depth)
        if shortcut not in SHORTCUT_OPTIONS:
            raise ValueError(f"shortcut must be one of 'A', 'B', 'C' (Sec. 3.3), got {shortcut!r}")
        self.depth, self.in_channels, self.num_classes = depth, in_channels, num_classes
        residual = block is BasicBlock
        options = (
            {"shortcut": shortcut, "zero_init_residual": zero_init_residual} if residual else {}
        )
        self.conv1 = Conv2d(in_channels, CIFAR_WIDTHS[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = BatchNorm2d(CIFAR_WIDTHS[0])
        in_planes = CIFAR_WIDTHS[0]
        for index, planes in enumerate(CIFAR_WIDTHS):
            stride = 1 if index == 0 else 2  # the first block of conv3_x, conv4_x halves the map
            stage = make_stage(block, in_planes, planes, n, stride, **options)
            setattr(self, f"conv{index + 2}_x", stage)
            in_planes = planes * block.expansion
        self.avgpool = AdaptiveAvgPool2d(1)
        self.flatten = Flatten()
        self.fc = Linear(in_planes, num_classes)
        init_he(self)

    @property
    def name(self) -> str:
        kind = "ResNet" if isinstance(self.conv2_x[0], BasicBlock) else "plain"
        return f"{kind}-{self.depth}"

    def forward(self, x):
        check_images(self.name, x, self.in_channels)
        out = relu(self.bn1(self.conv1(x)))  # (N, 16, 32, 32)
        out = self.conv2_x(out)  # (N, 16, 32, 32)
        out = self.conv3_x(out)  # (N, 32, 16, 16)
        out = self.conv4_x(out)  # (N, 64, 8, 8)
        out = self.avgpool(out)  # (N, 64, 1, 1)
        out = self.flatten(out)  # (N, 64)
        return self.fc(out)  # (N, num_classes)


def resnet(
    depth: int,
    shortcut: str = "A",
    num_classes: int = 10,
    in_channels: int = 3,
    zero_init_residual: bool = False,
) -> CifarResNet:
    """The CIFAR ResNet of ``depth`` = 6n+2 layers (Sec. 4.2), option A shortcuts by default."""
    return CifarResNet(BasicBlock, depth, shortcut, num_classes, in_channels, zero_init_residual)


def plain(depth: int, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """The CIFAR plain net of ``depth`` = 6n+2 layers: ``resnet(depth)`` without shortcuts."""
    return CifarResNet(PlainBasicBlock, depth, "A", num_classes, in_channels)


def resnet20(**kwargs) -> CifarResNet:
    """ResNet-20 (n=3), 0.27M parameters, 8.75% CIFAR-10 test error in Table 6."""
    return resnet(20, **kwargs)


def resnet32(**kwargs) -> CifarResNet:
    """ResNet-32 (n=5), 0.46M parameters, 7.51%."""
    return resnet(32, **kwargs)


def resnet44(**kwargs) -> CifarResNet:
    """ResNet-44 (n=7), 0.66M parameters, 7.17%."""
    return resnet(44, **kwargs)


def resnet56(**kwargs) -> CifarResNet:
    """ResNet-56 (n=9), 0.85M parameters, 6.97%."""
    return resnet(56, **kwargs)


def resnet110(**kwargs) -> CifarResNet:
    """ResNet-110 (n=18), 1.7M parameters, 6.43% (best of 5)."""
    return resnet(110, **kwargs)


def resnet1202(**kwargs) -> CifarResNet:
    """ResNet-1202 (n=200), 19.4M parameters, 7.93% (overfits, Sec. 4.2)."""
    return resnet(1202, **kwargs)


def plain20(**kwargs) -> CifarResNet:
    return plain(20, **kwargs)


def plain32(**kwargs) -> CifarResNet:
    return plain(32, **kwargs)


def plain44(**kwargs) -> CifarResNet:
    return plain(44, **kwargs)


def plain56(**kwargs) -> CifarResNet:
    return plain(56, **kwargs)


def plain110(**kwargs) -> CifarResNet:
    return plain(110, **kwargs)


# ---- fully connected networks -----------------------------------------------------------------


class MLP(Module):
    """Flatten, fc1 - BN - ReLU, ``(depth - 2) / 2`` two-layer blocks of ``width`` units, fc.

    Arguments:
        depth: weighted layers, even and >= 2 (e.g. 20 and 56, like the CIFAR nets).
        width: units of every hidden layer.
        residual: identity shortcuts around each pair of hidden layers (``BasicLinearBlock``)
            or none (``PlainLinearBlock``).
        in_features: inputs after flattening (3*32*32 for CIFAR, 28*28 for Fashion-MNIST).

    Shapes: x (N, ...) with in_features values per example -> logits (N, num_classes).
    """

    def __init__(
        self,
        depth: int,
        width: int,
        residual: bool = False,
        in_features: int = 3 * 32 * 32,
        num_classes: int = 10,
    ):
        super().__init__()
        if not isinstance(depth, int) or depth < 2 or depth % LAYERS_PER_BLOCK:
            raise ValueError(
                "an MLP has depth 2k + 2 (a first layer, k blocks of 2 layers, the classifier): "
                f"an even number >= 2 such as 20 or 56, got depth={depth!r}"
            )
        self.depth, self.width, self.residual = depth, width, residual
        self.in_features = in_features
        block = BasicLinearBlock if residual else PlainLinearBlock
        self.flatten = Flatten()
        self.fc1 = Linear(in_features, width, bias=False)
        self.bn1 = BatchNorm1d(width)
        num_blocks = (depth - 2) // LAYERS_PER_BLOCK
        self.blocks = Sequential(*[block(width) for _ in range(num_blocks)])
        self.fc = Linear(width, num_classes)
        for module in self.modules():
            if isinstance(module, Linear) and module is not self.fc:
                init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")

    @property
    def name(self) -> str:
        return f"{'residual' if self.residual else 'plain'} MLP-{self.depth}"

    def forward(self, x):
        out = self.flatten(x)  # (N, C, H, W) -> (N, in_features)
        if out.ndim != 2 or out.shape[1] != self.in_features:
            raise OpError(
                f"{self.name} expects {self.in_features} values per example, got input of "
                f"shape {tuple(x.shape)}"
            )
        out = relu(self.bn1(self.fc1(out)))  # (N, width)
        out = self.blocks(out)  # (N, width)
        return self.fc(out)  # (N, num_classes)


def mlp(
    depth: int,
    width: int,
    residual: bool = False,
    in_features: int = 3 * 32 * 32,
    num_classes: int = 10,
) -> MLP:
    """A fully connected net of ``depth`` Linear-BN-ReLU layers (see ``MLP``)."""
    return MLP(depth, width, residual, in_features, num_classes)
