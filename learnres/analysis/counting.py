"""Multiply-adds of a convolution and of the bottleneck block, in closed form.

The paper's Table 1 compares its models by "FLOPs", which are multiply-adds of the
convolutions and the fully connected layer (ResNet-50: 3.8 x 10^9); batch norm, ReLU, the
shortcut's addition and pooling are a few percent at most and count 0. These functions give
the count of one block from its settings alone; ``learnres.analysis.summary`` counts a whole
model layer by layer with the same two formulas (``tests/analysis/test_counting.py`` checks
that they agree). They are also the reference of exercise 5.
"""

from __future__ import annotations

from learnres.nn.blocks import BOTTLENECK_EXPANSION, SHORTCUT_OPTIONS

__all__ = ["bottleneck_mult_adds", "conv_mult_adds", "conv_output_size"]


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
    """
    return out_channels * out_height * out_width * in_channels * kernel * kernel


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
    """
    if shortcut not in SHORTCUT_OPTIONS:
        raise ValueError(f"shortcut option must be one of 'A', 'B', 'C', got {shortcut!r}")
    out_planes = planes * BOTTLENECK_EXPANSION
    stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
    h1, w1 = conv_output_size(height, 1, stride_1x1), conv_output_size(width, 1, stride_1x1)
    h2, w2 = conv_output_size(h1, 3, stride_3x3, 1), conv_output_size(w1, 3, stride_3x3, 1)
    total = conv_mult_adds(in_planes, planes, 1, h1, w1)  # conv1, 1x1 reduce
    total += conv_mult_adds(planes, planes, 3, h2, w2)  # conv2, 3x3
    total += conv_mult_adds(planes, out_planes, 1, h2, w2)  # conv3, 1x1 restore
    same_shape = stride == 1 and in_planes == out_planes
    if shortcut == "C" or (shortcut == "B" and not same_shape):  # the projection W_s x
        hs, ws = conv_output_size(height, 1, stride), conv_output_size(width, 1, stride)
        total += conv_mult_adds(in_planes, out_planes, 1, hs, ws)
    return total
