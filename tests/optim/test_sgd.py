"""SGD follows torch.optim.SGD step for step (same formula, same order of operations)."""

from __future__ import annotations

import numpy as np
import pytest

from learnres.autograd import Tensor
from learnres.optim import SGD

torch = pytest.importorskip("torch")

CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4},  # the paper's recipe
    {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-3, "nesterov": True},
    {"lr": 0.2, "momentum": 0.5, "weight_decay": 1e-2, "dampening": 0.3},
    {"lr": 0.01, "weight_decay": 0.1},
]
SHAPES = [(4, 3, 3, 3), (4,), (7, 5)]


def _follow_torch(config, device, steps=20, seed=0):
    """Run learnres SGD and torch SGD on the same parameters and random gradients."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    ours = [Tensor(a.copy(), requires_grad=True).to(device) for a in init]
    ours = [Tensor(p.data, requires_grad=True) for p in ours]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = SGD(ours, **config)
    ref = torch.optim.SGD(theirs, **config)
    worst = 0.0
    for step in range(steps):
        grads = [rng.standard_normal(s) for s in SHAPES]
        for p, t, g in zip(ours, theirs, grads):
            p.grad = Tensor(g.copy()).to(device).data
            t.grad = torch.tensor(g.copy())
        if step == 7:  # a parameter without a gradient is skipped by both
            ours[1].grad, theirs[1].grad = None, None
        opt.step()
        ref.step()
        for p, t in zip(ours, theirs):
            expected = t.detach().numpy()
            err = np.abs(p.numpy() - expected).max() / np.abs(expected).max()
            worst = max(worst, err)
    return worst


@pytest.mark.parametrize(
    "config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items())
)
def test_sgd_matches_torch_for_20_steps(config, device):
    assert _follow_torch(config, device) < 1e-12


def test_sgd_keeps_float32_and_updates_in_place():
    p = Tensor(np.ones((3, 3), np.float32), requires_grad=True)
    data = p.data
    p.grad = np.full((3, 3), 0.5, np.float32)
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    opt.step()
    opt.step()
    assert p.data is data and p.data.dtype == np.float32
    assert opt.state[0]["momentum_buffer"].dtype == np.float32
    # first step by hand: d_p = 0.5 + 1e-4 * 1, buf = d_p, nesterov: d_p + 0.9 buf
    first = 1 - 0.1 * (0.5001 * 1.9)
    np.testing.assert_allclose(
        opt.state[0]["momentum_buffer"], 0.9 * 0.5001 + 0.5 + 1e-4 * first, rtol=1e-6
    )


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    init = rng.standard_normal((5, 4))
    grads = [rng.standard_normal((5, 4)) for _ in range(6)]

    def run(split):
        p = Tensor(init.copy(), requires_grad=True)
        opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-4)
        for k, g in enumerate(grads):
            if k == split:  # a fresh optimiser restored from the saved state
                saved = opt.state_dict()
                opt = SGD([p], lr=123.0)
                opt.load_state_dict(saved)
            p.grad = g.copy()
            opt.step()
        return p.data

    np.testing.assert_array_equal(run(split=3), run(split=-1))


def test_state_dict_layout_is_torchs():
    p, q = (Tensor(np.zeros(3), requires_grad=True) for _ in range(2))
    opt = SGD([p, q], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    state = opt.state_dict()
    assert set(state["state"]) == {0}
    assert state["param_groups"][0]["params"] == [0, 1]
    assert state["param_groups"][0]["lr"] == 0.1
    t = torch.optim.SGD([torch.zeros(3, requires_grad=True)] * 1, lr=0.1, momentum=0.9)
    assert set(state["param_groups"][0]) >= set(t.state_dict()["param_groups"][0]) - {
        "maximize",
        "foreach",
        "differentiable",
        "fused",
    }


def test_zero_grad_and_param_groups_lr():
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = np.ones(2)
    opt = SGD([{"params": [p], "lr": 0.5}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.5
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, 0)
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": -0.1}, "lr must be >= 0"),
        ({"lr": 0.1, "nesterov": True}, "Nesterov momentum needs momentum > 0"),
        ({"lr": 0.1, "momentum": 0.9, "nesterov": True, "dampening": 0.1}, "dampening = 0"),
        ({"lr": "0.1"}, "lr must be a real number"),
    ],
)
def test_bad_hyperparameters_are_refused(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SGD([Tensor(np.zeros(2), requires_grad=True)], **kwargs)


def test_load_state_dict_refuses_other_shapes():
    p = Tensor(np.zeros(3), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    other = SGD([Tensor(np.zeros(4), requires_grad=True)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(4,\)"):
        other.load_state_dict(opt.state_dict())
