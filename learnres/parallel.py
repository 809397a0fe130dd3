"""How the heavy ops are spread over cores and cache: the schedule, kept apart from the math.

``learnres.functions`` writes each op once, as plain vectorised math over the whole batch.
This module runs those same Functions on pieces of the work and puts the pieces together;
it never rewrites the math:

* ``conv2d``, ``max_pool2d``, ``avg_pool2d``: the plain op on chunks of a few images.
  Images are independent, so the output is the chunks' outputs stacked, and a weight's
  gradient is the sum of the chunks' (dL/dw = sum over images). A chunk holds as many
  images as keep its im2col columns within ``CACHE_BYTES`` (1.5 MiB: 2 to 10 images of a
  CIFAR ResNet), so they stay in the core's cache between the copy that makes them and
  the matrix product that reads them: faster, even on one thread, than the whole batch.
  Measured on a 2-core Xeon (2 MiB of L2 a core), a ResNet-20 step: one thread, 768 KiB
  and 1.5 MiB tie (720 and 726 ms), 3 MiB is slower (794); two threads, 1.5 MiB (503 ms)
  beats 768 KiB (549): fewer, larger pieces are fewer calls into NumPy, each of which
  takes Python's interpreter lock.
* ``batch_norm``: the plain op on groups of channels, one group per thread. Each channel's
  statistics are its own, so a group normalises exactly as the whole would; gamma, beta and
  the running statistics are split with it.

The pieces run in threads (NumPy releases the GIL in copies, reductions and matrix
products): with n threads, the calling thread and n - 1 workers each take one run of
consecutive pieces. (Handing the workers one piece at a time cost a thread wake-up per
piece, and the caller sat idle: a ResNet-20 step on two threads took 694 ms that way,
542 ms this way.) What a piece does while holding the lock costs more than its own time:
a thread whose copy or matrix product ends while the other holds the lock goes to sleep
until it is free (~1,500 such waits a ResNet-20 step). So a piece's Python is kept short:
its Function is copied without ``copy.copy`` and im2col's view is made in C
(``learnres.backend.as_strided``), 4 us less a piece and 3-4% less a two-thread step.
BLAS is pinned to one thread per worker while they run (threadpoolctl), so the two levels
of threading don't fight; a forked child (a data loader's worker) starts a pool of its own.
The first run on the CPU also asks the C allocator to keep freed memory for the next step
(``learnres.memory``). On CuPy there are no pieces: the GPU parallelises
inside each kernel, so the plain op runs on the whole batch.

Processes do not share the lock: ``learnres.data_parallel`` splits a whole training step
over processes, each running these schedules on its shard with one thread (1.2-1.3x
faster than two threads on two cores). Inside its step, ``process_group`` makes
``batch_norm`` take the statistics of the whole batch (``SyncBatchNorm``).

The layers (``learnres.nn``) call these; ``learnres.functions`` has the same ops unscheduled.
``set_num_threads(n)`` sets the pool size (default: the usable cores, at most 8; the
``LEARNRES_NUM_THREADS`` environment variable overrides it). Tests check that every schedule
gives the plain op's values and gradients.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from learnres.autograd.function import Function
from learnres.backend import get_array_module
from learnres.functions.batchnorm import (
    NDIMS,
    _batch_norm_op,
    _channel_sum,
    _check_batch_norm,
)
from learnres.functions.conv import Conv2d, _check_conv
from learnres.functions.pool import AvgPool2d, MaxPool2d, _check_pool
from learnres.memory import keep_freed_memory

__all__ = [
    "CACHE_BYTES",
    "Chunked",
    "conv2d",
    "batch_norm",
    "max_pool2d",
    "avg_pool2d",
    "get_num_threads",
    "set_num_threads",
    "run_in_threads",
    "using_threads",
    "blas_threads",
    "usable_cores",
    "process_group",
    "SyncBatchNorm",
]

CACHE_BYTES = 1536 * 1024  # the im2col columns of one piece: within a core's L2 cache


def _images(x, kernel, stride, padding) -> int:
    """Images per piece of a convolution or pool of x (N, C, H, W): as many as keep the
    piece's columns, C*kh*kw values per output pixel, within ``CACHE_BYTES``."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    Ho, Wo = (x.shape[2] + 2 * ph - kh) // sh + 1, (x.shape[3] + 2 * pw - kw) // sw + 1
    return max(1, CACHE_BYTES // max(1, x.shape[1] * kh * kw * Ho * Wo * x.dtype.itemsize))


# ---- the thread pool -----------------------------------------------------------------------

_POOL_PREFIX = "learnres-worker"
_pool: ThreadPoolExecutor | None = None
_num_threads: int | None = None
_blas = None  # a threadpoolctl.ThreadpoolController, made on first use


def usable_cores() -> int:
    """The cores this process may run on, at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


def _default_threads() -> int:
    env = os.environ.get("LEARNRES_NUM_THREADS")
    return max(1, int(env)) if env else usable_cores()


def get_num_threads() -> int:
    """The number of threads the scheduled ops (convolutions, batch norm, pools) use."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for the scheduled ops (1 = no thread pool, pieces run in turn)."""
    global _num_threads, _pool
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"set_num_threads: expected an int n >= 1, got {n!r}")
    if _pool is not None:
        _pool.shutdown()
        _pool = None
    _num_threads = int(n)


@contextlib.contextmanager
def using_threads(n: int):
    """Within the block, the scheduled ops use ``n`` threads (the pool is kept for later)."""
    global _num_threads
    before, _num_threads = get_num_threads(), n
    try:
        yield
    finally:
        _num_threads = before


def _forget_pool() -> None:
    """In a forked child the pool's threads are gone: start a new pool when one is needed."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _blas_one_thread():
    """Context that pins NumPy's BLAS to one thread (each worker is already a thread)."""
    return blas_threads(1)


def blas_threads(n: int):
    """Context that limits NumPy's BLAS to ``n`` threads."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=n, user_api="blas")


def run_in_threads(tasks: list) -> list:
    """``[task() for task in tasks]``, the tasks spread over the thread pool, BLAS pinned.

    With one thread, one task, or when called from a worker (no nesting), they run in order
    in this thread. An exception in a task is raised here.
    """
    global _pool
    keep_freed_memory()  # once per process: reuse the step's memory (see learnres.memory)
    inside_pool = threading.current_thread().name.startswith(_POOL_PREFIX)
    with _blas_one_thread():
        if get_num_threads() == 1 or len(tasks) == 1 or inside_pool:
            return _run_all(tasks)
        n = min(get_num_threads(), len(tasks))
        if _pool is None:  # the calling thread is one of the n: n - 1 workers
            _pool = ThreadPoolExecutor(get_num_threads() - 1, thread_name_prefix=_POOL_PREFIX)
        cuts = [len(tasks) * i // n for i in range(n + 1)]  # n runs of consecutive tasks
        jobs = [_pool.submit(_run_all, tasks[a:b]) for a, b in zip(cuts[1:-1], cuts[2:])]
        try:
            results = _run_all(tasks[: cuts[1]])  # this thread takes the first run
        finally:
            wait(jobs)  # no task is left running when one has failed
        for job in jobs:
            results += job.result()
        return results


def _run_all(tasks: list) -> list:
    return [task() for task in tasks]


# ---- processes (learnres.data_parallel): batch norm over the whole batch --------------------

_process_group = None  # while a data-parallel step runs: this process's group (a shard each)


@contextlib.contextmanager
def process_group(group):
    """Within the block, batch norm in training mode takes its statistics over ``group``'s
    processes (``SyncBatchNorm``): each holds a shard of the batch."""
    global _process_group
    before, _process_group = _process_group, group
    try:
        yield
    finally:
        _process_group = before


def _row(v, L: int):
    """A per-channel (C,) as a whole row (1, C, L), v[c] repeated L times: NumPy multiplies
    an (n, C, L) piece by it 1.5-2x faster than by the broadcast (1, C, 1)."""
    return np.repeat(v.reshape(1, -1, 1), L, axis=2)


class SyncBatchNorm(Function):
    """``BatchNorm`` in training mode when each process holds a shard of the batch.

    The same formulas (``learnres.functions.batchnorm``), with the per-channel sums taken
    over the whole batch: m = sum over processes r of N_r*L, mu = (sum_r sum x) / m,
    var = (sum_r sum (x - mu)^2) / m, and in backward the two means of dL/dx,
    mean(g) and mean(g * x_hat), likewise. The gradients of gamma and beta stay this
    process's own sums: ``learnres.data_parallel.DataParallel`` adds them with every other
    parameter's. ``group.all_reduce(a)``: the sum of ``a`` (1-D) over the processes.

    Each pass after the first runs on pieces of a few images (``PIECE_BYTES``), so that
    the next line reads a piece while it is still in cache, x - mu is kept instead of x_hat
    (scale and shift in one product: a pass fewer), and the per-channel factors are laid
    out once a call as whole rows (1, C, L) (``_row``): NumPy multiplies a piece by a row
    1.5-2x faster than by the broadcast (1, C, 1). Batch norm is bound by memory bandwidth:
    forward + backward of a (64, 16, 32, 32) float32 shard, one thread (AMD EPYC), take
    2.0 ms as the plain op and 1.5 ms so (0.90 -> 0.66 ms at (64, 32, 16, 16)), and batch
    norm's share of a one-thread ResNet-56 step at batch 64 fell from 76 to 60 ms with the
    rows. The sums are added up piece by piece in float64.
    """

    PIECE_BYTES = 512 * 1024

    def __init__(self, plain, group, check=None):
        self.plain, self.group = plain, group  # plain: the BatchNorm (options, running stats)
        self.check = check  # check(x, *affine): the shard's input, before it runs

    @property
    def name(self) -> str:
        return self.plain.name

    def _pieces(self, a) -> list:
        """Slices of a few images of ``a`` (N, C, L), each about PIECE_BYTES."""
        n = max(1, self.PIECE_BYTES // max(1, a[:1].nbytes))
        return [slice(i, i + n) for i in range(0, a.shape[0], n)]

    def forward(self, x, *affine):
        if self.check is not None:
            self.check(x, *affine)
        p, dtype = self.plain, x.dtype
        N, C, L = x.shape[0], x.shape[1], math.prod(x.shape[2:])
        x3 = x.reshape(N, C, L)  # (N, C, H, W) -> (N, C, H*W)
        sums = self.group.all_reduce(np.append(_channel_sum(x3), N * L))  # (C + 1,)
        m = int(sums[-1])  # values per channel in the whole batch
        mean = (sums[:-1] / m).astype(dtype)  # mu, (C,)
        centred, squares, mean_row = np.empty_like(x3), np.zeros(C), _row(mean, L)
        for s in self._pieces(x3):  # x - mu, and its squares summed while in cache
            piece = np.subtract(x3[s], mean_row, out=centred[s])
            squares += _channel_sum(piece, piece)
        var = (self.group.all_reduce(squares) / m).astype(dtype)  # the biased variance, (C,)
        p._update_running(mean, var, m)  # the plain op's update, with the batch's statistics
        inv_std = 1 / np.sqrt(var + p.eps)  # 1 / sigma, (C,)
        gamma = affine[0] if p.has_weight else np.ones(C, dtype=dtype)
        scale = _row(gamma * inv_std, L)  # y = gamma * x_hat + beta = scale * (x - mu) + beta
        beta = _row(affine[-1], L) if p.has_bias else None
        y = np.empty_like(x3)
        for s in self._pieces(x3):
            piece = np.multiply(centred[s], scale, out=y[s])
            if beta is not None:
                piece += beta
        self.centred, self.inv_std, self.gamma, self.m = centred, inv_std, gamma, m
        return y.reshape(x.shape)

    def backward(self, gy):
        # x_hat = (x - mu) / sigma, kept as x - mu (one pass fewer in forward);
        # dL/dx = (gamma / sigma) * (g - mean(g) - x_hat * mean(g * x_hat)), the means over
        # the whole batch; dL/dbeta = sum g and dL/dgamma = sum g x_hat over this shard
        centred, p, inv_std = self.centred, self.plain, self.inv_std
        g = gy.reshape(centred.shape)  # (N, C, H, W) -> (N, C, L)
        C, L = g.shape[1:]
        g_sum, g_centred_sum = np.zeros(C), np.zeros(C)
        for s in self._pieces(g):
            g_sum += _channel_sum(g[s])
            g_centred_sum += _channel_sum(g[s], centred[s])
        gx_hat_sum = g_centred_sum * inv_std  # sum g x_hat, (C,)
        gx = None
        if self.needs_input_grad[0]:
            both = self.group.all_reduce(np.concatenate([g_sum, gx_hat_sum])) / self.m
            mean_g = _row(both[:C].astype(g.dtype), L)  # mean(g), as a row (1, C, L)
            mean_gx_hat = both[C:].astype(g.dtype)  # mean(g x_hat), (C,)
            scale = _row(self.gamma * inv_std, L)  # gamma / sigma
            # (gamma / sigma) * x_hat * mean(g x_hat) = (x - mu) * (gamma / sigma^2) mean(g x_hat)
            slope = _row(self.gamma * inv_std * inv_std * mean_gx_hat, L)
            gx = np.empty_like(g)
            for s in self._pieces(g):
                piece = np.subtract(g[s], mean_g, out=gx[s])
                piece *= scale
                piece -= centred[s] * slope
            gx = gx.reshape(gy.shape)
        g_sum, gx_hat_sum = g_sum.astype(g.dtype), gx_hat_sum.astype(g.dtype)
        return (gx,) + ((gx_hat_sum,) if p.has_weight else ()) + ((g_sum,) if p.has_bias else ())


# ---- a plain Function run on pieces ---------------------------------------------------------


class Chunked(Function):
    """A plain Function run on pieces of its first input along ``axis``, in threads.

    Arguments:
        plain: the Function (an instance, with its options) whose math runs on every piece.
        axis: 0 to split the batch (images are independent), 1 to split the channels.
        check: called with the whole inputs before they are split, so that a bad input is
            explained with its own shape.
        size: ``size(*inputs)``, the items per piece, called after ``check``.
        split_params: False: every piece gets the whole of the other inputs (a weight) and
            their gradients are summed over the pieces; True: they are split along their
            axis 0 with the channels (gamma, beta) and their gradients put back together.
        piece_of: ``piece_of(plain, i, j)`` makes the Function for items i..j-1 (default: a
            copy of ``plain``); batch norm's also slices its running statistics.
    """

    def __init__(self, plain, axis, check, size, split_params=False, piece_of=None):
        self.plain, self.axis, self.size, self.check = plain, axis, size, check
        self.split_params = split_params
        self.piece_of = piece_of or (lambda f, i, j: _copy(f))

    @property
    def name(self) -> str:  # errors and graphs name the op, not the schedule
        plain = self.__dict__.get("plain")  # (gone once backward has released the Function)
        return plain.name if plain is not None else "chunked"

    def forward(self, x, *params):
        self.check(x, *params)
        n, size = x.shape[self.axis], self.size(x, *params)
        if get_array_module(x) is not np or n <= size:
            self.bounds = [(0, n)]  # one piece: the plain op on everything
        else:
            self.bounds = [(i, min(i + size, n)) for i in range(0, n, size)]
        self.pieces = [self.piece_of(self.plain, i, j) for i, j in self.bounds]
        for piece in self.pieces:
            piece.needs_input_grad = self.needs_input_grad
        if len(self.pieces) == 1:
            return self.pieces[0].forward(x, *params)
        y = _Assembly(self, x.shape[self.axis])

        def task(k):
            i, j = self.bounds[k]
            mine = [p[i:j] for p in params] if self.split_params else params
            y.put(k, self.pieces[k].forward(self._take(x, i, j), *mine))

        run_in_threads(self._tasks(task))
        return y.array

    def backward(self, gy):
        # each piece's gradients are the plain op's; the input's are put back where the
        # piece came from, a shared weight's are summed (its gradient is a sum over images)
        if len(self.pieces) == 1:
            return self.pieces[0].backward(gy)
        gx = _Assembly(self, gy.shape[self.axis])

        def task(k):
            grads = self.pieces[k].backward(self._take(gy, *self.bounds[k]))
            if grads[0] is not None:
                gx.put(k, grads[0])
            return grads[1:]

        rest = run_in_threads(self._tasks(task))  # one tuple of parameter gradients per piece
        out = [gx.array]
        for parts in zip(*rest):
            if parts[0] is None:
                out.append(None)
            elif self.split_params:
                out.append(get_array_module(parts[0]).concatenate(parts))
            else:
                out.append(sum(parts[1:], parts[0]))
        return tuple(out)

    def _tasks(self, task) -> list:
        return [lambda k=k: task(k) for k in range(len(self.bounds))]

    def _take(self, a, i, j):
        return a[i:j] if self.axis == 0 else a[:, i:j]


def _copy(f: Function) -> Function:
    """A shallow copy of a Function (``copy.copy``'s result, in a quarter of its time)."""
    piece = object.__new__(type(f))
    piece.__dict__.update(f.__dict__)
    return piece


class _Assembly:
    """One array put together from the pieces' results along the schedule's axis.

    The first piece to finish makes the array (its shape and dtype tell what it must be);
    each piece copies its result in as soon as it has it, while it is still in cache.
    """

    def __init__(self, chunked: Chunked, n: int):
        self.chunked, self.n, self.array = chunked, n, None
        self.lock = threading.Lock()

    def put(self, k: int, piece) -> None:
        axis = self.chunked.axis
        with self.lock:
            if self.array is None:
                shape = piece.shape[:axis] + (self.n,) + piece.shape[axis + 1 :]
                self.array = get_array_module(piece).empty(shape, dtype=piece.dtype)
        i, j = self.chunked.bounds[k]
        self.array[(slice(None),) * axis + (slice(i, j),)] = piece


# ---- the scheduled ops: the same arguments as learnres.functions' ---------------------------


def conv2d(x, w, b=None, stride=1, padding=0, *, layer=None):
    """``learnres.functions.conv2d``, run on chunks of images in threads."""
    plain = Conv2d(stride, padding)

    def check(x, w, b=None):  # once, on the whole batch: the pieces are not checked again
        _check_conv("conv2d", x, w, b, plain.padding, layer)

    def size(x, w, b=None):
        return _images(x, w.shape[2:], plain.stride, plain.padding)

    f = Chunked(plain, axis=0, check=check, size=size)
    return f(x, w) if b is None else f(x, w, b)


def batch_norm(
    x,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
    *,
    layer=None,
    ndims=NDIMS,
):
    """``learnres.functions.batch_norm``, its channels split into one group per thread."""
    plain, affine = _batch_norm_op(running_mean, running_var, weight, bias, training, momentum, eps)

    def check(x, *affine):  # once, on the whole batch: the groups are not checked again
        running = plain.running_mean, plain.running_var
        _check_batch_norm(x, *running, affine, plain.training, layer, ndims)

    if _process_group is not None and training:  # a shard of the batch in each process
        return SyncBatchNorm(plain, _process_group, check)(x, *affine)

    def piece_of(f, i, j):  # channels i..j-1 with their running statistics (views: updated)
        piece = _copy(f)
        if f.running_mean is not None:
            piece.running_mean = f.running_mean[i:j]
        if f.running_var is not None:
            piece.running_var = f.running_var[i:j]
        return piece

    def size(x, *affine):
        return -(-x.shape[1] // get_num_threads())  # ceil(C / threads) channels

    f = Chunked(plain, axis=1, check=check, size=size, split_params=True, piece_of=piece_of)
    return f(x, *affine)


def max_pool2d(x, kernel_size, stride=None, padding=0, *, layer=None):
    """``learnres.functions.max_pool2d``, run on chunks of images in threads."""
    plain = MaxPool2d(kernel_size, stride, padding)

    def check(x):  # once, on the whole batch: the pieces are not checked again
        _check_pool("max_pool2d", x, plain.kernel, plain.padding, layer)

    def size(x):
        return _images(x, plain.kernel, plain.stride, plain.padding)

    return Chunked(plain, axis=0, check=check, size=size)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, *, layer=None):
    """``learnres.functions.avg_pool2d``, run on chunks of images in threads."""
    plain = AvgPool2d(kernel_size, stride, padding)

    def check(x):  # once, on the whole batch: the pieces are not checked again
        _check_pool("avg_pool2d", x, plain.kernel, plain.padding, layer)

    def size(x):
        return _images(x, plain.kernel, plain.stride, plain.padding)

    return Chunked(plain, axis=0, check=check, size=size)(x)
