"""Grader of exercise 5 (the bottleneck block and its cost): blocks against their PyTorch
twins with the same weights (float64), and the multiply-adds against learnres.analysis's
layer-by-layer count (``summary``) of learnres's own Bottleneck."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # noqa: F401 -- imported at collection, so no test's timeout pays for it
import torch.nn.functional as F

from learnres.analysis.summary import summary
from learnres.grading.checks import check_block, fail
from learnres.nn import blocks as reference

EXERCISE = "5. Bottleneck"
MODULE = "ex5_bottleneck"


@pytest.fixture
def rng():
    return np.random.default_rng(5)


# ---- 5.1 and 5.2 the block ----------------------------------------------------------------------


def _bottleneck_diagnoses(twin, x):
    out = F.relu(twin.bn1(twin.conv1(x)))
    out = twin.bn3(twin.conv3(F.relu(twin.bn2(twin.conv2(out)))))
    no_relu2 = twin.bn3(twin.conv3(twin.bn2(twin.conv2(F.relu(twin.bn1(twin.conv1(x)))))))
    return [
        (
            "relu(F(x)): the shortcut is missing; return relu(out + self.shortcut(x))",
            F.relu(out).detach().numpy(),
        ),
        (
            "the block without the ReLU after bn2: each of the first two convolutions is followed "
            "by BN and a ReLU",
            F.relu(no_relu2 + twin.shortcut(x)).detach().numpy(),
        ),
    ]


def _check_bottleneck(exercise, rng, in_planes, planes, stride, option, stride_in_1x1=True):
    what = (
        f"Bottleneck({in_planes}, {planes}, stride={stride}, shortcut={option!r}, "
        f"stride_in_1x1={stride_in_1x1})"
    )
    student = exercise.Bottleneck(in_planes, planes, stride, option, stride_in_1x1=stride_in_1x1)
    expected = reference.Bottleneck(in_planes, planes, stride, option, stride_in_1x1=stride_in_1x1)
    for name in ("conv1", "conv2"):
        mine, theirs = getattr(student, name, None), getattr(expected, name)
        if mine is not None and getattr(mine, "stride", None) != theirs.stride:
            fail(
                f"{what}: {name} has stride {mine.stride}, expected {theirs.stride}: the stride "
                "goes on conv1 (the first 1x1) when stride_in_1x1 is True, the paper's layout, "
                "and on conv2 (the 3x3) when it is False, torchvision's; the other has stride 1"
            )
    check_block(
        what,
        student,
        expected,
        (2, in_planes, 6, 6),
        rng,
        diagnoses=_bottleneck_diagnoses,
        hint="relu(bn1(conv1 x)), relu(bn2(conv2 .)), bn3(conv3 .), then relu(out + shortcut(x))",
    )


@pytest.mark.points(2)
@pytest.mark.timeout(30)
def test_bottleneck_identity(exercise, rng):
    _check_bottleneck(exercise, rng, 16, 4, 1, "B")


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_bottleneck_projection(exercise, rng):
    _check_bottleneck(exercise, rng, 8, 4, 2, "B")


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_bottleneck_stride_in_3x3(exercise, rng):
    _check_bottleneck(exercise, rng, 8, 4, 2, "B", stride_in_1x1=False)


# ---- 5.3 and 5.4 multiply-adds ------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_conv_mult_adds(exercise):
    for args, expected in [
        ((64, 64, 3, 56, 56), 64 * 56 * 56 * 64 * 9),
        ((3, 64, 7, 112, 112), 64 * 112 * 112 * 3 * 49),
        ((256, 128, 1, 28, 28), 128 * 28 * 28 * 256),
    ]:
        got = exercise.conv_mult_adds(*args)
        if got != expected:
            C, O, k, Ho, Wo = args
            fail(
                f"conv_mult_adds(in_channels={C}, out_channels={O}, kernel={k}, out_height={Ho}, "
                f"out_width={Wo}) returned {got!r}, expected {expected:,}: each of the "
                "O * Ho * Wo outputs is a dot product of length C * k * k"
            )


def _breakdown(block, shape) -> str:
    rows = summary(block, shape, print_table=False, max_depth=None).rows
    return " + ".join(f"{r.name} {r.mult_adds:,}" for r in rows if r.leaf and r.mult_adds)


def _check_mult_adds(exercise, cases):
    for in_planes, planes, size, stride, option, stride_in_1x1 in cases:
        block = reference.Bottleneck(in_planes, planes, stride, option, stride_in_1x1=stride_in_1x1)
        expected = summary(block, (in_planes, size, size), print_table=False).mult_adds
        call = (
            f"bottleneck_mult_adds({in_planes}, {planes}, {size}, {size}, stride={stride}, "
            f"shortcut={option!r}, stride_in_1x1={stride_in_1x1})"
        )
        got = exercise.bottleneck_mult_adds(
            in_planes, planes, size, size, stride, option, stride_in_1x1
        )
        if got != expected:
            fail(
                f"{call} returned {got:,}, expected {expected:,} = "
                f"{_breakdown(block, (in_planes, size, size))} (learnres.analysis.summary of "
                "the block, layer by layer). Count each convolution at its own output size, "
                "and the projection shortcut where there is one."
            )


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_bottleneck_mult_adds(exercise):
    # ResNet-50: conv2_x's first block (projection to 256) and a later one (identity)
    _check_mult_adds(
        exercise,
        [
            (64, 64, 56, 1, "B", True),
            (256, 64, 56, 1, "B", True),
            (256, 64, 56, 1, "C", True),
            (64, 16, 8, 1, "A", True),
        ],
    )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_bottleneck_mult_adds_strided(exercise):
    # conv3_x's first block, the paper's layout and torchvision's; odd sizes round up
    _check_mult_adds(
        exercise,
        [
            (256, 128, 56, 2, "B", True),
            (256, 128, 56, 2, "B", False),
            (64, 32, 7, 2, "B", True),
            (64, 16, 9, 2, "A", False),
        ],
    )
