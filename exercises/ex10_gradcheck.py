"""Exercise 10: A gradient check.

Every backward in learnres is checked against numerical derivatives before it is
trusted: this exercise writes that check. A finite difference approximates a
derivative; a check compares it with what backward computed. Two choices decide
whether the check can fail when it should: how the difference is taken (its error must
be far below the tolerance) and what the check differentiates. Checking sum(f(x)) is
not enough: batch normalization's and softmax's outputs have constant sums, so the
gradient of the sum is 0 whatever backward says. The grader hands your check correct
and wrong backwards; it must pass the first and catch the second.

What you write (each stub raises NotImplementedError until you do):

    10.1  numerical_gradient  d sum(g * f(x)) / dx by finite differences
    10.2  gradcheck           backward against numerical derivatives
    10.3  _compare            the worst disagreement of one input

Check your work: ``pytest exercises/test_ex10_gradcheck.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

# ruff: noqa: F401
# (the imports of the solution: some stay unused until the stubs are written)

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from learnres.autograd.grad_mode import no_grad
from learnres.autograd.tensor import Tensor
from learnres.backend import asnumpy, to_device

__all__ = ["GradcheckReport", "InputCheck", "gradcheck", "numerical_gradient"]


@dataclass
class InputCheck:
    """The worst disagreement found for one input."""

    name: str
    index: tuple  # where numeric and analytic differ most
    numeric: float
    analytic: float
    abs_error: float
    rel_error: float  # abs_error / max(|numeric| over the whole input, atol)
    ok: bool


@dataclass
class GradcheckReport:
    """Result of ``gradcheck``: one ``InputCheck`` per differentiable input."""

    inputs: list[InputCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.inputs)

    @property
    def worst(self) -> InputCheck | None:
        return max(self.inputs, key=lambda c: c.rel_error, default=None)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        lines = ["gradcheck " + ("passed" if self.ok else "FAILED")]
        for c in self.inputs:
            mark = "ok " if c.ok else "BAD"
            lines.append(
                f"  {mark} {c.name}: worst at index {c.index}: numeric {c.numeric:.6g}, "
                f"analytic {c.analytic:.6g} (abs err {c.abs_error:.2e}, rel err {c.rel_error:.2e})"
            )
        return "\n".join(lines)


def gradcheck(
    fn,
    inputs,
    *,
    names=None,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
    device: str = "cpu",
    raise_exception: bool = False,
) -> GradcheckReport:
    """Exercise 10.2: backward against numerical derivatives.

    Arguments: fn takes Tensors (one per input) and returns a Tensor; ``inputs``
    are arrays (floating-point ones are checked, in float64; integer ones, such as
    labels, are passed through); ``names`` label them in the report; eps, atol and
    rtol are the step and the tolerance (an entry passes when |numeric - analytic|
    <= atol + rtol * scale, scale = the largest |numeric| of that input, see
    ``_compare``); ``seed`` seeds the upstream gradient.
    Returns a GradcheckReport with one InputCheck per checked input (with
    ``raise_exception=True``, a failing check raises AssertionError with the report).
    Compute the analytic gradient with backward and the numerical one with
    ``numerical_gradient`` for the SAME upstream gradient g, drawn as
    ``np.random.default_rng(seed).standard_normal(y.shape)``: why random, and what
    would g = 1 hide? Evaluate fn without building a graph (``no_grad``).

    Stuck? Hints in three levels: ``pytest exercises --hint 10.2`` (add
    ``--hint-level 2`` or 3), or ``hint("10.2")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 10.2: gradcheck (backward against numerical derivatives)")


def numerical_gradient(f, arrays, i: int, g: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Exercise 10.1: d sum(g * f(x)) / dx by finite differences.

    Arguments: f takes NumPy arrays (one per entry of ``arrays``) and returns an
    array shaped like g; ``arrays`` are float64 inputs (leave them unchanged); g is
    the upstream gradient. Returns an array shaped like ``arrays[i]``: the
    derivative of L = sum(g * f(...)) by each entry of ``arrays[i]``, with step eps.
    Write the Taylor expansion of L(x + eps) and of L(x - eps): which combination
    cancels the eps^1 error term? (With eps = 1e-6 a one-sided difference is off
    by about 1e-6 of the value; the grader's tolerance is far below that.)

    Stuck? Hints in three levels: ``pytest exercises --hint 10.1`` (add
    ``--hint-level 2`` or 3), or ``hint("10.1")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 10.1: numerical_gradient (d sum(g * f(x)) / dx by finite differences)"
    )


def _compare(name, numeric, analytic, atol, rtol) -> InputCheck:
    """Exercise 10.3: the worst disagreement of one input.

    Returns the InputCheck of one input: the index where numeric and analytic differ
    most, both values there, that absolute error, the relative error (the absolute
    error over max(the largest |numeric| of the input, atol)) and whether every entry
    passed (|numeric - analytic| <= atol + rtol * scale). An empty input: index (),
    values 0.

    Stuck? Hints in three levels: ``pytest exercises --hint 10.3`` (add
    ``--hint-level 2`` or 3), or ``hint("10.3")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 10.3: _compare (the worst disagreement of one input)")
