"""Learning-rate schedules by iteration: the paper's steps, the ResNet-110 warm-up, cosine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from learnres.autograd import Tensor
from learnres.optim import (
    SGD,
    CosineSchedule,
    StepSchedule,
    WarmupSchedule,
    make_schedule,
    scaled_milestones,
)


def test_paper_schedule():
    s = make_schedule("paper", 0.1, 64_000)
    assert s.milestones == (32_000, 48_000)
    assert s.lr(0) == 0.1 and s.lr(31_999) == 0.1
    assert math.isclose(s.lr(32_000), 0.01) and math.isclose(s.lr(47_999), 0.01)
    assert math.isclose(s.lr(48_000), 0.001) and math.isclose(s.lr(63_999), 0.001)


def test_milestones_scale_with_the_run():
    assert scaled_milestones(64_000) == (32_000, 48_000)
    assert scaled_milestones(2_000) == (1_000, 1_500)
    assert scaled_milestones(10) == (5, 8)  # round(7.5) = 8 (banker's rounding)


def test_step_schedule_matches_torch_multisteplr():
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    ref = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[5, 9], gamma=0.1)
    ours = StepSchedule(0.1, (5, 9))
    for it in range(12):
        assert math.isclose(ours.lr(it), opt.param_groups[0]["lr"], rel_tol=1e-12)
        opt.step()
        ref.step()


def test_cosine_matches_torch():
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    ours = CosineSchedule(0.1, total=10, min_lr=0.001)
    for it in range(10):
        assert math.isclose(ours.lr(it), opt.param_groups[0]["lr"], rel_tol=1e-9)
        opt.step()
        ref.step()
    assert ours.lr(10) == ours.lr(50) == pytest.approx(0.001)


def test_warmup_waits_for_training_error_below_80_percent():
    s = WarmupSchedule(StepSchedule(0.1, (100, 150)), warmup_lr=0.01, threshold=0.8, window=4)
    # means of 4: .8375 (it 0-3), .8 (1-4: not below), .755 (2-5): warm-up ends after it 5
    errors = [0.9, 0.9, 0.85, 0.7, 0.75, 0.72, 0.6]
    for it, e in enumerate(errors):
        assert s.lr(it) == 0.01 or s.warmup_end is not None
        s.observe(it, e)
    assert s.warmup_end == 6
    assert s.lr(5) == 0.01 and s.lr(6) == 0.1 and math.isclose(s.lr(100), 0.01)
    s.observe(10, 0.99)  # a bad batch later does not restart the warm-up
    assert s.lr(11) == 0.1


@pytest.mark.parametrize("name", ["paper", "warmup", "cosine"])
def test_schedule_state_round_trip(name):
    a = make_schedule(name, 0.1, 1000)
    for it in range(80):
        a.observe(it, 0.5)
    b = make_schedule(name, 0.7, 10)
    b.load_state_dict(a.state_dict())
    assert [b.lr(i) for i in range(0, 1000, 7)] == [a.lr(i) for i in range(0, 1000, 7)]
    assert b.state_dict() == a.state_dict()


def test_state_of_another_kind_is_refused():
    with pytest.raises(ValueError, match="'cosine'"):
        make_schedule("paper", 0.1, 100).load_state_dict(
            make_schedule("cosine", 0.1, 100).state_dict()
        )


def test_apply_sets_every_group_and_unknown_name_lists_choices():
    p, q = (Tensor(np.zeros(1), requires_grad=True) for _ in range(2))
    opt = SGD([{"params": [p]}, {"params": [q], "lr": 3.0}], lr=1.0)
    assert make_schedule("paper", 0.1, 100).apply(opt, 60) == pytest.approx(0.01)
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(0.01)] * 2
    with pytest.raises(ValueError, match="paper, warmup, cosine"):
        make_schedule("linear", 0.1, 100)
