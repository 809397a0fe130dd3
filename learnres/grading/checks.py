"""Checks for the graders in ``exercises/``, failing with messages that teach.

A grader calls a student's code, then one of these checks, which compare the result with
PyTorch (float64) and, for gradients, with central differences at the worst index. A failure
says *which* value is wrong, where, what was expected and what came, and the usual cause, or,
when the value equals a known wrong answer (a *diagnosis*), names that mistake:

    Mul.backward: dL/db has shape (3, 4) but b has shape (4,): b was broadcast in the forward
    pass, so its gradient must be summed over the broadcast axes (sum_to(g, b.shape)).

    _grad_input_transposed (x (2, 3, 6, 5), w (4, 3, 3, 3), stride (1, 1), padding (1, 1)):
    dL/dx is wrong.
      worst at index (0, 1, 4, 3): PyTorch 10.3374, numerical gradient 10.3374, yours -14.197
      largest error 2.5e+01 (largest expected value 1.8e+01; tolerance 1e-08 of it)
    Your dL/dx equals the transposed convolution with the kernel NOT flipped: flip both
    spatial axes, w[:, :, ::-1, ::-1].

Failures use ``pytest.fail(..., pytrace=False)``: the student sees the message, not the
grader's traceback. Errors raised inside the student's code keep their traceback.

Tolerance: ``GRADER_RTOL = 1e-8`` relative to the largest expected value, looser than
``learnres.testing.FLOAT64_RTOL`` (1e-10) because a correct student solution may use another
formula than PyTorch (a variance as E[x^2] - E[x]^2 cancels digits; a gradient summed in
another order); every planted bug misses by more than 1e-3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

__all__ = [
    "GRADER_RTOL",
    "check_backward",
    "check_block",
    "check_close",
    "check_gradient",
    "check_shape",
    "fail",
    "fmt_shape",
    "numeric_gradient_at",
    "rand",
    "torch_forward_backward",
    "upstream",
]

GRADER_RTOL = 1e-8

Diagnosis = tuple[str, np.ndarray]  # (what a known wrong answer is, its value)


def fail(message: str) -> None:
    """Fail the test with ``message`` only (no grader traceback)."""
    pytest.fail(message, pytrace=False)


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Standard normal float64 values of ``shape``."""
    return rng.standard_normal(shape)


def upstream(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """A random upstream gradient gy = dL/dy (never all ones: sum() hides wrong backwards)."""
    return rng.standard_normal(shape)


def fmt_shape(shape) -> str:
    return str(tuple(int(n) for n in shape))


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def check_shape(what: str, actual, expected_shape: tuple, hint: str = "") -> None:
    """Fail unless ``actual`` is an array of ``expected_shape``."""
    if not hasattr(actual, "shape"):
        fail(
            f"{what} should be an array of shape {fmt_shape(expected_shape)}, got "
            f"{type(actual).__name__}: {actual!r:.80}"
        )
    if tuple(actual.shape) != tuple(expected_shape):
        message = (
            f"{what} has shape {fmt_shape(actual.shape)}, expected {fmt_shape(expected_shape)}"
        )
        fail(f"{message}: {hint}" if hint else message)


def _relative(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float, tuple]:
    """(largest |actual - expected|, largest |expected|, index of the largest difference)."""
    diff = np.abs(np.asarray(actual, dtype=np.float64) - expected)
    if not np.all(np.isfinite(diff)):
        bad = np.argwhere(~np.isfinite(diff))[0]
        return float("inf"), float(np.abs(expected).max(initial=0.0)), tuple(int(i) for i in bad)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    return (
        float(diff.max(initial=0.0)),
        float(np.abs(expected).max(initial=0.0)),
        tuple(int(i) for i in index),
    )


def _matches(actual, candidate, rtol: float) -> bool:
    candidate = np.asarray(candidate, dtype=np.float64)
    if tuple(np.shape(actual)) != candidate.shape:
        return False
    err, scale, _ = _relative(actual, candidate)
    return err <= rtol * max(scale, 1e-12)


def check_close(
    what: str,
    actual,
    expected: np.ndarray,
    *,
    hint: str = "",
    numeric: Callable[[tuple], float] | None = None,
    diagnoses: Sequence[Diagnosis] = (),
    rtol: float = GRADER_RTOL,
    expected_label: str = "PyTorch",
) -> None:
    """Fail unless ``actual`` equals ``expected`` within ``rtol`` of its largest magnitude.

    Arguments:
        what: names the value in the message ("Mul.backward: dL/da").
        hint: the usual cause, shown when no diagnosis matches.
        numeric: index -> the numerical gradient there (central differences), shown beside
            the expected value at the worst index.
        diagnoses: known wrong answers (label, value); if ``actual`` equals one, the message
            names that bug instead of giving the hint.
    """
    expected = np.asarray(expected, dtype=np.float64)
    check_shape(what, actual, expected.shape, hint="")
    actual = np.asarray(actual)
    if actual.dtype.kind not in "fiub":
        fail(f"{what} has dtype {actual.dtype}, expected numbers")
    err, scale, index = _relative(actual, expected)
    if err <= rtol * max(scale, 1e-12):
        return
    lines = [f"{what} is wrong."]
    where = f"at index {index}" if index else "the value"
    values = f"{expected_label} {_fmt(expected[index])}"
    if numeric is not None:
        values += f", numerical gradient {_fmt(numeric(index))}"
    lines.append(f"  worst {where}: {values}, yours {_fmt(actual[index])}")
    lines.append(
        f"  largest error {err:.1e} (largest expected value {scale:.1e}; tolerance {rtol:g} of it)"
    )
    for label, candidate in diagnoses:
        if _matches(actual, candidate, 1e-6):
            noun = what.split(": ")[-1].removeprefix("the ")
            lines.append(f"Your {noun} equals {label}.")
            break
    else:
        if hint:
            lines.append(f"Usual cause: {hint}")
    fail("\n".join(lines))


def numeric_gradient_at(
    f: Callable[..., np.ndarray],
    arrays: Sequence[np.ndarray],
    i: int,
    gy: np.ndarray,
    eps: float = 1e-6,
) -> Callable[[tuple], float]:
    """index -> d sum(gy * f(*arrays)) / d arrays[i][index], by central differences."""

    def at(index: tuple) -> float:
        values = [np.array(a, dtype=np.float64, copy=True) for a in arrays]
        values[i][index] += eps
        up = float(np.sum(gy * f(*values)))
        values[i][index] -= 2 * eps
        down = float(np.sum(gy * f(*values)))
        return (up - down) / (2 * eps)

    return at


def torch_forward_backward(torch_fn, arrays: Sequence[np.ndarray], gy: np.ndarray | None):
    """Run ``torch_fn`` in float64 on ``arrays``; return (y, [dL/d array for each]) under gy."""
    import torch

    ts = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    y = torch_fn(*ts)
    if gy is None:
        return y.detach().numpy(), []
    y.backward(torch.from_numpy(np.asarray(gy, dtype=np.float64)))
    return y.detach().numpy(), [
        t.grad.numpy() if t.grad is not None else np.zeros(t.shape) for t in ts
    ]


def torch_numpy_fn(torch_fn) -> Callable[..., np.ndarray]:
    """``torch_fn`` on NumPy arrays, returning a NumPy array (for numerical gradients)."""
    import torch

    def f(*arrays):
        with torch.no_grad():
            return torch_fn(
                *(torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in arrays)
            ).numpy()

    return f


def _broadcast_hint(name: str, grad_shape: tuple, input_shape: tuple) -> str:
    try:
        stretched = np.broadcast_shapes(input_shape, grad_shape) == tuple(grad_shape)
    except ValueError:
        stretched = False
    if stretched and tuple(grad_shape) != tuple(input_shape):
        return (
            f"{name} was broadcast in the forward pass, so its gradient must be summed over the "
            f"broadcast axes (sum_to(g, {name}.shape))"
        )
    return f"a gradient always has the shape of its input ({name})"


def check_gradient(op: str, name: str, grad, expected: np.ndarray, **kwargs) -> None:
    """Check one input's gradient: not None, its input's shape (with the broadcasting hint),
    then its values (``check_close``)."""
    what = f"{op}: dL/d{name}"
    if grad is None:
        fail(f"{what} is None, but {name} requires a gradient")
    if hasattr(grad, "shape") and tuple(grad.shape) != tuple(expected.shape):
        fail(
            f"{what} has shape {fmt_shape(grad.shape)} but {name} has shape "
            f"{fmt_shape(expected.shape)}: {_broadcast_hint(name, grad.shape, expected.shape)}."
        )
    check_close(what, grad, expected, **kwargs)


def check_backward(
    op: str,
    function,
    arrays: Sequence[np.ndarray],
    names: Sequence[str],
    torch_fn,
    rng: np.random.Generator,
    *,
    hints: dict[str, str] | None = None,
    diagnoses: Callable[[list, np.ndarray], dict[str, list[Diagnosis]]] | None = None,
    check_forward: bool = True,
    only: Sequence[str] | None = None,
) -> None:
    """Run ``function.forward`` then ``function.backward`` (a learnres ``Function`` on plain
    float64 arrays) and check every input's gradient against ``torch_fn``'s.

    Arguments:
        op: the name in messages ("Mul.backward").
        function: a fresh instance of the student's Function.
        names: one name per input ("a", "b").
        hints: the usual cause of a wrong value, per input name.
        diagnoses: (arrays, gy) -> {input name: [(label, known wrong gradient), ...]}.
        check_forward: check the output against torch's first (a wrong forward fails here).
        only: the names of the inputs whose gradients are checked (default: all).
    """
    hints = hints or {}
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    function.needs_input_grad = (True,) * len(arrays)
    y = function.forward(*(a.copy() for a in arrays))
    expected_y, _ = torch_forward_backward(torch_fn, arrays, None)
    if check_forward:
        check_close(
            f"{op.split('.')[0]}.forward: the output",
            y,
            expected_y,
            hint="this test runs your forward before the backward (backward uses what "
            "forward saved): fix the forward first",
        )
    gy = upstream(rng, np.shape(expected_y))
    grads = function.backward(gy.copy())
    if not isinstance(grads, tuple):
        fail(
            f"{op} returned {type(grads).__name__}, expected a tuple with one gradient per "
            f"input ({', '.join('dL/d' + n for n in names)}): "
            f"return ({', '.join('g' + n for n in names)},)"
        )
    if len(grads) != len(arrays):
        fail(f"{op} returned {len(grads)} gradients for {len(arrays)} inputs ({', '.join(names)})")
    _, expected = torch_forward_backward(torch_fn, arrays, gy)
    known = diagnoses(arrays, gy) if diagnoses else {}
    f = torch_numpy_fn(torch_fn)
    for i, (name, grad) in enumerate(zip(names, grads)):
        if only is not None and name not in only:
            continue
        check_gradient(
            op,
            name,
            grad,
            expected[i],
            hint=hints.get(name, ""),
            numeric=numeric_gradient_at(f, arrays, i, gy),
            diagnoses=known.get(name, ()),
        )


def _describe(pairs) -> str:
    return ", ".join(f"{name} {fmt_shape(shape)}" for name, shape in pairs) or "none"


def check_block(
    what: str,
    student,
    reference,
    x_shape: tuple,
    rng: np.random.Generator,
    *,
    diagnoses: Callable[[object, object], list[Diagnosis]] | None = None,
    hint: str = "",
) -> None:
    """Check a student's block (a learnres Module) against learnres's ``reference`` block of
    the same architecture and its PyTorch twin: parameter names and shapes, then with the
    same random weights (float64, training mode) the output, dL/dx and every parameter's
    gradient under a random upstream gradient.

    Arguments:
        what: names the block in messages ("BasicBlock(8, 16, stride=2, shortcut='A')").
        diagnoses: (torch twin, torch input) -> known wrong outputs [(label, value), ...].
    """
    import torch

    from learnres.autograd.tensor import Tensor
    from learnres.reference.convert import to_torch

    mine = [(n, tuple(p.shape)) for n, p in student.named_parameters()]
    expected = [(n, tuple(p.shape)) for n, p in reference.named_parameters()]
    if mine != expected:
        fail(
            f"{what} has the parameters\n  {_describe(mine)}\nexpected, in this order,\n  "
            f"{_describe(expected)}\n(a parameter's name is the attribute path of its layer; "
            "assign the layers in __init__ in the order forward uses them)"
        )
    buffers = [n for n, _ in student.named_buffers()]
    if buffers != [n for n, _ in reference.named_buffers()]:
        fail(
            f"{what} has the buffers {buffers}, expected "
            f"{[n for n, _ in reference.named_buffers()]}"
        )
    student.double().train()
    for name, p in student.named_parameters():
        base = 1.0 if name.endswith("weight") and p.ndim == 1 else 0.0  # BN's gamma near 1
        p.data[...] = base + (0.3 if p.ndim == 1 else 0.5) * rng.standard_normal(p.shape)
    reference.double().train()
    reference.load_state_dict(student.state_dict())
    twin = to_torch(reference, dtype=np.float64).train()

    x0 = rng.standard_normal(x_shape)
    x = Tensor(x0.copy(), requires_grad=True)
    y = student(x)
    tx = torch.tensor(x0, requires_grad=True)
    ty = twin(tx)
    expected_y = ty.detach().numpy()
    known = diagnoses(twin, torch.tensor(x0)) if diagnoses else []
    check_close(
        f"{what}: the output",
        y.data if hasattr(y, "data") else y,
        expected_y,
        hint=hint,
        diagnoses=[(label, value) for label, value in known],
    )
    gy = upstream(rng, expected_y.shape)
    y.backward(gy.copy())
    ty.backward(torch.from_numpy(gy))
    check_close(
        f"{what}: dL/dx",
        x.grad,
        tx.grad.numpy(),
        hint="the gradient flows back along both paths, F(x) and the shortcut",
    )
    torch_params = dict(twin.named_parameters())
    for name, p in student.named_parameters():
        if p.grad is None:
            fail(f"{what}: parameter {name} got no gradient: does forward use it?")
        check_close(f"{what}: dL/d{name}", p.grad, torch_params[name].grad.numpy())
