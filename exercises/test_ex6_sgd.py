"""Grader of exercise 6 (SGD and the paper's schedule): your optimiser against
torch.optim.SGD step by step (float64), and the schedule against the paper's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from learnres.grading.checks import check_close, fail, rand

EXERCISE = "6. SGD and the schedule"
MODULE = "ex6_sgd"
STEPS = 4


def _torch_steps(p0, grads, **hyper):
    import torch

    t = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = torch.optim.SGD([t], **hyper)
    out = []
    for g in grads:
        t.grad = torch.from_numpy(g.copy())
        opt.step()
        out.append(t.detach().numpy().copy())
    return out


def _simulate(
    p0, grads, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False, bug=None
):
    """NumPy SGD, optionally with a known bug, for naming a wrong answer."""
    p, buf, out = p0.copy(), None, []
    for g in grads:
        d_p = g + weight_decay * p if bug != "decay-after-momentum" else g
        if bug == "decay-subtracted":
            d_p = g - weight_decay * p
        if momentum:
            if buf is None:
                buf = np.zeros_like(d_p) if bug == "buffer-from-zero" else d_p.copy()
                if bug == "buffer-from-zero":
                    buf = momentum * buf + (1 - dampening) * d_p
            else:
                buf = momentum * buf + (1 - dampening) * d_p
            d_p = d_p + momentum * buf if nesterov else buf
        if bug == "decay-after-momentum":
            d_p = d_p + weight_decay * p
        if bug == "lr-missing":
            p = p - d_p
        else:
            p = p - lr * d_p
        out.append(p.copy())
    return out


BUGS = {
    "decay-after-momentum": "the update with weight decay added AFTER the momentum buffer "
    "(momentum applied before weight decay): add weight_decay * p to the gradient first, "
    "then update the buffer with that sum",
    "decay-subtracted": "the update with weight decay subtracted (grad - weight_decay * p): "
    "the L2 penalty's gradient is + weight_decay * p",
    "buffer-from-zero": "the update with the momentum buffer starting at zero and damped: "
    "on the first step the buffer is d_p itself",
}


def run_sgd(module, p0, grads, hyper):
    """Runner: your SGD on one parameter; the parameter after each step."""
    from learnres.nn import Parameter

    p = Parameter(np.array(p0))
    opt = module.SGD([p], **hyper)
    out = []
    for g in grads:
        p.grad = np.array(g)
        opt.step()
        out.append(np.array(p.data))
    return out


def _expected_sgd(p0, grads, hyper):
    """Expected value: torch.optim.SGD after each step, and the known wrong answers."""
    return {
        "steps": _torch_steps(p0, grads, **hyper),
        "wrong": [_simulate_wrong(p0, grads, k, hyper) for k in range(len(grads))],
    }


def _check_sgd(exercise, rng, shape=(3, 4), **hyper):
    p0 = rand(rng, *shape)
    grads = [rand(rng, *shape) for _ in range(STEPS)]
    got = exercise.run(run_sgd, p0, grads, hyper)
    expected = exercise.expect(_expected_sgd, p0, grads, hyper)
    setting = ", ".join(f"{k}={v}" for k, v in hyper.items())
    for k in range(STEPS):
        check_close(
            f"SGD({setting}): the parameter after step {k + 1}",
            got[k],
            expected["steps"][k],
            diagnoses=expected["wrong"][k],
            hint="follow the order of torch.optim.SGD: weight decay, "
            "momentum buffer (a copy of d_p on the first step), nesterov, then p -= lr * d_p",
        )


def _simulate_wrong(p0, grads, k, hyper):
    out = []
    for bug, label in BUGS.items():
        out.append((label, _simulate(p0, grads[: k + 1], bug=bug, **hyper)[k]))
    return out


# ---- 6.1 SGD._update ----------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_sgd_plain(exercise, rng):
    _check_sgd(exercise, rng, lr=0.1)


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_sgd_weight_decay(exercise, rng):
    _check_sgd(exercise, rng, lr=0.1, weight_decay=0.05)


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_sgd_momentum(exercise, rng):
    _check_sgd(exercise, rng, lr=0.1, momentum=0.9)


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_sgd_momentum_and_weight_decay(exercise, rng):
    """The paper's optimiser (with a larger weight decay than its 1e-4, to see it in 4 steps)."""
    _check_sgd(exercise, rng, lr=0.1, momentum=0.9, weight_decay=0.05)


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_sgd_nesterov_and_dampening(exercise, rng):
    _check_sgd(exercise, rng, lr=0.1, momentum=0.9, nesterov=True)
    _check_sgd(exercise, rng, lr=0.1, momentum=0.9, dampening=0.3)


def run_sgd_in_place(module, p0, g, hyper, steps: int):
    """Runner: ``steps`` steps with the same gradient array; returns whether p.data and
    p.grad are still the arrays they were, and what those arrays hold now."""
    from learnres.nn import Parameter

    p = Parameter(np.array(p0))
    data, grad = p.data, np.array(g)
    p.grad = grad
    opt = module.SGD([p], **hyper)
    for _ in range(steps):  # the same gradient array twice, as a model with frozen grads
        opt.step()
    return {
        "same_data": p.data is data,
        "data": data,
        "final": np.array(p.data),
        "same_grad": p.grad is grad,
        "grad": grad,
    }


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_sgd_in_place(exercise, rng):
    """p.data is updated in place, p.grad is left alone, and the buffer is not p.grad."""
    for hyper in (
        {"lr": 0.1, "momentum": 0.9},
        {"lr": 0.1, "weight_decay": 0.05},
        {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05},
    ):
        p0, g = rand(rng, 3, 4), rand(rng, 3, 4)
        got = exercise.run(run_sgd_in_place, p0, g, hyper, 2)
        setting = ", ".join(f"{k}={v}" for k, v in hyper.items())
        if not got["same_grad"] or not np.array_equal(got["grad"], g):
            fail(
                f"SGD({setting}).step() changed p.grad: leave the gradient as backward wrote "
                "it. d_p = p.grad is the same array, so d_p += ... or buf *= ... (with buf = "
                "d_p, not d_p.copy()) writes into p.grad; use d_p = d_p + ... and a copy for "
                "the momentum buffer"
            )
        if not got["same_data"] or not np.array_equal(got["data"], got["final"]):
            fail(
                f"SGD({setting}).step() replaced p.data with a new array: "
                "update it in place (p.data -= lr * d_p), so that anything sharing the array "
                "sees the new values"
            )


# ---- 6.2 and 6.3 the schedule ------------------------------------------------------------------


def run_scaled_milestones(module, runs):
    return [module.scaled_milestones(n) for n in runs]


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_scaled_milestones(exercise, rng):
    runs = [64000, 2000, 10, *(int(n) for n in rng.integers(3, 100000, 4))]
    cases = [(n, (round(n * 32000 / 64000), round(n * 48000 / 64000))) for n in runs]
    got = exercise.run(run_scaled_milestones, [n for n, _ in cases])
    for (iterations, expected), mine in zip(cases, got):
        if not isinstance(mine, (tuple, list)) or tuple(mine) != expected:
            fail(
                f"scaled_milestones({iterations}) returned {mine!r}, expected {expected}: "
                "round(iterations * m / 64000) for m in (32000, 48000)"
            )


def run_schedule(module, kwargs, iterations):
    """Runner: your StepSchedule's rate at each iteration, and its milestones."""
    schedule = module.StepSchedule(**kwargs)
    return [schedule.lr(i) for i in iterations], list(schedule.milestones)


def _check_schedule(exercise, kwargs, cases, what):
    rates, milestones = exercise.run(run_schedule, kwargs, [i for i, _ in cases])
    for (iteration, expected), got in zip(cases, rates):
        if not np.isclose(got, expected, rtol=1e-12, atol=0):
            passed = (
                ""
                if iteration not in milestones
                else (
                    f" Iteration {iteration} is a milestone: the rate changes AT a milestone "
                    "(count the milestones <= iteration)."
                )
            )
            fail(
                f"{what}.lr({iteration}) returned {got!r}, expected {expected!r}: "
                f"base_lr * gamma ** (number of milestones <= iteration).{passed}"
            )


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_step_schedule_paper(exercise, rng):
    cases = [(0, 0.1), (31999, 0.1), (32000, 0.01), (47999, 0.01), (48000, 0.001)]
    for (start, end), lr in [((1, 32000), 0.1), ((32001, 48000), 0.01), ((48001, 64000), 0.001)]:
        cases += [(int(i), lr) for i in rng.integers(start, end, 2)]
    _check_schedule(exercise, {}, cases, "StepSchedule() (the paper's: 0.1, / 10 at 32k and 48k)")


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_step_schedule_custom(exercise, rng):
    a = int(rng.integers(2, 50))
    b = a + int(rng.integers(1, 50))
    base, gamma = float(rng.uniform(0.1, 2)), float(rng.uniform(0.1, 0.9))
    kwargs = {"base_lr": base, "milestones": (a, b), "gamma": gamma}
    cases = [
        (0, base),
        (a - 1, base),
        (a, base * gamma),
        (b - 1, base * gamma),
        (b, base * gamma**2),
        (b + 1000, base * gamma**2),
    ]
    _check_schedule(
        exercise,
        kwargs,
        cases,
        f"StepSchedule(base_lr={base}, milestones=({a}, {b}), gamma={gamma})",
    )
