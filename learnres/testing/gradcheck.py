"""Numerical gradient check: central differences in float64 with a random upstream gradient.

Why a random upstream gradient ``g`` instead of ``sum()``: the check compares
d(sum g*f(x))/dx, and with g = 1 some wrong backwards still pass. Batch norm's output sums
to a constant (beta * N), so d sum(bn(x))/dx = 0 whatever the backward says; softmax's rows
sum to 1, likewise. A random g exercises every direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from learnres.autograd.grad_mode import no_grad
from learnres.autograd.tensor import Tensor
from learnres.backend import asnumpy, to_device

__all__ = ["gradcheck", "numerical_gradient", "GradcheckReport", "InputCheck"]


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
    """Compare ``fn``'s backward with central differences.

    Arguments:
        fn: takes Tensors (one per entry of ``inputs``) and returns a Tensor.
        inputs: arrays (or Tensors); every floating-point one is checked, in float64.
            Integer arrays (labels) are passed through unchanged.
        names: a name per input for the report (default ``input 0``, ``input 1``, ...).
        eps: the finite-difference step: df/dx ~ (f(x + eps) - f(x - eps)) / (2 eps).
        atol, rtol: an element passes when |numeric - analytic| <= atol + rtol * scale,
            scale being the largest |numeric| of that input.
        seed: seeds the random upstream gradient g ~ N(0, 1).

    Returns:
        A ``GradcheckReport``; it is truthy when every input passed. With
        ``raise_exception=True`` a failing check raises AssertionError with the report.
    """
    names = list(names) if names is not None else [f"input {i}" for i in range(len(inputs))]
    arrays = [asnumpy(x.data if isinstance(x, Tensor) else x) for x in inputs]
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    checked = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]

    def tensors(values, grad):
        return [
            Tensor(to_device(v.copy(), device), requires_grad=grad and i in checked)
            for i, v in enumerate(values)
        ]

    # analytic: d sum(g * f(x)) / dx through backward
    xs = tensors(arrays, grad=True)
    y = fn(*xs)
    g = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(to_device(g, device))

    def f(*values) -> np.ndarray:
        with no_grad():
            return asnumpy(fn(*tensors(values, grad=False)).data)

    report = GradcheckReport()
    for i in checked:
        analytic = asnumpy(xs[i].grad) if xs[i].grad is not None else np.zeros_like(arrays[i])
        numeric = numerical_gradient(f, arrays, i, g, eps)
        report.inputs.append(_compare(names[i], numeric, analytic, atol, rtol))
    if raise_exception and not report.ok:
        raise AssertionError(str(report))
    return report


def numerical_gradient(f, arrays, i: int, g: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d sum(g * f(*arrays)) / d arrays[i], every entry by central differences.

    Arguments:
        f: takes NumPy arrays (one per entry of ``arrays``) and returns an array shaped like g.
        arrays: float64 inputs (not changed).
        g: the upstream gradient (random: see the module docstring).

    Returns:
        An array shaped like ``arrays[i]``: entry k is (L(x + eps e_k) - L(x - eps e_k)) /
        (2 eps) with L = sum(g * f(...)), whose error is O(eps^2) (a one-sided difference's
        is O(eps)).
    """
    numeric = np.zeros(np.shape(arrays[i]))
    for idx in np.ndindex(numeric.shape):
        values = [np.array(a, copy=True) for a in arrays]
        values[i][idx] += eps
        up = float(np.sum(g * f(*values)))
        values[i][idx] -= 2 * eps
        down = float(np.sum(g * f(*values)))
        numeric[idx] = (up - down) / (2 * eps)
    return numeric


def _compare(name, numeric, analytic, atol, rtol) -> InputCheck:
    diff = np.abs(numeric - analytic)
    scale = max(float(np.abs(numeric).max(initial=0.0)), atol)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    abs_error = float(diff.max(initial=0.0))
    return InputCheck(
        name=name,
        index=tuple(int(i) for i in worst),
        numeric=float(numeric[worst]) if diff.size else 0.0,
        analytic=float(analytic[worst]) if diff.size else 0.0,
        abs_error=abs_error,
        rel_error=abs_error / scale,
        ok=abs_error <= atol + rtol * scale,
    )
