"""Grader of exercise 2 (convolution by im2col): each step on its own, against PyTorch
(torch.nn.functional.unfold, conv2d and its gradients) in float64.

Each test calls one of your functions directly. Where it calls another part (forward calls
_im2col), learnres's own version of that part is swapped in, so one bug costs one part.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch  # imported at collection, so no test's timeout pays for it
import torch.nn.functional as F

from learnres.functions import conv as reference
from learnres.grading.checks import check_close, numeric_gradient_at, rand

EXERCISE = "2. Convolution"
MODULE = "ex2_conv"


@pytest.fixture
def rng():
    return np.random.default_rng(2)


@pytest.fixture
def reference_parts(exercise, monkeypatch):
    """Your forward and backward steps call learnres's _pad and _im2col here."""
    monkeypatch.setattr(exercise, "_pad", reference._pad)
    monkeypatch.setattr(exercise, "_im2col", reference._im2col)


@pytest.fixture
def reference_correlate(exercise, monkeypatch, reference_parts):
    """Your backward steps call learnres's _correlate (part 2.2) here."""
    monkeypatch.setattr(exercise, "_correlate", reference._correlate)


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _conv(x, w, stride, padding):
    return F.conv2d(_t(x), _t(w), stride=stride, padding=padding).numpy()


def _conv_grads(x, w, g, stride, padding):
    """(dL/dx, dL/dw) from torch's autograd."""
    tx, tw = _t(x).requires_grad_(), _t(w).requires_grad_()
    F.conv2d(tx, tw, stride=stride, padding=padding).backward(_t(g))
    return tx.grad.numpy(), tw.grad.numpy()


# (x shape, w shape, stride, padding): odd and even sizes, non-square kernels and strides
CASES = [
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (1, 1)),
    ((2, 2, 7, 6), (3, 2, 3, 2), (1, 1), (0, 1)),
    ((1, 3, 5, 5), (2, 3, 1, 1), (1, 1), (0, 0)),
    ((2, 3, 7, 8), (4, 3, 3, 3), (2, 2), (1, 1)),
    ((2, 2, 8, 7), (3, 2, 3, 3), (2, 1), (1, 0)),
    ((1, 4, 6, 6), (5, 4, 1, 1), (2, 2), (0, 0)),
]
STRIDE_1 = [c for c in CASES if c[2] == (1, 1)]
STRIDED = [c for c in CASES if c[2] != (1, 1)]


def _setting(x_shape, w_shape, stride, padding):
    return f"x {x_shape}, w {w_shape}, stride {stride}, padding {padding}"


# ---- 2.1 im2col -------------------------------------------------------------------------------


def _check_im2col(exercise, rng, cases):
    for x_shape, (kh, kw), stride in cases:
        x_pad = rand(rng, *x_shape)
        expected = F.unfold(_t(x_pad), (kh, kw), stride=stride).numpy()
        Ho, Wo = (x_shape[2] - kh) // stride[0] + 1, (x_shape[3] - kw) // stride[1] + 1
        step_1 = (
            F.unfold(_t(x_pad), (kh, kw))
            .numpy()
            .reshape(x_shape[0], -1, *(n - k + 1 for n, k in zip(x_shape[2:], (kh, kw))))[
                :, :, :Ho, :Wo
            ]
        )
        check_close(
            f"_im2col(x_pad {x_shape}, kernel {kh}x{kw}, stride {stride}): cols",
            exercise._im2col(x_pad.copy(), kh, kw, *stride),
            expected,
            expected_label="torch unfold",
            diagnoses=[]
            if stride == (1, 1)
            else [
                (
                    "the windows stepped by 1 pixel, not by the stride: window (i, j) starts at "
                    "x_pad[:, :, sh*i, sw*j]",
                    step_1.reshape(x_shape[0], step_1.shape[1], -1),
                )
            ],
            hint="cols[n, (c, u, v), (i, j)] = x_pad[n, c, sh*i + u, sw*j + v], with (c, u, v) "
            "and (i, j) flattened in C order; Ho = (Hp - kh) // sh + 1",
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_im2col(exercise, rng):
    _check_im2col(exercise, rng, [((2, 3, 5, 6), (3, 3), (1, 1)), ((1, 2, 4, 5), (2, 3), (1, 1))])


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_im2col_strided(exercise, rng):
    _check_im2col(
        exercise,
        rng,
        [
            ((2, 3, 7, 7), (3, 3), (2, 2)),
            ((1, 2, 8, 7), (3, 2), (2, 1)),
            ((1, 2, 6, 6), (1, 1), (2, 2)),
        ],
    )


# ---- 2.2 forward ------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_conv_forward(exercise, rng, reference_parts):
    for x_shape, w_shape, stride, padding in CASES:
        x, w, b = rand(rng, *x_shape), rand(rng, *w_shape), rand(rng, w_shape[0])
        f = exercise.Conv2d(stride, padding)
        f.needs_input_grad = (True, True, True)
        expected = _conv(x, w, stride, padding) + b.reshape(1, -1, 1, 1)
        check_close(
            f"Conv2d.forward ({_setting(x_shape, w_shape, stride, padding)}): y",
            f.forward(x.copy(), w.copy(), b.copy()),
            expected,
            hint="_correlate: pad x, im2col with the stride, then w2 @ cols for every image "
            "(@ broadcasts w2 over the batch), reshaped to (N, O, Ho, Wo)",
        )


# ---- 2.3 dL/dw ----------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_grad_weight(exercise, rng, reference_correlate):
    for x_shape, w_shape, stride, padding in CASES:
        x, w = rand(rng, *x_shape), rand(rng, *w_shape)
        g = rand(rng, *_conv(x, w, stride, padding).shape)
        _, expected = _conv_grads(x, w, g, stride, padding)
        O, kh, kw = w_shape[0], w_shape[2], w_shape[3]

        def f(w2, x=x, s=w_shape, st=stride, p=padding):
            return _conv(x, w2.reshape(s), st, p)

        check_close(
            f"_grad_weight ({_setting(x_shape, w_shape, stride, padding)}): dL/dw as (O, C*kh*kw)",
            exercise._grad_weight(x.copy(), g.copy(), kh, kw, stride, padding),
            expected.reshape(O, -1),
            numeric=numeric_gradient_at(f, [w.reshape(O, -1)], 0, g),
            hint="dL/dw2 = sum over the images n of gy_n @ cols_n^T, gy_n as (O, Ho*Wo) and "
            "cols_n the im2col of the padded x_n with the stride",
        )


# ---- 2.4 dL/dx, stride 1 ------------------------------------------------------------------------


def _check_grad_input(exercise, rng, cases, stride_1):
    for x_shape, w_shape, stride, padding in cases:
        x, w = rand(rng, *x_shape), rand(rng, *w_shape)
        g = rand(rng, *_conv(x, w, stride, padding).shape)
        expected, _ = _conv_grads(x, w, g, stride, padding)
        what = f"({_setting(x_shape, w_shape, stride, padding)}): dL/dx"

        def f(x2, w=w, st=stride, p=padding):
            return _conv(x2, w, st, p)

        diagnoses = []
        if stride_1:
            got = exercise._grad_input_transposed(g.copy(), w.copy(), padding)
            what = "_grad_input_transposed " + what
            unflipped = torch.nn.grad.conv2d_input(
                x_shape, _t(w).flip(2, 3), _t(g), padding=padding
            )
            if w_shape[2] * w_shape[3] > 1:
                diagnoses.append(
                    (
                        "the transposed convolution with the kernel NOT flipped: "
                        "flip both spatial axes, w[:, :, ::-1, ::-1]",
                        unflipped.numpy(),
                    )
                )
            hint = (
                "a stride-1 convolution (_correlate) of gy padded by k - 1 - p with the kernel "
                "flipped in both spatial axes and its channels swapped (C, O, kh, kw)"
            )
        else:
            got = exercise._grad_input_col2im(g.copy(), w.copy(), x_shape, stride, padding)
            what = "_grad_input_col2im " + what
            diagnoses.append(
                (
                    "col2im with overlapping windows overwriting each other (=): a "
                    "pixel in several windows collects all their contributions (+=)",
                    _col2im_assigning(g, w, x_shape, stride, padding),
                )
            )
            hint = (
                "dL/dcols_n = w2^T @ gy_n, each entry added back (+=) at x_pad[n, c, "
                "sh*i + u, sw*j + v], then the padding cut off"
            )
        check_close(
            what,
            got,
            expected,
            hint=hint,
            diagnoses=diagnoses,
            numeric=numeric_gradient_at(f, [x], 0, g),
        )


def _col2im_assigning(g, w, x_shape, stride, padding):
    """The col2im of a student who writes = instead of +=."""
    (n, O, Ho, Wo), (C, H, W), (kh, kw) = g.shape, x_shape[1:], w.shape[2:]
    (sh, sw), (ph, pw) = stride, padding
    gcols = (w.reshape(O, -1).T @ g.reshape(n, O, -1)).reshape(n, C, kh, kw, Ho, Wo)
    gx = np.zeros((n, C, H + 2 * ph, W + 2 * pw))
    for u in range(kh):
        for v in range(kw):
            gx[:, :, u : u + sh * (Ho - 1) + 1 : sh, v : v + sw * (Wo - 1) + 1 : sw] = gcols[
                :, :, u, v
            ]
    return gx[:, :, ph : ph + H, pw : pw + W]


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_grad_input_stride_1(exercise, rng, reference_correlate):
    _check_grad_input(exercise, rng, STRIDE_1, stride_1=True)


# ---- 2.5 dL/dx, any stride ----------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_grad_input_strided(exercise, rng, reference_correlate):
    _check_grad_input(exercise, rng, STRIDED + STRIDE_1[:1], stride_1=False)
