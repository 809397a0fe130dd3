"""Engine figures: per-op Python overhead against torch, the backward of a long chain, and
the table of every primitive op's error against torch in float64 and float32.

    learnres bench --suite engine
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from learnres import functions as F
from learnres.autograd import Tensor

__all__ = ["op_overhead", "chain_backward_time", "op_error_table", "print_engine_report"]

OPS_PER_STEP = 5  # mul, add, relu, mul, sum in _tiny_step


def _tiny_step(x, w, relu):
    return (relu(x * w + 1.0) * w).sum()  # 5 ops on 4 numbers: pure overhead


def op_overhead(repeats: int = 7, iterations: int = 2000) -> dict[str, float]:
    """Microseconds per op of a tiny forward+backward, learnres and torch alternating.

    Returns the medians over ``repeats`` rounds and their ratio.
    """
    import torch

    x = Tensor(np.ones(4, dtype=np.float32))
    w = Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    tx, tw = torch.ones(4), torch.ones(4, requires_grad=True)

    def ours():
        _tiny_step(x, w, F.relu).backward()

    def theirs():
        _tiny_step(tx, tw, torch.relu).backward()

    times = {"learnres": [], "torch": []}
    for _ in range(repeats):
        for name, step in (("torch", theirs), ("learnres", ours)):
            start = time.perf_counter()
            for _ in range(iterations):
                step()
            times[name].append((time.perf_counter() - start) / (iterations * OPS_PER_STEP) * 1e6)
    med = {k: statistics.median(v) for k, v in times.items()}
    med["ratio"] = med["learnres"] / med["torch"]
    return med


def chain_backward_time(n: int = 30_000, repeats: int = 3) -> dict[str, float]:
    """Seconds to build and to backpropagate a chain of ``n`` multiplications (medians)."""
    build, back = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        x = Tensor(np.ones(4), requires_grad=True)
        y = x
        for _ in range(n):
            y = y * 1.0
        middle = time.perf_counter()
        y.backward(np.ones(4))
        back.append(time.perf_counter() - middle)
        build.append(middle - start)
    return {"ops": n, "forward_s": statistics.median(build), "backward_s": statistics.median(back)}


def op_error_table(seed: int = 0) -> list[tuple[str, float, float]]:
    """(op, worst relative error vs torch in float64, in float32) over value and gradients."""
    import torch

    from learnres.testing import compare_with_torch

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((4, 5))
    b = rng.standard_normal((5,))  # broadcast against a
    pos = rng.random((4, 5)) + 0.5  # for the ops that need x > 0
    labels = rng.integers(0, 5, size=4)
    nnf = torch.nn.functional
    cases = {
        "add": (F.add, torch.add, [a, b]),
        "sub": (F.sub, torch.sub, [a, b]),
        "mul": (F.mul, torch.mul, [a, b]),
        "div": (F.div, torch.div, [a, pos]),
        "neg": (F.neg, torch.neg, [a]),
        "pow": (lambda x: x**3, lambda x: x**3, [a]),
        "exp": (F.exp, torch.exp, [a]),
        "log": (F.log, torch.log, [pos]),
        "sqrt": (F.sqrt, torch.sqrt, [pos]),
        "matmul": (
            F.matmul,
            torch.matmul,
            [rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 6))],
        ),
        "sum": (lambda x: F.sum(x, 1, True), lambda x: x.sum(1, keepdim=True), [a]),
        "mean": (lambda x: F.mean(x, 0), lambda x: x.mean(0), [a]),
        "max": (lambda x: F.max(x, 1), lambda x: x.amax(1), [a]),
        "reshape": (lambda x: F.reshape(x, (5, 4)), lambda x: x.reshape(5, 4), [a]),
        "transpose": (lambda x: F.transpose(x, (1, 0)), lambda x: x.T, [a]),
        "broadcast_to": (lambda x: F.broadcast_to(x, (3, 5)), lambda x: x.expand(3, 5), [b]),
        "pad": (lambda x: F.pad(x, ((1, 0), (2, 1))), lambda x: nnf.pad(x, (2, 1, 1, 0)), [a]),
        "getitem": (lambda x: x[1:, ::2], lambda x: x[1:, ::2], [a]),
        "concatenate": (
            lambda x, y: F.concatenate([x, y], 0),
            lambda x, y: torch.cat([x, y]),
            [a, a],
        ),
        "relu": (F.relu, torch.relu, [a]),
        "sigmoid": (F.sigmoid, torch.sigmoid, [a]),
        "tanh": (F.tanh, torch.tanh, [a]),
        "softmax": (F.softmax, lambda x: torch.softmax(x, -1), [a]),
        "log_softmax": (F.log_softmax, lambda x: torch.log_softmax(x, -1), [a]),
        "cross_entropy": (F.cross_entropy, nnf.cross_entropy, [a * 3, labels]),
    }
    rows = []
    for name, (fn, torch_fn, inputs) in cases.items():
        errs = [
            compare_with_torch(fn, torch_fn, inputs, dtype=dt, name=name).assert_ok().worst
            for dt in (np.float64, np.float32)
        ]
        rows.append((name, *errs))
    return rows


def print_engine_report() -> None:
    print("Primitive ops vs torch (worst relative error over the value and every gradient)")
    print(f"{'op':<14} {'float64':>10} {'float32':>10}")
    for name, e64, e32 in op_error_table():
        print(f"{name:<14} {e64:>10.1e} {e32:>10.1e}")
    chain = chain_backward_time()
    print(
        f"\nchain of {chain['ops']:,} multiplications: forward {chain['forward_s']:.3f} s, "
        f"backward {chain['backward_s']:.3f} s (median of 3)"
    )
    o = op_overhead()
    print(
        f"per-op overhead of a tiny forward+backward: learnres {o['learnres']:.1f} us, "
        f"torch {o['torch']:.1f} us, ratio {o['ratio']:.2f} (medians, alternating)"
    )
