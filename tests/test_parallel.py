"""learnres.parallel: the scheduled ops give the plain ops' values and gradients.

The plain ops (learnres.functions) are checked against torch in tests/functions; here each
schedule (chunks of images, groups of channels, 1 to 3 threads) is checked against the
plain op it runs, on batches that split into several pieces, the last one short.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest

from learnres import Tensor, parallel
from learnres import functions as F
from learnres.autograd import OpError
from learnres.functions.batchnorm import BatchNorm, _batch_norm_op
from learnres.functions.conv import Conv2d

CHUNK = 8  # images in a batch's first pieces; the batches below have 1 to 3 * CHUNK + 3

FUNCTIONS = Path(__file__).resolve().parents[1] / "learnres" / "functions"


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"{n}threads")
def threads(request, monkeypatch):
    """1 to 3 threads, and pieces of at most CHUNK images (the tests' images are small)."""
    monkeypatch.setattr(parallel, "_images", lambda *args: CHUNK)
    before = parallel.get_num_threads()
    parallel.set_num_threads(request.param)
    yield request.param
    parallel.set_num_threads(before)


def _run(fn, arrays, seed=1):
    """fn's output and the gradients of all its inputs for a random upstream gradient."""
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    y = fn(*xs)
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    y.backward(g)
    return [y.data] + [t.grad for t in xs]


def _assert_same(scheduled, plain, what):
    for a, b, name in zip(scheduled, plain, what):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)


# ---- convolution: chunks of images --------------------------------------------------------


@pytest.mark.parametrize("N", [2 * CHUNK + 3, CHUNK, 1])  # several pieces (the last short), one
@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 1), (1, 0)])
def test_conv2d_agrees_with_the_plain_op(N, stride, padding, threads):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((N, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.random(4)
    scheduled = _run(lambda x, w, b: parallel.conv2d(x, w, b, stride, padding), [x, w, b])
    plain = _run(lambda x, w, b: F.conv2d(x, w, b, stride, padding), [x, w, b])
    _assert_same(scheduled, plain, ["y", "dx", "dw", "db"])


def test_pieces_are_shallow_copies_of_the_plain_function():
    plain = Conv2d(stride=2, padding=1)
    piece = parallel._copy(plain)
    assert type(piece) is Conv2d and piece is not plain
    assert piece.__dict__ == plain.__dict__
    piece.x = np.ones(3)  # what a piece keeps for its backward is its own
    assert not hasattr(plain, "x")


def test_threads_do_not_change_results(monkeypatch):
    monkeypatch.setattr(parallel, "_images", lambda *args: CHUNK)
    x, w = (
        np.random.default_rng(2).standard_normal(s).astype(np.float32)
        for s in [(5 * CHUNK, 3, 8, 8), (4, 3, 3, 3)]
    )
    before, results = parallel.get_num_threads(), []
    try:
        for n in (1, 3):
            parallel.set_num_threads(n)
            results.append(_run(lambda x, w: parallel.conv2d(x, w, padding=1), [x, w]))
    finally:
        parallel.set_num_threads(before)
    for a, b in zip(*results):  # same pieces, same math, same order of the sums: equal bits
        np.testing.assert_array_equal(a, b)


def test_input_gradient_skipped_when_not_needed(threads):
    rng = np.random.default_rng(3)
    x, w = (
        Tensor(rng.standard_normal((3 * CHUNK, 2, 5, 5))),
        Tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True),
    )
    parallel.conv2d(x, w, padding=1).backward(rng.standard_normal((3 * CHUNK, 3, 5, 5)))
    assert x.grad is None and w.grad.shape == (3, 2, 3, 3)


# ---- batch norm: groups of channels ----------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 7, 3, 3), (10, 5), (4, 1, 2, 2)], ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_agrees_with_the_plain_op(shape, training, threads):
    rng = np.random.default_rng(4)
    C = shape[1]
    x, gamma, beta = 2 * rng.standard_normal(shape) + 1, rng.random(C) + 0.5, rng.random(C)
    mean, var = rng.standard_normal(C), rng.random(C) + 0.5
    stats = {"sched": (mean.copy(), var.copy()), "plain": (mean.copy(), var.copy())}
    scheduled = _run(
        lambda x, g, b: parallel.batch_norm(x, *stats["sched"], g, b, training=training),
        [x, gamma, beta],
    )
    plain = _run(
        lambda x, g, b: F.batch_norm(x, *stats["plain"], g, b, training=training),
        [x, gamma, beta],
    )
    _assert_same(scheduled, plain, ["y", "dx", "dgamma", "dbeta"])
    for a, b in zip(stats["sched"], stats["plain"]):  # updated in place alike (or left alone)
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_batch_norm_without_affine_or_running_statistics(threads):
    x = np.random.default_rng(5).standard_normal((4, 6, 2, 3))
    scheduled = _run(lambda x: parallel.batch_norm(x, None, None, training=True), [x])
    plain = _run(lambda x: F.batch_norm(x, None, None, training=True), [x])
    _assert_same(scheduled, plain, ["y", "dx"])


# ---- pools: chunks of images -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pools_agree_with_the_plain_ops(name, threads):
    x = np.random.default_rng(6).permutation(2 * CHUNK * 2 * 7 * 7).reshape(2 * CHUNK, 2, 7, 7)
    scheduled = _run(lambda x: getattr(parallel, name)(x, 3, 2, 1), [x / 10.0])
    plain = _run(lambda x: getattr(F, name)(x, 3, 2, 1), [x / 10.0])
    _assert_same(scheduled, plain, ["y", "dx"])


# ---- edges: empty batches, bad input, forks -------------------------------------------------


def test_an_empty_batch_gives_empty_outputs(threads):
    x = np.zeros((0, 4, 6, 6))
    assert parallel.conv2d(x, np.ones((2, 4, 3, 3)), padding=1).shape == (0, 2, 6, 6)
    y = parallel.batch_norm(x, np.zeros(4), np.ones(4), training=False)
    assert y.shape == (0, 4, 6, 6)
    assert parallel.max_pool2d(x, 2).shape == parallel.avg_pool2d(x, 2).shape == (0, 4, 3, 3)


def test_bad_input_is_explained_with_the_whole_shape(threads):
    # the checks see the whole input, not a piece of it
    x = np.zeros((3 * CHUNK, 16, 4, 4))
    with pytest.raises(
        OpError, match=r"conv2d got input with 16 channels \(shape \(24, 16, 4, 4\)\); expected 3"
    ):
        parallel.conv2d(x, np.zeros((4, 3, 3, 3)))
    with pytest.raises(
        OpError, match=r"conv2d expects input of shape \(N, C, H, W\), got shape \(24, 4, 4\)"
    ):
        parallel.conv2d(x[:, 0], np.zeros((4, 3, 3, 3)))
    with pytest.raises(
        OpError,
        match=r"got input with 16 channels \(shape \(24, 16, 4, 4\)\); expected 10 channels "
        r"\(running_mean shape \(10,\)\)",
    ):
        parallel.batch_norm(x, np.zeros(10), np.ones(16), training=True)
    with pytest.raises(
        OpError, match=r"max_pool2d got input of size 4x4 \(shape \(24, 16, 4, 4\)\)"
    ):
        parallel.max_pool2d(x, 5)
    with pytest.raises(OpError, match=r"conv2d: stride must be an int >= 1 .* got 1.5"):
        parallel.conv2d(x, np.zeros((4, 16, 3, 3)), stride=1.5)
    with pytest.raises(OpError, match=r"max_pool2d: padding \(2, 2\) must be at most half"):
        parallel.max_pool2d(x, 3, 1, 2)
    with pytest.raises(ValueError, match=r"set_num_threads: expected an int n >= 1, got 0"):
        parallel.set_num_threads(0)


SCHEDULED = {  # a call of each scheduled op that refuses x of shape (N, C) (for batch norm:
    # when told it takes (N, C, H, W) only, as BatchNorm2d does)
    "conv2d": lambda x, **kw: parallel.conv2d(x, np.zeros((4, 3, 3, 3)), **kw),
    "batch_norm": lambda x, **kw: parallel.batch_norm(x, None, None, ndims=(4,), **kw),
    "max_pool2d": lambda x, **kw: parallel.max_pool2d(x, 2, **kw),
    "avg_pool2d": lambda x, **kw: parallel.avg_pool2d(x, 2, **kw),
}


@pytest.mark.parametrize("name", SCHEDULED)
def test_errors_name_the_layer_that_called_or_else_the_op(name, threads):
    x = np.zeros((3 * CHUNK, 16))
    with pytest.raises(OpError, match=rf"^{name} expects input of shape \(N, C, H, W\), got"):
        SCHEDULED[name](x)
    with pytest.raises(OpError, match=r"^Layer\(16\) expects input of shape \(N, C, H, W\), got"):
        SCHEDULED[name](x, layer="Layer(16)")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_thread_pool_works_in_a_forked_child(monkeypatch):
    # a data loader may fork after a convolution started the pool; the child needs a new one
    import multiprocessing

    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((5 * CHUNK, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    monkeypatch.setattr(parallel, "_images", lambda *args: CHUNK)
    before = parallel.get_num_threads()
    parallel.set_num_threads(2)
    try:
        expected = parallel.conv2d(x, w).data
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=lambda: queue.put(parallel.conv2d(x, w).data))
        child.start()
        result = queue.get(timeout=60)
        child.join(timeout=60)
    finally:
        parallel.set_num_threads(before)
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("n_tasks", [2, 7, 30])
def test_each_thread_takes_one_run_of_consecutive_tasks(n_threads, n_tasks):
    # the calling thread takes the first run, each worker one of the others; results in order
    import threading

    ran = []  # (task, thread name), appended as the tasks run

    def task(k):
        ran.append((k, threading.current_thread().name))
        return k * k

    before = parallel.get_num_threads()
    parallel.set_num_threads(n_threads)
    try:
        results = parallel.run_in_threads([lambda k=k: task(k) for k in range(n_tasks)])
    finally:
        parallel.set_num_threads(before)
    assert results == [k * k for k in range(n_tasks)]
    assert sorted(k for k, _ in ran) == list(range(n_tasks))  # each task once
    thread_of = dict(ran)
    runs = [[k for k in range(n_tasks) if thread_of[k] == name] for name in set(thread_of.values())]
    assert 2 <= len(runs) <= n_threads  # the caller and a worker (one may take two runs)
    assert all(run == list(range(run[0], run[-1] + 1)) for run in runs)  # consecutive
    assert thread_of[0] == threading.current_thread().name


def test_a_failing_task_is_raised_once_the_other_threads_are_done():
    # no task of a failed call may still run (and write into its output) after the raise
    import time

    done = []

    def slow(k):
        time.sleep(0.05)
        done.append(k)

    def fail():
        raise ValueError("task 0 failed")

    before = parallel.get_num_threads()
    parallel.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="task 0 failed"):
            parallel.run_in_threads([fail, lambda: None] + [lambda k=k: slow(k) for k in range(4)])
        assert sorted(done) == [1, 2, 3]  # the worker's run (tasks 3 to 5) finished first
    finally:
        parallel.set_num_threads(before)


# ---- the split itself: the math files hold no schedule ----------------------------------------


SCHEDULING = {
    "threading",
    "concurrent",
    "multiprocessing",
    "threadpoolctl",
    "ctypes",
    "learnres.memory",
    "learnres.parallel",
}


@pytest.mark.parametrize("path", sorted(FUNCTIONS.glob("*.py")), ids=lambda p: p.name)
def test_functions_import_no_threads_and_no_allocator(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    found = {m for m in imported if m in SCHEDULING or m.split(".")[0] in SCHEDULING}
    assert not found, f"{path.name} imports {sorted(found)}: scheduling belongs in parallel.py"


@pytest.mark.parametrize("name", ["ex2_conv.py", "ex3_batchnorm.py"])
def test_the_exercises_teach_the_plain_path_and_import_no_private_names(name):
    tree = ast.parse((FUNCTIONS.parents[1] / "exercises" / name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{name} imports {private} from {node.module}"
            assert node.module.split(".")[0] not in SCHEDULING and node.module not in SCHEDULING, (
                f"{name} imports {node.module}: the exercise is the plain op"
            )
        elif isinstance(node, ast.Import):
            found = {a.name for a in node.names} & SCHEDULING
            assert not found, f"{name} imports {sorted(found)}"


@pytest.mark.parametrize(
    "shape, kernel, stride, padding, images",
    [
        ((128, 16, 32, 32), (3, 3), (1, 1), (1, 1), 2),  # ResNet stage 1: 576 KiB an image
        ((128, 32, 16, 16), (3, 3), (1, 1), (1, 1), 5),  # stage 2: 288 KiB
        ((128, 64, 8, 8), (3, 3), (1, 1), (1, 1), 10),  # stage 3: 144 KiB
        ((128, 16, 32, 32), (3, 3), (2, 2), (1, 1), 10),  # stride 2: a quarter of the windows
    ],
)
def test_a_piece_holds_the_images_whose_columns_fit_the_cache(
    shape, kernel, stride, padding, images
):
    x = np.zeros(shape, np.float32)
    assert parallel._images(x, kernel, stride, padding) == images
    per_image = shape[1] * 9 * ((shape[2] + 2 - 3) // stride[0] + 1) ** 2 * 4
    assert images * per_image <= parallel.CACHE_BYTES < (images + 1) * per_image


def test_the_layers_run_the_scheduled_ops():
    from learnres import nn

    conv, bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
    y = bn(conv(Tensor(np.zeros((2 * CHUNK, 3, 5, 5), np.float32), requires_grad=True)))
    assert isinstance(y.creator, parallel.Chunked) and y.creator.name == "batchnorm"
    assert isinstance(y.creator.inputs[0].creator, parallel.Chunked)


# ---- batch norm over processes ------------------------------------------------------------


class _OneProcess:
    """A process group of one (``learnres.data_parallel``'s has k): the sum is the part."""

    def all_reduce(self, part):
        return np.array(part, dtype=np.float64)


@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (7, 3)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("piece_bytes", [1, 2**30], ids=["pieces-of-1-image", "one-piece"])
def test_sync_batch_norm_in_one_process_is_batch_norm(shape, affine, piece_bytes, monkeypatch):
    """Batch norm over processes (learnres.data_parallel; its tests run it on 2 and 3). With
    one process the sums over processes are this process's: the plain op to rounding (the
    same formulas, summed piece by piece): values, gradients (random upstream) and running
    statistics."""
    monkeypatch.setattr(parallel.SyncBatchNorm, "PIECE_BYTES", piece_bytes)
    rng = np.random.default_rng(0)
    x, C = rng.standard_normal(shape), shape[1]
    gamma, beta = (rng.random(C) + 0.5, rng.standard_normal(C)) if affine else (None, None)
    results = []
    for sync in (False, True):
        running = np.zeros(C), np.ones(C)
        plain, params = _batch_norm_op(*running, gamma, beta, True, 0.1, 1e-5)
        f = parallel.SyncBatchNorm(plain, _OneProcess()) if sync else plain
        inputs = [Tensor(a.copy(), requires_grad=True) for a in (x, *params)]
        y = f(*inputs)
        y.backward(np.random.default_rng(1).standard_normal(shape))
        results.append([y.data] + [t.grad for t in inputs] + list(running))
    assert isinstance(plain, BatchNorm)
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13)
