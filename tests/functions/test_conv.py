"""conv2d (im2col) and conv2d_naive (loops) against torch.nn.functional.conv2d and each other."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from learnres import Tensor
from learnres import functions as F
from learnres.autograd import OpError
from learnres.backend import asnumpy, to_device
from learnres.testing import compare_with_torch, gradcheck
from tests.functions.harness import check_op, random_inputs

# (N, C, H, W, O, kernel, stride, padding): strides 1-3, padding 0-3, kernels 1/3/5/7 and a
# non-square one, odd/even/non-square inputs, batch 1, 1 to 64 channels, and a batch of 20
CASES = [
    (2, 3, 8, 8, 4, 3, 1, 1),
    (1, 1, 7, 7, 1, 3, 1, 0),
    (2, 2, 9, 6, 3, 3, 2, 1),
    (1, 4, 10, 11, 5, 5, 3, 2),
    (2, 3, 7, 9, 2, 7, 2, 3),
    (2, 5, 6, 6, 3, 1, 1, 0),
    (2, 3, 5, 5, 2, 1, 2, 3),  # padding wider than kernel - 1
    (2, 3, 5, 6, 2, 3, 1, 3),  # the same with stride 1: gy is cropped, not padded
    (2, 2, 4, 4, 3, 1, 1, 2),
    (1, 64, 4, 4, 8, 3, 1, 1),
    (2, 8, 5, 5, 64, 3, 2, 1),
    (20, 2, 6, 6, 3, 3, 2, 1),
    (2, 2, 6, 8, 3, (2, 3), (1, 2), (1, 0)),
]
IDS = ["N{}C{}H{}W{}O{}k{}s{}p{}".format(*case) for case in CASES]


def conv_inputs(N, C, H, W, O, k, seed=0):
    kh, kw = (k, k) if isinstance(k, int) else k
    return random_inputs([(N, C, H, W), (O, C, kh, kw), (O,)], seed=seed)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_matches_torch(case, bias, device, dtype):
    N, C, H, W, O, k, s, p = case
    x, w, b = conv_inputs(N, C, H, W, O, k)
    if bias:
        check_op(
            lambda x, w, b: F.conv2d(x, w, b, s, p),
            lambda x, w, b: TF.conv2d(x, w, b, s, p),
            [x, w, b],
            device=device,
            dtype=dtype,
            name="conv2d",
        )
    else:
        check_op(
            lambda x, w: F.conv2d(x, w, None, s, p),
            lambda x, w: TF.conv2d(x, w, None, s, p),
            [x, w],
            device=device,
            dtype=dtype,
            name="conv2d",
        )


@settings(max_examples=15, deadline=None)
@given(
    N=st.integers(1, 3),
    C=st.integers(1, 4),
    O=st.integers(1, 4),
    H=st.integers(1, 9),
    W=st.integers(1, 9),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    p=st.integers(0, 3),
)
def test_conv2d_random_shapes(N, C, O, H, W, k, s, p):
    if H + 2 * p < k or W + 2 * p < k:
        return  # no output: the error is tested below
    x, w, b = conv_inputs(N, C, H, W, O, k, seed=N * 7 + k)
    compare_with_torch(
        lambda x, w, b: F.conv2d(x, w, b, s, p),
        lambda x, w, b: TF.conv2d(x, w, b, s, p),
        [x, w, b],
        name="conv2d",
    ).assert_ok()


@pytest.mark.parametrize("fn", [F.conv2d, F.conv2d_naive], ids=["conv2d", "conv2d_naive"])
@pytest.mark.parametrize("s, p", [(1, 1), (2, 0), (2, 2)])
def test_gradcheck(fn, s, p, device):
    x, w, b = conv_inputs(2, 2, 5, 4, 3, 3, seed=1)
    report = gradcheck(
        lambda x, w, b: fn(x, w, b, s, p), [x, w, b], names=["x", "w", "b"], device=device
    )
    assert report, str(report)


@pytest.mark.parametrize("case", CASES[:8], ids=IDS[:8])
def test_naive_agrees_with_im2col(case, device):
    N, C, H, W, O, k, s, p = case
    arrays = [to_device(a, device) for a in conv_inputs(N, C, H, W, O, k, seed=2)]
    g = to_device(np.random.default_rng(3).standard_normal(F.conv2d(*arrays, s, p).shape), device)
    results = []
    for fn in (F.conv2d, F.conv2d_naive):
        xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        y = fn(*xs, stride=s, padding=p)
        y.backward(g)
        results.append([asnumpy(y.data)] + [asnumpy(t.grad) for t in xs])
    for fast, naive, what in zip(*results, ["y", "dx", "dw", "db"]):
        np.testing.assert_allclose(fast, naive, rtol=1e-10, atol=1e-12, err_msg=what)


@pytest.mark.parametrize(
    "shape, kernel, stride, padding",
    [
        ((2, 3, 7, 8), (3, 3), (1, 1), (0, 0)),
        ((2, 3, 7, 8), (3, 3), (1, 1), (1, 1)),
        ((2, 3, 7, 8), (5, 5), (1, 1), (2, 2)),
        ((2, 3, 7, 8), (2, 3), (1, 1), (0, 2)),
        ((2, 3, 7, 8), (3, 3), (1, 1), (4, 3)),
        ((2, 3, 7, 8), (3, 2), (1, 1), (2, 0)),
        ((2, 3, 7, 8), (3, 1), (1, 1), (1, 1)),
        ((2, 3, 7, 8), (1, 1), (1, 1), (0, 0)),
        ((2, 3, 5, 1), (3, 3), (1, 1), (1, 1)),
        ((1, 2, 1, 1), (3, 3), (1, 1), (1, 1)),
        ((1, 2, 3, 1), (3, 5), (1, 1), (1, 2)),
        ((2, 3, 7, 8), (3, 3), (1, 2), (1, 1)),
        ((2, 3, 7, 8), (3, 3), (2, 1), (1, 0)),
        ((2, 3, 7, 8), (3, 3), (2, 2), (1, 1)),
    ],
)
def test_im2col_matches_unfold(shape, kernel, stride, padding):
    # every way _im2col copies, against torch's unfold, whose layout it promises. Stride 1 on
    # NumPy: a padding that keeps the width (rows moved as one run, wrapped values zeroed,
    # also on maps 1 pixel wide), any other (row by row; a shift that misses x). Else: pad,
    # then one copy
    from learnres.functions.conv import _im2col

    x = np.random.default_rng(7).standard_normal(shape)
    cols = _im2col(x, *kernel, *stride, *padding)
    expected = TF.unfold(torch.from_numpy(x), kernel, padding=padding, stride=stride).numpy()
    np.testing.assert_array_equal(cols, expected)


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[7]], ids=[IDS[0], IDS[3], IDS[7]])
@pytest.mark.parametrize("wanted", ["x", "w"])
def test_gradient_of_one_input_only(case, wanted):
    """Stride 1 takes both gradients from gy's columns, stride > 1 dL/dw from x's: each must
    also be right when only x or only w asks for a gradient (a frozen weight, an RGB input)."""
    N, C, H, W, O, k, s, p = case
    x, w, _ = conv_inputs(N, C, H, W, O, k, seed=4)
    tx, tw = Tensor(x, requires_grad=wanted == "x"), Tensor(w, requires_grad=wanted == "w")
    y = F.conv2d(tx, tw, stride=s, padding=p)
    g = np.random.default_rng(5).standard_normal(y.shape)
    y.backward(g)
    qx = torch.from_numpy(x).requires_grad_(wanted == "x")
    qw = torch.from_numpy(w).requires_grad_(wanted == "w")
    TF.conv2d(qx, qw, stride=s, padding=p).backward(torch.from_numpy(g))
    mine, theirs = (tx, qx) if wanted == "x" else (tw, qw)
    other = tw if wanted == "x" else tx
    assert other.grad is None
    np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_naive_matches_torch_float32():
    x, w, b = conv_inputs(2, 3, 6, 7, 4, 3)
    check_op(
        lambda x, w, b: F.conv2d_naive(x, w, b, 2, 1),
        lambda x, w, b: TF.conv2d(x, w, b, 2, 1),
        [x, w, b],
        device="cpu",
        dtype=np.float32,
        name="conv2d_naive",
    )


def test_input_gradient_skipped_when_not_needed():
    x, w, b = conv_inputs(2, 3, 6, 6, 4, 3)
    x, w, b = Tensor(x), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
    F.conv2d(x, w, b, padding=1).backward(np.ones((2, 4, 6, 6)))
    assert x.grad is None and w.grad is not None
    np.testing.assert_allclose(b.grad, np.full(4, 72.0))  # each bias feeds 2*6*6 outputs


def test_float32_stays_float32():
    x, w, b = (
        Tensor(a.astype(np.float32), requires_grad=True) for a in conv_inputs(2, 3, 6, 6, 4, 3)
    )
    y = F.conv2d(x, w, b, stride=2, padding=1)
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


@pytest.mark.parametrize("fn", [F.conv2d, F.conv2d_naive], ids=["conv2d", "conv2d_naive"])
@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, message",
    [
        (
            (3, 32, 32),
            (16, 3, 3, 3),
            {},
            " expects input of shape (N, C, H, W), got shape (3, 32, 32); for a single image, "
            "x.reshape(1, *x.shape) is a batch of one",
        ),
        (
            (1, 4, 8, 8),
            (16, 3, 3, 3),
            {},
            " got input with 4 channels (shape (1, 4, 8, 8)); expected 3 channels "
            "(weight shape (16, 3, 3, 3))",
        ),
        (
            (1, 3, 2, 2),
            (16, 3, 3, 3),
            {},
            " got input of size 2x2 (shape (1, 3, 2, 2)), which is smaller than its 3x3 kernel "
            "even after padding 0 (padded size 2x2)",
        ),
        (
            (1, 3, 2, 3),
            (16, 3, 5, 5),
            {"padding": (1, 2)},
            " got input of size 2x3 (shape (1, 3, 2, 3)), which is smaller than its 5x5 kernel "
            "even after padding (1, 2) (padded size 4x7)",
        ),
        (
            (1, 3, 8, 8),
            (16, 3, 3),
            {},
            " expects weight of shape (O, C, kh, kw), got shape (16, 3, 3)",
        ),
        ((1, 3, 8, 8), (16, 3, 3, 3), {"stride": 0}, ": stride must be an int >= 1"),
        ((1, 3, 8, 8), (16, 3, 3, 3), {"padding": -1}, ": padding must be an int >= 0"),
        (
            (1, 3, 8, 8),
            (16, 3, 3, 3),
            {"stride": 1.5},
            ": stride must be an int >= 1 or a pair of them, got 1.5 (float)",
        ),
        ((1, 3, 8, 8), (16, 3, 3, 3), {"stride": (1, 2, 1)}, ": stride must be an int >= 1"),
        (
            (1, 3, 8, 8),
            (16, 3, 3, 3),
            {"padding": "same"},
            ": padding must be an int >= 0 or a pair of them, got 'same' (str)",
        ),
        ((1, 3, 8, 8), (16, 3, 3, 3), {"stride": True}, ": stride must be an int >= 1"),
    ],
)
def test_bad_input_is_explained(fn, x_shape, w_shape, kwargs, message):
    """Input errors start with the op's name (a layer's start with its own: tests/nn)."""
    with pytest.raises(OpError, match=re.escape(fn.__name__ + message)):
        fn(np.zeros(x_shape, np.float32), np.zeros(w_shape, np.float32), **kwargs)


def test_bad_bias_and_mixed_dtypes_are_explained():
    x, w = np.zeros((1, 3, 8, 8), np.float32), np.zeros((16, 3, 3, 3), np.float32)
    with pytest.raises(OpError, match=r"conv2d expects bias of shape \(16,\), got shape \(3,\)"):
        F.conv2d(x, w, np.zeros(3, np.float32))
    with pytest.raises(
        OpError,
        match=re.escape(
            "conv2d got float32 input (shape (1, 3, 8, 8)) but float64 weight; the input, "
            "weight and bias must share a dtype: convert the input with .astype(np.float64) "
            "or the weight with .astype(np.float32)"
        ),
    ):
        F.conv2d(x, w.astype(np.float64))
    with pytest.raises(OpError, match=re.escape("but float64 bias; the input, weight and bias")):
        F.conv2d(x, w, np.zeros(16))


@pytest.mark.parametrize("padding", [0, 1])
def test_non_contiguous_input(padding):
    # a Fortran-ordered input: the fast path reads strides, it never assumes C order
    x, w, _ = conv_inputs(10, 3, 7, 7, 4, 3, seed=5)
    xs, ws = Tensor(np.asfortranarray(x), requires_grad=True), Tensor(w, requires_grad=True)
    tx, tw = (torch.from_numpy(a).requires_grad_() for a in (x, w))
    y, ty = F.conv2d(xs, ws, padding=padding), TF.conv2d(tx, tw, padding=padding)
    g = np.random.default_rng(6).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    for ours, theirs in [(y.data, ty), (xs.grad, tx.grad), (ws.grad, tw.grad)]:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_empty_batch_gives_an_empty_output():
    x, w, b = conv_inputs(1, 3, 6, 6, 4, 3)
    xs, ws = Tensor(x[:0], requires_grad=True), Tensor(w, requires_grad=True)
    y = F.conv2d(xs, ws, Tensor(b), stride=2, padding=1)
    assert y.shape == (0, 4, 3, 3)
    y.backward(np.zeros(y.shape))
    assert xs.grad.shape == (0, 3, 6, 6)
    np.testing.assert_array_equal(ws.grad, np.zeros_like(w))  # no image: no gradient
