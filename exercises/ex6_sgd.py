"""Exercise 6: SGD and the paper's schedule.

The paper trains every network with SGD, momentum 0.9 and weight decay 1e-4, starting
at learning rate 0.1 and dividing it by 10 at 32k and 48k iterations (Sec. 3.4 and 4.2).
You write the update of one parameter, term by term in PyTorch's order, so that a
learnres run and a PyTorch run from the same weights stay together, and the schedule.

What you write (each stub raises NotImplementedError until you do):

    6.1  SGD._update        one step for one parameter: weight decay, momentum, update
    6.2  scaled_milestones  the paper's milestones moved to a shorter run
    6.3  StepSchedule.lr    the paper's step schedule

Check your work: ``pytest exercises/test_ex6_sgd.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

from __future__ import annotations

import numbers

from learnres.autograd.grad_mode import no_grad
from learnres.optim.flat import update_groups

__all__ = [
    "PAPER_ITERATIONS",
    "PAPER_MILESTONES",
    "SGD",
    "Schedule",
    "StepSchedule",
    "scaled_milestones",
]


_HYPER = ("lr", "momentum", "dampening", "weight_decay", "nesterov")


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"SGD: {name} must be a real number, got {value!r} ({type(value).__name__})"
        )
    value = float(value)  # a Python float: never promotes a float32 array
    if not value >= 0.0:  # also rejects nan
        raise ValueError(f"SGD: {name} must be >= 0, got {value}")
    return value


class SGD:
    """SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch's formula).

    Arguments:
        params: an iterable of parameters (tensors with ``.data`` and ``.grad`` arrays), or
            of dicts ``{"params": [...], "lr": ...}`` (parameter groups with their own
            hyper-parameters, as in PyTorch).
        lr: learning rate (the paper: 0.1, divided by 10 at 32k and 48k iterations).
        momentum: the factor mu of buf = mu * buf + (1 - dampening) * d_p (paper: 0.9).
        weight_decay: the L2 factor lambda added to the gradient as lambda * p (paper: 1e-4).
        nesterov: use d_p + mu * buf instead of buf (needs momentum > 0 and dampening 0).
        dampening: scales the new gradient inside the momentum buffer.

    ``param_groups`` is a list of dicts (``"params"``, ``"lr"``, ``"momentum"``, ...);
    a schedule sets ``group["lr"]``. ``state[i]["momentum_buffer"]`` holds the buffer of
    the i-th parameter (counted over all groups), created on its first update.
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
    ):
        defaults = {
            "lr": _as_float("lr", lr),
            "momentum": _as_float("momentum", momentum),
            "dampening": _as_float("dampening", dampening),
            "weight_decay": _as_float("weight_decay", weight_decay),
            "nesterov": bool(nesterov),
        }
        params = list(params)
        if not params:
            raise ValueError("SGD got an empty parameter list: nothing to optimise")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        for group in groups:
            self.add_param_group(group, defaults)
        self.state: dict[int, dict] = {}
        self.layouts = None  # each group's flat buffers (learnres.optim.flat), from step 1 on

    def add_param_group(self, group: dict, defaults: dict | None = None) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones: defaults)."""
        defaults = defaults if defaults is not None else self.param_groups[0]
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if hasattr(params, "data") else list(params)
        for p in group["params"]:
            if not hasattr(p, "data") or not hasattr(p, "grad"):
                raise TypeError(
                    f"SGD: expected parameters (tensors with .data and .grad), got "
                    f"{type(p).__name__}"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("SGD: a parameter appears in more than one parameter group")
        for key in _HYPER:
            value = group.get(key, defaults[key])
            group[key] = bool(value) if key == "nesterov" else _as_float(key, value)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )
        self.param_groups.append(group)

    def _indexed(self):
        """(index over all groups, group, parameter) in order: the keys of ``state``."""
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                yield i, group, p
                i += 1

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (None, as PyTorch's default; or zeros in place)."""
        for _, _, p in self._indexed():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def step(self) -> None:
        """One update of every parameter that has a gradient (the others are skipped).

        ``update_groups`` (learnres.optim.flat) updates the groups whose parameters and
        gradients lie in flat buffers as a whole, with ``_update``'s arithmetic; the other
        parameters are updated here, one by one.
        """
        with no_grad():
            done = update_groups(self)  # the ids of the parameters it updated
            for i, group, p in self._indexed():
                if p.grad is None or id(p) in done:
                    continue
                self._update(i, group, p)

    def _update(self, i: int, group: dict, p) -> None:
        """Exercise 6.1: one step for one parameter: weight decay, momentum, update.

        Arguments: i, the parameter's index (its key in ``self.state``); group, its
        hyper-parameters (``group["lr"]``, "momentum", "weight_decay", "dampening",
        "nesterov"); p, the parameter, with ``p.data`` and ``p.grad`` (same shape).

        The class docstring says what each hyper-parameter means; torch.optim.SGD's
        documentation (its "Algorithm" box) gives the order, which you must follow so
        that a learnres run and a PyTorch run from the same weights stay together. Work
        out why that order is the natural one: weight decay is the gradient of an L2
        penalty added to the loss, so which gradient should the momentum buffer average,
        the bare one or the penalised one? On the first step there is no buffer yet:
        what does PyTorch start it with? Keep it in ``self.state[i]["momentum_buffer"]``.
        Change ``p.data`` in place and leave ``p.grad`` as backward wrote it (``d_p +=``
        on ``d_p = p.grad`` would write into it).

        Stuck? Hints in three levels: ``pytest exercises --hint 6.1`` (add
        ``--hint-level 2`` or 3), or ``hint("6.1")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 6.1: SGD._update (one step for one parameter: weight decay, momentum, update)"
        )


PAPER_ITERATIONS = 64_000
PAPER_MILESTONES = (32_000, 48_000)


def scaled_milestones(iterations: int) -> tuple[int, ...]:
    """The paper's milestones moved to the same fractions of a run of ``iterations`` steps.

    milestone_k = round(iterations * m_k / 64000) with m = (32000, 48000): exactly the
    paper's numbers for 64k iterations, half and three quarters of the run otherwise.

    Exercise 6.2: the paper's milestones moved to a shorter run.

    Example: scaled_milestones(64000) == (32000, 48000) and
    scaled_milestones(2000) == (1000, 1500). Use round(); return a tuple.

    Stuck? Hints in three levels: ``pytest exercises --hint 6.2`` (add
    ``--hint-level 2`` or 3), or ``hint("6.2")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 6.2: scaled_milestones (the paper's milestones moved to a shorter run)"
    )


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
        """Exercise 6.3: the paper's step schedule.

        The rate starts at ``base_lr`` and is multiplied by ``gamma`` at every milestone
        the run has reached. The paper: 0.1, divided by 10 at 32k and 48k iterations.
        Iterations count from 0 (the first step is iteration 0), and the rate changes AT
        a milestone: lr(31999) == 0.1, lr(32000) == 0.01, lr(48000) == 0.001.

        Stuck? Hints in three levels: ``pytest exercises --hint 6.3`` (add
        ``--hint-level 2`` or 3), or ``hint("6.3")`` from learnres.grading.
        """
        raise NotImplementedError("Exercise 6.3: StepSchedule.lr (the paper's step schedule)")
