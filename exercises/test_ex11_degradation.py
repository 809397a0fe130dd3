"""Grader of exercise 11 (a degradation study): your training curve and study against the same
protocol run by learnres, your summary of given curves, and the artifact itself: the numbers
your code computes for the full study, and what they say about depth.

The study tests give your code learnres's own train_curve (11.1), so a bug there costs only
its points.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.grading.checks import check_close, describe, fail

EXERCISE = "11. Degradation study"
MODULE = "ex11_degradation"
SMALL = {"depths": (2, 6), "width": 8, "steps": 20, "batch_size": 16, "lr": 0.05, "examples": 96}


# ---- 11.1 a training curve ----------------------------------------------------------------------


def _model_and_data(seed: int):
    from learnres.analysis.degradation import teacher_data
    from learnres.models.cifar import mlp
    from learnres.nn import init

    x, labels = teacher_data(96, 32, 4, seed)
    init.manual_seed(seed)
    return mlp(4, 8, False, 32, 4), x, labels


def run_train_curve(module, seed: int, steps: int):
    model, x, labels = _model_and_data(seed)
    return module.train_curve(model, x, labels, steps, 16, 0.05, seed)


def _curve(seed: int, steps: int, bug: str | None = None):
    """learnres's curve, or the curve of a usual mistake (``bug``)."""
    from learnres.analysis.degradation import train_curve, train_step
    from learnres.optim.sgd import SGD

    model, x, labels = _model_and_data(seed)
    if bug is None:
        return train_curve(model, x, labels, steps, 16, 0.05, seed)
    optimizer = SGD(model.parameters(), lr=0.05, momentum=0.0 if bug == "no momentum" else 0.9)
    rng = np.random.default_rng(seed)
    out = np.zeros(steps)
    for k in range(steps):
        if bug == "a new generator every step":
            rng = np.random.default_rng(seed)
        replace = bug == "with replacement"
        batch = rng.choice(len(x), 16, replace=replace)
        out[k], _ = train_step(model, optimizer, x[batch], labels[batch])
    return out


CURVE_BUGS = {
    "a new generator every step": "a curve trained on the same batch at every step: make ONE "
    "generator, np.random.default_rng(seed), before the loop",
    "with replacement": "batches drawn with replacement: rng.choice(len(x), batch_size, "
    "replace=False)",
    "no momentum": "SGD without momentum: the protocol uses momentum 0.9",
}


def _expected_curve(seed: int, steps: int):
    return {
        "curve": _curve(seed, steps),
        "diagnoses": [(label, _curve(seed, steps, bug)) for bug, label in CURVE_BUGS.items()],
    }


@pytest.mark.points(2)
@pytest.mark.timeout(60)
def test_train_curve(exercise, rng):
    seed, steps = int(rng.integers(2**31)), 25
    got = exercise.run(run_train_curve, seed, steps)
    expected = exercise.expect(_expected_curve, seed, steps)
    check_close(
        f"train_curve (an MLP of depth 4, {steps} steps of 16 examples, seed {seed}): the losses",
        got,
        expected["curve"],
        rtol=1e-5,
        expected_label="learnres's run",
        diagnoses=expected["diagnoses"],
        hint="one generator for the whole run, one rng.choice(..., replace=False) per step, "
        "train_step on that batch, its loss recorded",
    )


# ---- 11.2 the study -----------------------------------------------------------------------------


def run_study(module, settings: dict, seed: int):
    return module.degradation_study(**settings, seed=seed)


def _study(settings: dict, seed: int, seeded_once: bool = False):
    from learnres.analysis import degradation
    from learnres.models.cifar import mlp
    from learnres.nn import init

    if not seeded_once:
        return degradation.degradation_study(**settings, seed=seed)
    study = degradation.STUDY
    x, labels = degradation.teacher_data(
        settings["examples"], study["features"], study["classes"], seed
    )
    init.manual_seed(seed)
    curves = {}
    for residual in (False, True):
        for depth in settings["depths"]:
            model = mlp(depth, settings["width"], residual, x.shape[1], study["classes"])
            curves[degradation.model_name(residual, depth)] = degradation.train_curve(
                model, x, labels, settings["steps"], settings["batch_size"], settings["lr"], seed
            )
    return curves


def _expected_study(settings: dict, seed: int):
    return {"curves": _study(settings, seed), "seeded_once": _study(settings, seed, True)}


def _check_study(got, expected, what: str):
    wanted = expected["curves"]
    if not isinstance(got, dict) or list(got) != list(wanted):
        fail(
            f"{what} returned {describe(got) if not isinstance(got, dict) else list(got)}; "
            f"expected a dict with the curves {list(wanted)} in that order (plain nets first)"
        )
    for name, curve in wanted.items():
        check_close(
            f"{what}: the curve of {name}",
            got[name],
            curve,
            rtol=1e-5,
            expected_label="learnres's run",
            diagnoses=[
                (
                    "the curve of a model built without seeding right before it: call "
                    "init.manual_seed(seed) before building EACH model, so that every model "
                    "starts as the protocol says",
                    expected["seeded_once"][name],
                )
            ],
            hint="teacher_data(examples, seed=seed); for each model: init.manual_seed(seed), "
            "mlp(depth, width, residual, ...), train_curve(...)",
        )


@pytest.mark.points(2)
@pytest.mark.timeout(90)
def test_degradation_study(exercise, rng):
    seed = int(rng.integers(2**31))
    got = exercise.run(run_study, SMALL, seed, given=("train_curve",))
    settings = ", ".join(f"{k}={v}" for k, v in SMALL.items())
    expected = exercise.expect(_expected_study, SMALL, seed)
    _check_study(got, expected, f"degradation_study({settings})")


# ---- 11.3 the summary ---------------------------------------------------------------------------


def _synthetic_curves(rng, plain_deep_worse: bool):
    curves = {}
    for kind in ("plain", "residual"):
        for depth in (3, 9):
            start = 1.5 + 0.1 * rng.random()
            end = 0.1 + 0.3 * rng.random()
            if kind == "plain" and depth == 9 and plain_deep_worse:
                end += 1.0
            steps = np.linspace(0, 1, 40)
            noise = 0.02 * rng.standard_normal(40)
            curves[f"{kind}-{depth}"] = start + (end - start) * steps + noise
    return curves


def run_summarize(module, curves):
    return module.summarize(curves)


def _reference_summary(curves):
    from learnres.analysis.degradation import summarize

    return summarize(curves)


def _check_summary(got, expected, what: str):
    if not isinstance(got, dict) or set(got) != set(expected):
        keys = sorted(got) if isinstance(got, dict) else describe(got)
        fail(f"{what} returned {keys}; expected the keys {sorted(expected)}")
    for name, value in expected["final"].items():
        mine = got["final"].get(name) if isinstance(got["final"], dict) else None
        if mine is None or not np.isclose(mine, value, rtol=1e-9):
            fail(
                f"{what}: the final loss of {name} is {mine!r}, expected {value!r} (the mean "
                "of its last 20 steps)"
            )
    for key in ("plain_gap", "residual_gap"):
        if not np.isclose(got[key], expected[key], rtol=1e-9):
            fail(f"{what}: {key} is {got[key]!r}, expected {expected[key]!r} (deep minus shallow)")
    for key in ("plain_degrades", "residual_fixes"):
        if bool(got[key]) is not bool(expected[key]) or not isinstance(got[key], (bool, np.bool_)):
            fail(f"{what}: {key} is {got[key]!r}, expected {expected[key]!r}")


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_summarize(exercise, rng):
    for worse in (True, False):
        curves = _synthetic_curves(rng, worse)
        got = exercise.run(run_summarize, curves)
        _check_summary(got, exercise.expect(_reference_summary, curves), "summarize(curves)")


# ---- the artifact: the full study, run and summarised by your code ------------------------------


def run_full_study(module, seed: int):
    curves = module.degradation_study(seed=seed)
    return {"curves": curves, "summary": module.summarize(curves)}


def _expected_full(seed: int):
    from learnres.analysis.degradation import STUDY

    settings = {k: STUDY[k] for k in ("depths", "width", "steps", "batch_size", "lr", "examples")}
    return _expected_study(settings, seed)


@pytest.mark.points(2)
@pytest.mark.timeout(240)
def test_the_study(exercise, rng):
    """The whole study as your code runs and summarises it: its numbers must be the protocol's,
    and what they say must be what they show."""
    seed = int(rng.integers(1000))
    got = exercise.run(run_full_study, seed, given=("train_curve",))
    expected = exercise.expect(_expected_full, seed)
    _check_study(got["curves"], expected, f"degradation_study(seed={seed})")
    summary = exercise.expect(_reference_summary, expected["curves"])
    _check_summary(got["summary"], summary, "summarize(your study's curves)")
