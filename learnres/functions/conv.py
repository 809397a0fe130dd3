"""2-D convolution (cross-correlation, as in every deep-learning library), NCHW.

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v]

Two implementations of the same op, both plain NumPy/CuPy over the whole batch:

* ``conv2d`` (``Conv2d``): im2col turns the convolution into one matrix product. A strided
  *view* of the padded input gives every kh x kw window without copying, one copy lays the
  windows out as columns (N, C*kh*kw, Ho*Wo), and ``w.reshape(O, C*kh*kw) @ cols`` is the
  output, already in NCHW order (for stride 1 on NumPy the view is of x's column shifts,
  ``_column_shifts``: the same windows in fewer, longer rows, which NumPy copies faster).
  Backward reuses the machinery: dL/dw is ``gy @ cols^T`` (the columns recomputed from x:
  they are kh*kw times the size of x, too big to keep), and dL/dx is ``w^T @ gy`` added
  back to where each column came from (col2im). For stride 1 that is itself a convolution
  of gy with the kernel flipped and its channels swapped (the *transposed* convolution),
  faster than the scatter; and the columns of gy it makes give dL/dw too, so a stride-1
  backward takes one set of columns, not two.
* ``conv2d_naive`` (``Conv2dNaive``), the teaching twin: loops over output positions, one
  tensordot each. Slow, but every line maps to the formula above; tests check that both
  agree.

This file is the math only. How the work is spread over cores and cache lives in
``learnres.parallel``: the layers (``learnres.nn.Conv2d``) call ``learnres.parallel.conv2d``,
which runs this same ``Conv2d`` on chunks of a few images at a time (their columns stay in
cache) in a small thread pool. ``learnres bench`` times both against PyTorch.
"""

from __future__ import annotations

import numpy as np

from learnres.autograd.function import Function, OpError
from learnres.backend import as_strided, get_array_module
from learnres.functions._checks import check_channels, check_dtype, check_layout, check_window

__all__ = ["Conv2d", "conv2d", "Conv2dNaive", "conv2d_naive"]


# ---- checks shared by both implementations (``_pair`` by the pools too) -----------------------


def _pair(value, what: str, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum``, as a pair; anything else: OpError."""

    def ok(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum

    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(ok(v) for v in pair):
        raise OpError(
            f"{name}: {what} must be an int >= {minimum} or a pair of them, "
            f"got {value!r} ({type(value).__name__})"
        )
    return int(pair[0]), int(pair[1])


def _check_conv(op, x, w, b, padding, layer=None) -> None:
    """The input of a convolution, checked once before it runs: x (N, C, H, W) with the C
    channels and the dtype of w (O, C, kh, kw) and b (O,), and at least kh x kw after padding.

    Errors name ``layer`` when a layer called (``Conv2d(3→16) got ...``), else ``op``."""
    name = layer or op
    check_layout(name, x, (4,))
    if w.ndim != 4:
        raise OpError(f"{name} expects weight of shape (O, C, kh, kw), got shape {w.shape}")
    check_channels(name, x, w.shape[1], f"weight shape {tuple(w.shape)}")
    if b is not None and b.shape != (w.shape[0],):
        raise OpError(f"{name} expects bias of shape ({w.shape[0]},), got shape {b.shape}")
    check_dtype(name, x, {"weight": w, "bias": b}, layer=layer is not None)
    check_window(name, x, w.shape[2:], padding)


# ---- the steps: pad, im2col, one matrix product, and their gradients -------------------------


def _pad(x, ph: int, pw: int):
    """Zero-pad the two spatial axes: (N, C, H, W) -> (N, C, H + 2ph, W + 2pw)."""
    if ph == 0 and pw == 0:
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    out = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    out[:, :, ph : ph + H, pw : pw + W] = x
    return out


def _im2col(x, kh: int, kw: int, sh: int, sw: int, ph: int = 0, pw: int = 0):
    """Windows of x, zero-padded by (ph, pw), as columns: (N, C, H, W) -> (N, C*kh*kw, Ho*Wo).

    cols[n, (c, u, v), (i, j)] = x_pad[n, c, sh*i + u, sw*j + v] with x_pad = _pad(x, ph, pw).
    """
    xp = get_array_module(x)
    if xp is np and (sh, sw) == (1, 1) and kw > 1:  # the same windows, copied in longer rows
        shifts = _column_shifts(x, kw, ph, pw)  # shifts[n, c, v, h, j] = x_pad[n, c, h, j + v]
        N, C, _, Hp, Wo = shifts.shape
        Ho = Hp - kh + 1
        tN, tC, tV, tH, tW = shifts.strides
        # a view: windows[n, c, u, v, i, j] = shifts[n, c, v, i + u, j]; Ho rows in one run
        windows = as_strided(shifts, (N, C, kh, kw, Ho, Wo), (tN, tC, tH, tV, tH, tW))
    else:
        x_pad = _pad(x, ph, pw)
        N, C, Hp, Wp = x_pad.shape
        Ho, Wo = (Hp - kh) // sh + 1, (Wp - kw) // sw + 1
        sN, sC, sH, sW = x_pad.strides
        # a view, no copy: windows[n, c, u, v, i, j] = x_pad[n, c, sh*i + u, sw*j + v]
        windows = as_strided(x_pad, (N, C, kh, kw, Ho, Wo), (sN, sC, sH, sW, sH * sh, sW * sw))
    cols = xp.ascontiguousarray(windows)  # the one copy: (N, C, kh, kw, Ho, Wo)
    return cols.reshape(N, C * kh * kw, Ho * Wo)  # -> (N, C*kh*kw, Ho*Wo)


def _column_shifts(x, kw: int, ph: int, pw: int):
    """x_pad's kw column shifts, for im2col at stride 1: (N, C, H, W) -> (N, C, kw, Hp, Wo).

        shifts[n, c, v, h, j] = x_pad[n, c, h, j + v],  x_pad = _pad(x, ph, pw)

    A copy costs NumPy ~4 ns for every row it walks, and the rows of im2col's view of x_pad
    are short: N*C*kh*kw*Ho rows of Wo values, after the N*C*H rows of the padding. From the
    shifts, window offset (u, v) is shifts[n, c, v, u : u + Ho], Ho rows in one run, and the
    shifts take N*C*kw*H rows, no padded copy of x. When the padding keeps the width (Wo = W,
    as in a ResNet's 3x3 convolutions), a shift of all H rows is one run too: x read from the
    shift on, with the values that wrapped round a row's end zeroed. One thread, pieces of a
    CIFAR ResNet (2 x 16 x 32 x 32, 4 x 32 x 16 x 16, 8 x 64 x 8 x 8): im2col 1.5x, 2.3x and
    3.9x faster than padding and one copy. (On a GPU the rows cost nothing, and the shifts
    would be launches and memory traffic more: CuPy takes the one copy.)
    """
    xp = get_array_module(x)
    N, C, H, W = x.shape
    Hp, Wo = H + 2 * ph, W + 2 * pw - kw + 1
    shifts = xp.zeros((N, C, kw, Hp, Wo), dtype=x.dtype)
    for v in range(kw):  # shifts[..., v, ph + h, j] = x[..., h, j + d] where 0 <= j + d < W
        d = v - pw
        if Wo == W:  # all H rows as one run (a view of shifts; x's reshape copies if x is strided)
            a, b = max(0, -d), max(0, d)
            rows = shifts.reshape(N, C, kw, Hp * W)[:, :, v, ph * W : (ph + H) * W]
            rows[:, :, a : H * W - b] = x.reshape(N, C, H * W)[:, :, b : H * W - a]
            if d < 0:  # row h's first -d values came from the end of row h - 1
                shifts[:, :, v, ph : ph + H, :a] = 0
            elif d > 0:  # its last d values from the start of row h + 1
                shifts[:, :, v, ph : ph + H, W - b :] = 0
        else:  # row by row: columns j0..j1-1 hold x (none when the shift misses x)
            j0, j1 = max(0, -d), min(Wo, W - d)
            if j1 > j0:
                shifts[:, :, v, ph : ph + H, j0:j1] = x[:, :, :, j0 + d : j1 + d]
    return shifts


def _correlate(x, w, stride, padding):
    """The convolution without bias: im2col of the padded x, one matrix product.

    x (N, C, H, W), w (O, C, kh, kw) -> (N, O, Ho, Wo)
    """
    (N, _, H, W), (O, _, kh, kw) = x.shape, w.shape
    Ho = (H + 2 * padding[0] - kh) // stride[0] + 1
    Wo = (W + 2 * padding[1] - kw) // stride[1] + 1
    cols = _im2col(x, kh, kw, *stride, *padding)  # (N, C*kh*kw, Ho*Wo)
    y = w.reshape(O, -1) @ cols  # (O, C*kh*kw) @ (N, C*kh*kw, Ho*Wo) -> (N, O, Ho*Wo)
    return y.reshape(N, O, Ho, Wo)


def _grad_weight(x, gy, kh, kw, stride, padding):
    """dL/dw = sum over images of gy_n @ cols_n^T, the columns recomputed from x.

    x (N, C, H, W), gy (N, O, Ho, Wo) -> (O, C*kh*kw)
    """
    N, O, Ho, Wo = gy.shape
    cols = _im2col(x, kh, kw, *stride, *padding)  # (N, C*kh*kw, Ho*Wo)
    g_t = gy.reshape(N, O, Ho * Wo).transpose(0, 2, 1)  # (N, O, Ho, Wo) -> (N, Ho*Wo, O), a view
    # cols @ gy^T, then transposed, is (gy @ cols^T): OpenBLAS runs this order 1.3-1.7x faster
    return (cols @ g_t).sum(axis=0).T  # (N, C*kh*kw, O) -> (O, C*kh*kw)


def _grads_transposed(gy, x, w, padding):
    """Both gradients of a stride-1 convolution from one set of columns: those of ``gy``.

    Each x[c, h, w] meets w[o, c, u, v] in output (h + p - u, w + p - v). Pad gy by k - 1 - p
    and take its columns, gcols[n, (o, u', v'), (h, w)] = gy_pad[n, o, h + u', w + v']: input
    pixel (h, w)'s outputs, the kernel read backwards (u' = k - 1 - u). Then
        dL/dx_n = w_t @ gcols_n, with w_t the kernel flipped in both spatial axes and C and O
                  swapped: the "transposed convolution" of gy;
        dL/dw[o, c, u, v] = sum_n (gcols_n @ x_n^T)[(o, k-1-u, k-1-v), c].
    gy (N, O, Ho, Wo), x (N, C, H, W), w (O, C, kh, kw) -> dL/dx (N, C, H, W), dL/dw (O, C*kh*kw)
    """
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    Ho, Wo = gy.shape[2:]
    lo_h, lo_w = kh - 1 - padding[0], kw - 1 - padding[1]
    if lo_h < 0 or lo_w < 0:  # padding wider than kernel - 1: those outputs never saw x
        gy = gy[:, :, max(-lo_h, 0) : Ho - max(-lo_h, 0), max(-lo_w, 0) : Wo - max(-lo_w, 0)]
    gcols = _im2col(gy, kh, kw, 1, 1, max(lo_h, 0), max(lo_w, 0))  # (N, O*kh*kw, H*W)
    w_t = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (O, C, kh, kw) -> (C, O, kh, kw)
    gx = (w_t.reshape(C, -1) @ gcols).reshape(N, C, H, W)  # (C, O*kh*kw) @ -> (N, C, H*W)
    x_t = x.reshape(N, C, H * W).transpose(0, 2, 1)  # (N, H*W, C), a view
    g = (gcols @ x_t).sum(axis=0).reshape(O, kh, kw, C)  # (O*kh*kw, C), kernel read backwards
    gw = g[:, ::-1, ::-1].transpose(0, 3, 1, 2)  # read forwards: (O, kh, kw, C) -> (O, C, kh, kw)
    return gx, gw.reshape(O, C * kh * kw)


def _grad_input_col2im(gy, w, x_shape, stride, padding):
    """dL/dx by col2im: the columns' gradient w^T @ gy, added back to where each came from.

    Used for stride > 1, where the transposed convolution would multiply mostly zeros.
    gy (N, O, Ho, Wo), w (O, C, kh, kw), x_shape (N, C, H, W) -> (N, C, H, W)
    """
    xp = get_array_module(gy)
    N, O, Ho, Wo = gy.shape
    C, H, W = x_shape[1:]
    (sh, sw), (ph, pw), (kh, kw) = stride, padding, w.shape[2:]
    w2 = w.reshape(O, -1)  # (O, C, kh, kw) -> (O, C*kh*kw)
    gcols = w2.T @ gy.reshape(N, O, Ho * Wo)  # (C*kh*kw, O) @ -> (N, C*kh*kw, Ho*Wo)
    gcols = gcols.reshape(N, C, kh, kw, Ho, Wo)
    gx_pad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=gy.dtype)
    for u in range(kh):  # offset (u, v) of every window at once: a strided slice of x_pad
        for v in range(kw):
            rows, cols = slice(u, u + sh * (Ho - 1) + 1, sh), slice(v, v + sw * (Wo - 1) + 1, sw)
            gx_pad[:, :, rows, cols] += gcols[:, :, u, v]
    return gx_pad[:, :, ph : ph + H, pw : pw + W]


# ---- the op -------------------------------------------------------------------------------


class Conv2d(Function):
    """y = conv(x, w) + b for x (N, C, H, W), w (O, C, kh, kw), b (O,) -> y (N, O, Ho, Wo).

    The math only: ``conv2d`` checks the input (``_check_conv``) before this runs."""

    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride, "stride", "conv2d", 1)
        self.padding = _pair(padding, "padding", "conv2d", 0)

    def forward(self, x, w, b=None):
        self.x, self.w, self.has_bias = x, w, b is not None  # backward recomputes the columns
        y = _correlate(x, w, self.stride, self.padding)  # (N, O, Ho, Wo)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)  # in place: y is a new array
        return y

    def backward(self, gy):
        # dL/db = sum of gy over (n, i, j). Stride 1: dL/dx and dL/dw both from the columns of
        # gy (dL/dx is the transposed convolution). Otherwise dL/dx = w^T @ gy put back where
        # the columns came from (col2im), and dL/dw = sum_n gy_n @ cols_n^T (so also when x
        # needs no gradient: x's columns are the cheaper ones then, e.g. an RGB input's)
        x, w, (kh, kw) = self.x, self.w, self.w.shape[2:]
        gx = gw = gb = None
        if self.needs_input_grad[0] and self.stride == (1, 1):
            gx, gw = _grads_transposed(gy, x, w, self.padding)
        elif self.needs_input_grad[0]:
            gx = _grad_input_col2im(gy, w, x.shape, self.stride, self.padding)
        if self.needs_input_grad[1] and gw is None:
            gw = _grad_weight(x, gy, kh, kw, self.stride, self.padding)
        gw = gw.reshape(w.shape) if self.needs_input_grad[1] else None
        if self.has_bias and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return (gx, gw, gb) if self.has_bias else (gx, gw)


def conv2d(x, w, b=None, stride=1, padding=0, *, layer=None):
    """2-D convolution (cross-correlation) of an NCHW batch.

    Arguments:
        x: input (N, C, H, W).
        w: weight (O, C, kh, kw).
        b: bias (O,) or None.
        stride, padding: an int or a pair (for H, W); padding adds zeros on every side.
        layer: the name of the layer that calls, e.g. "Conv2d(3→16)": errors name it
            instead of the op (``learnres.nn.Conv2d`` passes its own).

    Returns:
        y (N, O, Ho, Wo) with Ho = (H + 2*padding - kh) // stride + 1 (likewise Wo) and
        y[n, o, i, j] = b[o] + sum_{c,u,v} w[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v].
    """
    f = Conv2d(stride, padding)
    _check_conv("conv2d", x, w, b, f.padding, layer)
    return f(x, w) if b is None else f(x, w, b)


# ---- the teaching twin --------------------------------------------------------------------


class Conv2dNaive(Function):
    """The same convolution with loops over output positions (see ``conv2d_naive``)."""

    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride, "stride", "conv2d_naive", 1)
        self.padding = _pair(padding, "padding", "conv2d_naive", 0)

    def forward(self, x, w, b=None):
        xp = get_array_module(x)
        (sh, sw), (kh, kw) = self.stride, w.shape[2:]
        self.x_pad, self.w, self.has_bias = _pad(x, *self.padding), w, b is not None
        Ho, Wo = (self.x_pad.shape[2] - kh) // sh + 1, (self.x_pad.shape[3] - kw) // sw + 1
        y = xp.zeros((x.shape[0], w.shape[0], Ho, Wo), dtype=x.dtype)
        for i in range(Ho):
            for j in range(Wo):
                window = self.x_pad[:, :, sh * i : sh * i + kh, sw * j : sw * j + kw]
                # (N, C, kh, kw) . (O, C, kh, kw) over (C, kh, kw) -> (N, O)
                y[:, :, i, j] = xp.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
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
    _check_conv("conv2d_naive", x, w, b, f.padding)
    return f(x, w) if b is None else f(x, w, b)
