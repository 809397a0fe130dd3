"""Grader of exercise 4 (the residual basic block): the shortcuts on their own, then whole
blocks against their PyTorch twins (learnres.reference) with the same weights, in float64.

The block tests give your BasicBlock learnres's own make_shortcut (and so learnres's option A
and projection), so a bug in 4.1-4.3 costs only the points of those parts.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch  # imported at collection, so no test's timeout pays for it
import torch.nn.functional as F

from learnres.autograd import Tensor
from learnres.grading.checks import check_block, check_close, fail, rand, upstream
from learnres.nn import blocks as reference

EXERCISE = "4. Residual block"
MODULE = "ex4_residual"


@pytest.fixture
def rng():
    return np.random.default_rng(4)


@pytest.fixture
def reference_shortcuts(exercise, monkeypatch):
    monkeypatch.setattr(exercise, "make_shortcut", reference.make_shortcut)
    monkeypatch.setattr(exercise, "projection_shortcut", reference.projection_shortcut)


def _torch_option_a(x, out_channels, stride):
    x = x[:, :, ::stride, ::stride]
    return F.pad(x, (0, 0, 0, 0, 0, out_channels - x.shape[1]))


# ---- 4.1 option A -------------------------------------------------------------------------------


OPTION_A_CASES = [
    ((2, 3, 6, 6), 6, 2),
    ((2, 4, 5, 7), 8, 2),
    ((1, 4, 4, 4), 4, 1),
    ((1, 2, 4, 4), 5, 1),
]


def _option_a_diagnoses(x, out_channels, stride):
    t = torch.from_numpy(x)
    extra = out_channels - x.shape[1]
    return [
        (
            "the zero channels put BEFORE the input's: append them after (pad (0, extra) on the "
            "channel axis)",
            F.pad(t[:, :, ::stride, ::stride], (0, 0, 0, 0, extra, 0)).numpy(),
        ),
        (
            "a subsampling that starts at pixel 1: keep x[:, :, ::stride, ::stride], the top-left "
            "pixel of each window",
            F.pad(t[:, :, 1::stride, 1::stride], (0, 0, 0, 0, 0, extra)).numpy(),
        ),
    ]


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_option_a_values(exercise, rng):
    for x_shape, out_channels, stride in OPTION_A_CASES:
        x = rand(rng, *x_shape)
        expected = _torch_option_a(torch.from_numpy(x), out_channels, stride).numpy()
        y = exercise.subsample_and_zero_pad(Tensor(x.copy()), out_channels, stride)
        if not isinstance(y, Tensor):
            fail(
                f"subsample_and_zero_pad returned {type(y).__name__}, expected a Tensor: build "
                "it from learnres's getitem and pad so that gradients flow back"
            )
        check_close(
            f"subsample_and_zero_pad(x {x_shape}, out_channels={out_channels}, "
            f"stride={stride}): the output",
            y.data,
            expected,
            expected_label="expected",
            diagnoses=_option_a_diagnoses(x, out_channels, stride) if stride > 1 else [],
            hint="x[:, :, ::stride, ::stride], then out_channels - C zero channels after "
            "the existing ones",
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_option_a_gradient(exercise, rng):
    for x_shape, out_channels, stride in OPTION_A_CASES[:2]:
        x0 = rand(rng, *x_shape)
        x = Tensor(x0.copy(), requires_grad=True)
        y = exercise.subsample_and_zero_pad(x, out_channels, stride)
        g = upstream(rng, y.shape)
        y.backward(g)
        tx = torch.tensor(x0, requires_grad=True)
        _torch_option_a(tx, out_channels, stride).backward(torch.from_numpy(g))
        check_close(
            f"subsample_and_zero_pad(x {x_shape}, {out_channels}, {stride}): dL/dx",
            x.grad,
            tx.grad.numpy(),
            hint="the gradient reaches the kept pixels and "
            "channels only; use getitem and pad so that it flows back",
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_option_a_rejects_fewer_channels(exercise, rng):
    try:
        exercise.subsample_and_zero_pad(Tensor(rand(rng, 1, 4, 4, 4)), 2, 2)
    except ValueError:  # OpError is a ValueError
        return
    fail(
        "subsample_and_zero_pad(x with 4 channels, out_channels=2, ...) did not raise: "
        "option A can only add channels; raise OpError saying so"
    )


# ---- 4.2 and 4.3 projection and the choice of shortcut ------------------------------------------


def _kind(module) -> str:
    name = type(module).__name__
    if name == "Sequential":
        layers = list(module)
        if [type(m).__name__ for m in layers] == ["Conv2d", "BatchNorm2d"]:
            conv = layers[0]
            return (
                f"projection(1x1 conv {conv.in_channels}->{conv.out_channels}, "
                f"stride {conv.stride}, bias {conv.bias is not None}, BN {layers[1].num_features})"
            )
        return f"Sequential({', '.join(type(m).__name__ for m in layers)})"
    if name == "ZeroPadShortcut":
        return f"ZeroPadShortcut({module.in_planes}, {module.out_planes}, stride={module.stride})"
    return name


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_projection_shortcut(exercise, rng):
    for in_planes, out_planes, stride in [(4, 8, 2), (8, 8, 1)]:
        got = _kind(exercise.projection_shortcut(in_planes, out_planes, stride))
        expected = _kind(reference.projection_shortcut(in_planes, out_planes, stride))
        if got != expected:
            fail(
                f"projection_shortcut({in_planes}, {out_planes}, {stride}) is {got}; expected "
                f"{expected}: Sequential(Conv2d(in, out, kernel_size=1, stride=stride, "
                "bias=False), BatchNorm2d(out))"
            )


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_make_shortcut(exercise, monkeypatch):
    monkeypatch.setattr(exercise, "projection_shortcut", reference.projection_shortcut)
    for option in "ABC":
        for in_planes, out_planes, stride in [(16, 16, 1), (16, 32, 2), (16, 32, 1)]:
            got = _kind(exercise.make_shortcut(option, in_planes, out_planes, stride))
            expected = _kind(reference.make_shortcut(option, in_planes, out_planes, stride))
            if got != expected:
                same = stride == 1 and in_planes == out_planes
                fail(
                    f"make_shortcut({option!r}, {in_planes}, {out_planes}, stride={stride}) is "
                    f"{got}; expected {expected}. The shape is {'kept' if same else 'changed'}: "
                    "options A and B use the identity where the shape is kept (A pads with "
                    "zeros, B projects where it changes); C projects everywhere."
                )
    try:
        exercise.make_shortcut("D", 16, 32, 2)
    except ValueError:
        return
    fail("make_shortcut('D', ...) did not raise ValueError; the options are 'A', 'B' and 'C'")


# ---- 4.4 and 4.5 the block ----------------------------------------------------------------------


def _block_diagnoses(twin, x):
    residual = twin.bn2(twin.conv2(F.relu(twin.bn1(twin.conv1(x)))))
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
            "relu(F(x) + shortcut(F(x))): the shortcut takes the block's input x",
            F.relu(residual + twin.shortcut(residual)) if residual.shape == x.shape else None,
        ),
    ]
    return [(label, value.detach().numpy()) for label, value in known if value is not None]


def _check_basic_block(exercise, rng, in_planes, planes, stride, option):
    what = f"BasicBlock({in_planes}, {planes}, stride={stride}, shortcut={option!r})"
    student = exercise.BasicBlock(in_planes, planes, stride, option)
    check_block(
        what,
        student,
        reference.BasicBlock(in_planes, planes, stride, option),
        (2, in_planes, 6, 6),
        rng,
        diagnoses=_block_diagnoses,
        hint="out = relu(bn1(conv1(x))); out = bn2(conv2(out)); relu(out + shortcut(x))",
    )


@pytest.mark.points(2)
@pytest.mark.timeout(30)
def test_basic_block_identity(exercise, rng, reference_shortcuts):
    _check_basic_block(exercise, rng, 4, 4, 1, "A")


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_basic_block_option_a(exercise, rng, reference_shortcuts):
    _check_basic_block(exercise, rng, 4, 8, 2, "A")


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_basic_block_option_b(exercise, rng, reference_shortcuts):
    _check_basic_block(exercise, rng, 4, 8, 2, "B")
