"""Optimisation: SGD with momentum and weight decay, and learning-rate schedules by iteration."""

from learnres.optim.schedules import (
    PAPER_ITERATIONS,
    PAPER_MILESTONES,
    SCHEDULES,
    CosineSchedule,
    Schedule,
    StepSchedule,
    WarmupSchedule,
    make_schedule,
    scaled_milestones,
)
from learnres.optim.sgd import SGD

__all__ = [
    "PAPER_ITERATIONS",
    "PAPER_MILESTONES",
    "SCHEDULES",
    "SGD",
    "CosineSchedule",
    "Schedule",
    "StepSchedule",
    "WarmupSchedule",
    "make_schedule",
    "scaled_milestones",
]
