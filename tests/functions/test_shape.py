"""reshape, transpose, broadcast_to, pad, getitem, concatenate against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from learnres import Tensor
from learnres import functions as F
from learnres.autograd import OpError
from tests.functions.harness import check_op, random_inputs


@pytest.mark.parametrize(
    "shape, new",
    [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((1, 5), (5, 1)), ((4,), (2, 1, 2))],
    ids=str,
)
def test_reshape(shape, new, device, dtype):
    check_op(
        lambda x: F.reshape(x, new),
        lambda x: x.reshape(new),
        random_inputs([shape]),
        device=device,
        dtype=dtype,
        name="reshape",
    )


@pytest.mark.parametrize("axes", [None, (0, 2, 1), (2, 0, 1), (1, 0, 2)], ids=str)
def test_transpose(axes, device, dtype):
    torch_fn = (lambda x: x.permute(2, 1, 0)) if axes is None else (lambda x: x.permute(*axes))
    check_op(
        lambda x: F.transpose(x, axes),
        torch_fn,
        random_inputs([(2, 3, 4)]),
        device=device,
        dtype=dtype,
        name="transpose",
    )


@pytest.mark.parametrize(
    "shape, target", [((3, 1), (2, 3, 4)), ((4,), (3, 4)), ((1, 1), (2, 2))], ids=str
)
def test_broadcast_to(shape, target, device, dtype):
    check_op(
        lambda x: F.broadcast_to(x, target),
        lambda x: x.expand(target),
        random_inputs([shape]),
        device=device,
        dtype=dtype,
        name="broadcast_to",
    )


@pytest.mark.parametrize("width", [((0, 0), (1, 2), (3, 0)), ((1, 1), (0, 0), (2, 2))], ids=str)
@pytest.mark.parametrize("value", [0.0, -1.5])
def test_pad(width, value, device, dtype):
    # torch lists the last axis first
    torch_pad = tuple(v for pair in reversed(width) for v in pair)
    check_op(
        lambda x: F.pad(x, width, value),
        lambda x: torch.nn.functional.pad(x, torch_pad, value=value),
        random_inputs([(2, 3, 4)]),
        device=device,
        dtype=dtype,
        name="pad",
    )


KEYS = [
    (slice(None), 1),
    (slice(0, 2), slice(None, None, 2)),
    (Ellipsis, slice(1, 3)),
    (1,),
    (slice(None, None, -1),),
    (None, slice(None), 0),
    (np.array([0, 0, 1]),),  # a repeated index: gradients must add
]


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_getitem(key, device, dtype):
    def torch_fn(x):
        if isinstance(key[0], slice) and key[0].step == -1:
            return x.flip(0)
        return x[tuple(torch.from_numpy(k) if isinstance(k, np.ndarray) else k for k in key)]

    check_op(
        lambda x: x[key],
        torch_fn,
        random_inputs([(3, 4, 5)]),
        device=device,
        dtype=dtype,
        name="getitem",
    )


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis, device, dtype):
    shapes = [(2, 3, 4)] * 3
    shapes = [
        tuple(n + i if d == axis % 3 else n for d, n in enumerate(s)) for i, s in enumerate(shapes)
    ]
    check_op(
        lambda *xs: F.concatenate(xs, axis=axis),
        lambda *ts: torch.cat(ts, dim=axis),
        random_inputs(shapes),
        device=device,
        dtype=dtype,
        name="concatenate",
    )


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_transpose_any_permutation(shape, data):
    axes = data.draw(st.permutations(range(len(shape))))
    check_op(
        lambda x: F.transpose(x, axes),
        lambda x: x.permute(*axes),
        random_inputs([tuple(shape)]),
        device="cpu",
        dtype=np.float64,
    )


def test_reshape_error_names_op_and_shapes():
    with pytest.raises(OpError, match=r"reshape: .*\(2, 3\)"):
        F.reshape(Tensor(np.zeros((2, 3))), (4, 2))


def test_concatenate_needs_tensors():
    with pytest.raises(OpError, match="at least one"):
        F.concatenate([])
