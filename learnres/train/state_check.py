"""Is a checkpoint's state fit to continue this run? Checked whole, before anything is restored.

``load_checkpoint`` guarantees a file of plain arrays and JSON values. That is not enough to
resume from: a NaN base learning rate, a negative BatchNorm variance, float64 weights in a
float32 run, a float iteration or an unknown bit generator would each be accepted by some
``load_state_dict`` and then train on garbage, or overwrite the good checkpoint with NaN.
``check_trainer_state(state, trainer)`` compares every part of ``state`` with what the
``trainer`` about to resume would save itself, and raises one ``CheckpointError`` listing
the problems before the first value is copied:

    model        the same keys; each array the parameter's dtype and shape, finite;
                 running_var >= 0, num_batches_tracked >= 0
    optimizer    one group per group, the same parameter indices; hyper-parameters finite
                 and >= 0, nesterov a bool; momentum buffers of known names, in the
                 parameter's dtype and shape, finite
    schedule     the same kind and settings as this run's (base lr, milestones, ...), its
                 dynamic part (recent errors, warm-up end) in range; the learning rate it
                 gives for the next iteration finite and > 0
    loader       the same keys and settings; epoch and position in range; both random
                 streams the states of one of NumPy's bit generators (an explicit list)
    iteration    an int in 0..iterations; window, history, elapsed: numbers in range
    config       a JSON object with this run's keys
    anything else: an unknown name, refused
"""

from __future__ import annotations

import copy
import json
import math
from numbers import Integral, Real

import numpy as np

from learnres.train.checkpoint import CheckpointError
from learnres.train.metrics import COLUMNS

__all__ = ["check_trainer_state", "STATE_KEYS", "OPTIONAL_KEYS"]

STATE_KEYS = ("iteration", "iterations", "model", "optimizer", "schedule", "loader")
OPTIONAL_KEYS = ("window", "history", "elapsed", "config")
_BUFFERS = ("momentum_buffer",)  # what SGD keeps per parameter
_SCHEDULE_DYNAMIC = {"recent", "warmup_end"}  # the parts of a schedule's state that change


def _int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _finite(value) -> bool:
    return _real(value) and math.isfinite(value)


def _kind(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array"
    return f"{type(value).__name__} {value!r}"[:80]


class _Problems(list):
    def keys(self, where: str, saved, expected, optional=()) -> bool:
        """Record missing and unknown keys of dict ``saved``; False when it is no dict."""
        if not isinstance(saved, dict):
            self.append(f"{where} should be a dict, got {_kind(saved)}")
            return False
        missing = [k for k in expected if k not in saved and k not in optional]
        unknown = [k for k in saved if k not in expected]
        if missing:
            self.append(f"{where} lacks {', '.join(map(str, missing[:5]))}")
        if unknown:
            self.append(f"{where} has unknown entries {', '.join(map(str, unknown[:5]))}")
        return True

    def number(self, where: str, value, low=None, high=None, integer=False, low_open=False):
        ok = _int(value) if integer else _finite(value)
        if ok and low is not None:
            ok = value > low if low_open else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            what = "an int" if integer else "a finite number"
            bounds = []
            if low is not None:
                bounds.append(f"{'>' if low_open else '>='} {low}")
            if high is not None:
                bounds.append(f"<= {high}")
            self.append(
                f"{where} should be {what}{' ' if bounds else ''}{' and '.join(bounds)}, "
                f"got {_kind(value)}"
            )

    def array(self, where: str, value, dtype, shape) -> None:
        if not isinstance(value, np.ndarray):
            self.append(f"{where} should be an array, got {_kind(value)}")
        elif value.dtype != dtype:
            self.append(f"{where} is {value.dtype}, this run uses {np.dtype(dtype)}")
        elif tuple(value.shape) != tuple(shape):
            self.append(f"{where} has shape {tuple(value.shape)}, this run needs {tuple(shape)}")
        elif value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = int(value.size - np.isfinite(value).sum())
            self.append(f"{where} holds {bad} non-finite value(s) (NaN or infinity)")


def check_trainer_state(state, trainer, source: str = "checkpoint") -> None:
    """Raise ``CheckpointError`` unless ``state`` (from ``load_checkpoint``) can continue
    ``trainer`` (see the module docstring for what is checked). Changes nothing."""
    p = _Problems()
    if p.keys("the state", state, STATE_KEYS + OPTIONAL_KEYS, optional=OPTIONAL_KEYS):
        _check(p, state, trainer)
    if p:
        more = f" (and {len(p) - 6} more)" if len(p) > 6 else ""
        raise CheckpointError(
            f"{source} does not fit this run and was not loaded: " + "; ".join(p[:6]) + more
        )


def _check(p: _Problems, state: dict, trainer) -> None:
    p.number("iteration", state.get("iteration"), 0, trainer.iterations, integer=True)
    p.number("iterations", state.get("iterations"), 1, integer=True)
    iteration = state.get("iteration")
    if not _int(iteration) or not 0 <= iteration <= trainer.iterations:
        iteration = trainer.iterations  # refused above; check the rest as leniently as it allows
    if "model" in state:
        _check_model(p, state["model"], trainer.model)
    if "optimizer" in state:
        _check_optimizer(p, state["optimizer"], trainer.optimizer)
    if "schedule" in state:
        _check_schedule(p, state["schedule"], trainer, iteration)
    if "loader" in state:
        _check_loader(p, state["loader"], trainer.train_loader)
    if "window" in state:
        _check_window(p, state["window"], trainer, iteration)
    if "history" in state:
        _check_history(p, state["history"], iteration)
    if "elapsed" in state:
        p.number("elapsed", state["elapsed"], 0)
    if "config" in state:
        _check_config(p, state["config"], trainer.config)


def _check_model(p: _Problems, saved, model) -> None:
    own = model.state_dict()
    if not p.keys("model", saved, list(own)):
        return
    for key, target in own.items():
        if key not in saved:
            continue
        value = saved[key]
        before = len(p)
        p.array(f"model {key}", value, target.dtype, target.shape)
        if len(p) == before and key.rsplit(".", 1)[-1] in ("running_var", "num_batches_tracked"):
            if (value < 0).any():
                p.append(f"model {key} holds negative values (a variance or a count)")


def _check_optimizer(p: _Problems, saved, optimizer) -> None:
    if not hasattr(optimizer, "param_groups"):
        return  # not an SGD-like optimizer: its own load_state_dict judges
    own = optimizer.state_dict()
    if not p.keys("optimizer", saved, list(own)):
        return
    params = [param for group in optimizer.param_groups for param in group["params"]]
    groups = saved.get("param_groups")
    if not isinstance(groups, list) or len(groups) != len(own["param_groups"]):
        p.append(
            f"optimizer param_groups should be a list of {len(own['param_groups'])} "
            f"group(s), got {_kind(groups)}"
        )
    else:
        for i, (group, mine) in enumerate(zip(groups, own["param_groups"])):
            where = f"optimizer group {i}"
            if not p.keys(where, group, list(mine)):
                continue
            for key, value in group.items():
                if key == "params":
                    if value != mine["params"] or not all(_int(v) for v in value):
                        p.append(
                            f"{where} params should be {mine['params'][:3]}..., got {_kind(value)}"
                        )
                elif isinstance(mine.get(key), bool):
                    if not isinstance(value, bool):
                        p.append(f"{where} {key} should be true or false, got {_kind(value)}")
                elif key in mine:
                    p.number(f"{where} {key}", value, 0)
    buffers = saved.get("state")
    if not isinstance(buffers, dict):
        p.append(f"optimizer state should be a dict, got {_kind(buffers)}")
        return
    for key, entry in buffers.items():
        index = int(key) if isinstance(key, str) and key.isdigit() else None
        if index is None or index >= len(params):
            p.append(f"optimizer state for parameter {key!r}, which this run does not have")
            continue
        if not p.keys(f"optimizer state {key}", entry, _BUFFERS, optional=_BUFFERS):
            continue
        param = params[index].data
        for name, value in entry.items():
            if name in _BUFFERS:
                p.array(f"optimizer state {key} {name}", value, param.dtype, param.shape)


def _check_like(p: _Problems, where: str, saved, mine) -> None:
    """``saved`` has ``mine``'s structure and, outside the dynamic keys, its values."""
    if isinstance(mine, dict):
        if p.keys(where, saved, list(mine)):
            for key in mine:
                if key in saved:
                    if key in _SCHEDULE_DYNAMIC:
                        continue
                    _check_like(p, f"{where} {key}", saved[key], mine[key])
        return
    same = (type(saved) is type(mine) or (_real(saved) and _real(mine))) and saved == mine
    if not same:
        p.append(f"{where} is {_kind(saved)}, this run's is {mine!r}")


def _check_schedule(p: _Problems, saved, trainer, iteration: int) -> None:
    mine = trainer.schedule.state_dict()
    before = len(p)
    _check_like(p, "schedule", saved, mine)
    if len(p) > before:
        return
    warmups = [saved] if saved.get("kind") == "warmup" else []
    for state in warmups:  # the dynamic part of the warm-up
        recent = state.get("recent")
        window = state.get("window")
        if not isinstance(recent, list) or len(recent) > window:
            p.append(
                f"schedule recent should be a list of at most {window} errors, got {_kind(recent)}"
            )
        else:
            for value in recent:
                p.number("schedule recent error", value, 0, 1)
        end = state.get("warmup_end")
        if end is not None:
            p.number("schedule warmup_end", end, 1, iteration, integer=True)
    if len(p) > before or iteration >= trainer.iterations:
        return
    trial = copy.deepcopy(trainer.schedule)
    try:
        trial.load_state_dict(copy.deepcopy(saved))
        lr = float(trial.lr(iteration))
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        p.append(f"schedule cannot be restored ({type(e).__name__}: {e})")
        return
    if not (math.isfinite(lr) and lr > 0):
        p.append(f"schedule gives learning rate {lr} for iteration {iteration}")


def _check_loader(p: _Problems, saved, loader) -> None:
    if not hasattr(loader, "state_dict"):
        return
    from learnres.data.loader import _generator

    mine = loader.state_dict()
    if not p.keys("loader", saved, list(mine)):
        return
    for key in ("num_samples", "batch_size", "shuffle", "drop_last"):
        if (
            key in saved
            and key in mine
            and (type(saved[key]) is not type(mine[key]) or saved[key] != mine[key])
        ):
            p.append(f"loader {key} is {_kind(saved[key])}, this run's is {mine[key]!r}")
    if "epoch" in saved:
        p.number("loader epoch", saved["epoch"], 0, integer=True)
    if "position" in saved:
        batches = len(loader) if hasattr(loader, "__len__") else None
        p.number("loader position", saved["position"], 0, batches, integer=True)
    if "seed" in saved:
        p.number("loader seed", saved["seed"], 0, integer=True)
    for key in ("shuffle_rng", "augment_rng"):
        if key in saved:
            try:
                _generator(saved[key])
            except ValueError as e:
                p.append(f"loader {key}: {e}")


def _scalar(value):
    """A 0-d numeric array (a sum kept on the device, say) as the number it holds."""
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf":
        return value.item()
    return value


def _check_window(p: _Problems, saved, trainer, iteration: int) -> None:
    mine = trainer._empty_window()
    if not p.keys("window", saved, list(mine), optional=list(mine)):
        return
    saved = {key: _scalar(value) for key, value in saved.items()}
    for key in ("steps", "wrong", "seen"):
        if key in saved:
            p.number(f"window {key}", saved[key], 0, integer=True)
    for key in ("loss_sum", "seconds"):
        if key in saved:
            p.number(f"window {key}", saved[key], 0)
    steps, wrong, seen = (saved.get(k, 0) for k in ("steps", "wrong", "seen"))
    if all(_int(v) for v in (steps, wrong, seen)) and (steps > iteration or wrong > seen):
        p.append(
            f"window counts are inconsistent (steps {steps} after {iteration} "
            f"iterations, {wrong} wrong of {seen})"
        )


def _check_history(p: _Problems, saved, iteration: int) -> None:
    if not isinstance(saved, list):
        p.append(f"history should be a list of rows, got {_kind(saved)}")
        return
    if len(saved) > iteration:
        p.append(f"history has {len(saved)} rows after {iteration} iterations")
        return
    last = 0
    for row in saved:
        if not isinstance(row, dict) or not _int(row.get("iteration")):
            p.append(f"history row {_kind(row)} has no integer iteration")
            return
        if not last < row["iteration"] <= iteration:
            p.append(f"history row of iteration {row['iteration']} is out of order")
            return
        last = row["iteration"]
        unknown = [k for k in row if k not in COLUMNS]
        if unknown:
            p.append(f"history row {last} has unknown columns {', '.join(map(str, unknown[:5]))}")
            return
        wrong = [k for k, v in row.items() if not (v is None or _real(v))]
        if wrong:  # measurements are records: NaN is allowed, text is not
            p.append(f"history row {last} has non-numbers in {', '.join(wrong)}")
            return


def _check_config(p: _Problems, saved, mine: dict) -> None:
    if not isinstance(saved, str):
        p.append(f"config should be a JSON string, got {_kind(saved)}")
        return
    try:
        config = json.loads(saved)
    except (ValueError, RecursionError) as e:
        p.append(f"config is not JSON ({type(e).__name__})")
        return
    if not isinstance(config, dict):
        p.append(f"config should be a JSON object, got {_kind(config)}")
        return
    unknown = [k for k in config if k not in mine]
    if unknown:
        p.append(f"config has unknown fields {', '.join(map(str, unknown[:5]))}")
