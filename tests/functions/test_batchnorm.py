"""batch_norm against torch.nn.functional.batch_norm: outputs, gradients, running statistics."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from learnres import Tensor
from learnres import functions as F
from learnres.autograd import OpError
from learnres.backend import asnumpy, to_device
from learnres.testing import default_rtol, gradcheck
from tests.functions.harness import check_op, random_inputs

SHAPES = [(4, 3, 5, 6), (2, 3, 1, 1), (8, 5), (4, 3, 7), (128, 16, 4, 4)]  # (N, C, L) too


def running_stats(C, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(C), rng.random(C) + 0.5


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no_affine"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batch_norm_matches_torch(shape, training, affine, device, dtype):
    C = shape[1]
    # seed 1: the upstream gradient uses seed 0, and g = affine(x) would make dL/dx ~ 0
    x, w, b = random_inputs([shape, (C,), (C,)], seed=1)
    x = 3 * x + 1  # a batch mean and variance far from 0 and 1
    mean, var = running_stats(C)
    ours = [to_device(a.astype(dtype), device) for a in (mean, var)]
    theirs = [torch.from_numpy(a.astype(dtype)) for a in (mean, var)]
    kw = {"training": training, "momentum": 0.3, "eps": 1e-3}

    def fn(x, *affine):
        return F.batch_norm(x, *ours, *affine, **kw)

    def torch_fn(x, *affine):
        return TF.batch_norm(x, *theirs, *affine, **kw)

    check_op(
        fn,
        torch_fn,
        [x, w, b] if affine else [x],
        device=device,
        dtype=dtype,
        name="batch_norm",
        check_accumulation=False,
    )
    for a, t in zip(ours, theirs):  # both updated once (training) or left alone (eval)
        assert a.dtype == dtype
        np.testing.assert_allclose(asnumpy(a), t.numpy(), rtol=default_rtol(dtype))


@pytest.mark.parametrize("shape", [(6, 4, 3, 5), (10, 4)], ids=str)
def test_running_statistics_follow_torch_over_steps_then_eval_uses_them(shape, device, dtype):
    C = shape[1]
    mean, var = (a.astype(dtype) for a in running_stats(C, seed=1))
    ours = [to_device(a.copy(), device) for a in (mean, var)]
    theirs = [torch.from_numpy(a.copy()) for a in (mean, var)]
    rng = np.random.default_rng(2)
    for step in range(5):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(dtype)
        F.batch_norm(Tensor(to_device(x, device)), *ours, training=True, momentum=0.1)
        TF.batch_norm(torch.from_numpy(x), *theirs, training=True, momentum=0.1)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(asnumpy(a), t.numpy(), rtol=10 * default_rtol(dtype))
    x = rng.standard_normal(shape).astype(dtype)
    y = F.batch_norm(Tensor(to_device(x, device)), *ours, training=False)
    expected = TF.batch_norm(torch.from_numpy(x), *theirs, training=False).numpy()
    np.testing.assert_allclose(asnumpy(y.data), expected, rtol=10 * default_rtol(dtype), atol=1e-6)
    # and by hand: eval is (x - running_mean) / sqrt(running_var + eps)
    m, v = (asnumpy(a).reshape((1, C) + (1,) * (len(shape) - 2)) for a in ours)
    np.testing.assert_allclose(asnumpy(y.data), (x - m) / np.sqrt(v + 1e-5), rtol=1e-4, atol=1e-6)


def test_running_statistics_as_tensor_buffers_are_updated_in_place():
    x = random_inputs([(4, 3, 2, 2)])[0]
    mean, var = Tensor(np.zeros(3)), Tensor(np.ones(3))
    F.batch_norm(Tensor(x), mean, var, training=True, momentum=0.5)
    xs = x.transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(mean.data, 0.5 * xs.mean(axis=1))
    np.testing.assert_allclose(var.data, 0.5 + 0.5 * xs.var(axis=1, ddof=1))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(3, 2, 2, 3), (5, 3)], ids=str)
def test_gradcheck(shape, training, device):
    C = shape[1]
    x, w, b = random_inputs([shape, (C,), (C,)], seed=3)
    stats = [None, None] if training else [to_device(a, device) for a in running_stats(C)]

    def fn(x, w, b):
        return F.batch_norm(x, *stats, w, b, training=training)

    report = gradcheck(fn, [x, w, b], names=["x", "gamma", "beta"], device=device)
    assert report, str(report)


def test_float32_stays_float32_with_float64_running_stats():
    x, w, b = (
        Tensor(a.astype(np.float32), requires_grad=True)
        for a in random_inputs([(4, 3, 2, 2), (3,), (3,)])
    )
    for training in (True, False):
        y = F.batch_norm(x, np.zeros(3), np.ones(3), w, b, training=training)
        y.backward(np.ones(y.shape, np.float32))
        assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_bad_input_is_explained():
    x = np.zeros((4, 3, 2, 2), np.float32)
    with pytest.raises(
        OpError,
        match=re.escape(
            "batch_norm expects input of shape (N, C) or (N, C, L) or (N, C, H, W), got shape "
            "(4, 3, 2, 2, 1)"
        ),
    ):
        F.batch_norm(np.zeros((4, 3, 2, 2, 1), np.float32), None, None, training=True)
    with pytest.raises(
        OpError,
        match=re.escape(
            "batch_norm got input with 3 channels (shape (4, 3, 2, 2)); expected 4 channels "
            "(running_mean shape (4,))"
        ),
    ):
        F.batch_norm(x, np.zeros(4), np.ones(3), training=True)
    with pytest.raises(OpError, match=re.escape("expected 2 channels (bias shape (2,))")):
        F.batch_norm(x, None, None, np.ones(3, np.float32), np.zeros(2, np.float32))
    with pytest.raises(
        OpError, match=re.escape("batch_norm expects weight of shape (C,), got shape (3, 1)")
    ):
        F.batch_norm(x, None, None, np.ones((3, 1), np.float32), training=True)
    with pytest.raises(
        OpError,
        match=re.escape(
            "batch_norm got float32 input (shape (4, 3, 2, 2)) but float64 weight; the input and "
            "weight must share a dtype: convert the input with .astype(np.float64) or the "
            "weight with .astype(np.float32)"
        ),
    ):
        F.batch_norm(x, None, None, np.ones(3), training=True)
    with pytest.raises(
        OpError,
        match=re.escape(
            "batch_norm normalises with running_mean and running_var in evaluation mode "
            "(training=False), and they were not given; pass them, or use training=True"
        ),
    ):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(
        OpError, match=r"batch_norm: momentum=None .* momentum=1 / num_batches_tracked"
    ):
        F.batch_norm(x, np.zeros(3), np.ones(3), training=True, momentum=None)
    with pytest.raises(
        OpError,
        match=re.escape(
            "batch_norm needs more than one value per channel to compute batch statistics, got "
            "input of shape (1, 3); use a batch of 2 or more, or training=False to use the "
            "running statistics"
        ),
    ):
        F.batch_norm(np.zeros((1, 3), np.float32), np.zeros(3), np.ones(3), training=True)


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (0, 3)], ids=str)
def test_evaluation_of_an_empty_batch_gives_an_empty_output(shape):
    mean, var = running_stats(3)
    x = Tensor(np.zeros(shape), requires_grad=True)
    y = F.batch_norm(x, mean, var, np.ones(3), np.zeros(3), training=False)
    assert y.shape == shape
    y.backward(np.zeros(shape))
    assert x.grad.shape == shape
    with pytest.raises(OpError, match="needs more than one value per channel"):
        F.batch_norm(np.zeros(shape), mean.copy(), var.copy(), training=True)
