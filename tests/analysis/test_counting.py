"""The closed-form mult-adds (exercise 5's reference) agree with learnres.analysis.summary,
which counts layer by layer, and with the paper's arithmetic for ResNet-50's first block."""

from __future__ import annotations

import pytest

from learnres.analysis.counting import bottleneck_mult_adds, conv_mult_adds, conv_output_size
from learnres.analysis.summary import summary
from learnres.nn import Conv2d
from learnres.nn.blocks import Bottleneck


def test_resnet50_first_block_by_hand():
    # 64 -> 64 (1x1), 64 -> 64 (3x3), 64 -> 256 (1x1), projection 64 -> 256, all at 56x56
    by_hand = 56 * 56 * (64 * 64 + 64 * 64 * 9 + 64 * 256 + 64 * 256)
    assert bottleneck_mult_adds(64, 64, 56, 56) == by_hand == 231_211_008


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [(56, 3, 1, 1), (56, 3, 2, 1), (7, 1, 2, 0), (224, 7, 2, 3)],
)
def test_conv_mult_adds_matches_summary(size, kernel, stride, padding):
    conv = Conv2d(3, 8, kernel, stride=stride, padding=padding, bias=False)
    out = conv_output_size(size, kernel, stride, padding)
    expected = summary(conv, (3, size, size), print_table=False).mult_adds
    assert conv_mult_adds(3, 8, kernel, out, out) == expected


@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
@pytest.mark.parametrize("stride_in_1x1", [True, False])
@pytest.mark.parametrize(
    ("in_planes", "planes", "size", "stride"),
    [(64, 16, 8, 1), (32, 16, 8, 1), (32, 16, 7, 2), (64, 8, 9, 2)],
)
def test_bottleneck_mult_adds_matches_summary(
    in_planes, planes, size, stride, shortcut, stride_in_1x1
):
    if shortcut == "A" and in_planes > planes * 4:
        pytest.skip("option A cannot reduce the width")
    block = Bottleneck(in_planes, planes, stride, shortcut, stride_in_1x1=stride_in_1x1)
    expected = summary(block, (in_planes, size, size), print_table=False).mult_adds
    got = bottleneck_mult_adds(in_planes, planes, size, size, stride, shortcut, stride_in_1x1)
    assert got == expected


def test_unknown_shortcut_is_refused():
    with pytest.raises(ValueError, match="'A', 'B', 'C'"):
        bottleneck_mult_adds(64, 16, 8, 8, shortcut="D")
