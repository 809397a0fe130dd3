"""Exercise 2: Convolution by im2col.

A convolution is a matrix product in disguise: im2col lays every kh x kw window of the
(padded) input out as a column, and ``w.reshape(O, C*kh*kw) @ cols`` is the output.
Backward reuses the trick: dL/dw is ``gy @ cols^T``, and dL/dx puts ``w^T @ gy`` back
where each column came from (col2im), which for stride 1 is itself a convolution of gy
with the flipped kernel. You write the five steps; the class ``Conv2d`` below puts them
together (with a thread pool on the CPU) and is given.

Layout: NCHW; x (N, C, H, W), w (O, C, kh, kw), y (N, O, Ho, Wo) with
Ho = (H + 2*padding - kh) // stride + 1, and
y[n, o, i, j] = b[o] + sum over c, u, v of w[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v].

What you write (each stub raises NotImplementedError until you do):

    2.1  _im2col                 the windows of the input as columns
    2.2  _conv_chunk             images through pad, im2col and one matrix product
    2.3  _grad_weight            dL/dw, the gradient of the weight
    2.4  _grad_input_transposed  dL/dx for stride 1, a convolution with the flipped kernel
    2.5  _grad_input_col2im      dL/dx for any stride, by col2im

Check your work: ``pytest exercises/test_ex2_conv.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

from __future__ import annotations

from learnres.autograd.function import Function
from learnres.backend import get_array_module
from learnres.functions.conv import _check_conv, _pair, for_chunks

__all__ = ["Conv2d", "conv2d"]


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
    """Windows of a padded input as columns: (N, C, Hp, Wp) -> (N, C*kh*kw, Ho*Wo).

    Exercise 2.1: the windows of the input as columns.

    Shapes: x_pad (N, C, Hp, Wp), already padded; a kh x kw kernel; strides sh, sw.
    Returns: cols (N, C*kh*kw, Ho*Wo), Ho = (Hp - kh) // sh + 1 (likewise Wo), with
        cols[n, (c, u, v), (i, j)] = x_pad[n, c, sh*i + u, sw*j + v]
    where (c, u, v) and (i, j) are flattened in C order (c slowest): the layout of
    torch.nn.functional.unfold, and the one ``w.reshape(O, C*kh*kw)`` expects.
    Hints: a loop over the kh*kw offsets (u, v) is fine: each offset takes the
    strided slice x_pad[:, :, u : u + sh*(Ho - 1) + 1 : sh, v : ... : sw], an
    (N, C, Ho, Wo) array. Without loops: a view made with
    ``xp.lib.stride_tricks.as_strided``, then one copy.

    Stuck? Hints in three levels: ``pytest exercises --hint 2.1`` (add
    ``--hint-level 2`` or 3), or ``hint("2.1")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 2.1: _im2col (the windows of the input as columns)")


def _conv_chunk(x, w2, kh, kw, stride, padding, out=None):
    """One chunk of images through im2col + matmul: (n, C, H, W) -> (n, O, Ho*Wo).

    Exercise 2.2: images through pad, im2col and one matrix product.

    Shapes: x (n, C, H, W); w2 the weight as (O, C*kh*kw); stride and padding are
    (h, w) pairs. Returns (n, O, Ho*Wo): y without the bias.
    Formula: y_n = w2 @ cols_n for every image n: (O, C*kh*kw) @ (C*kh*kw, Ho*Wo).
    Hints: ``_pad`` then ``_im2col``; ``xp.matmul`` broadcasts w2 over the batch
    axis of cols. When ``out`` is given, write the result into it
    (``xp.matmul(a, b, out=out)``) and return it.

    Stuck? Hints in three levels: ``pytest exercises --hint 2.2`` (add
    ``--hint-level 2`` or 3), or ``hint("2.2")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 2.2: _conv_chunk (images through pad, im2col and one matrix product)"
    )


def _grad_weight(x, g, kh, kw, stride, padding):
    """dL/dw = sum over images of gy_n @ cols_n^T, the columns recomputed from x.

    x: (n, C, H, W), g: (n, O, Ho, Wo) -> (O, C*kh*kw)

    Exercise 2.3: dL/dw, the gradient of the weight.

    Shapes: x (n, C, H, W), g = dL/dy (n, O, Ho, Wo); returns dL/dw as
    (O, C*kh*kw) (Conv2d.backward reshapes it to (O, C, kh, kw)).
    Formula: y_n = w2 @ cols_n, so dL/dw2 = sum over n of g_n @ cols_n^T, with g_n
    viewed as (O, Ho*Wo) and cols_n (C*kh*kw, Ho*Wo) the im2col of the padded x_n.

    Stuck? Hints in three levels: ``pytest exercises --hint 2.3`` (add
    ``--hint-level 2`` or 3), or ``hint("2.3")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 2.3: _grad_weight (dL/dw, the gradient of the weight)")


def _grad_input_transposed(g, w, x_shape, padding, out):
    """dL/dx of a stride-1 convolution as a convolution of ``gy`` (the "transposed conv").

    Each x[c, h, w] meets w[o, c, u, v] in output (h + p - u, w + p - v), so
    dL/dx = conv(gy padded by k - 1 - p, w flipped in both spatial axes with C and O swapped).
    g: (n, O, Ho, Wo) -> out (n, C, H, W)

    Exercise 2.4: dL/dx for stride 1, a convolution with the flipped kernel.

    Shapes: g = dL/dy (n, O, Ho, Wo), w (O, C, kh, kw), x_shape = (C, H, W). Write
    dL/dx into ``out`` (n, C, H, W), a C-ordered array (Conv2d.backward passes its
    slice of the whole gradient): ``out[...] = ...``, or a matmul into the view
    ``out.reshape(n, C, H*W)``. The stride is 1 here.

    Derive it: input pixel x[c, h, w] is multiplied by w[o, c, u, v] in output pixel
    (i, j) exactly when h = i + u - p (and w likewise). So dL/dx[c, h, w] sums
    g[o, i, j] * w[o, c, u, v] over the outputs that saw it. Write i in terms of h and u:
    the sum has the form of a convolution of g. Which padding makes it cover every h,
    which way does the kernel run, and which channel index plays the part of the input?
    Build it from ``_pad`` and ``_im2col`` and one matrix product, as forward does.
    (When the padding exceeds kernel - 1 the border outputs never saw x.)

    Stuck? Hints in three levels: ``pytest exercises --hint 2.4`` (add
    ``--hint-level 2`` or 3), or ``hint("2.4")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 2.4: _grad_input_transposed (dL/dx for stride 1, a convolution with the flipped "
        "kernel)"
    )


def _grad_input_col2im(g, w, x_shape, stride, padding):
    """dL/dx by col2im: the columns' gradient w^T @ gy, added back to where each came from.

    Used for stride > 1, where the transposed convolution would multiply mostly zeros.
    g: (n, O, Ho, Wo) -> (n, C, H, W)

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
