"""Grader of exercise 5 (the bottleneck block and its cost): blocks against their PyTorch
twins with the same weights (float64), and the multiply-adds against learnres.analysis's
layer-by-layer count (``summary``) of learnres's own Bottleneck."""

from __future__ import annotations

import pytest

from learnres.grading.checks import fail, grade_block

EXERCISE = "5. Bottleneck"
MODULE = "ex5_bottleneck"


# ---- 5.1 and 5.2 the block ----------------------------------------------------------------------


def _bottleneck_diagnoses(twin, x):
    import torch.nn.functional as F

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


def run_strides(module, args, kwargs):
    """Runner: the strides of your block's conv1 and conv2."""
    block = module.Bottleneck(*args, **kwargs)
    return [getattr(getattr(block, name, None), "stride", None) for name in ("conv1", "conv2")]


def _reference_strides(args, kwargs):
    from learnres.nn import blocks

    block = blocks.Bottleneck(*args, **kwargs)
    return [block.conv1.stride, block.conv2.stride]


def _check_bottleneck(exercise, rng, in_planes, planes, stride, option, stride_in_1x1=True):
    what = (
        f"Bottleneck({in_planes}, {planes}, stride={stride}, shortcut={option!r}, "
        f"stride_in_1x1={stride_in_1x1})"
    )
    args, kwargs = (in_planes, planes, stride, option), {"stride_in_1x1": stride_in_1x1}
    mine = exercise.run(run_strides, args, kwargs)
    theirs = exercise.expect(_reference_strides, args, kwargs)
    for name, got, expected in zip(("conv1", "conv2"), mine, theirs):
        if got is not None and got != expected:
            fail(
                f"{what}: {name} has stride {got}, expected {expected}: the stride "
                "goes on conv1 (the first 1x1) when stride_in_1x1 is True, the paper's layout, "
                "and on conv2 (the 3x3) when it is False, torchvision's; the other has stride 1"
            )
    grade_block(
        exercise,
        what,
        "Bottleneck",
        args,
        kwargs,
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


def _conv_cases(rng) -> list[tuple]:
    """ResNet-34's conv2_x layer and random ones (C, O, k, Ho, Wo)."""
    cases = [(64, 64, 3, 56, 56)]
    for k in (1, 3, 7):
        C, O = (int(n) for n in rng.integers(1, 300, 2))
        Ho, Wo = (int(n) for n in rng.integers(1, 120, 2))
        cases.append((C, O, k, Ho, Wo))
    return cases


def run_conv_mult_adds(module, cases):
    return [module.conv_mult_adds(*case) for case in cases]


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_conv_mult_adds(exercise, rng):
    cases = _conv_cases(rng)
    got = exercise.run(run_conv_mult_adds, cases)
    for (C, O, k, Ho, Wo), mine in zip(cases, got):
        expected = O * Ho * Wo * C * k * k
        if mine != expected:
            fail(
                f"conv_mult_adds(in_channels={C}, out_channels={O}, kernel={k}, out_height={Ho}, "
                f"out_width={Wo}) returned {mine!r}, expected {expected:,}: each of the "
                "O * Ho * Wo outputs is a dot product of length C * k * k"
            )


def run_bottleneck_mult_adds(module, cases):
    return [module.bottleneck_mult_adds(*case) for case in cases]


def _summary_mult_adds(cases):
    """Expected value: learnres.analysis.summary's count of learnres's block, layer by layer."""
    from learnres.analysis.summary import summary
    from learnres.nn import blocks

    out = []
    for in_planes, planes, size, _, stride, option, stride_in_1x1 in cases:
        block = blocks.Bottleneck(in_planes, planes, stride, option, stride_in_1x1=stride_in_1x1)
        rows = summary(block, (in_planes, size, size), print_table=False, max_depth=None).rows
        total = summary(block, (in_planes, size, size), print_table=False).mult_adds
        parts = " + ".join(f"{r.name} {r.mult_adds:,}" for r in rows if r.leaf and r.mult_adds)
        out.append((total, parts))
    return out


def _check_mult_adds(exercise, settings):
    cases = [(i, p, s, s, st, o, s1) for i, p, s, st, o, s1 in settings]
    got = exercise.run(run_bottleneck_mult_adds, cases)
    for case, mine, (expected, parts) in zip(
        cases, got, exercise.expect(_summary_mult_adds, cases)
    ):
        in_planes, planes, size, _, stride, option, stride_in_1x1 = case
        if mine != expected:
            call = (
                f"bottleneck_mult_adds({in_planes}, {planes}, {size}, {size}, stride={stride}, "
                f"shortcut={option!r}, stride_in_1x1={stride_in_1x1})"
            )
            fail(
                f"{call} returned {mine!r}, expected {expected:,} = {parts} "
                "(learnres.analysis.summary of the block, layer by layer). Count each "
                "convolution at its own output size, and the projection shortcut where there "
                "is one."
            )


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_bottleneck_mult_adds(exercise, rng):
    # ResNet-50: conv2_x's first block (projection to 256) and a later one (identity); random
    p = int(rng.integers(4, 40))
    _check_mult_adds(
        exercise,
        [
            (64, 64, 56, 1, "B", True),
            (256, 64, 56, 1, "B", True),
            (4 * p, p, int(rng.integers(4, 30)), 1, "C", True),
            (p, p // 2 + 1, int(rng.integers(4, 30)), 1, "A", True),
            (4 * p, p, int(rng.integers(4, 30)), 1, "B", False),
        ],
    )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_bottleneck_mult_adds_strided(exercise, rng):
    # conv3_x's first block, the paper's layout and torchvision's; odd sizes round up
    p, odd = int(rng.integers(4, 40)), 2 * int(rng.integers(2, 15)) + 1
    _check_mult_adds(
        exercise,
        [
            (256, 128, 56, 2, "B", True),
            (256, 128, 56, 2, "B", False),
            (2 * p, p, odd, 2, "B", True),
            (4 * p, p, odd, 2, "A", False),
            (4 * p, p, odd + 1, 2, "C", False),
        ],
    )
