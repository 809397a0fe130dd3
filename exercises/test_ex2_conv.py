"""Grader of exercise 2 (convolution by im2col): each step on its own, against PyTorch
(torch.nn.functional.unfold, conv2d and its gradients) in float64.

Each test calls one of your functions directly. Where it calls another part (forward calls
_im2col), the test gives your code learnres's own version of that part, so one bug costs one
part.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.grading.checks import check_close, numeric_gradient, rand

EXERCISE = "2. Convolution"
MODULE = "ex2_conv"
PARTS = ("_pad", "_im2col")  # what the forward test gives your code
BACKWARD_PARTS = PARTS + ("_correlate",)  # and the backward tests (part 2.2 too)


def _t(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _conv(x, w, stride, padding):
    import torch.nn.functional as F

    return F.conv2d(_t(x), _t(w), stride=tuple(stride), padding=tuple(padding)).numpy()


def _conv_grads(x, w, g, stride, padding):
    """(dL/dx, dL/dw) from torch's autograd."""
    import torch.nn.functional as F

    tx, tw = _t(x).requires_grad_(), _t(w).requires_grad_()
    F.conv2d(tx, tw, stride=tuple(stride), padding=tuple(padding)).backward(_t(g))
    return tx.grad.numpy(), tw.grad.numpy()


# (x shape, w shape, stride, padding): odd and even sizes, non-square kernels and strides
CASES = [
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (1, 1)),
    ((2, 2, 7, 6), (3, 2, 3, 2), (1, 1), (0, 1)),
    ((1, 3, 5, 5), (2, 3, 1, 1), (1, 1), (0, 0)),
    ((1, 2, 4, 5), (3, 2, 3, 3), (1, 1), (3, 2)),  # padding wider than kernel - 1
    ((2, 3, 7, 8), (4, 3, 3, 3), (2, 2), (1, 1)),
    ((2, 2, 8, 7), (3, 2, 3, 3), (2, 1), (1, 0)),
    ((1, 4, 6, 6), (5, 4, 1, 1), (2, 2), (0, 0)),
]
STRIDE_1 = [c for c in CASES if c[2] == (1, 1)]
STRIDED = [c for c in CASES if c[2] != (1, 1)]


def _setting(x_shape, w_shape, stride, padding):
    return f"x {x_shape}, w {w_shape}, stride {stride}, padding {padding}"


# ---- 2.1 im2col -------------------------------------------------------------------------------


def run_im2col(module, x, kh: int, kw: int, stride, padding):
    return module._im2col(np.array(x), kh, kw, *stride, *padding)


def _expected_im2col(x, kh, kw, stride, padding):
    import torch.nn.functional as F

    x_pad = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    x_shape = x_pad.shape
    expected = F.unfold(_t(x_pad), (kh, kw), stride=tuple(stride)).numpy()
    Ho, Wo = (x_shape[2] - kh) // stride[0] + 1, (x_shape[3] - kw) // stride[1] + 1
    step_1 = (
        F.unfold(_t(x_pad), (kh, kw))
        .numpy()
        .reshape(x_shape[0], -1, *(n - k + 1 for n, k in zip(x_shape[2:], (kh, kw))))[
            :, :, :Ho, :Wo
        ]
    )
    diagnoses = []
    if tuple(padding) != (0, 0):
        diagnoses.append(
            (
                "the windows of x unpadded: pad x by (ph, pw) first (_pad)",
                F.unfold(_t(x), (kh, kw), stride=tuple(stride)).numpy(),
            )
        )
    if tuple(stride) != (1, 1):
        diagnoses.append(
            (
                "the windows stepped by 1 pixel, not by the stride: window (i, j) starts at "
                "x_pad[:, :, sh*i, sw*j]",
                step_1.reshape(x_shape[0], step_1.shape[1], -1),
            )
        )
    return {"cols": expected, "diagnoses": diagnoses}


def _check_im2col(exercise, rng, cases):
    for x_shape, (kh, kw), stride, padding in cases:
        x = rand(rng, *x_shape)
        got = exercise.run(run_im2col, x, kh, kw, stride, padding)
        expected = exercise.expect(_expected_im2col, x, kh, kw, stride, padding)
        check_close(
            f"_im2col(x {x_shape}, kernel {kh}x{kw}, stride {stride}, padding {padding}): cols",
            got,
            expected["cols"],
            expected_label="torch unfold",
            diagnoses=expected["diagnoses"],
            hint="cols[n, (c, u, v), (i, j)] = x_pad[n, c, sh*i + u, sw*j + v], with (c, u, v) "
            "and (i, j) flattened in C order; Ho = (H + 2*ph - kh) // sh + 1",
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_im2col(exercise, rng):
    _check_im2col(
        exercise,
        rng,
        [
            ((2, 3, 5, 6), (3, 3), (1, 1), (0, 0)),
            ((1, 2, 4, 5), (2, 3), (1, 1), (0, 0)),
            ((2, 3, 5, 6), (3, 3), (1, 1), (1, 1)),
            ((1, 2, 4, 5), (2, 3), (1, 1), (2, 1)),
        ],
    )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_im2col_strided(exercise, rng):
    _check_im2col(
        exercise,
        rng,
        [
            ((2, 3, 7, 7), (3, 3), (2, 2), (0, 0)),
            ((1, 2, 8, 7), (3, 2), (2, 1), (0, 0)),
            ((1, 2, 6, 6), (1, 1), (2, 2), (0, 0)),
            ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1)),
        ],
    )


# ---- 2.2 forward ------------------------------------------------------------------------------


def run_conv_forward(module, x, w, b, stride, padding):
    f = module.Conv2d(tuple(stride), tuple(padding))
    f.needs_input_grad = (True, True, True)
    return f.forward(np.array(x), np.array(w), np.array(b))


def _expected_forward(x, w, b, stride, padding):
    return _conv(x, w, stride, padding) + b.reshape(1, -1, 1, 1)


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_conv_forward(exercise, rng):
    for x_shape, w_shape, stride, padding in CASES:
        x, w, b = rand(rng, *x_shape), rand(rng, *w_shape), rand(rng, w_shape[0])
        got = exercise.run(run_conv_forward, x, w, b, stride, padding, given=PARTS)
        check_close(
            f"Conv2d.forward ({_setting(x_shape, w_shape, stride, padding)}): y",
            got,
            exercise.expect(_expected_forward, x, w, b, stride, padding),
            hint="_correlate: pad x, im2col with the stride, then w2 @ cols for every image "
            "(@ broadcasts w2 over the batch), reshaped to (N, O, Ho, Wo)",
        )


# ---- 2.3 dL/dw ----------------------------------------------------------------------------------


def run_grad_weight(module, x, g, kh: int, kw: int, stride, padding):
    return module._grad_weight(np.array(x), np.array(g), kh, kw, tuple(stride), tuple(padding))


def _expected_grad_weight(x, w, g, stride, padding):
    _, expected = _conv_grads(x, w, g, stride, padding)
    O = w.shape[0]

    def f(w2):
        return _conv(x, w2.reshape(w.shape), stride, padding)

    return {"w": expected.reshape(O, -1), "numeric": numeric_gradient(f, [w.reshape(O, -1)], 0, g)}


def _output_shape(x_shape, w_shape, stride, padding):
    return (x_shape[0], w_shape[0]) + tuple(
        (n + 2 * p - k) // s + 1 for n, k, s, p in zip(x_shape[2:], w_shape[2:], stride, padding)
    )


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_grad_weight(exercise, rng):
    for x_shape, w_shape, stride, padding in CASES:
        x, w = rand(rng, *x_shape), rand(rng, *w_shape)
        g = rand(rng, *_output_shape(x_shape, w_shape, stride, padding))
        kh, kw = w_shape[2], w_shape[3]
        got = exercise.run(run_grad_weight, x, g, kh, kw, stride, padding, given=BACKWARD_PARTS)
        expected = exercise.expect(_expected_grad_weight, x, w, g, stride, padding)
        check_close(
            f"_grad_weight ({_setting(x_shape, w_shape, stride, padding)}): dL/dw as (O, C*kh*kw)",
            got,
            expected["w"],
            numeric=expected["numeric"],
            hint="dL/dw2 = sum over the images n of gy_n @ cols_n^T, gy_n as (O, Ho*Wo) and "
            "cols_n the im2col of the padded x_n with the stride",
        )


# ---- 2.4 dL/dx and dL/dw, stride 1 --------------------------------------------------------------


def run_grads_transposed(module, g, x, w, padding):
    return module._grads_transposed(np.array(g), np.array(x), np.array(w), tuple(padding))


def run_grad_input_col2im(module, g, w, x_shape, stride, padding):
    return module._grad_input_col2im(
        np.array(g), np.array(w), tuple(x_shape), tuple(stride), tuple(padding)
    )


def _expected_grad_input(x, w, g, stride, padding, stride_1: bool):
    import torch

    expected, _ = _conv_grads(x, w, g, stride, padding)
    diagnoses = []
    if stride_1 and w.shape[2] * w.shape[3] > 1:
        unflipped = torch.nn.grad.conv2d_input(
            x.shape, _t(w).flip(2, 3), _t(g), padding=tuple(padding)
        )
        diagnoses.append(
            (
                "the transposed convolution with the kernel NOT flipped: "
                "flip both spatial axes, w[:, :, ::-1, ::-1]",
                unflipped.numpy(),
            )
        )
    if not stride_1:
        diagnoses.append(
            (
                "col2im with overlapping windows overwriting each other (=): a "
                "pixel in several windows collects all their contributions (+=)",
                _col2im_assigning(g, w, x.shape, stride, padding),
            )
        )

    def f(x2):
        return _conv(x2, w, stride, padding)

    return {"x": expected, "diagnoses": diagnoses, "numeric": numeric_gradient(f, [x], 0, g)}


def _check_grad_input(exercise, rng, cases, stride_1):
    for x_shape, w_shape, stride, padding in cases:
        x, w = rand(rng, *x_shape), rand(rng, *w_shape)
        g = rand(rng, *_output_shape(x_shape, w_shape, stride, padding))
        what = f"({_setting(x_shape, w_shape, stride, padding)}): dL/dx"
        if stride_1:
            got = exercise.run(run_grads_transposed, g, x, w, padding, given=BACKWARD_PARTS)
            what = "_grads_transposed " + what
            _check_grad_weight_from_gy_columns(exercise, what, got, x, w, g, padding)
            got = got[0]
            hint = (
                "a stride-1 convolution of gy padded by k - 1 - p (its columns, then one "
                "product) with the kernel flipped in both spatial axes and its channels "
                "swapped (C, O, kh, kw)"
            )
        else:
            got = exercise.run(
                run_grad_input_col2im, g, w, x_shape, stride, padding, given=BACKWARD_PARTS
            )
            what = "_grad_input_col2im " + what
            hint = (
                "dL/dcols_n = w2^T @ gy_n, each entry added back (+=) at x_pad[n, c, "
                "sh*i + u, sw*j + v], then the padding cut off"
            )
        expected = exercise.expect(_expected_grad_input, x, w, g, stride, padding, stride_1)
        check_close(
            what,
            got,
            expected["x"],
            hint=hint,
            diagnoses=expected["diagnoses"],
            numeric=expected["numeric"],
        )


def _check_grad_weight_from_gy_columns(exercise, what, got, x, w, g, padding):
    """2.4 returns (dL/dx, dL/dw): check the pair, then dL/dw (dL/dx is the caller's)."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        length = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        pytest.fail(
            f"{what.replace('dL/dx', 'result')}: expected a pair (dL/dx, dL/dw), got "
            f"{type(got).__name__}{length}",
            pytrace=False,
        )
    expected = exercise.expect(_expected_grad_weight, x, w, g, (1, 1), padding)
    O = w.shape[0]
    forwards = expected["w"].reshape(w.shape)[:, :, ::-1, ::-1].reshape(O, -1)
    check_close(
        what.replace("dL/dx", "dL/dw as (O, C*kh*kw)"),
        got[1],
        expected["w"],
        numeric=expected["numeric"],
        hint="the columns of gy (padded by k - 1 - p) times x^T, summed over the images, give "
        "(O*kh*kw, C) with the kernel read backwards: flip (u, v) back, then (O, C, kh, kw)",
        diagnoses=[
            (
                "dL/dw with the kernel still read backwards: gcols row (o, u', v') belongs to "
                "w[o, :, kh - 1 - u', kw - 1 - v'], flip both spatial axes back",
                forwards,
            )
        ],
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


@pytest.mark.points(3)
@pytest.mark.timeout(20)
def test_grads_stride_1(exercise, rng):
    _check_grad_input(exercise, rng, STRIDE_1, stride_1=True)


# ---- 2.5 dL/dx, any stride ----------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_grad_input_strided(exercise, rng):
    _check_grad_input(exercise, rng, STRIDED + STRIDE_1[:1], stride_1=False)
