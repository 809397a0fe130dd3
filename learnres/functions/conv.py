"""2-D convolution (cross-correlation, as in every deep-learning library), NCHW.

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v]

Two implementations of the same op:

* ``conv2d`` (``Conv2d``), the fast one. im2col turns the convolution into one matrix
  product per image: a strided *view* of the padded input gives every kh x kw window
  without copying, one copy lays the windows out as columns (N, C*kh*kw, Ho*Wo), and
  ``w.reshape(O, C*kh*kw) @ cols`` is the output, already in NCHW order.
  Backward reuses the same machinery. dL/dw is ``gy @ cols^T`` (the columns are
  recomputed from x rather than kept: they are kh*kw times the size of x). dL/dx is
  ``w^T @ gy`` scattered back to where each column came from (col2im); for stride 1 that
  is itself a convolution of ``gy`` with the kernel flipped and its in/out channels swapped
  (the *transposed* convolution), which runs faster than the scatter, so stride 1 uses it.
* ``conv2d_naive`` (``Conv2dNaive``), the teaching twin: plain loops over output
  positions, one tensordot each. Slow, but every line maps to the formula above; tests
  check that both agree.

Speed on the CPU: the batch is processed in chunks of a few images (the columns of a chunk
stay in cache), spread over a small thread pool; NumPy releases the GIL in copies and
matrix products, and BLAS is pinned to one thread per worker (threadpoolctl) so the two
levels of threading don't fight. On CuPy there are no threads: the whole batch goes through
one batched matrix product. ``set_num_threads`` changes the pool size (default: the
number of usable cores, at most 8; the ``LEARNRES_NUM_THREADS`` environment variable
overrides it). The first call also asks the C allocator to keep freed memory for the next
step (``learnres.memory``). ``learnres bench`` times every ResNet-20 convolution against
PyTorch.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from learnres.autograd.function import Function, OpError
from learnres.backend import get_array_module
from learnres.memory import keep_freed_memory

__all__ = [
    "Conv2d",
    "conv2d",
    "Conv2dNaive",
    "conv2d_naive",
    "set_num_threads",
    "get_num_threads",
    "for_chunks",
]

CHUNK = 8  # images per work item on the CPU


# ---- checks shared by both implementations ----------------------------------------------


def _pair(value, what: str, name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair):
        raise OpError(
            f"{name}: {what} must be an int >= {minimum} or a pair of them, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def _check_conv(name, x, w, b, stride, padding) -> tuple[int, int]:
    """Validate the arguments of a convolution; return the output size (Ho, Wo)."""
    if x.ndim != 4:
        raise OpError(f"{name}: expected input (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise OpError(f"{name}: expected weight (O, C, kh, kw), got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise OpError(
            f"{name}: input has {x.shape[1]} channels, weight expects {w.shape[1]} "
            f"(weight shape {w.shape})"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise OpError(f"{name}: expected bias of shape ({w.shape[0]},), got {b.shape}")
    dtypes = {a.dtype for a in (x, w, b) if a is not None}
    if len(dtypes) > 1:
        raise OpError(
            f"{name}: input, weight and bias must share a dtype, got "
            f"{', '.join(str(a.dtype) for a in (x, w, b) if a is not None)}; convert with .astype()"
        )
    (kh, kw), (sh, sw), (ph, pw) = w.shape[2:], stride, padding
    H, W = x.shape[2:]
    if H + 2 * ph < kh or W + 2 * pw < kw:
        pad = ph if ph == pw else padding
        raise OpError(
            f"{name}: input {H}x{W} with padding {pad} is smaller than the {kh}x{kw} kernel"
        )
    return (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1


# ---- threads -----------------------------------------------------------------------------

_POOL_PREFIX = "learnres-conv"
_pool: ThreadPoolExecutor | None = None
_num_threads: int | None = None
_blas = None  # a threadpoolctl.ThreadpoolController, made on first use


def _default_threads() -> int:
    env = os.environ.get("LEARNRES_NUM_THREADS")
    if env:
        return max(1, int(env))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


def get_num_threads() -> int:
    """The number of threads the CPU convolutions (and batch norm) use."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for the CPU convolutions and batch norm (1 = no thread pool)."""
    global _num_threads, _pool
    if int(n) < 1:
        raise ValueError(f"set_num_threads: expected n >= 1, got {n}")
    if _pool is not None:
        _pool.shutdown()
        _pool = None
    _num_threads = int(n)


def _forget_pool() -> None:
    """In a forked child the pool's threads are gone: start a new pool when one is needed."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _blas_one_thread():
    """Context that pins NumPy's BLAS to one thread (each worker is already a thread)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def for_chunks(fn, n: int, xp, chunk: int | None = None) -> list:
    """``[fn(start, stop) for each chunk of range(n)]``, in a thread pool on NumPy.

    ``chunk`` items per call (default ``CHUNK`` images). ``fn`` must only write to its own
    slice of any shared output. With one thread the chunks run in order in this thread; on
    CuPy there is a single chunk, the whole range, since the GPU parallelises inside each
    kernel.
    """
    global _pool
    if xp is not np:
        return [fn(0, n)]
    keep_freed_memory()  # once per process: reuse the step's memory (see learnres.memory)
    chunk = chunk or CHUNK
    bounds = [(i, min(i + chunk, n)) for i in range(0, n, chunk)]
    threads = get_num_threads()
    inside_pool = threading.current_thread().name.startswith(_POOL_PREFIX)  # no nesting
    with _blas_one_thread():
        if threads == 1 or len(bounds) == 1 or inside_pool:
            return [fn(i, j) for i, j in bounds]
        if _pool is None:
            _pool = ThreadPoolExecutor(threads, thread_name_prefix=_POOL_PREFIX)
        return list(_pool.map(lambda ij: fn(*ij), bounds))


# ---- the steps of the fast path ------------------------------------------------------------


def _pad(x, ph: int, pw: int):
    """Zero-pad the two spatial axes: (N, C, H, W) -> (N, C, H + 2ph, W + 2pw)."""
    if ph == 0 and pw == 0:
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    out = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    out[:, :, ph : ph + H, pw : pw + W] = x
    return out


def _im2col(x_pad, kh: int, kw: int, sh: int, sw: int):
    """Windows of a padded input as columns: (N, C, Hp, Wp) -> (N, C*kh*kw, Ho*Wo)."""
    xp = get_array_module(x_pad)
    N, C, Hp, Wp = x_pad.shape
    Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
    sN, sC, sH, sW = x_pad.strides
    # a view, no copy: windows[n, c, u, v, i, j] = x_pad[n, c, sh*i + u, sw*j + v]
    windows = xp.lib.stride_tricks.as_strided(
        x_pad, (N, C, kh, kw, Ho, Wo), (sN, sC, sH, sW, sH * sh, sW * sw)
    )
    cols = xp.ascontiguousarray(windows)  # the one copy: (N, C, kh, kw, Ho, Wo)
    return cols.reshape(N, C * kh * kw, Ho * Wo)  # -> (N, C*kh*kw, Ho*Wo)


def _conv_chunk(x, w2, kh, kw, stride, padding, out=None):
    """One chunk of images through im2col + matmul: (n, C, H, W) -> (n, O, Ho*Wo)."""
    cols = _im2col(_pad(x, *padding), kh, kw, *stride)  # (n, C*kh*kw, Ho*Wo)
    return get_array_module(x).matmul(w2, cols, out=out)  # (O, Ckk) @ -> (n, O, Ho*Wo)


def _grad_input_transposed(g, w, x_shape, padding, out):
    """dL/dx of a stride-1 convolution as a convolution of ``gy`` (the "transposed conv").

    Each x[c, h, w] meets w[o, c, u, v] in output (h + p - u, w + p - v), so
    dL/dx = conv(gy padded by k - 1 - p, w flipped in both spatial axes with C and O swapped).
    g: (n, O, Ho, Wo) -> out (n, C, H, W)
    """
    xp, (n, _, Ho, Wo), (C, H, W), (kh, kw) = get_array_module(g), g.shape, x_shape, w.shape[2:]
    lo_h, lo_w = kh - 1 - padding[0], kw - 1 - padding[1]
    if lo_h < 0 or lo_w < 0:  # padding wider than kernel - 1: those outputs never saw x
        g = g[:, :, max(-lo_h, 0) : Ho - max(-lo_h, 0), max(-lo_w, 0) : Wo - max(-lo_w, 0)]
    w_t = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, -1)  # -> (C, O*kh*kw)
    cols = _im2col(_pad(g, max(lo_h, 0), max(lo_w, 0)), kh, kw, 1, 1)  # (n, O*kh*kw, H*W)
    xp.matmul(w_t, cols, out=out.reshape(n, C, H * W))  # (n, C, H*W): a view of out


def _grad_input_col2im(g, w, x_shape, stride, padding):
    """dL/dx by col2im: the columns' gradient w^T @ gy, added back to where each came from.

    Used for stride > 1, where the transposed convolution would multiply mostly zeros.
    g: (n, O, Ho, Wo) -> (n, C, H, W)
    """
    xp, (n, O, Ho, Wo), (C, H, W), (kh, kw) = get_array_module(g), g.shape, x_shape, w.shape[2:]
    (sh, sw), (ph, pw) = stride, padding
    w2 = w.reshape(O, -1)  # (O, C, kh, kw) -> (O, C*kh*kw)
    gcols = xp.matmul(w2.T, g.reshape(n, O, Ho * Wo))  # (C*kh*kw, O) @ -> (n, C*kh*kw, Ho*Wo)
    gcols = gcols.reshape(n, C, kh, kw, Ho, Wo)
    gx_pad = xp.zeros((n, C, H + 2 * ph, W + 2 * pw), dtype=g.dtype)
    for u in range(kh):  # offset (u, v) of every window at once: a strided slice of x_pad
        for v in range(kw):
            rows, cols = slice(u, u + sh * (Ho - 1) + 1, sh), slice(v, v + sw * (Wo - 1) + 1, sw)
            gx_pad[:, :, rows, cols] += gcols[:, :, u, v]
    return gx_pad[:, :, ph : ph + H, pw : pw + W]


def _grad_weight(x, g, kh, kw, stride, padding):
    """dL/dw = sum over images of gy_n @ cols_n^T, the columns recomputed from x.

    x: (n, C, H, W), g: (n, O, Ho, Wo) -> (O, C*kh*kw)
    """
    xp, (n, O) = get_array_module(g), g.shape[:2]
    cols = _im2col(_pad(x, *padding), kh, kw, *stride)  # (n, C*kh*kw, Ho*Wo)
    g_t = g.reshape(n, O, -1).transpose(0, 2, 1)  # (n, O, Ho, Wo) -> (n, Ho*Wo, O), a view
    # cols @ gy^T, then transposed, is (gy @ cols^T): OpenBLAS runs this order 1.3-1.7x faster
    return xp.matmul(cols, g_t).sum(axis=0).T  # (n, C*kh*kw, O) -> (O, C*kh*kw)


class Conv2d(Function):
    """y = conv(x, w) + b for x (N, C, H, W), w (O, C, kh, kw), b (O,) -> y (N, O, Ho, Wo)."""

    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride, "stride", "conv2d", 1)
        self.padding = _pair(padding, "padding", "conv2d", 0)

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        Ho, Wo = _check_conv("conv2d", x, w, b, self.stride, self.padding)
        N, O, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
        self.x, self.w, self.has_bias = x, w, b is not None  # backward recomputes the columns
        y = xp.empty((N, O, Ho * Wo), dtype=x.dtype)
        w2 = w.reshape(O, -1)  # (O, C, kh, kw) -> (O, C*kh*kw)

        def chunk(i, j):  # images i..j-1
            _conv_chunk(x[i:j], w2, kh, kw, self.stride, self.padding, out=y[i:j])

        for_chunks(chunk, N, xp)
        y = y.reshape(N, O, Ho, Wo)  # (N, O, Ho*Wo) -> (N, O, Ho, Wo)
        if b is not None:
            y += b.reshape(1, O, 1, 1)
        return y

    def backward(self, gy):
        # dL/db = sum of gy over (n, i, j); dL/dw = sum_n gy_n @ cols_n^T;
        # dL/dx = w^T @ gy put back where the columns came from (col2im), which for stride 1
        # is itself a convolution of gy with the flipped kernel (the transposed convolution)
        xp, x, w = get_array_module(gy), self.x, self.w
        N, (kh, kw) = gy.shape[0], w.shape[2:]
        need_x, need_w = self.needs_input_grad[0], self.needs_input_grad[1]
        gx = xp.empty(x.shape, dtype=x.dtype) if need_x else None  # C order: chunks are views

        def chunk(i, j):  # images i..j-1; returns their part of dL/dw
            if need_x and self.stride == (1, 1):
                _grad_input_transposed(gy[i:j], w, x.shape[1:], self.padding, out=gx[i:j])
            elif need_x:
                gx[i:j] = _grad_input_col2im(gy[i:j], w, x.shape[1:], self.stride, self.padding)
            if need_w:
                return _grad_weight(x[i:j], gy[i:j], kh, kw, self.stride, self.padding)
            return None

        partial = for_chunks(chunk, N, xp)  # one (O, C*kh*kw) weight gradient per chunk
        gw = sum(partial[1:], partial[0]).reshape(w.shape) if need_w else None
        gb = gy.sum(axis=(0, 2, 3)) if self.has_bias and self.needs_input_grad[2] else None
        return (gx, gw, gb) if self.has_bias else (gx, gw)


def conv2d(x, w, b=None, stride=1, padding=0):
    """2-D convolution (cross-correlation) of an NCHW batch.

    Arguments:
        x: input (N, C, H, W).
        w: weight (O, C, kh, kw).
        b: bias (O,) or None.
        stride, padding: an int or a pair (for H, W); padding adds zeros on every side.

    Returns:
        y (N, O, Ho, Wo) with Ho = (H + 2*padding - kh) // stride + 1 (likewise Wo) and
        y[n, o, i, j] = b[o] + sum_{c,u,v} w[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v].
    """
    return Conv2d(stride, padding)(x, w) if b is None else Conv2d(stride, padding)(x, w, b)


# ---- the teaching twin --------------------------------------------------------------------


class Conv2dNaive(Function):
    """The same convolution with loops over output positions (see ``conv2d_naive``)."""

    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride, "stride", "conv2d_naive", 1)
        self.padding = _pair(padding, "padding", "conv2d_naive", 0)

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        Ho, Wo = _check_conv("conv2d_naive", x, w, b, self.stride, self.padding)
        (sh, sw), (kh, kw) = self.stride, w.shape[2:]
        self.x_pad, self.w, self.has_bias = _pad(x, *self.padding), w, b is not None
        y = xp.zeros((x.shape[0], w.shape[0], Ho, Wo), dtype=x.dtype)
        for i in range(Ho):
            for j in range(Wo):
                patch = self.x_pad[
                    :, :, sh * i : sh * i + kh, sw * j : sw * j + kw
                ]  # (N, C, kh, kw)
                y[:, :, i, j] = xp.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))  # (N, O)
        return y + b.reshape(1, -1, 1, 1) if b is not None else y

    def backward(self, gy):
        # each output y[:, :, i, j] = patch . w: dL/dw += gy_ij^T patch, dL/dpatch += gy_ij w
        xp, x_pad, w = get_array_module(gy), self.x_pad, self.w
        (sh, sw), (ph, pw), (kh, kw) = self.stride, self.padding, w.shape[2:]
        gx_pad, gw = xp.zeros_like(x_pad), xp.zeros_like(w)
        for i in range(gy.shape[2]):
            for j in range(gy.shape[3]):
                window = (
                    slice(None),
                    slice(None),
                    slice(sh * i, sh * i + kh),
                    slice(sw * j, sw * j + kw),
                )
                g = gy[:, :, i, j]  # (N, O)
                gw += xp.tensordot(g, x_pad[window], axes=([0], [0]))  # (O, C, kh, kw)
                gx_pad[window] += xp.tensordot(g, w, axes=([1], [0]))  # (N, C, kh, kw)
        gx = gx_pad[:, :, ph : gx_pad.shape[2] - ph, pw : gx_pad.shape[3] - pw]  # cut the padding
        gb = gy.sum(axis=(0, 2, 3))
        return (gx, gw, gb) if self.has_bias else (gx, gw)


def conv2d_naive(x, w, b=None, stride=1, padding=0):
    """``conv2d`` written as loops over output positions, for reading (slow).

    For each output position (i, j), the window ``x_pad[:, :, s*i : s*i+kh, s*j : s*j+kw]``
    (N, C, kh, kw) is contracted with ``w`` (O, C, kh, kw) over (C, kh, kw), giving
    ``y[:, :, i, j]`` (N, O). Same arguments, result and gradients as ``conv2d``.
    """
    f = Conv2dNaive(stride, padding)
    return f(x, w) if b is None else f(x, w, b)
