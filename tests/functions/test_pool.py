"""max_pool2d, avg_pool2d and global_avg_pool2d against torch.nn.functional."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from learnres import functions as F
from learnres.autograd import OpError
from learnres.testing import compare_with_torch, gradcheck
from tests.functions.harness import check_op, random_inputs

# (input shape, kernel, stride, padding): stride = kernel (the default), overlapping windows
# (stride < kernel), the ImageNet stem's 3x3/2 with padding 1, odd and non-square inputs
CASES = [
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 3, 7, 9), 3, 2, 1),
    ((1, 2, 6, 6), 3, 1, 1),
    ((2, 1, 5, 7), 2, 1, 0),
    ((1, 4, 9, 9), 3, 3, 0),
    ((2, 2, 6, 8), (2, 3), (1, 2), (1, 1)),
]
IDS = [f"{s}k{k}s{st}p{p}" for s, k, st, p in CASES]
POOLS = {"max": (F.max_pool2d, TF.max_pool2d), "avg": (F.avg_pool2d, TF.avg_pool2d)}


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pool_matches_torch(pool, case, device, dtype):
    shape, k, s, p = case
    fn, torch_fn = POOLS[pool]
    check_op(
        lambda x: fn(x, k, s, p),
        lambda x: torch_fn(x, k, s, p),
        random_inputs([shape]),
        device=device,
        dtype=dtype,
        name=f"{pool}_pool2d",
    )


@settings(max_examples=20, deadline=None)
@given(
    H=st.integers(1, 9),
    W=st.integers(1, 9),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
)
def test_pools_random_shapes(H, W, k, s, p):
    if 2 * p > k or H + 2 * p < k or W + 2 * p < k:
        return
    x = random_inputs([(2, 2, H, W)], seed=H * 10 + W)
    for pool, (fn, torch_fn) in POOLS.items():
        compare_with_torch(
            lambda x, fn=fn: fn(x, k, s, p), lambda x, tf=torch_fn: tf(x, k, s, p), x, name=pool
        ).assert_ok()


@pytest.mark.parametrize("pool", POOLS)
def test_ties_send_the_gradient_where_torch_does(pool):
    # small integers: many windows hold their maximum twice (torch picks the first)
    x = np.random.default_rng(1).integers(0, 3, size=(2, 2, 7, 7)).astype(np.float64)
    fn, torch_fn = POOLS[pool]
    check_op(
        lambda x: fn(x, 3, 2, 1),
        lambda x: torch_fn(x, 3, 2, 1),
        [x],
        device="cpu",
        dtype=np.float64,
    )


def test_global_avg_pool_matches_torch(device, dtype):
    check_op(
        F.global_avg_pool2d,
        lambda x: TF.adaptive_avg_pool2d(x, 1),
        random_inputs([(3, 5, 4, 7)]),
        device=device,
        dtype=dtype,
        name="global_avg_pool2d",
    )


@pytest.mark.parametrize(
    "fn",
    [lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1), F.global_avg_pool2d],
    ids=["max", "avg", "global_avg"],
)
def test_gradcheck(fn, device):
    # distinct values keep the max away from ties, where it is not differentiable
    x = np.random.default_rng(2).permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6) / 10.0
    report = gradcheck(fn, [x], device=device)
    assert report, str(report)


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_bad_input_is_explained(name):
    fn = getattr(F, name)
    with pytest.raises(
        OpError, match=rf"{name} expects input of shape \(N, C, H, W\), got shape \(3, 8, 8\)"
    ):
        fn(np.zeros((3, 8, 8), np.float32), 2)
    with pytest.raises(
        OpError,
        match=re.escape(
            f"{name} got input of size 2x2 (shape (1, 1, 2, 2)), which is smaller than its 3x3 "
            "kernel even after padding 0 (padded size 2x2)"
        ),
    ):
        fn(np.zeros((1, 1, 2, 2), np.float32), 3)
    with pytest.raises(
        OpError, match=rf"{name}: padding \(2, 2\) must be at most half the kernel \(3, 3\)"
    ):
        fn(np.zeros((1, 1, 8, 8), np.float32), 3, 1, 2)
    with pytest.raises(OpError, match=rf"{name}: kernel_size must be an int >= 1"):
        fn(np.zeros((1, 1, 8, 8), np.float32), 0)
    with pytest.raises(
        OpError, match=rf"{name}: stride must be an int >= 1 or a pair of them, got 1.5 \(float\)"
    ):
        fn(np.zeros((1, 1, 8, 8), np.float32), 2, 1.5)
    with pytest.raises(OpError, match=rf"{name}: kernel_size must be an int >= 1 .* \(2, 2.0\)"):
        fn(np.zeros((1, 1, 8, 8), np.float32), (2, 2.0))
    with pytest.raises(
        OpError,
        match=r"global_avg_pool2d expects input of shape \(N, C, H, W\), got shape \(3, 8\)",
    ):
        F.global_avg_pool2d(np.zeros((3, 8), np.float32))
    with pytest.raises(
        OpError, match=r"global_avg_pool2d got an empty image \(shape \(2, 3, 0, 4\)\)"
    ):
        F.global_avg_pool2d(np.zeros((2, 3, 0, 4), np.float32))


def test_max_pool_waits_for_nothing_on_a_gpu(standin, rng):
    """Max pooling keeps each window's winner with masked copies, not ``argmax[mask] = k``:
    on a GPU a boolean-mask assignment reads the mask's count back, a synchronisation per
    window position (8 per ImageNet stem) in every forward."""
    from learnres.autograd import Tensor
    from learnres.backend import asnumpy, to_device

    x = Tensor(to_device(rng.standard_normal((2, 3, 9, 9)), "cuda"), requires_grad=True)
    gy = to_device(rng.standard_normal((2, 3, 5, 5)), "cuda")
    with standin.counting() as counts:
        y = F.max_pool2d(x, 3, 2, 1)
        y.backward(gy)
    assert counts.syncs == 0, counts.sync_sites
    expected = TF.max_pool2d(torch.from_numpy(asnumpy(x.data)), 3, 2, 1)
    np.testing.assert_array_equal(asnumpy(y.data), expected.numpy())
