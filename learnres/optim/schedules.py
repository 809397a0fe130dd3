"""Learning-rate schedules counted in iterations (optimizer steps), as the paper counts them.

Section 4.2, CIFAR-10: "We start with a learning rate of 0.1, divide it by 10 at 32k and 48k
iterations, and terminate training at 64k iterations". For ResNet-110: "we use 0.01 to warm
up the training until the training error is below 80% (about 400 iterations), and then go
back to 0.1 and continue training."

Every schedule answers ``lr(iteration)`` for the iteration about to run (0-based: the first
step is iteration 0) and sets it on an optimizer with ``apply(optimizer, iteration)``. The
warm-up also needs the training error it has seen: while ``observing`` is True the trainer
calls ``observe(iteration, batch_error)`` after each step (the others never observe). Each schedule
has ``state_dict()`` / ``load_state_dict()`` holding only plain numbers and lists, so a
checkpoint stores it as JSON.

Short runs: ``scaled_milestones(iterations)`` places the milestones at the same fractions of
the run as the paper (32k/64k = 1/2 and 48k/64k = 3/4), e.g. 2,000 iterations -> 1,000
and 1,500.
"""

from __future__ import annotations

import math

__all__ = [
    "PAPER_ITERATIONS",
    "PAPER_MILESTONES",
    "SCHEDULES",
    "CosineSchedule",
    "Schedule",
    "StepSchedule",
    "WarmupSchedule",
    "make_schedule",
    "scaled_milestones",
]

PAPER_ITERATIONS = 64_000
PAPER_MILESTONES = (32_000, 48_000)


def scaled_milestones(iterations: int) -> tuple[int, ...]:
    """The paper's milestones moved to the same fractions of a run of ``iterations`` steps.

    milestone_k = round(iterations * m_k / 64000) with m = (32000, 48000): exactly the
    paper's numbers for 64k iterations, half and three quarters of the run otherwise.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    return tuple(round(iterations * m / PAPER_ITERATIONS) for m in PAPER_MILESTONES)


class Schedule:
    """Base class: a learning rate for each iteration; subclasses define ``lr``."""

    def lr(self, iteration: int) -> float:
        raise NotImplementedError

    def observe(self, iteration: int, train_error: float) -> None:
        """Tell the schedule the training error (a fraction in [0, 1]) of a finished step."""

    @property
    def observing(self) -> bool:
        """Whether ``observe`` needs every step's error now (only the warm-up, until it ends:
        on a GPU, reading each step's error back makes the host wait for the GPU)."""
        return False

    def apply(self, optimizer, iteration: int) -> float:
        """Set ``lr(iteration)`` on every parameter group of ``optimizer``; return it."""
        lr = float(self.lr(iteration))
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()``; a schedule of another kind or shape is refused."""
        mine = self.state_dict()
        if state.get("kind") != mine.get("kind"):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: saved schedule is "
                f"{state.get('kind')!r}, this one is {mine.get('kind')!r}"
            )
        for key, value in state.items():
            if key != "kind":
                setattr(self, key, tuple(value) if isinstance(value, list) else value)


class StepSchedule(Schedule):
    """lr = base_lr * gamma ** (number of milestones <= iteration): the paper's schedule.

    Arguments:
        base_lr: the starting rate (paper: 0.1).
        milestones: iterations at which the rate is multiplied by ``gamma``
            (paper: 32000, 48000).
        gamma: the factor (paper: 0.1, "divide it by 10").
    """

    def __init__(self, base_lr: float = 0.1, milestones=PAPER_MILESTONES, gamma: float = 0.1):
        self.base_lr = float(base_lr)
        self.milestones = tuple(int(m) for m in milestones)
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError(f"milestones must increase, got {self.milestones}")
        self.gamma = float(gamma)

    def lr(self, iteration: int) -> float:
        passed = sum(1 for m in self.milestones if iteration >= m)
        return self.base_lr * self.gamma**passed

    def state_dict(self) -> dict:
        return {
            "kind": "step",
            "base_lr": self.base_lr,
            "milestones": list(self.milestones),
            "gamma": self.gamma,
        }

    def __repr__(self) -> str:
        return (
            f"StepSchedule(base_lr={self.base_lr}, milestones={self.milestones}, "
            f"gamma={self.gamma})"
        )


class WarmupSchedule(Schedule):
    """``warmup_lr`` until the training error falls below ``threshold``, then ``after``.

    The paper's ResNet-110 recipe: 0.01 until the training error is below 80% (about 400
    iterations), then back to 0.1 and the step schedule (whose milestones still count from
    iteration 0). The training error is the mean over the last ``window`` steps' batch
    errors, so one lucky batch does not end the warm-up.

    Arguments:
        after: the schedule used once warm-up ends (a StepSchedule for the paper).
        warmup_lr: the warm-up rate (paper: 0.01).
        threshold: the training error (fraction) below which warm-up ends (paper: 0.8).
        window: how many recent batch errors are averaged.

    ``warmup_end`` is the first iteration run at ``after``'s rate (None while warming up).
    """

    def __init__(
        self,
        after: Schedule,
        warmup_lr: float = 0.01,
        threshold: float = 0.8,
        window: int = 50,
    ):
        self.after = after
        self.warmup_lr = float(warmup_lr)
        self.threshold = float(threshold)
        self.window = int(window)
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.recent: list[float] = []
        self.warmup_end: int | None = None

    def lr(self, iteration: int) -> float:
        if self.warmup_end is None or iteration < self.warmup_end:
            return self.warmup_lr
        return self.after.lr(iteration)

    @property
    def observing(self) -> bool:
        return self.warmup_end is None

    def observe(self, iteration: int, train_error: float) -> None:
        if self.warmup_end is not None:
            return
        self.recent = (self.recent + [float(train_error)])[-self.window :]
        if len(self.recent) == self.window and sum(self.recent) / self.window < self.threshold:
            self.warmup_end = iteration + 1

    def state_dict(self) -> dict:
        return {
            "kind": "warmup",
            "warmup_lr": self.warmup_lr,
            "threshold": self.threshold,
            "window": self.window,
            "recent": list(self.recent),
            "warmup_end": self.warmup_end,
            "after": self.after.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("kind") != "warmup":
            raise ValueError(
                f"WarmupSchedule.load_state_dict: saved schedule is {state.get('kind')!r}"
            )
        self.after.load_state_dict(state["after"])
        self.warmup_lr = float(state["warmup_lr"])
        self.threshold = float(state["threshold"])
        self.window = int(state["window"])
        self.recent = [float(e) for e in state["recent"]]
        self.warmup_end = None if state["warmup_end"] is None else int(state["warmup_end"])

    def __repr__(self) -> str:
        return (
            f"WarmupSchedule(warmup_lr={self.warmup_lr}, threshold={self.threshold}, "
            f"window={self.window}, after={self.after!r})"
        )


class CosineSchedule(Schedule):
    """lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * iteration / total)) / 2.

    Not in the paper (it came later: Loshchilov & Hutter, 2017); a common alternative with
    no milestones to tune. The rate stays at ``min_lr`` after ``total`` iterations.
    """

    def __init__(self, base_lr: float = 0.1, total: int = PAPER_ITERATIONS, min_lr: float = 0.0):
        if total < 1:
            raise ValueError(f"total must be >= 1, got {total}")
        self.base_lr = float(base_lr)
        self.total = int(total)
        self.min_lr = float(min_lr)

    def lr(self, iteration: int) -> float:
        t = min(iteration, self.total) / self.total
        return self.min_lr + (self.base_lr - self.min_lr) * (1.0 + math.cos(math.pi * t)) / 2.0

    def state_dict(self) -> dict:
        return {
            "kind": "cosine",
            "base_lr": self.base_lr,
            "total": self.total,
            "min_lr": self.min_lr,
        }

    def __repr__(self) -> str:
        return f"CosineSchedule(base_lr={self.base_lr}, total={self.total}, min_lr={self.min_lr})"


SCHEDULES = ("paper", "warmup", "cosine")


def make_schedule(name: str, lr: float, iterations: int, milestones=None) -> Schedule:
    """The schedule called ``name`` for a run of ``iterations`` steps at base rate ``lr``.

    "paper": StepSchedule with ``milestones`` (default: ``scaled_milestones(iterations)``,
    which is 32k/48k for 64k iterations); "warmup": the ResNet-110 recipe, lr/10 until the
    training error is below 80%, then the paper's schedule; "cosine": CosineSchedule.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")
    if milestones is None:
        milestones = scaled_milestones(iterations)
    if name == "paper":
        return StepSchedule(lr, milestones)
    if name == "warmup":
        return WarmupSchedule(StepSchedule(lr, milestones), warmup_lr=lr / 10)
    return CosineSchedule(lr, iterations)
