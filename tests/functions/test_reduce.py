"""sum / mean / max over axes, with keepdims, against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learnres import Tensor
from learnres import functions as F
from tests.functions.harness import check_op, random_inputs

AXES = [None, 0, 1, -1, (0, 2), (1, 2), (0, 1, 2)]


def _torch_axis(axis):
    return tuple(range(3)) if axis is None else axis


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean(op, axis, keepdims, device, dtype):
    fn = getattr(F, op)
    torch_fn = getattr(torch, op)
    check_op(
        lambda x: fn(x, axis, keepdims),
        lambda x: torch_fn(x, dim=_torch_axis(axis), keepdim=keepdims),
        random_inputs([(2, 3, 4)]),
        device=device,
        dtype=dtype,
        name=op,
    )


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_max(axis, keepdims, device, dtype):
    check_op(
        lambda x: F.max(x, axis, keepdims),
        lambda x: torch.amax(x, dim=_torch_axis(axis), keepdim=keepdims),
        random_inputs([(2, 3, 4)]),
        device=device,
        dtype=dtype,
        name="max",
    )


def test_max_ties_share_the_gradient_like_amax(device):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    check_op(
        lambda t: F.max(t, axis=1),
        lambda t: torch.amax(t, dim=1),
        [x],
        device=device,
        dtype=np.float64,
        name="max ties",
    )


def test_size_one_axes():
    check_op(
        lambda x: F.sum(x, axis=(0, 2)),
        lambda x: torch.sum(x, dim=(0, 2)),
        random_inputs([(1, 3, 1)]),
        device="cpu",
        dtype=np.float64,
    )


def test_methods_match_functions():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(axis=1).data.tolist() == [3.0, 12.0]
    assert x.mean().item() == 2.5
    assert x.max(axis=0).data.tolist() == [3.0, 4.0, 5.0]
