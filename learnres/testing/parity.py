"""Parity with PyTorch: run an op in learnres and in torch on the same inputs and compare
the output and every input gradient, under a random upstream gradient.

Tolerances (relative to the largest magnitude of the torch value, see ``relative_error``):

* float64: ``FLOAT64_RTOL = 1e-10``. Both sides compute in double precision; they differ
  only in summation order, which costs a few ulps (2.2e-16 each) times the reduction length.
* float32: ``FLOAT32_RTOL = 1e-4``. float32 carries 24 bits (eps = 1.2e-7); a reduction over
  n terms in a different order (NumPy sums pairwise, torch's CPU kernels in blocks) differs
  by up to about sqrt(n) * eps of the summed magnitude, and the reductions here (a conv's
  weight gradient sums over N*H*W = 131,072 terms at batch 128) reach ~1e-5..1e-4 of the
  largest value. Ops with short reductions pass far below it; a wrong backward misses it
  by orders of magnitude.

torch is imported only when a comparison runs: it is a test-time reference, not a
dependency of learnres.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from learnres.autograd.tensor import Tensor
from learnres.backend import asnumpy, to_device

__all__ = [
    "FLOAT32_RTOL",
    "FLOAT64_RTOL",
    "relative_error",
    "default_rtol",
    "ParityResult",
    "compare_with_torch",
]

FLOAT64_RTOL = 1e-10
FLOAT32_RTOL = 1e-4


def default_rtol(dtype) -> float:
    """The documented tolerance for ``dtype`` (see the module docstring)."""
    return FLOAT64_RTOL if np.dtype(dtype) == np.float64 else FLOAT32_RTOL


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max |expected| (0 when both are all zero)."""
    actual = np.asarray(asnumpy(actual), dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return float("inf")
    diff = float(np.abs(actual - expected).max(initial=0.0))
    scale = float(np.abs(expected).max(initial=0.0))
    return diff / scale if scale > 0 else diff


@dataclass
class ParityResult:
    """Errors of one learnres-vs-torch comparison: ``errors[name]`` is a relative error."""

    name: str
    dtype: str
    device: str
    rtol: float
    errors: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)  # dtype, shape and accumulation failures

    @property
    def worst(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def ok(self) -> bool:
        return not self.problems and all(e <= self.rtol for e in self.errors.values())

    def __str__(self) -> str:
        lines = [f"{self.name} [{self.dtype}, {self.device}] vs torch, rtol {self.rtol:g}:"]
        for key, err in self.errors.items():
            lines.append(f"  {'ok ' if err <= self.rtol else 'BAD'} {key}: rel err {err:.2e}")
        lines += [f"  BAD {p}" for p in self.problems]
        return "\n".join(lines)

    def assert_ok(self) -> ParityResult:
        if not self.ok:
            raise AssertionError(str(self))
        return self


def compare_with_torch(
    fn,
    torch_fn,
    inputs,
    *,
    name: str = "op",
    dtype=np.float64,
    device: str = "cpu",
    rtol: float | None = None,
    requires_grad=None,
    seed: int = 0,
    check_accumulation: bool = True,
) -> ParityResult:
    """Compare ``fn`` (on learnres Tensors) with ``torch_fn`` (on torch tensors).

    Arguments:
        fn, torch_fn: take one tensor per input and return one tensor.
        inputs: NumPy arrays; floating ones are cast to ``dtype``, integer ones (labels)
            are passed unchanged.
        requires_grad: one bool per input (default: every floating input).
        check_accumulation: run forward and backward a second time without clearing the
            gradients and check they doubled (a tensor used twice must add both parts).

    Returns:
        A ``ParityResult`` with the relative error of the output and of each gradient,
        and a problem for every dtype that was not preserved.
    """
    import torch

    arrays = [np.asarray(a) for a in inputs]
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    if requires_grad is None:
        requires_grad = [a.dtype.kind == "f" for a in arrays]
    rtol = default_rtol(dtype) if rtol is None else rtol
    result = ParityResult(name, np.dtype(dtype).name, device, rtol)

    xs = [
        Tensor(to_device(a.copy(), device), requires_grad=r) for a, r in zip(arrays, requires_grad)
    ]
    ts = [torch.from_numpy(a.copy()).requires_grad_(r) for a, r in zip(arrays, requires_grad)]
    y, ty = fn(*xs), torch_fn(*ts)
    expected = ty.detach().numpy()
    result.errors["output"] = relative_error(y.data, expected)
    if y.shape != tuple(expected.shape):
        result.problems.append(f"output shape {y.shape}, torch gives {tuple(expected.shape)}")
    if y.dtype != np.dtype(dtype) and expected.dtype.kind == "f":
        result.problems.append(f"output dtype {y.dtype} from {np.dtype(dtype)} inputs")
    if not any(requires_grad):
        return result

    g = np.random.default_rng(seed).standard_normal(expected.shape).astype(dtype)
    y.backward(to_device(g, device))
    ty.backward(torch.from_numpy(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if not requires_grad[i]:
            continue
        key = f"grad of input {i}"
        if x.grad is None:
            result.problems.append(f"{key} is None")
            continue
        result.errors[key] = relative_error(x.grad, t.grad.numpy())
        if x.grad.dtype != x.dtype:
            result.problems.append(f"{key} has dtype {x.grad.dtype}, input has {x.dtype}")

    if check_accumulation:
        first = [asnumpy(x.grad).copy() if x.grad is not None else None for x in xs]
        fn(*xs).backward(to_device(g, device))
        for i, x in enumerate(xs):
            if first[i] is None:
                continue
            if not np.allclose(asnumpy(x.grad), 2 * first[i], rtol=1e-6, atol=0):
                result.problems.append(f"grad of input {i} did not accumulate over two backwards")
    return result
