"""Exercise 4: The residual basic block.

A residual block computes y = relu(F(x) + shortcut(x)) (Eq. 1 and Fig. 2 of the paper):
the stacked layers learn the residual F(x) = H(x) - x. Where the block keeps the shape
the shortcut is the identity; where it halves H and W and widens the channels, the
paper compares (Sec. 3.3, Table 3) option A, a parameter-free identity (subsample and
pad with zero channels), option B, a projection W_s x where the shape changes, and
option C, a projection everywhere. The layers (Conv2d, BatchNorm2d, ...) are
learnres's own.

What you write (each stub raises NotImplementedError until you do):

    4.1  subsample_and_zero_pad  option A, the identity made to fit
    4.2  projection_shortcut     options B and C, the projection W_s x
    4.3  make_shortcut           which shortcut a block gets
    4.4  BasicBlock.__init__     the block's layers, in forward order
    4.5  BasicBlock.forward      Fig. 2, relu(F(x) + shortcut(x))

Check your work: ``pytest exercises/test_ex4_residual.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

# ruff: noqa: F401
# (the imports of the solution: some stay unused until the stubs are written)

from __future__ import annotations

from learnres.autograd.function import OpError
from learnres.functions.elementwise import relu
from learnres.functions.shape import getitem, pad
from learnres.nn import init
from learnres.nn.batchnorm import BatchNorm2d
from learnres.nn.container import Sequential
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Identity
from learnres.nn.module import Module

__all__ = [
    "BASIC_EXPANSION",
    "SHORTCUT_OPTIONS",
    "BasicBlock",
    "ZeroPadShortcut",
    "make_shortcut",
    "projection_shortcut",
    "subsample_and_zero_pad",
]


BASIC_EXPANSION = 1  # a basic block's output width is planes
SHORTCUT_OPTIONS = ("A", "B", "C")


def subsample_and_zero_pad(x, out_channels: int, stride: int):
    """Option A: the identity shortcut made to fit a block that changes shape.

    ``x[:, :, ::stride, ::stride]`` keeps every ``stride``-th pixel (the top-left one of each
    window), then ``out_channels - C`` zero channels are appended AFTER the existing ones
    (as the authors' Torch code did; DESIGN.md). No parameters; the gradient flows to the
    kept pixels and channels only.

    Shapes: x (N, C, H, W) -> (N, out_channels, ceil(H/stride), ceil(W/stride)).

    Exercise 4.1: option A, the identity made to fit.

    Use learnres's differentiable ops (imported above), so the gradient flows back:
    ``getitem(x, index)`` with a tuple of slices for the subsampling, and
    ``pad(x, widths)`` with one (before, after) pair per axis for the zero channels.
    Raise OpError when out_channels is smaller than C.

    Stuck? Hints in three levels: ``pytest exercises --hint 4.1`` (add
    ``--hint-level 2`` or 3), or ``hint("4.1")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 4.1: subsample_and_zero_pad (option A, the identity made to fit)"
    )


class ZeroPadShortcut(Module):
    """Option A as a module (no parameters): ``subsample_and_zero_pad(x, out_planes, stride)``."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x):
        return subsample_and_zero_pad(x, self.out_planes, self.stride)

    def extra_repr(self) -> str:
        return f"{self.in_planes}, {self.out_planes}, stride={self.stride}"


def projection_shortcut(in_planes: int, out_planes: int, stride: int) -> Sequential:
    """Options B and C: ``W_s x`` of Eq. 2, a 1x1 convolution with the block's stride and a
    batch norm (as the authors' models and torchvision do): ``shortcut.0``, ``shortcut.1``.

    Exercise 4.2: options B and C, the projection W_s x.

    A 1x1 Conv2d from in_planes to out_planes with the block's stride and no bias,
    then BatchNorm2d(out_planes), in a Sequential (so its parameters are named
    shortcut.0.weight, shortcut.1.weight, ... inside a block).

    Stuck? Hints in three levels: ``pytest exercises --hint 4.2`` (add
    ``--hint-level 2`` or 3), or ``hint("4.2")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 4.2: projection_shortcut (options B and C, the projection W_s x)"
    )


def make_shortcut(option: str, in_planes: int, out_planes: int, stride: int) -> Module:
    """The shortcut of a block from ``in_planes`` to ``out_planes`` channels with ``stride``:
    ``Identity`` when the shape is kept (options A, B), else option A's zero padding or a
    projection; option C always projects.

    Exercise 4.3: which shortcut a block gets.

    Sec. 3.3 and Table 3: where the block keeps the shape of x, options A and B add
    x itself (Identity()); where the block changes it, A uses the zero-padded identity
    (ZeroPadShortcut) and B the projection (projection_shortcut); C projects in every
    block. When does a block keep the shape? Think of both things a block can change.
    Any other option: ValueError naming the three.

    Stuck? Hints in three levels: ``pytest exercises --hint 4.3`` (add
    ``--hint-level 2`` or 3), or ``hint("4.3")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 4.3: make_shortcut (which shortcut a block gets)")


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> Conv2d:
    """3x3 convolution, padding 1 (keeps the size at stride 1), no bias (BN follows)."""
    return Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> Conv2d:
    return Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(Module):
    """Two 3x3 convolutions with a shortcut: ``relu(bn2(conv2(relu(bn1(conv1 x)))) + s(x))``.

    Arguments:
        in_planes: input channels C.
        planes: output channels (the block's width; ``expansion = 1``).
        stride: of the first convolution (2 at the start of a stage halves H and W).
        shortcut: "A", "B" or "C" (see the module docstring).
        zero_init_residual: start bn2's gamma at 0, so the block starts as its shortcut
            (Goyal et al., 2017; off by default, not in the paper).

    Shapes: x (N, in_planes, H, W) -> (N, planes, H/stride, W/stride).
    """

    expansion = BASIC_EXPANSION

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        shortcut: str = "A",
        zero_init_residual: bool = False,
    ):
        """Exercise 4.4: the block's layers, in forward order.

        Call ``super().__init__()`` first, then assign the layers in the order forward
        uses them (their names are the state-dict keys, as in torchvision):
            conv1  3x3, in_planes -> planes, stride ``stride``, padding 1, no bias
            bn1    BatchNorm2d(planes)
            conv2  3x3, planes -> planes * expansion, stride 1, padding 1, no bias
            bn2    BatchNorm2d(planes * expansion)
            shortcut  make_shortcut(shortcut, in_planes, planes * expansion, stride)
        ``_conv3x3`` makes those convolutions (no bias: BN follows). With
        zero_init_residual, set bn2's weight to 0 (``init.zeros_``).

        Stuck? Hints in three levels: ``pytest exercises --hint 4.4`` (add
        ``--hint-level 2`` or 3), or ``hint("4.4")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 4.4: BasicBlock.__init__ (the block's layers, in forward order)"
        )

    def forward(self, x):
        """Exercise 4.5: Fig. 2, relu(F(x) + shortcut(x)).

        x (N, in_planes, H, W) -> (N, planes, H / stride, W / stride).
        Fig. 2 and Eq. 1 of the paper: the stacked layers (conv, BN, ReLU, conv, BN) are
        F(x), the residual; the shortcut carries the block's input around them; the
        block's output is the sum passed through a ReLU. Read the figure for where the
        addition sits relative to the BN and the ReLUs; the grader names the usual
        misplacements.

        Stuck? Hints in three levels: ``pytest exercises --hint 4.5`` (add
        ``--hint-level 2`` or 3), or ``hint("4.5")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 4.5: BasicBlock.forward (Fig. 2, relu(F(x) + shortcut(x)))"
        )
