# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: slideshow,tags,-jp-MarkdownHeadingCollapsed,-jupyter
#     formats: py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Chapter 2 — Convolution and batch normalization
#
# **Covers** §3.3–3.4 of He et al. 2015: the $3\times3$ convolutions of every plain and
# residual net (halve the map, double the filters), and "batch normalization right after
# each convolution and before activation". Graded exercises: `exercises/ex2_conv.py`,
# `exercises/ex3_batchnorm.py`.
#
# A residual network is, to first order, a stack of $3\times3$ convolutions, each followed by
# batch normalization (BN) and a ReLU: "We adopt batch normalization right after each
# convolution and before activation" (He et al. 2015, §3.4). Convolutions are where the time
# goes; BN is what lets a 56-layer plain net train at all (Chapter 3).
#
# 1. convolution as a matrix product: **im2col**, with pictures;
# 2. its backward: a matrix product for $\partial L/\partial W$ and a **transposed
#    convolution** for $\partial L/\partial x$;
# 3. `conv2d_naive` against the fast `conv2d`: same numbers, very different speed;
# 4. the batch-norm backward, derived; train vs eval mode.

# %% slideshow={"slide_type": "skip"}
import inspect

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import IntSlider, interact

import learnres
from learnres import Tensor
from learnres.functions import batch_norm, conv2d, conv2d_naive
from learnres.functions import sum as tsum
from learnres.lectures import fresh_label, save_figure, sizes, time_call
from learnres.lectures.derivations import check_derivation
from learnres.nn import BatchNorm2d
from learnres.testing import compare_with_torch, gradcheck

S = sizes()
rng = np.random.default_rng(0)
print(f"{S.mode} mode")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Convolution, the formula
#
# For an input $x$ of shape $(N, C, H, W)$ and a kernel $w$ of shape $(O, C, k_h, k_w)$, with
# stride $s$ and zero padding $p$ (what deep-learning libraries call convolution is a
# cross-correlation: the kernel is not flipped):
#
# $$ y_{n,o,i,j} = b_o + \sum_{c=0}^{C-1}\sum_{u=0}^{k_h-1}\sum_{v=0}^{k_w-1}
#    w_{o,c,u,v}\; x^{\text{pad}}_{n,\,c,\,s i+u,\,s j+v},
#    \qquad H_o = \Big\lfloor \frac{H + 2p - k_h}{s} \Big\rfloor + 1 . $$
#
# ResNets use $3\times3$ kernels with $p=1$ (the size is kept) and stride 2 where a stage
# halves the feature map and doubles the filters (§3.3: "if the feature map size is halved,
# the number of filters is doubled so as to preserve the time complexity per layer").

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### im2col: every window becomes a column
#
# Copy each $C\times k_h\times k_w$ window of the padded input into a column of a matrix
# $X_{\text{col}}$ of shape $(C k_h k_w,\; H_o W_o)$. The kernel, flattened to
# $W_{\text{row}}$ of shape $(O,\; C k_h k_w)$, then gives the whole convolution as **one
# matrix product**, which BLAS (or cuBLAS) runs at full speed:
#
# $$ Y = W_{\text{row}}\, X_{\text{col}} \quad\in \mathbb{R}^{O \times H_o W_o}. $$
#
# Here is im2col written with plain loops, for reading:

# %% slideshow={"slide_type": "fragment"}
def im2col_by_hand(x, kh, kw, stride=1, padding=0):
    """Windows of x (N, C, H, W) as columns: -> (N, C*kh*kw, Ho*Wo), loops for clarity."""
    N, C, H, W = x.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    cols = np.empty((N, C * kh * kw, Ho * Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            window = x_pad[:, :, stride * i : stride * i + kh, stride * j : stride * j + kw]
            cols[:, :, i * Wo + j] = window.reshape(N, -1)  # (N, C, kh, kw) -> (N, C*kh*kw)
    return cols


def conv2d_by_hand(x, w, stride=1, padding=0):
    """The convolution as im2col + one matrix product per image."""
    O, _, kh, kw = w.shape
    N, H, W = x.shape[0], x.shape[2], x.shape[3]
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    cols = im2col_by_hand(x, kh, kw, stride, padding)  # (N, C*kh*kw, Ho*Wo)
    y = w.reshape(O, -1) @ cols  # (O, C*kh*kw) @ (N, C*kh*kw, Ho*Wo) -> (N, O, Ho*Wo)
    return y.reshape(N, O, Ho, Wo)


x = rng.standard_normal((2, 3, 7, 7))
w = rng.standard_normal((4, 3, 3, 3))
for stride, padding in [(1, 0), (1, 1), (2, 1)]:
    mine = conv2d_by_hand(x, w, stride, padding)
    theirs = conv2d(Tensor(x), Tensor(w), stride=stride, padding=padding).data
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
    print(f"stride {stride}, padding {padding}: output {mine.shape}, by hand == learnres.conv2d")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### im2col in pictures
#
# One channel, a $5\times5$ input numbered $0..24$. The highlighted window (left) is copied
# into the highlighted column (right). Move the sliders: kernel size, stride, padding (the
# grey border), and which output position.

# %% slideshow={"slide_type": "skip"}
def draw_im2col(k=3, stride=1, padding=0, position=0, size=5):
    img = np.arange(size * size, dtype=float).reshape(1, 1, size, size)
    cols = im2col_by_hand(img, k, k, stride, padding)[0]  # (k*k, Ho*Wo)
    P = cols.shape[1]
    position = min(position, P - 1)
    Wo = (size + 2 * padding - k) // stride + 1
    i, j = divmod(position, Wo)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), width_ratios=[1, 1.3])
    n = size + 2 * padding
    padded = np.pad(img[0, 0], padding, constant_values=np.nan)
    ax1.imshow(np.isnan(padded), cmap="Greys", vmin=0, vmax=3)
    for (r, c), v in np.ndenumerate(padded):
        ax1.text(c, r, "0" if np.isnan(v) else int(v), ha="center", va="center", fontsize=9)
    ax1.add_patch(plt.Rectangle((stride * j - 0.5, stride * i - 0.5), k, k, fill=False,
                                ec="C3", lw=3))
    ax1.set_title(f"input {size}x{size}, pad {padding}: window {position} at ({i}, {j})")
    ax1.set_xticks([]), ax1.set_yticks([])
    ax1.set_xlim(-0.5, n - 0.5), ax1.set_ylim(n - 0.5, -0.5)
    ax2.imshow(cols, cmap="Blues", aspect="auto")
    for (r, c), v in np.ndenumerate(cols):
        if cols.shape[1] <= 16:
            ax2.text(c, r, int(v), ha="center", va="center", fontsize=7)
    ax2.add_patch(plt.Rectangle((position - 0.5, -0.5), 1, k * k, fill=False, ec="C3", lw=3))
    ax2.set_title(f"cols: ({k}x{k} = {k * k} rows) x ({P} output positions)")
    ax2.set_xlabel("output position i*Wo + j"), ax2.set_ylabel("(c, u, v)")
    return fig


fig = draw_im2col(3, 1, 0, 4)
save_figure(fig, "02_im2col.png", fresh_label("im2col of a 5x5 input, 3x3 kernel", data=False))
plt.close(fig)


def show_im2col(k, stride, padding, position):
    draw_im2col(k, stride, padding, position)
    plt.show()


# %% slideshow={"slide_type": "fragment"}
interact(show_im2col, k=IntSlider(3, 1, 5, description="kernel"),
         stride=IntSlider(1, 1, 3, description="stride"),
         padding=IntSlider(0, 0, 2, description="padding"),
         position=IntSlider(4, 0, 24, description="position"));

# %% [markdown] slideshow={"slide_type": "subslide"}
# learnres does the same without Python loops: a strided **view** of the padded input gives
# every window at once (no copy), and one copy lays it out as columns. (For stride 1 on
# NumPy the view is of x's column shifts, `_column_shifts`: the same windows in fewer,
# longer rows, which NumPy copies faster; its docstring says why.) Printed from the package:

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
print(inspect.getsource(learnres.functions.conv._im2col))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The backward pass of a convolution
#
# With $Y_n = W_{\text{row}} X_{\text{col},n}$ for each image $n$ and $G_n = \partial L/\partial Y_n$
# (shape $(O, H_oW_o)$), the matrix-product rule gives
#
# $$ \frac{\partial L}{\partial W_{\text{row}}} = \sum_n G_n\, X_{\text{col},n}^{\top},
#    \qquad \frac{\partial L}{\partial X_{\text{col},n}} = W_{\text{row}}^{\top} G_n, \qquad
#    \frac{\partial L}{\partial b_o} = \sum_{n,i,j} G_{n,o,i,j}. $$
#
# $\partial L/\partial x$ is then **col2im**: each column's gradient is added back onto the
# pixels of its window ("$\mathrel{+}=$": overlapping windows share pixels).

# %% slideshow={"slide_type": "fragment"}
def conv2d_backward_by_hand(x, w, gy, stride=1, padding=0):
    """(dL/dx, dL/dw, dL/db) of y = conv2d(x, w, b) given gy = dL/dy, via im2col/col2im."""
    O, C, kh, kw = w.shape
    N, H, W = x.shape[0], x.shape[2], x.shape[3]
    Ho, Wo = gy.shape[2], gy.shape[3]
    cols = im2col_by_hand(x, kh, kw, stride, padding)  # (N, C*kh*kw, Ho*Wo)
    g = gy.reshape(N, O, Ho * Wo)  # (N, O, Ho, Wo) -> (N, O, Ho*Wo)
    gw = (g @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)  # sum_n G_n X_n^T
    gcols = w.reshape(O, -1).T @ g  # W^T G: (C*kh*kw, O) @ (N, O, Ho*Wo) -> (N, C*kh*kw, Ho*Wo)
    gx_pad = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    for i in range(Ho):  # col2im: scatter each column back onto its window
        for j in range(Wo):
            window = gcols[:, :, i * Wo + j].reshape(N, C, kh, kw)  # (N, C*kh*kw) -> (N, C, kh, kw)
            gx_pad[:, :, stride * i : stride * i + kh, stride * j : stride * j + kw] += window
    gx = gx_pad[:, :, padding : padding + H, padding : padding + W]
    return gx, gw, gy.sum(axis=(0, 2, 3))


b = rng.standard_normal(4)
for stride, padding in [(1, 1), (2, 1), (2, 0)]:
    tx, tw, tb = (Tensor(a.copy(), requires_grad=True) for a in (x, w, b))
    y = conv2d(tx, tw, tb, stride=stride, padding=padding)
    gy = rng.standard_normal(y.shape)  # a random upstream gradient
    y.backward(gy)
    gx, gw, gb = conv2d_backward_by_hand(x, w, gy, stride, padding)
    for mine, theirs in ((gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    print(f"stride {stride}, padding {padding}: dL/dx, dL/dw, dL/db by hand == learnres")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### $\partial L/\partial x$ is a transposed convolution
#
# Look at one input pixel: it was multiplied by $w_{o,c,u,v}$ for every output that reached it.
# Collecting those terms, for stride 1,
#
# $$ \frac{\partial L}{\partial x_{n,c,h,w}} = \sum_{o,u,v} w_{o,c,u,v}\,
#    g^{\text{pad}}_{n,o,\,h+p-u,\,w+p-v}, $$
#
# a convolution of the upstream gradient (zero-padded by $k-1-p$) with the kernel
# **flipped** in both spatial axes and its in/out channels **swapped**. With stride $s$, first
# put $s-1$ zeros between the gradient's pixels ("dilate"). learnres computes it exactly so,
# reusing its forward machinery; we check that with learnres's own `conv2d`:

# %% slideshow={"slide_type": "fragment"}
def conv_input_grad_as_transposed_conv(gy, w, x_shape, stride, padding):
    """dL/dx = conv2d(dilate(gy), flip(w).swap(O, C)), stride 1, padding k - 1 - p."""
    O, _, kh, _ = w.shape
    N, _, Ho, Wo = gy.shape
    dilated = np.zeros((N, O, (Ho - 1) * stride + 1, (Wo - 1) * stride + 1))
    dilated[:, :, ::stride, ::stride] = gy
    w_t = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).copy()  # (O, C, kh, kw) -> (C, O, kh, kw)
    gx = conv2d(Tensor(dilated), Tensor(w_t), padding=kh - 1 - padding).data
    H, W = x_shape[2:]
    out = np.zeros(x_shape)  # rows/columns the strided forward never read get no gradient
    out[:, :, : gx.shape[2], : gx.shape[3]] = gx[:, :, :H, :W]
    return out


for stride, padding in [(1, 1), (2, 1)]:
    tx = Tensor(x.copy(), requires_grad=True)
    y = conv2d(tx, Tensor(w), stride=stride, padding=padding)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    gx = conv_input_grad_as_transposed_conv(gy, w, x.shape, stride, padding)
    np.testing.assert_allclose(gx, tx.grad, rtol=1e-10, atol=1e-12)
    print(f"stride {stride}: dL/dx == transposed convolution of dL/dy")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Checked against finite differences and against PyTorch
#
# Random upstream gradient, float64 (Chapter 1):

# %% slideshow={"slide_type": "fragment"}
small = [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)]
report = gradcheck(lambda a, k, c: conv2d(a, k, c, stride=2, padding=1), small, names=["x", "w", "b"])
print(report)
assert report
parity = compare_with_torch(
    lambda a, k, c: conv2d(a, k, c, stride=2, padding=1),
    lambda a, k, c: torch.nn.functional.conv2d(a, k, c, stride=2, padding=1),
    [rng.standard_normal((4, 3, 9, 9)), rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)],
    name="conv2d stride 2", dtype=np.float64,
)
print(parity)
parity.assert_ok()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. `conv2d_naive` vs `conv2d`
#
# learnres keeps a teaching twin, `conv2d_naive`: loops over output positions, one
# `tensordot` each, every line mapping to the formula. It computes the same numbers (and the
# same gradients) as the fast im2col version:

# %% slideshow={"slide_type": "fragment"}
xs = rng.standard_normal((3, 4, 8, 8))
ws = rng.standard_normal((5, 4, 3, 3))
txn, twn = Tensor(xs.copy(), requires_grad=True), Tensor(ws.copy(), requires_grad=True)
txf, twf = Tensor(xs.copy(), requires_grad=True), Tensor(ws.copy(), requires_grad=True)
yn, yf = conv2d_naive(txn, twn, stride=2, padding=1), conv2d(txf, twf, stride=2, padding=1)
g = rng.standard_normal(yn.shape)
yn.backward(g)
yf.backward(g)
for a_, b_ in ((yn.data, yf.data), (txn.grad, txf.grad), (twn.grad, twf.grad)):
    np.testing.assert_allclose(a_, b_, rtol=1e-10, atol=1e-12)
print("conv2d_naive == conv2d: outputs and both gradients agree")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Their speed
#
# A ResNet-20 layer of the first stage: 16 → 16 channels, $3\times3$, padding 1, float32,
# forward and backward, median of a few runs (smaller sizes in quick mode; a shared machine
# makes timings noisy). For learnres against PyTorch op by op, run `learnres bench`.

# %% slideshow={"slide_type": "fragment"}
N, size = S.timing_batch, S.naive_size
xa = rng.standard_normal((N, 16, size, size)).astype(np.float32)
wa = (rng.standard_normal((16, 16, 3, 3)) * 0.1).astype(np.float32)
ga = rng.standard_normal((N, 16, size, size)).astype(np.float32)


def step(conv):
    tx, tw = Tensor(xa, requires_grad=True), Tensor(wa, requires_grad=True)
    conv(tx, tw, padding=1).backward(ga)


times = {
    "conv2d_naive (loops)": time_call(lambda: step(conv2d_naive), repeats=S.timing_repeats),
    "conv2d (im2col)": time_call(lambda: step(conv2d), repeats=S.timing_repeats),
}
speedup = times["conv2d_naive (loops)"] / times["conv2d (im2col)"]
for name, t in times.items():
    print(f"{name:22s} {1e3 * t:9.2f} ms per forward + backward")
print(f"im2col is {speedup:.1f}x faster at this size")

fig, ax = plt.subplots(figsize=(6.4, 2.6))
ax.barh(list(times), [1e3 * t for t in times.values()], color=["C3", "C0"])
ax.set_xlabel("ms per forward + backward")
ax.set_title(f"3x3 conv, 16->16 ch., batch {N}, {size}x{size}, float32, CPU: {speedup:.1f}x")
save_figure(fig, "02_conv_speed.png", fresh_label(f"timing on this machine, median of {S.timing_repeats}", data=False))
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# The naive version loops $H_o W_o$ times in Python; each iteration is a small tensordot. The
# im2col version makes one large matrix product, which BLAS runs near peak FLOP rate. The
# ratio printed above is the one measured here, at this cell's size; the gap grows with the
# number of output positions the loop visits.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Batch normalization
#
# For each channel, over the $m = N H W$ values of the mini-batch (Ioffe & Szegedy 2015):
#
# $$ \mu = \frac1m\sum_i x_i,\quad \sigma^2 = \frac1m\sum_i (x_i-\mu)^2,\quad
#    \hat x_i = \frac{x_i-\mu}{\sqrt{\sigma^2+\epsilon}},\quad y_i = \gamma\,\hat x_i + \beta . $$
#
# The paper puts BN after every convolution, before the ReLU (§3.4), and relies on it to keep
# signals alive in deep plain nets (§4.1, Chapter 3).

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Derive it yourself first
#
# Before the next slide shows it: given $g_i = \partial L/\partial y_i$ for the $m$ values
# of one channel (training mode), find $\partial L/\partial x_j$. Three roads lead from
# $x_j$ to $L$ — through $\hat x_j$ directly, through $\mu$ and through $\sigma^2$ — and
# $\mu$ and $\sigma^2$ depend on **every** $x_i$. Write your result with NumPy in
# `bn_backward_yours` (means over the axes $(0, 2, 3)$, one per channel) and run the check
# under it: it compares your $\partial L/\partial x$ with learnres's backward on random
# inputs and a **random** upstream gradient.

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
def bn_backward_yours(x, gamma, g, eps=1e-5):
    """Your dL/dx of training-mode BN: x, g (N, C, H, W), gamma (C,) -> (N, C, H, W)."""
    return None  # replace with your formula


# %% slideshow={"slide_type": "fragment"}
def bn_grad_from_learnres(x, gamma, g):
    """dL/dx from learnres's batch_norm backward, the reference for your formula."""
    tx = Tensor(x.copy(), requires_grad=True)
    batch_norm(tx, None, None, Tensor(gamma), None, training=True).backward(g)
    return tx.grad


case_rng = np.random.default_rng(7)
bn_cases = [(case_rng.standard_normal((n, 3, 4, 4)) * 2 + 1, case_rng.standard_normal(3),
             case_rng.standard_normal((n, 3, 4, 4))) for n in (2, 8)]
print(check_derivation(bn_backward_yours, bn_grad_from_learnres, bn_cases, what="your BN dL/dx"))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The backward pass, derived
#
# Let $g_i = \partial L/\partial y_i$ and $\hat\sigma = \sqrt{\sigma^2+\epsilon}$. The affine
# part is immediate: $\partial L/\partial\beta = \sum_i g_i$,
# $\partial L/\partial\gamma = \sum_i g_i\hat x_i$, $\partial L/\partial \hat x_i = \gamma g_i$.
# The catch is that $\mu$ and $\sigma$ depend on **every** $x_j$:
#
# $$ \frac{\partial \hat x_i}{\partial x_j} = \frac{1}{\hat\sigma}\Big(\delta_{ij} - \frac1m
#    - \frac{\hat x_i \hat x_j}{m}\Big) \quad\text{(using } \partial\mu/\partial x_j = 1/m,\;
#    \partial\sigma^2/\partial x_j = 2(x_j-\mu)/m\text{)}. $$
#
# Summing $\gamma g_i\, \partial\hat x_i/\partial x_j$ over $i$:
#
# $$ \boxed{\frac{\partial L}{\partial x_j} = \frac{\gamma}{\hat\sigma}\Big(g_j - \overline{g}
#    - \hat x_j\, \overline{g\hat x}\Big)},\qquad \overline{g} = \frac1m\sum_i g_i,\;
#    \overline{g\hat x} = \frac1m\sum_i g_i\hat x_i . $$
#
# The gradient is projected: it has zero mean and is orthogonal to $\hat x$ (per channel).

# %% slideshow={"slide_type": "subslide"}
def batch_norm_backward_by_hand(x, gamma, g, eps=1e-5):
    """dL/dx, dL/dgamma, dL/dbeta of training-mode BN; x, g (N, C, H, W), gamma (C,)."""
    axes = (0, 2, 3)
    mu = x.mean(axis=axes, keepdims=True)
    sigma = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - mu) / sigma
    g_mean = g.mean(axis=axes, keepdims=True)
    gx_hat_mean = (g * x_hat).mean(axis=axes, keepdims=True)
    gx = gamma.reshape(1, -1, 1, 1) / sigma * (g - g_mean - x_hat * gx_hat_mean)
    return gx, (g * x_hat).sum(axis=axes), g.sum(axis=axes)


xb = rng.standard_normal((8, 3, 4, 4)) * 2 + 1
gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
tx, tg, tb = (Tensor(a.copy(), requires_grad=True) for a in (xb, gamma, beta))
y = batch_norm(tx, None, None, tg, tb, training=True)
g = rng.standard_normal(y.shape)
y.backward(g)
for mine, theirs in zip(batch_norm_backward_by_hand(xb, gamma, g), (tx.grad, tg.grad, tb.grad)):
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
print("BN backward by hand == learnres batch_norm (dL/dx, dL/dgamma, dL/dbeta)")
worked = check_derivation(lambda x_, gamma_, g_: batch_norm_backward_by_hand(x_, gamma_, g_)[0],
                          bn_grad_from_learnres, bn_cases, what="the worked formula")
print(worked)  # what "correct" looks like for your bn_backward_yours
assert worked
print("per-channel mean of dL/dx:", tx.grad.mean(axis=(0, 2, 3)))  # ~0: projected

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The `sum()` trap, again
#
# $\sum_i y_i = m\beta$ whatever $x$ is, so $\partial\,\mathrm{sum}(\mathrm{BN}(x))/\partial x = 0$:
# a gradient check with $g = 1$ accepts *any* backward that returns zero-mean gradients,
# e.g. one that forgets the $\hat x_j\,\overline{g\hat x}$ term. A random $g$ catches it.

# %% slideshow={"slide_type": "fragment"}
def bn(t):
    return batch_norm(t, None, None, training=True)


forgot_a_term = lambda x_, g_: (g_ - g_.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(
    x_.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
ones = np.ones_like(xb)
t_sum = Tensor(xb.copy(), requires_grad=True)
tsum(bn(t_sum)).backward()
print("d sum(BN(x))/dx from learnres: max |.| =", np.abs(t_sum.grad).max())
print("wrong backward vs right, g = 1:   ",
      np.abs(forgot_a_term(xb, ones) - batch_norm_backward_by_hand(xb, np.ones(3), ones)[0]).max())
print("wrong backward vs right, random g:",
      np.abs(forgot_a_term(xb, g) - batch_norm_backward_by_hand(xb, np.ones(3), g)[0]).max())
check = gradcheck(bn, [xb])
print(check)
assert check

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Train vs eval
#
# In training, BN normalises with the **batch** statistics and updates running averages
# ($\text{running} \leftarrow (1-\text{momentum})\,\text{running} + \text{momentum}\cdot
# \text{batch}$, with the unbiased variance, as PyTorch). In evaluation it uses the running
# statistics: the output of an image no longer depends on the rest of its batch. We run
# learnres's `BatchNorm2d` and PyTorch's side by side on the same batches:

# %% slideshow={"slide_type": "fragment"}
ours = BatchNorm2d(3)
theirs = torch.nn.BatchNorm2d(3)
for step_ in range(20):
    xb_ = (rng.standard_normal((16, 3, 4, 4)) * [[[[1.0]], [[2.0]], [[0.5]]]] + 3).astype(np.float32)
    ours(Tensor(xb_))
    theirs(torch.from_numpy(xb_))
np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-5)
np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-5)
print("running mean:", ours.running_mean, " (true mean 3)")
print("running var: ", ours.running_var, " (true var 1, 4, 0.25)")

ours.eval(), theirs.eval()
one_image = xb_[:1]
# training-mode output of the same image (batch statistics; running ones left alone)
in_batch = batch_norm(Tensor(xb_), None, None, ours.weight, ours.bias, training=True).data[:1]
alone_eval = ours(Tensor(one_image)).data
with_batch_eval = ours(Tensor(xb_)).data[:1]
np.testing.assert_allclose(alone_eval, theirs(torch.from_numpy(one_image)).detach().numpy(), rtol=1e-4, atol=1e-5)
print("eval: same output alone or in a batch:", np.allclose(alone_eval, with_batch_eval))
print("train vs eval output differ by", float(np.abs(in_batch - alone_eval).max()))
assert np.allclose(alone_eval, with_batch_eval)

# %% [markdown] slideshow={"slide_type": "notes"}
# A classic bug: evaluating a model left in training mode. The test error then depends on
# the test batch size and composition. learnres's `evaluate` switches to eval mode and back.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * im2col turns a convolution into one matrix product; its backward is a matrix product for
#   the weights and a transposed convolution (flipped, channel-swapped kernel on the dilated
#   gradient) for the input.
# * The naive loop and the fast version agree to $10^{-12}$; the fast one is far quicker.
# * BN's backward projects the gradient: $\frac{\gamma}{\hat\sigma}(g - \bar g - \hat x\,
#   \overline{g\hat x})$; check it with a random upstream gradient, never `sum()`.
# * Train mode uses batch statistics, eval mode the running ones.
#
# **Next** (Chapter 3): stack these layers 20 and 56 deep and watch the deeper net train
# *worse* — the degradation problem.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Questions
#
# Write your prediction down **before** you run anything, then check it with this chapter's
# code. The answers are not in this notebook; instructors build them with
# `learnres lectures answers 02`.
#
# **Graded exercises:** `exercises/ex2_conv.py` (im2col, the forward, $\partial L/\partial w$,
# $\partial L/\partial x$ as a transposed convolution and by col2im) and
# `exercises/ex3_batchnorm.py` (forward in both modes, the running statistics, the backward
# you derived above); `pytest exercises/test_ex2_conv.py exercises/test_ex3_batchnorm.py`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q1 (a number to predict).** im2col copies every window. For the first $3\times3$
# convolution of ResNet-20's first stage (16 → 16 channels, padding 1, $32\times32$ maps) on
# a batch of 128 float32 images, how many megabytes does $X_{\text{col}}$ take, and how many
# times the input's size is that? Predict, then check with `learnres.functions.conv._im2col`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q2 (derive).** In **evaluation** mode BN uses the running statistics. Derive
# $\partial L/\partial x$, $\partial L/\partial\gamma$ and $\partial L/\partial\beta$
# there — why is it so much simpler than the training-mode backward? Check your
# $\partial L/\partial x$ against `batch_norm(..., training=False)` with
# `check_derivation`, as above.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q3 (predict).** Feed BN's backward an upstream gradient that is itself affine in the
# normalised input, $g = a + b\,\hat x$ per channel ($a$, $b$ constants). What comes out?
# Predict its size from the boxed formula — exactly zero, or not quite? — then compute it
# with `batch_norm_backward_by_hand` for $a = 3$, $b = -2$.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q4 (think, then check).** A $3\times3$ convolution with stride 2 and **no** padding on
# an $8\times8$ input. How many of the 64 input pixels of a channel receive a zero
# gradient, whatever the upstream gradient, and which? Check with learnres's `conv2d` and a
# random upstream gradient.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q5 (experiment).** `BatchNorm2d`'s running mean starts at 0 and moves by
# `momentum = 0.1` toward each batch's mean. Feed it batches whose true mean is 3: after how
# many batches is the running mean within 1% of 3? Predict the number, then feed
# `BatchNorm2d(3)` such batches until it is. What does that mean for evaluating a model
# after only a few training steps (Chapter 4's fresh runs)?
