"""Exercise 2: Convolution by im2col.

A convolution is a matrix product in disguise: im2col lays every kh x kw window of the
(padded) input out as a column, and ``w.reshape(O, C*kh*kw) @ cols`` is the output.
Backward reuses the trick: dL/dw is ``gy @ cols^T``, and dL/dx puts ``w^T @ gy`` back
where each column came from (col2im), which for stride 1 is itself a convolution of gy
with the flipped kernel, whose columns give dL/dw too. You write the five steps, each on
the whole batch at once; the class ``Conv2d`` below puts them together and is given.
(learnres's layers run this same code on a few images at a time in threads:
``learnres.parallel``; the math is this.)

Layout: NCHW; x (N, C, H, W), w (O, C, kh, kw), y (N, O, Ho, Wo) with
Ho = (H + 2*padding - kh) // stride + 1, and
y[n, o, i, j] = b[o] + sum over c, u, v of w[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v].

What you write (each stub raises NotImplementedError until you do):

    2.1  _im2col             the windows of the input as columns
    2.2  _correlate          the convolution: pad, im2col and one matrix product
    2.3  _grad_weight        dL/dw, the gradient of the weight
    2.4  _grads_transposed   dL/dx and dL/dw for stride 1, from the columns of gy
    2.5  _grad_input_col2im  dL/dx for any stride, by col2im

Check your work: ``pytest exercises/test_ex2_conv.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

# ruff: noqa: F401
# (the imports of the solution: some stay unused until the stubs are written)

from __future__ import annotations

import numpy as np

from learnres.autograd.function import Function, OpError
from learnres.backend import as_strided, get_array_module
from learnres.functions._checks import check_channels, check_dtype, check_layout, check_window

__all__ = ["Conv2d", "conv2d"]


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

    Exercise 2.1: the windows of the input as columns.

    Shapes: x (N, C, H, W); a kh x kw kernel; strides sh, sw; padding ph, pw (0 if
    not given). Returns: cols (N, C*kh*kw, Ho*Wo), Ho = (H + 2*ph - kh) // sh + 1
    (likewise Wo), with x_pad = _pad(x, ph, pw) (Hp = H + 2*ph rows) and
        cols[n, (c, u, v), (i, j)] = x_pad[n, c, sh*i + u, sw*j + v]
    where (c, u, v) and (i, j) are flattened in C order (c slowest): the layout of
    torch.nn.functional.unfold, and the one ``w.reshape(O, C*kh*kw)`` expects.
    Hints: pad first (``_pad``, given above). A loop over the kh*kw offsets (u, v)
    is fine: each offset takes the strided slice
    x_pad[:, :, u : u + sh*(Ho - 1) + 1 : sh, v : ... : sw], an (N, C, Ho, Wo)
    array. Without loops: a view made with ``as_strided`` (imported above: the view
    ``xp.lib.stride_tricks.as_strided`` makes, built in C), then one copy.

    Stuck? Hints in three levels: ``pytest exercises --hint 2.1`` (add
    ``--hint-level 2`` or 3), or ``hint("2.1")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 2.1: _im2col (the windows of the input as columns)")


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

    Exercise 2.2: the convolution: pad, im2col and one matrix product.

    Shapes: x (N, C, H, W), w (O, C, kh, kw); stride and padding are (h, w) pairs.
    Returns y (N, O, Ho, Wo), the convolution without the bias.
    Formula: y_n = w2 @ cols_n for every image n, with w2 = w.reshape(O, C*kh*kw):
    (O, C*kh*kw) @ (C*kh*kw, Ho*Wo) is (O, Ho*Wo), then reshaped to (O, Ho, Wo).
    Hints: ``_im2col`` with the padding; ``@`` (``xp.matmul``) broadcasts w2 over the
    batch axis of cols, so one product does every image.

    Stuck? Hints in three levels: ``pytest exercises --hint 2.2`` (add
    ``--hint-level 2`` or 3), or ``hint("2.2")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 2.2: _correlate (the convolution: pad, im2col and one matrix product)"
    )


def _grad_weight(x, gy, kh, kw, stride, padding):
    """dL/dw = sum over images of gy_n @ cols_n^T, the columns recomputed from x.

    x (N, C, H, W), gy (N, O, Ho, Wo) -> (O, C*kh*kw)

    Exercise 2.3: dL/dw, the gradient of the weight.

    Shapes: x (N, C, H, W), gy = dL/dy (N, O, Ho, Wo); returns dL/dw as
    (O, C*kh*kw) (Conv2d.backward reshapes it to (O, C, kh, kw)).
    Formula: y_n = w2 @ cols_n, so dL/dw2 = sum over n of gy_n @ cols_n^T, with gy_n
    viewed as (O, Ho*Wo) and cols_n (C*kh*kw, Ho*Wo) the im2col of the padded x_n.

    Stuck? Hints in three levels: ``pytest exercises --hint 2.3`` (add
    ``--hint-level 2`` or 3), or ``hint("2.3")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 2.3: _grad_weight (dL/dw, the gradient of the weight)")


def _grads_transposed(gy, x, w, padding):
    """Both gradients of a stride-1 convolution from one set of columns: those of ``gy``.

    Each x[c, h, w] meets w[o, c, u, v] in output (h + p - u, w + p - v). Pad gy by k - 1 - p
    and take its columns, gcols[n, (o, u', v'), (h, w)] = gy_pad[n, o, h + u', w + v']: input
    pixel (h, w)'s outputs, the kernel read backwards (u' = k - 1 - u). Then
        dL/dx_n = w_t @ gcols_n, with w_t the kernel flipped in both spatial axes and C and O
                  swapped: the "transposed convolution" of gy;
        dL/dw[o, c, u, v] = sum_n (gcols_n @ x_n^T)[(o, k-1-u, k-1-v), c].
    gy (N, O, Ho, Wo), x (N, C, H, W), w (O, C, kh, kw) -> dL/dx (N, C, H, W), dL/dw (O, C*kh*kw)

    Exercise 2.4: dL/dx and dL/dw for stride 1, from the columns of gy.

    Shapes: gy = dL/dy (n, O, Ho, Wo), x (n, C, H, W), w (O, C, kh, kw); padding
    (ph, pw); the stride is 1 here. Return (dL/dx (n, C, H, W), dL/dw as (O, C*kh*kw),
    the layout of 2.3).

    Derive it: input pixel x[c, h, w] is multiplied by w[o, c, u, v] in output pixel
    (i, j) exactly when h = i + u - p (and w likewise). So dL/dx[c, h, w] sums
    gy[o, i, j] * w[o, c, u, v] over the outputs that saw it. Write i in terms of h and u:
    the sum has the form of a convolution of gy. Which padding makes it cover every h,
    which way does the kernel run, and which channel index plays the part of the input?
    Build it from ``_im2col`` of gy (padded) and one matrix product, as forward does.
    Then dL/dw[o, c, u, v] sums x[n, c, h, w] times the same entries of gy: the columns
    you just made hold them. Which of their rows belongs to (u, v)? One more product.
    (When the padding exceeds kernel - 1 the border outputs never saw x.)

    Stuck? Hints in three levels: ``pytest exercises --hint 2.4`` (add
    ``--hint-level 2`` or 3), or ``hint("2.4")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 2.4: _grads_transposed (dL/dx and dL/dw for stride 1, from the columns of gy)"
    )


def _grad_input_col2im(gy, w, x_shape, stride, padding):
    """dL/dx by col2im: the columns' gradient w^T @ gy, added back to where each came from.

    Used for stride > 1, where the transposed convolution would multiply mostly zeros.
    gy (N, O, Ho, Wo), w (O, C, kh, kw), x_shape (N, C, H, W) -> (N, C, H, W)

    Exercise 2.5: dL/dx for any stride, by col2im.

    Shapes: as in 2.4, with strides (sh, sw); returns dL/dx (n, C, H, W).

    Forward was y_n = w2 @ cols_n, and cols_n only copied values of x_pad. Derive the
    gradient in two steps: first dL/dcols_n from the matrix product (which operand is
    transposed, and what shape must it have?), then dL/dx_pad from the copying: every
    entry of cols came from one pixel of x_pad, and a pixel that sat in several windows
    received every one of their contributions. Which pixel did entry (c, u, v), (i, j)
    come from? Cut the padding off at the end; pixels no window reached get 0.

    Stuck? Hints in three levels: ``pytest exercises --hint 2.5`` (add
    ``--hint-level 2`` or 3), or ``hint("2.5")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 2.5: _grad_input_col2im (dL/dx for any stride, by col2im)")


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
