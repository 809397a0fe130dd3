"""Checks for the graders in ``exercises/``, failing with messages that teach.

A grader calls a student's code, then one of these checks, which compare the result with
PyTorch (float64) and, for gradients, with central differences at the worst index. A failure
says *which* value is wrong, where, what was expected and what came, and the usual cause, or,
when the value equals a known wrong answer (a *diagnosis*), names that mistake:

    Mul.backward: dL/db has shape (3, 4) but b has shape (4,): b was broadcast in the forward
    pass, so its gradient must be summed over the broadcast axes (sum_to(g, b.shape)).

    _grads_transposed (x (2, 3, 6, 5), w (4, 3, 3, 3), stride (1, 1), padding (1, 1)):
    dL/dx is wrong.
      worst at index (0, 1, 4, 3): PyTorch 10.3374, numerical gradient 10.3374, yours -14.197
      largest error 2.5e+01 (largest expected value 1.8e+01; tolerance 1e-08 of it)
    Your dL/dx equals the transposed convolution with the kernel NOT flipped: flip both
    spatial axes, w[:, :, ::-1, ::-1].

Failures use ``pytest.fail(..., pytrace=False)``: the student sees the message, not the
grader's traceback. Errors raised inside the student's code keep their traceback.

Graders call the student's code through ``exercise.run(runner, ...)`` and compute expected
values with ``exercise.expect(...)`` (``learnres.grading.harness``): ``grade_backward`` and
``grade_block`` below do both for a Function's backward and for a whole block, and the
``run_*`` functions are their runners (they execute beside the student's code, possibly in
another process, and return plain data). PyTorch is imported only inside the functions that
compute expected values, so a grading process that replays recorded values needs none.
``check_backward`` and ``check_block`` are the older in-process versions (a grader that calls
the student's objects directly), kept for graders not yet written with ``exercise.run``.

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
    "block_forward",
    "block_gradients",
    "block_structure",
    "check_backward",
    "check_block",
    "check_close",
    "check_gradient",
    "check_shape",
    "fail",
    "fmt_shape",
    "grade_backward",
    "grade_block",
    "numeric_gradient",
    "numeric_gradient_at",
    "rand",
    "run_block",
    "run_function_backward",
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
    numeric: Callable[[tuple], float] | np.ndarray | None = None,
    diagnoses: Sequence[Diagnosis] = (),
    rtol: float = GRADER_RTOL,
    expected_label: str = "PyTorch",
) -> None:
    """Fail unless ``actual`` equals ``expected`` within ``rtol`` of its largest magnitude.

    Arguments:
        what: names the value in the message ("Mul.backward: dL/da").
        hint: the usual cause, shown when no diagnosis matches.
        numeric: the numerical gradient (central differences; an array like ``expected``, or
            a function of the index), shown beside the expected value at the worst index.
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
        at = numeric(index) if callable(numeric) else np.asarray(numeric)[index]
        values += f", numerical gradient {_fmt(at)}"
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


# ---- graders that run the student's code through exercise.run ---------------------------------


def describe(value) -> str:
    """What came back, for a message: ``array of shape (3, 4)``, ``tuple of 2``, ``Tensor``."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {fmt_shape(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    type_name = getattr(value, "type_name", None) or type(value).__name__
    return f"{type_name} {value!r:.60}" if type_name in ("int", "float", "str") else type_name


def numeric_gradient(f, arrays: Sequence[np.ndarray], i: int, gy: np.ndarray, eps: float = 1e-6):
    """d sum(gy * f(*arrays)) / d arrays[i], every entry, by central differences (float64)."""
    at = numeric_gradient_at(f, arrays, i, gy, eps)
    out = np.zeros(np.shape(arrays[i]))
    for index in np.ndindex(out.shape):
        out[index] = at(index)
    return out


def run_function_backward(module, cls_name: str, ctor_args: tuple, arrays: list, gy):
    """Runner: ``forward`` then ``backward(gy)`` of the student's Function ``cls_name`` on
    copies of ``arrays``; returns {"y": ..., "grads": ...} (what backward returned)."""
    f = getattr(module, cls_name)(*(_copy(a) for a in ctor_args))
    f.needs_input_grad = (True,) * len(arrays)
    y = f.forward(*(np.array(a, dtype=np.float64) for a in arrays))
    out = {"y": y}
    out["grads"] = f.backward(np.array(gy, dtype=np.float64))
    return out


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _torch_values(torch_fn, arrays, gy=None, numeric_for=()):
    """(y, grads, numeric gradients of the inputs in ``numeric_for``) from torch, float64."""
    y, grads = torch_forward_backward(torch_fn, arrays, gy)
    if gy is None:
        return y
    f = torch_numpy_fn(torch_fn)
    numeric = {str(i): numeric_gradient(f, arrays, i, gy) for i in numeric_for}
    return {"grads": grads, "numeric": numeric}


def grade_backward(
    exercise,
    op: str,
    cls_name: str,
    ctor_args: tuple,
    arrays: Sequence[np.ndarray],
    names: Sequence[str],
    torch_fn,
    rng: np.random.Generator,
    *,
    hints: dict[str, str] | None = None,
    diagnoses: Callable[[list, np.ndarray], dict[str, list[Diagnosis]]] | None = None,
    check_forward: bool = True,
    only: Sequence[str] | None = None,
    given: tuple[str, ...] = (),
) -> None:
    """Run the student's Function ``cls_name(*ctor_args)``: forward on ``arrays``, backward
    with a random upstream gradient; check the output and each input's gradient against
    ``torch_fn``'s (float64), with the numerical gradient at the worst index.

    Arguments:
        op: the name in messages ("Mul.backward").
        names: one name per input ("a", "b").
        hints: the usual cause of a wrong value, per input name.
        diagnoses: (arrays, gy) -> {input name: [(label, known wrong gradient), ...]}
            (computed with the expected values, never from the student's answer).
        check_forward: check the output against torch's first (a wrong forward fails here).
        only: the names of the inputs whose gradients are checked (default: all).
        given: parts the test supplies from learnres (see ``Exercise.run``).
    """
    hints = hints or {}
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    checked = [i for i, n in enumerate(names) if only is None or n in only]
    expected_y = exercise.expect(lambda a: _torch_values(torch_fn, a), arrays)
    gy = upstream(rng, np.shape(expected_y))
    got = exercise.run(run_function_backward, cls_name, tuple(ctor_args), arrays, gy, given=given)
    if check_forward:
        check_close(
            f"{op.split('.')[0]}.forward: the output",
            got["y"],
            expected_y,
            hint="this test runs your forward before the backward (backward uses what "
            "forward saved): fix the forward first",
        )
    grads = got["grads"]
    if not isinstance(grads, tuple):
        fail(
            f"{op} returned {describe(grads)}, expected a tuple with one gradient per "
            f"input ({', '.join('dL/d' + n for n in names)}): "
            f"return ({', '.join('g' + n for n in names)},)"
        )
    if len(grads) != len(arrays):
        fail(f"{op} returned {len(grads)} gradients for {len(arrays)} inputs ({', '.join(names)})")
    expected = exercise.expect(
        lambda a, g: {
            **_torch_values(torch_fn, a, g, checked),
            "diagnoses": diagnoses(a, g) if diagnoses else {},
        },
        arrays,
        gy,
    )
    for i, (name, grad) in enumerate(zip(names, grads)):
        if i not in checked:
            continue
        check_gradient(
            op,
            name,
            grad,
            expected["grads"][i],
            hint=hints.get(name, ""),
            numeric=expected["numeric"][str(i)],
            diagnoses=[tuple(d) for d in expected["diagnoses"].get(name, ())],
        )


# ---- blocks ------------------------------------------------------------------------------------


def _reference_block(module_name: str, cls_name: str, args: tuple, kwargs: dict):
    import importlib

    return getattr(importlib.import_module(module_name), cls_name)(*args, **kwargs)


def block_structure(module_name: str, cls_name: str, args: tuple, kwargs: dict) -> dict:
    """Expected value: learnres's block's parameters [(name, shape)] and buffer names."""
    block = _reference_block(module_name, cls_name, args, kwargs)
    return {
        "params": [(n, tuple(p.shape)) for n, p in block.named_parameters()],
        "buffers": [n for n, _ in block.named_buffers()],
    }


def block_weights(rng: np.random.Generator, params) -> dict:
    """Random float64 weights for parameters [(name, shape)] (BN's gamma near 1)."""
    weights = {}
    for name, shape in params:
        base = 1.0 if name.endswith("weight") and len(shape) == 1 else 0.0
        weights[name] = base + (0.3 if len(shape) == 1 else 0.5) * rng.standard_normal(shape)
    return weights


def _twin(module_name, cls_name, args, kwargs, weights):
    """learnres's block with ``weights`` (float64, training mode) and its PyTorch twin."""
    from learnres.reference.convert import to_torch

    block = _reference_block(module_name, cls_name, args, kwargs).double().train()
    for name, p in block.named_parameters():
        p.data[...] = weights[name]
    return to_torch(block, dtype=np.float64).train()


def block_forward(module_name, cls_name, args, kwargs, weights, x, diagnoses=None) -> dict:
    """Expected value: the twin's output on ``x`` and the known wrong outputs."""
    import torch

    twin = _twin(module_name, cls_name, args, kwargs, weights)
    y = twin(torch.tensor(x)).detach().numpy()
    known = diagnoses(twin, torch.tensor(x)) if diagnoses else []
    return {"y": y, "diagnoses": [(label, np.asarray(v)) for label, v in known]}


def block_gradients(module_name, cls_name, args, kwargs, weights, x, gy) -> dict:
    """Expected value: dL/dx and every parameter's gradient under ``gy``."""
    import torch

    twin = _twin(module_name, cls_name, args, kwargs, weights)
    tx = torch.tensor(x, requires_grad=True)
    twin(tx).backward(torch.from_numpy(gy))
    return {
        "x": tx.grad.numpy(),
        "params": {n: p.grad.numpy() for n, p in twin.named_parameters()},
    }


def run_block(module, cls_name: str, args: tuple, kwargs: dict, weights: dict, x, gy) -> dict:
    """Runner: build the student's block; if its parameters are the expected ones, load
    ``weights`` (float64, training mode), run forward on ``x`` and backward with ``gy``."""
    from learnres.autograd.tensor import Tensor

    block = getattr(module, cls_name)(*args, **kwargs)
    out = {
        "params": [(n, tuple(p.shape)) for n, p in block.named_parameters()],
        "buffers": [n for n, _ in block.named_buffers()],
    }
    if [n for n, _ in out["params"]] != list(weights) or any(
        tuple(np.shape(weights[n])) != s for n, s in out["params"]
    ):
        return out
    block.double().train()
    for name, p in block.named_parameters():
        p.data[...] = weights[name]
    tx = Tensor(np.array(x), requires_grad=True)
    y = block(tx)
    out["y"] = y.data if isinstance(y, Tensor) else y
    if not isinstance(y, Tensor):
        return out
    y.backward(np.array(gy))
    out["x_grad"] = tx.grad
    out["grads"] = {n: p.grad for n, p in block.named_parameters()}
    return out


def grade_block(
    exercise,
    what: str,
    cls_name: str,
    args: tuple,
    kwargs: dict,
    x_shape: tuple,
    rng: np.random.Generator,
    *,
    reference_module: str = "learnres.nn.blocks",
    diagnoses: Callable[[object, object], list[Diagnosis]] | None = None,
    hint: str = "",
    given: tuple[str, ...] = (),
) -> None:
    """Check the student's block ``cls_name(*args, **kwargs)`` against learnres's block of the
    same architecture and its PyTorch twin: parameter names and shapes, then with the same
    random weights (float64, training mode) the output, dL/dx and every parameter's gradient
    under a random upstream gradient.

    Arguments:
        what: names the block in messages ("BasicBlock(8, 16, stride=2, shortcut='A')").
        diagnoses: (torch twin, torch input) -> known wrong outputs [(label, value), ...].
    """
    ref = (reference_module, cls_name, tuple(args), dict(kwargs))
    structure = exercise.expect(block_structure, *ref)
    weights = block_weights(rng, structure["params"])
    x = rng.standard_normal(x_shape)
    expected = exercise.expect(lambda *a: block_forward(*a, diagnoses=diagnoses), *ref, weights, x)
    gy = upstream(rng, np.shape(expected["y"]))
    got = exercise.run(run_block, cls_name, tuple(args), dict(kwargs), weights, x, gy, given=given)
    mine = [(n, tuple(s)) for n, s in got["params"]]
    wanted = [(n, tuple(s)) for n, s in structure["params"]]
    if mine != wanted:
        fail(
            f"{what} has the parameters\n  {_describe(mine)}\nexpected, in this order,\n  "
            f"{_describe(wanted)}\n(a parameter's name is the attribute path of its layer; "
            "assign the layers in __init__ in the order forward uses them)"
        )
    if list(got["buffers"]) != list(structure["buffers"]):
        fail(f"{what} has the buffers {got['buffers']}, expected {structure['buffers']}")
    if not isinstance(got.get("y"), np.ndarray):
        fail(f"{what}: forward returned {describe(got.get('y'))}, expected a Tensor")
    check_close(
        f"{what}: the output",
        got["y"],
        expected["y"],
        hint=hint,
        diagnoses=[(label, value) for label, value in expected["diagnoses"]],
    )
    grads = exercise.expect(block_gradients, *ref, weights, x, gy)
    check_close(
        f"{what}: dL/dx",
        got["x_grad"],
        grads["x"],
        hint="the gradient flows back along both paths, F(x) and the shortcut",
    )
    for name, _ in wanted:
        grad = got["grads"].get(name)
        if grad is None:
            fail(f"{what}: parameter {name} got no gradient: does forward use it?")
        check_close(f"{what}: dL/d{name}", grad, grads["params"][name])
