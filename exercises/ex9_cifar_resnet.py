"""Exercise 9: The CIFAR ResNets of depth 6n+2.

Sec. 4.2 builds its CIFAR-10 networks from three stages of n basic blocks on 32x32,
16x16 and 8x8 maps with 16, 32 and 64 filters, between a first 3x3 convolution and a
global average pool with a 10-way fully connected layer: 6n + 2 weighted layers
(ResNet-20, 32, 44, 56, 110, 1202). You assemble them from learnres's blocks; the grader
checks the layers against learnres's, the outputs against PyTorch, and the parameter
counts against Table 6 (0.27M for ResNet-20 ... 19.4M for ResNet-1202).

What you write (each stub raises NotImplementedError until you do):

    9.1  blocks_per_stage      n from the depth 6n + 2
    9.2  make_stage            one stage of n blocks
    9.3  CifarResNet.__init__  the layers of a 6n+2 network, in forward order
    9.4  CifarResNet.forward   images to logits

Check your work: ``pytest exercises/test_ex9_cifar_resnet.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

# ruff: noqa: F401
# (the imports of the solution: some stay unused until the stubs are written)

from __future__ import annotations

from learnres.functions.elementwise import relu
from learnres.models._checks import check_images
from learnres.nn import init
from learnres.nn.batchnorm import BatchNorm2d
from learnres.nn.blocks import SHORTCUT_OPTIONS, BasicBlock, PlainBasicBlock
from learnres.nn.container import Sequential
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Flatten, Linear
from learnres.nn.module import Module
from learnres.nn.pool import AdaptiveAvgPool2d

__all__ = [
    "CIFAR_DEPTHS",
    "CIFAR_WIDTHS",
    "LAYERS_PER_BLOCK",
    "NUM_STAGES",
    "CifarResNet",
    "blocks_per_stage",
    "init_he",
    "make_stage",
    "plain",
    "resnet",
]


CIFAR_WIDTHS = (16, 32, 64)  # filters of the three stages (Sec. 4.2)
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)  # the depths of Table 6
LAYERS_PER_BLOCK = 2  # a BasicBlock stacks two 3x3 convolutions
NUM_STAGES = 3


def blocks_per_stage(depth: int) -> int:
    """Exercise 9.1: n from the depth 6n + 2.

    Count the weighted layers of the network in the intro (which layers have
    weights, and how many does one basic block have?) to see where 6n + 2 comes
    from; return n. A depth that is not of that form, or not an int, or gives
    n < 1: ValueError that names the valid depths.

    Stuck? Hints in three levels: ``pytest exercises --hint 9.1`` (add
    ``--hint-level 2`` or 3), or ``hint("9.1")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 9.1: blocks_per_stage (n from the depth 6n + 2)")


def make_stage(block, in_planes: int, planes: int, n: int, stride: int, **options) -> Sequential:
    """One stage (``conv2_x``, ``conv3_x``, ... of Table 1 and section 4.2): ``n`` blocks of
    ``planes`` filters; the first takes ``stride`` (and the shortcut's change of shape), the
    others keep the size. The stage outputs ``planes * block.expansion`` channels.

    Exercise 9.2: one stage of n blocks.

    Only the stage's first block may change the shape (its stride, and the change
    of width, which its shortcut must handle); the blocks after it see the stage's
    own width and keep the size. Return a Sequential of the n blocks in order.

    Stuck? Hints in three levels: ``pytest exercises --hint 9.2`` (add
    ``--hint-level 2`` or 3), or ``hint("9.2")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 9.2: make_stage (one stage of n blocks)")


def init_he(model: Module) -> Module:
    """He initialisation (He et al., 2015, used by the paper) of every convolution:
    weight ~ N(0, 2 / fan_out), fan_out = out_channels * kh * kw. BN layers are built with
    gamma = 1, beta = 0 (or gamma = 0 for ``zero_init_residual``) and are left alone;
    Linear layers keep their default initialisation."""
    for module in model.modules():
        if isinstance(module, Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return model


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
        """Exercise 9.3: the layers of a 6n+2 network, in forward order.

        Call ``super().__init__()`` first. Keep ``depth``, ``in_channels`` and
        ``num_classes`` as attributes. Then assign, in forward order (the names are the
        state-dict keys): ``conv1`` (3x3, 16 filters, padding 1, no bias: BN follows),
        ``bn1``, the stages ``conv2_x``, ``conv3_x``, ``conv4_x`` (``make_stage``; which
        stages halve the map?), ``avgpool`` (AdaptiveAvgPool2d(1)), ``flatten`` and ``fc``
        (a Linear from the last stage's width). Residual blocks (``block is
        BasicBlock``) get the shortcut option and zero_init_residual; plain blocks take
        neither. Finish with ``init_he(self)``.

        Stuck? Hints in three levels: ``pytest exercises --hint 9.3`` (add
        ``--hint-level 2`` or 3), or ``hint("9.3")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 9.3: CifarResNet.__init__ (the layers of a 6n+2 network, in forward order)"
        )

    @property
    def name(self) -> str:
        kind = "ResNet" if isinstance(self.conv2_x[0], BasicBlock) else "plain"
        return f"{kind}-{self.depth}"

    def forward(self, x):
        """Exercise 9.4: images to logits.

        x (N, in_channels, H, W) -> logits (N, num_classes): the layers in the order
        __init__ made them, with the ReLU that follows the first BN (the blocks have
        their own). Check the input with ``check_images`` first.

        Stuck? Hints in three levels: ``pytest exercises --hint 9.4`` (add
        ``--hint-level 2`` or 3), or ``hint("9.4")`` from learnres.grading.
        """
        raise NotImplementedError("Exercise 9.4: CifarResNet.forward (images to logits)")


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
