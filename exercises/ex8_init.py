"""Exercise 8: He initialisation.

The paper initialises its weights "as in [13]" (He et al., 2015, Delving Deep into
Rectifiers). A deep plain network starts well only when the variance of the signal
neither grows nor shrinks from layer to layer: for y = W x with n inputs per output and
independent zero-mean weights, Var[y] = n Var[w] E[x^2], and after a ReLU E[x^2] is
half the variance of its input. You choose Var[w] so that the two effects cancel, write
the initialisers, and the grader checks the claim on a deep plain stack.

What you write (each stub raises NotImplementedError until you do):

    8.1  calculate_fan_in_and_fan_out  the inputs behind each output, the outputs of each input
    8.2  calculate_gain                the factor that keeps the variance through a nonlinearity
    8.3  kaiming_normal_               He initialisation with normal weights
    8.4  kaiming_uniform_              He initialisation with uniform weights

Check your work: ``pytest exercises/test_ex8_init.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

# ruff: noqa: F401
# (the imports of the solution: some stay unused until the stubs are written)

from __future__ import annotations

import math

import numpy as np

from learnres.autograd.tensor import Tensor
from learnres.backend import device_of, get_array_module, to_device

__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "kaiming_normal_",
    "kaiming_uniform_",
    "manual_seed",
    "normal_",
    "uniform_",
]


_default_rng = np.random.default_rng(0)  # reset by manual_seed


def manual_seed(seed: int) -> None:
    """Reset the generator that initialisers use when no ``rng`` is passed."""
    global _default_rng
    _default_rng = np.random.default_rng(seed)


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    """Copy ``values`` into ``tensor.data`` in place, in its dtype and on its device."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected a Tensor or Parameter, got {type(tensor).__name__}")
    values = to_device(np.asarray(values), device_of(tensor.data))
    tensor.data[...] = get_array_module(tensor.data).asarray(values, dtype=tensor.dtype)
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Exercise 8.2: the factor that keeps the variance through a nonlinearity.

    Returns the gain g such that weights of standard deviation g / sqrt(fan) keep
    E[x^2] constant through layer after layer with this nonlinearity. Derive the
    ReLU's from the intro (what fraction of E[x^2] survives a ReLU?), and the leaky
    ReLU's with negative slope a (``param``, default 0.01). Linear layers, convolutions
    and the sigmoid use 1, tanh 5/3 (PyTorch's convention). Unknown names:
    ValueError naming the known ones.

    Stuck? Hints in three levels: ``pytest exercises --hint 8.2`` (add
    ``--hint-level 2`` or 3), or ``hint("8.2")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 8.2: calculate_gain (the factor that keeps the variance through a nonlinearity)"
    )


def calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """Exercise 8.1: the inputs behind each output, the outputs of each input.

    Returns (fan_in, fan_out) of a weight: a Linear weight is (out, in), a Conv2d
    weight (out, in, kh, kw). fan_in is the length of the dot product behind one
    output value (the n of Var[y] = n Var[w] E[x^2]); fan_out is how many output
    values one input value takes part in (what matters for the gradients going
    back). Work both out for a convolution. Fewer than 2 dimensions: ValueError.

    Stuck? Hints in three levels: ``pytest exercises --hint 8.1`` (add
    ``--hint-level 2`` or 3), or ``hint("8.1")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 8.1: calculate_fan_in_and_fan_out (the inputs behind each output, the outputs of"
        " each input)"
    )


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, rng=None) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    rng = _default_rng if rng is None else rng
    return _fill(tensor, rng.normal(mean, std, size=tensor.shape))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, rng=None) -> Tensor:
    """Fill with samples of U(a, b)."""
    rng = _default_rng if rng is None else rng
    return _fill(tensor, rng.uniform(a, b, size=tensor.shape))


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None
) -> Tensor:
    """Exercise 8.3: He initialisation with normal weights.

    Fill ``tensor`` in place with zero-mean normal values whose standard deviation
    keeps the variance of the signal (mode "fan_in": the forward activations) or of
    the gradients (mode "fan_out") from layer to layer, through the nonlinearity
    ``nonlinearity`` with negative slope ``a``; draw them with ``normal_(...,
    rng=rng)``. Return the tensor.

    Stuck? Hints in three levels: ``pytest exercises --hint 8.3`` (add
    ``--hint-level 2`` or 3), or ``hint("8.3")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 8.3: kaiming_normal_ (He initialisation with normal weights)"
    )


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None
) -> Tensor:
    """Exercise 8.4: He initialisation with uniform weights.

    The same variance as ``kaiming_normal_``, from U(-bound, bound): what variance
    does a uniform distribution on [-b, b] have? Draw with ``uniform_(...,
    rng=rng)`` and return the tensor.

    Stuck? Hints in three levels: ``pytest exercises --hint 8.4`` (add
    ``--hint-level 2`` or 3), or ``hint("8.4")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 8.4: kaiming_uniform_ (He initialisation with uniform weights)"
    )
