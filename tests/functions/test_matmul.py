"""Matrix products, batched and broadcast, against torch.matmul."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learnres import Tensor
from learnres import functions as F
from learnres.autograd import OpError
from tests.functions.harness import check_op, random_inputs

SHAPES = [
    ((3, 4), (4, 5)),
    ((1, 4), (4, 1)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 3, 4), (4, 5)),  # b broadcast over the batch
    ((3, 4), (2, 4, 5)),  # a broadcast over the batch
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul(shapes, device, dtype):
    check_op(
        F.matmul, torch.matmul, random_inputs(shapes), device=device, dtype=dtype, name="matmul"
    )


def test_operator_uses_matmul():
    a, b = np.ones((2, 3)), np.ones((3, 4))
    assert (Tensor(a) @ Tensor(b)).shape == (2, 4)


def test_inner_dimension_mismatch_is_named():
    message = r"matmul: inner dimensions differ: a is \(2, 3\).*b is \(4, 5\)"
    with pytest.raises(OpError, match=message):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))
