"""softmax, log_softmax and the fused cross-entropy against torch, and against their
composite versions built from primitives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learnres import Tensor
from learnres import functions as F
from learnres.autograd import OpError
from learnres.testing import gradcheck
from tests.functions.harness import check_op, random_inputs


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax(axis, device, dtype):
    check_op(
        lambda x: F.softmax(x, axis),
        lambda x: torch.softmax(x, dim=axis),
        random_inputs([(3, 4, 5)]),
        device=device,
        dtype=dtype,
        name="softmax",
    )


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_log_softmax(axis, device, dtype):
    check_op(
        lambda x: F.log_softmax(x, axis),
        lambda x: torch.log_softmax(x, dim=axis),
        random_inputs([(3, 4, 5)]),
        device=device,
        dtype=dtype,
        name="log_softmax",
    )


@pytest.mark.parametrize("n, c", [(1, 2), (8, 10), (5, 100)])
def test_cross_entropy(n, c, device, dtype):
    target = np.random.default_rng(1).integers(0, c, size=n)
    check_op(
        F.cross_entropy,
        torch.nn.functional.cross_entropy,
        [np.random.default_rng(0).standard_normal((n, c)) * 3, target],
        device=device,
        dtype=dtype,
        name="cross_entropy",
    )


def test_cross_entropy_is_stable_for_huge_logits():
    logits = Tensor(np.array([[1000.0, 0.0], [0.0, -1000.0]], dtype=np.float32), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(logits.grad).all()
    # each row puts its label 1000 below the other logit: loss = 1000 + log(1 + e^-1000)
    assert loss.item() == pytest.approx(1000.0, rel=1e-6)


def _softmax_composite(x):
    e = F.exp(x - F.max(x, axis=-1, keepdims=True))
    return e / F.sum(e, axis=-1, keepdims=True)


def test_fused_ops_agree_with_their_composites():
    """The fused primitives and the same formulas built from primitive ops agree."""
    x = np.random.default_rng(0).standard_normal((4, 6))
    target = np.array([0, 5, 2, 2])
    g = np.random.default_rng(1).standard_normal((4, 6))
    for fused, composite in [
        (F.softmax, _softmax_composite),
        (F.log_softmax, lambda t: F.log(_softmax_composite(t))),
    ]:
        a, b = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
        fused(a).backward(g)
        composite(b).backward(g)
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-12)
    a, b = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    F.cross_entropy(a, target).backward()
    picked = F.log_softmax(b)[np.arange(4), target]
    (-F.mean(picked)).backward()
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-10, atol=1e-12)


def test_gradchecks():
    x = random_inputs([(3, 5)])[0]
    assert gradcheck(lambda t: F.softmax(t), [x])
    assert gradcheck(lambda t: F.log_softmax(t, axis=0), [x])
    assert gradcheck(lambda t: F.cross_entropy(t, np.array([0, 4, 2])), [x])


@pytest.mark.parametrize(
    "target, message",
    [
        (np.array([0.0, 1.0]), "integer class labels"),
        (np.array([0, 1, 2]), r"target must have shape \(2,\)"),
        (np.array([0, 7]), r"labels must lie in \[0, 3\)"),
    ],
)
def test_cross_entropy_bad_targets(target, message):
    with pytest.raises(OpError, match=message):
        F.cross_entropy(Tensor(np.zeros((2, 3))), target)


def test_cross_entropy_of_no_samples_is_an_error_not_nan():
    message = r"at least one sample \(N >= 1\), got logits of shape \(0, 3\)"
    with pytest.raises(OpError, match=message):
        F.cross_entropy(Tensor(np.zeros((0, 3), dtype=np.float32)), np.zeros(0, dtype=np.int64))


def test_labels_out_of_range_on_the_gpu_are_reported_at_the_next_read_back(standin):
    """On a GPU the range check runs on the device: reading it at once would make the host
    wait for the GPU every step. The error comes with the next value read back."""
    from learnres.backend import to_device

    logits = Tensor(to_device(np.zeros((2, 3)), "cuda"))
    with standin.counting() as counts:
        loss = F.cross_entropy(logits, to_device(np.array([0, 7]), "cuda"))
    assert counts.syncs == 0
    with pytest.raises(OpError, match=r"labels must lie in \[0, 3\), got a label outside"):
        loss.item()
    good = F.cross_entropy(logits, to_device(np.array([0, 2]), "cuda"))
    assert good.item() == pytest.approx(np.log(3))  # the failed check was reported once
