"""Grader of exercise 4 (the residual basic block): the shortcuts on their own, then whole
blocks against their PyTorch twins (learnres.reference) with the same weights, in float64.

The block tests give your BasicBlock learnres's own shortcuts (4.1-4.3), so a bug in those
parts costs only their own points.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.grading.checks import check_close, describe, fail, grade_block, rand, upstream

EXERCISE = "4. Residual block"
MODULE = "ex4_residual"
SHORTCUTS = ("subsample_and_zero_pad", "projection_shortcut", "make_shortcut")


def _torch_option_a(x, out_channels, stride):
    import torch.nn.functional as F

    x = x[:, :, ::stride, ::stride]
    return F.pad(x, (0, 0, 0, 0, 0, out_channels - x.shape[1]))


# ---- 4.1 option A -------------------------------------------------------------------------------

OPTION_A_CASES = [
    ((2, 3, 6, 6), 6, 2),
    ((2, 4, 5, 7), 8, 2),
    ((1, 4, 4, 4), 4, 1),
    ((1, 2, 4, 4), 5, 1),
]


def run_option_a(module, x, out_channels: int, stride: int, g=None):
    """Runner: option A on x; its output (and dL/dx under g)."""
    from learnres.autograd import Tensor

    tx = Tensor(np.array(x), requires_grad=g is not None)
    y = module.subsample_and_zero_pad(tx, out_channels, stride)
    if not isinstance(y, Tensor):
        return {"y": describe(y)}
    if g is None:
        return {"y": y.data}
    y.backward(np.array(g))
    return {"y": y.data, "x_grad": tx.grad}


def _option_a_expected(x, out_channels, stride, g=None):
    import torch
    import torch.nn.functional as F

    t = torch.tensor(x, requires_grad=True)
    y = _torch_option_a(t, out_channels, stride)
    out = {"y": y.detach().numpy()}
    if g is not None:
        y.backward(torch.from_numpy(g))
        out["x_grad"] = t.grad.numpy()
        return out
    extra = out_channels - x.shape[1]
    t = torch.from_numpy(x)
    out["diagnoses"] = []
    if stride > 1:
        out["diagnoses"] = [
            (
                "the zero channels put BEFORE the input's: append them after (pad (0, extra) on "
                "the channel axis)",
                F.pad(t[:, :, ::stride, ::stride], (0, 0, 0, 0, extra, 0)).numpy(),
            ),
            (
                "a subsampling that starts at pixel 1: keep x[:, :, ::stride, ::stride], the "
                "top-left pixel of each window",
                F.pad(t[:, :, 1::stride, 1::stride], (0, 0, 0, 0, 0, extra)).numpy(),
            ),
        ]
    return out


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_option_a_values(exercise, rng):
    for x_shape, out_channels, stride in OPTION_A_CASES:
        x = rand(rng, *x_shape)
        got = exercise.run(run_option_a, x, out_channels, stride)
        if not isinstance(got["y"], np.ndarray):
            fail(
                f"subsample_and_zero_pad returned {got['y']}, expected a Tensor: build "
                "it from learnres's getitem and pad so that gradients flow back"
            )
        expected = exercise.expect(_option_a_expected, x, out_channels, stride)
        check_close(
            f"subsample_and_zero_pad(x {x_shape}, out_channels={out_channels}, "
            f"stride={stride}): the output",
            got["y"],
            expected["y"],
            expected_label="expected",
            diagnoses=expected["diagnoses"],
            hint="x[:, :, ::stride, ::stride], then out_channels - C zero channels after "
            "the existing ones",
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_option_a_gradient(exercise, rng):
    for x_shape, out_channels, stride in OPTION_A_CASES[:2]:
        x0 = rand(rng, *x_shape)
        y_shape = exercise.expect(_option_a_expected, x0, out_channels, stride)["y"].shape
        g = upstream(rng, y_shape)
        got = exercise.run(run_option_a, x0, out_channels, stride, g)
        if "x_grad" not in got:
            fail(f"subsample_and_zero_pad returned {got['y']}, expected a Tensor")
        check_close(
            f"subsample_and_zero_pad(x {x_shape}, {out_channels}, {stride}): dL/dx",
            got["x_grad"],
            exercise.expect(_option_a_expected, x0, out_channels, stride, g)["x_grad"],
            hint="the gradient reaches the kept pixels and "
            "channels only; use getitem and pad so that it flows back",
        )


def run_option_a_rejects(module, x, out_channels: int, stride: int):
    """Runner: the name of the error option A raises for too few channels (or None)."""
    from learnres.autograd import Tensor

    try:
        module.subsample_and_zero_pad(Tensor(np.array(x)), out_channels, stride)
    except ValueError as e:  # OpError is a ValueError
        return type(e).__name__
    return None


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_option_a_rejects_fewer_channels(exercise, rng):
    if exercise.run(run_option_a_rejects, rand(rng, 1, 4, 4, 4), 2, 2) is None:
        fail(
            "subsample_and_zero_pad(x with 4 channels, out_channels=2, ...) did not raise: "
            "option A can only add channels; raise OpError saying so"
        )


# ---- 4.2 and 4.3 projection and the choice of shortcut ------------------------------------------


def kind(module) -> str:
    """A shortcut module in words (what the projection and make_shortcut tests compare)."""
    name = type(module).__name__
    if name == "Sequential":
        layers = list(module)
        if [type(m).__name__ for m in layers] == ["Conv2d", "BatchNorm2d"]:
            conv = layers[0]
            return (
                f"projection(1x1 conv {conv.in_channels}->{conv.out_channels}, "
                f"kernel {conv.kernel_size}, stride {conv.stride}, padding {conv.padding}, "
                f"bias {conv.bias is not None}, BN {layers[1].num_features})"
            )
        return f"Sequential({', '.join(type(m).__name__ for m in layers)})"
    if name == "ZeroPadShortcut":
        return f"ZeroPadShortcut({module.in_planes}, {module.out_planes}, stride={module.stride})"
    return name


def run_projections(module, cases):
    return [kind(module.projection_shortcut(*case)) for case in cases]


def _reference_projections(cases):
    from learnres.nn import blocks

    return [kind(blocks.projection_shortcut(*case)) for case in cases]


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_projection_shortcut(exercise):
    cases = [(4, 8, 2), (8, 8, 1)]
    got = exercise.run(run_projections, cases)
    for (in_planes, out_planes, stride), mine, expected in zip(
        cases, got, exercise.expect(_reference_projections, cases)
    ):
        if mine != expected:
            fail(
                f"projection_shortcut({in_planes}, {out_planes}, {stride}) is {mine}; expected "
                f"{expected}: Sequential(Conv2d(in, out, kernel_size=1, stride=stride, "
                "bias=False), BatchNorm2d(out))"
            )


def _shortcut_cases(rng) -> list[tuple]:
    """Every option against a kept shape, a stride with a wider output, a wider output alone,
    and a stride alone (the same channels: the shape still changes)."""
    c = int(rng.integers(4, 33))
    return [
        (option, *shape)
        for option in "ABC"
        for shape in [(c, c, 1), (c, 2 * c, 2), (c, 2 * c, 1), (c, c, 2)]
    ]


def run_make_shortcut(module, cases):
    """Runner: each shortcut in words, then what make_shortcut('D', ...) raised."""
    kinds = [kind(module.make_shortcut(*case)) for case in cases]
    try:
        module.make_shortcut("D", 16, 32, 2)
    except ValueError:
        return kinds, "ValueError"
    return kinds, None


def _reference_shortcuts(cases):
    from learnres.nn import blocks

    return [kind(blocks.make_shortcut(*case)) for case in cases]


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_make_shortcut(exercise, rng):
    cases = _shortcut_cases(rng)
    kinds, raised = exercise.run(run_make_shortcut, cases, given=("projection_shortcut",))
    expected = exercise.expect(_reference_shortcuts, cases)
    for (option, in_planes, out_planes, stride), mine, wanted in zip(cases, kinds, expected):
        if mine != wanted:
            same = stride == 1 and in_planes == out_planes
            why = "kept" if same else "changed"
            if in_planes == out_planes and stride != 1:
                why = "changed (the same channels, but the stride halves H and W)"
            fail(
                f"make_shortcut({option!r}, {in_planes}, {out_planes}, stride={stride}) is "
                f"{mine}; expected {wanted}. The shape is {why}: options A and B use the "
                "identity only where the shape is kept, which needs stride 1 AND the same "
                "channels (A pads with zeros and subsamples, B projects where the shape "
                "changes); C projects everywhere."
            )
    if raised is None:
        fail("make_shortcut('D', ...) did not raise ValueError; the options are 'A', 'B' and 'C'")


# ---- 4.4 and 4.5 the block ----------------------------------------------------------------------


def _block_diagnoses(twin, x):
    import torch.nn.functional as F

    hidden = F.relu(twin.bn1(twin.conv1(x)))
    residual = twin.bn2(twin.conv2(hidden))
    shortcut = twin.shortcut(x)
    known = [
        (
            "relu(F(x)): the shortcut is missing; return relu(out + self.shortcut(x))",
            F.relu(residual),
        ),
        (
            "relu(F(x)) + shortcut(x): the ReLU comes AFTER the addition (Fig. 2)",
            F.relu(residual) + shortcut,
        ),
        (
            "relu(bn2(conv2(out) + shortcut(x))): the shortcut is added before bn2; add it "
            "after bn2, to F(x) = bn2(conv2(...)), just before the last ReLU (Fig. 2)",
            F.relu(twin.bn2(twin.conv2(hidden) + shortcut)),
        ),
        (
            "relu(F(x) + shortcut(F(x))): the shortcut takes the block's input x",
            F.relu(residual + twin.shortcut(residual)) if residual.shape == x.shape else None,
        ),
    ]
    return [(label, value.detach().numpy()) for label, value in known if value is not None]


def _grade_basic_block(exercise, rng, in_planes, planes, stride, option):
    grade_block(
        exercise,
        f"BasicBlock({in_planes}, {planes}, stride={stride}, shortcut={option!r})",
        "BasicBlock",
        (in_planes, planes, stride, option),
        {},
        (2, in_planes, 6, 6),
        rng,
        diagnoses=_block_diagnoses,
        hint="out = relu(bn1(conv1(x))); out = bn2(conv2(out)); relu(out + shortcut(x))",
        given=SHORTCUTS,
    )


@pytest.mark.points(2)
@pytest.mark.timeout(30)
def test_basic_block_identity(exercise, rng):
    _grade_basic_block(exercise, rng, 4, 4, 1, "A")


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_basic_block_option_a(exercise, rng):
    _grade_basic_block(exercise, rng, 4, 8, 2, "A")


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_basic_block_option_b(exercise, rng):
    _grade_basic_block(exercise, rng, 4, 8, 2, "B")
