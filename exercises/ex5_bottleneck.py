"""Exercise 5: The bottleneck block and its cost.

The deeper ImageNet models (ResNet-50/101/152) replace the basic block's two 3x3
convolutions with a bottleneck (Fig. 5 right): a 1x1 convolution reduces the width to
``planes``, a 3x3 works at that width, and a 1x1 restores it to 4 * planes. Table 1
compares the models by "FLOPs", multiply-adds of the convolutions: ResNet-50's 3.8
billion against ResNet-34's 3.6 billion, for 16 more layers. You build the block and
count its multiply-adds. The shortcuts and layers are learnres's own (exercise 4).

What you write (each stub raises NotImplementedError until you do):

    5.1  Bottleneck.__init__   the block's layers, in forward order
    5.2  Bottleneck.forward    1x1, 3x3, 1x1 and the shortcut
    5.3  conv_mult_adds        the multiply-adds of one convolution
    5.4  bottleneck_mult_adds  the multiply-adds of a bottleneck block

Check your work: ``pytest exercises/test_ex5_bottleneck.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

# ruff: noqa: F401
# (the imports of the solution: some stay unused until the stubs are written)

from __future__ import annotations

from learnres.functions.elementwise import relu
from learnres.nn import init
from learnres.nn.batchnorm import BatchNorm2d
from learnres.nn.blocks import SHORTCUT_OPTIONS, _conv1x1, _conv3x3, make_shortcut
from learnres.nn.module import Module

__all__ = [
    "BOTTLENECK_EXPANSION",
    "Bottleneck",
    "bottleneck_mult_adds",
    "conv_mult_adds",
    "conv_output_size",
]


BOTTLENECK_EXPANSION = 4  # a bottleneck's output width is 4 * planes (Fig. 5: 64 -> 256)


class Bottleneck(Module):
    """1x1 (reduce to ``planes``), 3x3, 1x1 (restore to ``4 * planes``), with a shortcut.

    Arguments:
        in_planes: input channels C.
        planes: the width of the 3x3 layer; the output has ``planes * expansion`` channels.
        stride: 2 at the start of a stage.
        shortcut: "A", "B" (default, as torchvision) or "C".
        stride_in_1x1: put the stride on the first 1x1 convolution (True, the paper's
            layout, which gives Table 1's FLOPs) or on the 3x3 (False: torchvision's layout,
            "ResNet v1.5", needed to load its weights).
        zero_init_residual: start bn3's gamma at 0.

    Shapes: x (N, in_planes, H, W) -> (N, 4 * planes, H/stride, W/stride).
    """

    expansion = BOTTLENECK_EXPANSION

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        shortcut: str = "B",
        stride_in_1x1: bool = True,
        zero_init_residual: bool = False,
    ):
        """Exercise 5.1: the block's layers, in forward order.

        Call ``super().__init__()`` first, then assign, in this order (the names are the
        state-dict keys): conv1 1x1 in_planes -> planes; bn1; conv2 3x3 planes -> planes
        (padding 1); bn2; conv3 1x1 planes -> planes * expansion; bn3; shortcut
        (``make_shortcut(shortcut, in_planes, planes * expansion, stride)``). No bias
        in the convolutions. The stride goes on conv1 when ``stride_in_1x1`` (the
        paper's layout), else on conv2 (torchvision's); the other one has stride 1.
        ``_conv1x1`` and ``_conv3x3`` make the convolutions. With zero_init_residual,
        set bn3's weight to 0 (``init.zeros_``).

        Stuck? Hints in three levels: ``pytest exercises --hint 5.1`` (add
        ``--hint-level 2`` or 3), or ``hint("5.1")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 5.1: Bottleneck.__init__ (the block's layers, in forward order)"
        )

    def forward(self, x):
        """Exercise 5.2: 1x1, 3x3, 1x1 and the shortcut.

        x (N, in_planes, H, W) -> (N, 4 * planes, H / stride, W / stride).
        Fig. 5 (right): as in the basic block, every convolution is followed by its BN,
        and a ReLU follows each layer except the last, whose output is added to the
        shortcut before the block's final ReLU.

        Stuck? Hints in three levels: ``pytest exercises --hint 5.2`` (add
        ``--hint-level 2`` or 3), or ``hint("5.2")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 5.2: Bottleneck.forward (1x1, 3x3, 1x1 and the shortcut)"
        )


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """The output length of a convolution along one axis:
    (size + 2 * padding - kernel) // stride + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_mult_adds(
    in_channels: int, out_channels: int, kernel: int, out_height: int, out_width: int
) -> int:
    """Multiply-adds of one image through a convolution (bias and BN not counted).

    Each of the out_channels * out_height * out_width outputs is a dot product of a
    kernel x kernel x in_channels window with the weights:
    O * Ho * Wo * C * k * k multiply-adds.

    Exercise 5.3: the multiply-adds of one convolution.

    Count what one output value costs, then how many output values there are.
    Check: a 3x3 convolution from 64 to 64 channels with a 56x56 output (ResNet-34's
    conv2_x) costs 115,605,504 multiply-adds.

    Stuck? Hints in three levels: ``pytest exercises --hint 5.3`` (add
    ``--hint-level 2`` or 3), or ``hint("5.3")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 5.3: conv_mult_adds (the multiply-adds of one convolution)")


def bottleneck_mult_adds(
    in_planes: int,
    planes: int,
    height: int,
    width: int,
    stride: int = 1,
    shortcut: str = "B",
    stride_in_1x1: bool = True,
) -> int:
    """Multiply-adds of one image of size height x width through a ``Bottleneck`` block.

    The block (Fig. 5 right): 1x1 conv in_planes -> planes, 3x3 conv planes -> planes
    (padding 1), 1x1 conv planes -> 4 * planes, and a projection shortcut (1x1 conv
    in_planes -> 4 * planes with the block's stride) where the shortcut projects: option
    "B" when the shape changes, option "C" always; option A and the identity cost 0.
    The stride sits on the first 1x1 (``stride_in_1x1=True``, the paper's layout) or on
    the 3x3 (torchvision's), which changes the cost of the first 1x1 and of the 3x3.

    Example: ResNet-50's first block (64 -> 64 -> 256 at 56x56, projection):
    12.8M + 115.6M + 51.4M + 51.4M = 231.2M multiply-adds.

    Exercise 5.4: the multiply-adds of a bottleneck block.

    Add up the convolutions, each at its own output size: the first 1x1 at
    H / stride_1x1, the 3x3 and the last 1x1 at H / stride. ``conv_output_size``
    gives each size (the 3x3 has padding 1, the 1x1 none).

    Stuck? Hints in three levels: ``pytest exercises --hint 5.4`` (add
    ``--hint-level 2`` or 3), or ``hint("5.4")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 5.4: bottleneck_mult_adds (the multiply-adds of a bottleneck block)"
    )
