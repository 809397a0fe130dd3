"""linear (the fully connected layer) against torch.nn.functional.linear and its composition."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch.nn.functional as TF

from learnres import Tensor
from learnres import functions as F
from learnres.autograd import OpError
from learnres.testing import gradcheck
from tests.functions.harness import check_op, random_inputs


@pytest.mark.parametrize("n, n_in, n_out", [(5, 4, 3), (1, 64, 10), (128, 64, 100)])
def test_linear_matches_torch(n, n_in, n_out, device, dtype):
    inputs = random_inputs([(n, n_in), (n_out, n_in), (n_out,)])
    check_op(F.linear, TF.linear, inputs, device=device, dtype=dtype, name="linear")
    check_op(F.linear, TF.linear, inputs[:2], device=device, dtype=dtype, name="linear, no bias")


@pytest.mark.parametrize("x_shape", [(2, 3, 4), (4,), (2, 1, 3, 4)], ids=str)
def test_leading_axes_are_batch_axes_as_in_torch(x_shape, device, dtype):
    inputs = random_inputs([x_shape, (5, 4), (5,)])
    check_op(F.linear, TF.linear, inputs, device=device, dtype=dtype, name=f"linear {x_shape}")


def test_gradcheck(device):
    report = gradcheck(
        F.linear, random_inputs([(3, 4), (2, 4), (2,)]), names=["x", "W", "b"], device=device
    )
    assert report, str(report)


def test_fused_linear_agrees_with_its_composition():
    arrays = random_inputs([(6, 5), (4, 5), (4,)], seed=1)
    g = np.random.default_rng(2).standard_normal((6, 4))
    results = []
    for fn in (F.linear, lambda x, w, b: F.matmul(x, F.transpose(w)) + b):
        xs = [Tensor(a, requires_grad=True) for a in arrays]
        y = fn(*xs)
        y.backward(g)
        results.append([y.data] + [t.grad for t in xs])
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-12)


def test_bad_input_is_explained():
    x, w = np.zeros((2, 4), np.float32), np.zeros((3, 4), np.float32)
    with pytest.raises(OpError, match=r"linear expects input of shape \(\*, 4\), got a scalar"):
        F.linear(np.zeros((), np.float32), w)
    with pytest.raises(
        OpError,
        match=re.escape(
            "linear got input with 5 features (shape (2, 2, 5)); expected 4 features "
            "(weight shape (3, 4))"
        ),
    ):
        F.linear(np.zeros((2, 2, 5), np.float32), w)
    with pytest.raises(OpError, match=r"linear expects bias of shape \(3,\), got shape \(4,\)"):
        F.linear(x, w, np.zeros(4, np.float32))
    with pytest.raises(
        OpError, match=r"linear expects weight of shape \(out_features, in_features\), got \(12,\)"
    ):
        F.linear(x, w.reshape(-1))
    with pytest.raises(
        OpError,
        match=re.escape(
            "linear got float32 input (shape (2, 4)) but float64 weight; the input, weight and "
            "bias must share a dtype: convert the input with .astype(np.float64) or the weight "
            "with .astype(np.float32)"
        ),
    ):
        F.linear(x, w.astype(np.float64))
