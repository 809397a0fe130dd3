"""The residual blocks of the paper and their plain twins.

A residual block computes ``y = relu(F(x) + shortcut(x))`` (Eq. 1 and Fig. 2 of He et al.,
2015): the stacked layers learn the residual F(x) = H(x) - x instead of H(x) itself. Its
*plain* twin has the same layers and computes ``y = relu(F(x))``: comparing the two is the
paper's experiment (Fig. 4, Fig. 6, Table 2).

* ``BasicBlock`` (Fig. 5 left): 3x3 conv - BN - ReLU - 3x3 conv - BN, + shortcut, ReLU.
  Used by ResNet-18/34 and all the CIFAR ResNets. ``expansion = 1``.
* ``Bottleneck`` (Fig. 5 right): 1x1 conv reduces the width to ``planes``, 3x3 conv,
  1x1 conv restores it to ``planes * 4`` (``expansion = 4``), each followed by BN.
  Used by ResNet-50/101/152.

The shortcut (Sec. 3.3, Table 3) is the identity when input and output have the same
shape. Where the block changes the shape (stride 2, more channels) it is:

* ``"A"``: still parameter-free: subsample with the stride and append zero channels
  (``subsample_and_zero_pad``). The paper's CIFAR networks use it.
* ``"B"``: a projection ``W_s x`` (1x1 conv with the stride, then BN) where the shape
  changes, the identity elsewhere. torchvision's ResNets (its ``downsample``) are this.
* ``"C"``: the projection in every block, even where the identity would do.

Parameters are registered in the order the forward pass uses them (conv1, bn1, conv2,
bn2, ..., shortcut), so ``named_parameters()`` lists them from input to output.

The fully connected twins (``BasicLinearBlock``, ``PlainLinearBlock``) are the same idea
with Linear layers: the deep MLPs that show the degradation problem outside convolutions.
"""

from __future__ import annotations

from learnres.autograd.function import OpError
from learnres.functions.elementwise import relu
from learnres.functions.shape import getitem, pad
from learnres.nn import init
from learnres.nn.batchnorm import BatchNorm1d, BatchNorm2d
from learnres.nn.container import Sequential
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Identity, Linear
from learnres.nn.module import Module

__all__ = [
    "BASIC_EXPANSION",
    "BOTTLENECK_EXPANSION",
    "SHORTCUT_OPTIONS",
    "subsample_and_zero_pad",
    "ZeroPadShortcut",
    "projection_shortcut",
    "make_shortcut",
    "BasicBlock",
    "Bottleneck",
    "PlainBasicBlock",
    "PlainBottleneck",
    "BasicLinearBlock",
    "PlainLinearBlock",
]

BASIC_EXPANSION = 1  # a basic block's output width is planes
BOTTLENECK_EXPANSION = 4  # a bottleneck's output width is 4 * planes (Fig. 5: 64 -> 256)
SHORTCUT_OPTIONS = ("A", "B", "C")


# ---- shortcuts (Sec. 3.3) ---------------------------------------------------------------


def subsample_and_zero_pad(x, out_channels: int, stride: int):
    """Option A: the identity shortcut made to fit a block that changes shape.

    ``x[:, :, ::stride, ::stride]`` keeps every ``stride``-th pixel (the top-left one of each
    window), then ``out_channels - C`` zero channels are appended AFTER the existing ones
    (as the authors' Torch code did; DESIGN.md). No parameters; the gradient flows to the
    kept pixels and channels only.

    Shapes: x (N, C, H, W) -> (N, out_channels, ceil(H/stride), ceil(W/stride)).
    """
    extra = out_channels - x.shape[1]
    if extra < 0:
        raise OpError(
            f"option A shortcut: cannot zero-pad {x.shape[1]} channels down to {out_channels} "
            f"(input shape {tuple(x.shape)}); use option 'B' or 'C' to reduce the width"
        )
    out = getitem(
        x, (slice(None), slice(None), slice(None, None, stride), slice(None, None, stride))
    )
    # (N, C, H, W) -> (N, C, H/s, W/s)
    return pad(out, ((0, 0), (0, extra), (0, 0), (0, 0)))  # -> (N, out_channels, H/s, W/s)


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
    batch norm (as the authors' models and torchvision do): ``shortcut.0``, ``shortcut.1``."""
    return Sequential(
        Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
        BatchNorm2d(out_planes),
    )


def make_shortcut(option: str, in_planes: int, out_planes: int, stride: int) -> Module:
    """The shortcut of a block from ``in_planes`` to ``out_planes`` channels with ``stride``:
    ``Identity`` when the shape is kept (options A, B), else option A's zero padding or a
    projection; option C always projects."""
    if option not in SHORTCUT_OPTIONS:
        raise ValueError(f"shortcut option must be one of 'A', 'B', 'C' (Sec. 3.3), got {option!r}")
    same_shape = stride == 1 and in_planes == out_planes
    if option == "C":
        return projection_shortcut(in_planes, out_planes, stride)
    if same_shape:
        return Identity()
    if option == "A":
        return ZeroPadShortcut(in_planes, out_planes, stride)
    return projection_shortcut(in_planes, out_planes, stride)


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> Conv2d:
    """3x3 convolution, padding 1 (keeps the size at stride 1), no bias (BN follows)."""
    return Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> Conv2d:
    return Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


# ---- the basic block (Fig. 5 left) --------------------------------------------------------


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
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, out_planes)
        self.bn2 = BatchNorm2d(out_planes)
        self.shortcut = make_shortcut(shortcut, in_planes, out_planes, stride)
        if zero_init_residual:
            init.zeros_(self.bn2.weight)

    def forward(self, x):
        out = relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return relu(out + self.shortcut(x))


class PlainBasicBlock(Module):
    """``BasicBlock`` without the shortcut (the paper's plain net): ``relu(F(x))``."""

    expansion = BASIC_EXPANSION

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, out_planes)
        self.bn2 = BatchNorm2d(out_planes)

    def forward(self, x):
        out = relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return relu(out)


# ---- the bottleneck (Fig. 5 right) ----------------------------------------------------------


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
        super().__init__()
        out_planes = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = _conv1x1(in_planes, planes, stride_1x1)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride_3x3)
        self.bn2 = BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, out_planes)
        self.bn3 = BatchNorm2d(out_planes)
        self.shortcut = make_shortcut(shortcut, in_planes, out_planes, stride)
        if zero_init_residual:
            init.zeros_(self.bn3.weight)

    def forward(self, x):
        out = relu(self.bn1(self.conv1(x)))
        out = relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return relu(out + self.shortcut(x))


class PlainBottleneck(Module):
    """``Bottleneck`` without the shortcut."""

    expansion = BOTTLENECK_EXPANSION

    def __init__(self, in_planes: int, planes: int, stride: int = 1, stride_in_1x1: bool = True):
        super().__init__()
        out_planes = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = _conv1x1(in_planes, planes, stride_1x1)
        self.bn1 = BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride_3x3)
        self.bn2 = BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, out_planes)
        self.bn3 = BatchNorm2d(out_planes)

    def forward(self, x):
        out = relu(self.bn1(self.conv1(x)))
        out = relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return relu(out)


# ---- fully connected twins (the degradation problem without convolutions) ------------------


class BasicLinearBlock(Module):
    """Two Linear-BN layers of ``width`` with an identity shortcut:
    ``relu(bn2(fc2(relu(bn1(fc1 x)))) + x)``. Shapes: x (N, width) -> (N, width)."""

    def __init__(self, width: int):
        super().__init__()
        self.fc1 = Linear(width, width, bias=False)
        self.bn1 = BatchNorm1d(width)
        self.fc2 = Linear(width, width, bias=False)
        self.bn2 = BatchNorm1d(width)

    def forward(self, x):
        out = relu(self.bn1(self.fc1(x)))
        out = self.bn2(self.fc2(out))
        return relu(out + x)


class PlainLinearBlock(Module):
    """``BasicLinearBlock`` without the shortcut: ``relu(bn2(fc2(relu(bn1(fc1 x)))))``."""

    def __init__(self, width: int):
        super().__init__()
        self.fc1 = Linear(width, width, bias=False)
        self.bn1 = BatchNorm1d(width)
        self.fc2 = Linear(width, width, bias=False)
        self.bn2 = BatchNorm1d(width)

    def forward(self, x):
        out = relu(self.bn1(self.fc1(x)))
        out = self.bn2(self.fc2(out))
        return relu(out)
