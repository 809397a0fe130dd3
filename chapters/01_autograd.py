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
# # Chapter 1 — Autograd from scratch
#
# **Covers** the machinery under every experiment of He et al. 2015: the SGD of §3.4 needs
# $\partial L/\partial\theta$ for all 0.27M–19.4M weights of Table 6. Graded exercise:
# `exercises/ex1_autograd.py`.
#
# *Deep Residual Learning for Image Recognition* (He, Zhang, Ren, Sun, 2015) trains networks
# of 20 to 1202 layers with stochastic gradient descent. Every one of those updates needs
# $\partial L / \partial \theta$ for every weight $\theta$: **backpropagation**. Before we can
# build a ResNet we build the machine that computes gradients.
#
# In this chapter:
#
# 1. the computational graph and the chain rule;
# 2. a tiny engine written by hand (40 lines), checked against learnres;
# 3. learnres's `Tensor` and `Function`: the same idea on arrays;
# 4. gradient checks: finite differences, and the reference, PyTorch.

# %% [markdown] slideshow={"slide_type": "notes"}
# Speaker notes: this chapter has no deep learning in it yet; it is the foundation every later
# chapter relies on. Budget ~40 minutes. Quick mode (`LEARNRES_QUICK=1`) changes nothing here
# except the number of points on the finite-difference plot.

# %% slideshow={"slide_type": "skip"}
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np
from ipywidgets import FloatLogSlider, interact

import learnres
from learnres import Function, Tensor
from learnres.autograd import topological_order
from learnres.functions import cross_entropy, exp, log, relu, softmax
from learnres.functions import sum as tsum
from learnres.lectures import fresh_label, save_figure, sizes
from learnres.testing import FLOAT64_RTOL, compare_with_torch, gradcheck

S = sizes()
print(f"learnres {learnres.__version__}, {S.mode} mode")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The computational graph
#
# A program that computes a number from inputs is a **graph**: each node is one elementary
# operation, each edge carries a value. Take
#
# $$ f(a, b, c) = \mathrm{relu}(a b + c)\cdot a . $$
#
# Name the intermediate values: $d = ab$, $e = d + c$, $g = \mathrm{relu}(e)$, $f = g\,a$.
# The graph has the inputs $a, b, c$ as leaves and $f$ as its root; note that $a$ is used
# **twice**.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The chain rule, node by node
#
# For a node $y = \phi(x_1, \dots, x_k)$ the chain rule says
#
# $$ \frac{\partial f}{\partial x_i} \;\mathrel{+}=\; \frac{\partial \phi}{\partial x_i}\,
#    \frac{\partial f}{\partial y} . $$
#
# * $\partial \phi / \partial x_i$ is **local**: it depends only on the node's own inputs
#   and can be computed during the forward pass.
# * $\partial f / \partial y$ (the *upstream gradient*) must be complete before it is passed
#   on: visit the nodes in **reverse topological order** (every node before its inputs).
# * "$\mathrel{+}=$" because a value used twice receives a contribution along each path
#   ($a$ above).
#
# Cost: one backward pass costs about as much as the forward pass, whatever the number of
# inputs. That is why training 1.7 million weights of ResNet-110 (Table 6) is possible.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. A tiny engine by hand
#
# `Scalar` holds a number, its gradient, its inputs (`parents`, in order) and the local
# derivatives $\partial y/\partial x_i$, computed in the forward pass. No closures: the
# whole graph is plain data you can print.

# %% slideshow={"slide_type": "subslide"}
class Scalar:
    """A number that remembers which operation made it (a teaching engine, for scalars)."""

    def __init__(self, value, parents=(), local_grads=(), op="leaf", name=""):
        self.value = float(value)
        self.name = name  # for pictures only
        self.grad = 0.0
        self.parents = parents  # the inputs of the op that made this node, in order
        self.local_grads = local_grads  # d self / d parent, one per parent
        self.op = op

    def __add__(self, other):
        other = other if isinstance(other, Scalar) else Scalar(other)
        return Scalar(self.value + other.value, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other):
        other = other if isinstance(other, Scalar) else Scalar(other)
        return Scalar(self.value * other.value, (self, other), (other.value, self.value), "*")

    def relu(self):
        return Scalar(max(self.value, 0.0), (self,), (float(self.value > 0),), "relu")

    def exp(self):
        e = math.exp(self.value)
        return Scalar(e, (self,), (e,), "exp")

    def log(self):
        return Scalar(math.log(self.value), (self,), (1.0 / self.value,), "log")

    __radd__, __rmul__ = __add__, __mul__

    def __repr__(self):
        return f"Scalar({self.value:.4g}, grad={self.grad:.4g}, op={self.op!r})"


# %% slideshow={"slide_type": "skip"}
def scalar_topological_order(root):
    """Every node reachable from ``root``, each before its parents (an explicit stack, no
    recursion: a 1202-layer ResNet would exceed Python's recursion limit)."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)  # post-order: after all of its parents
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node.parents if id(p) not in visited)
    return order[::-1]  # reversed post-order: root first


# %% [markdown] slideshow={"slide_type": "subslide"}
# The backward pass is a loop over the nodes in reverse topological order
# (`scalar_topological_order`, an explicit stack: no recursion limit at 1202 layers):

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
def scalar_backward(root):
    """Fill ``.grad`` of every node with d root / d node."""
    root.grad = 1.0
    for node in scalar_topological_order(root):
        for parent, local in zip(node.parents, node.local_grads):
            parent.grad += local * node.grad  # the chain rule; += collects every path


# %% [markdown] slideshow={"slide_type": "fragment"}
# Run it on $f = \mathrm{relu}(ab + c)\,a$ at $a = 2, b = -1.5, c = 4$. By hand:
# $e = 1 > 0$ so $\partial f/\partial a = b\,a + \mathrm{relu}(e) = -3 + 1 = -2$,
# $\partial f/\partial b = a \cdot a = 4$, $\partial f/\partial c = a = 2$.

# %% slideshow={"slide_type": "fragment"}
a, b, c = Scalar(2.0, name="a"), Scalar(-1.5, name="b"), Scalar(4.0, name="c")
f = (a * b + c).relu() * a
scalar_backward(f)
print(f"f = {f.value}")
print(f"df/da = {a.grad}, df/db = {b.grad}, df/dc = {c.grad}")
assert (a.grad, b.grad, c.grad) == (-2.0, 4.0, 2.0)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The graph we just walked
#
# Each box is a node (its value and, after backward, its gradient); arrows point from an
# input to the op that used it. The backward pass visits them right to left.

# %% slideshow={"slide_type": "fragment"}
def draw_graph(root, ax):
    """Lay the graph out by depth (distance from the leaves) and draw it."""
    order = scalar_topological_order(root)[::-1]  # leaves first
    depth = {}
    for node in order:
        depth[id(node)] = 1 + max((depth[id(p)] for p in node.parents), default=-1)
    columns = {}
    for node in order:
        columns.setdefault(depth[id(node)], []).append(node)
    where = {}
    for d, nodes in columns.items():
        for i, node in enumerate(nodes):
            lift = 0.9 if d % 2 else 0.0  # ops on alternate heights: no edge crosses a box
            where[id(node)] = (d, i - (len(nodes) - 1) / 2 + lift)
    for node in order:
        x1, y1 = where[id(node)]
        for p in node.parents:
            x0, y0 = where[id(p)]
            ax.annotate("", (x1 - 0.28, y1), (x0 + 0.28, y0),
                        arrowprops={"arrowstyle": "->", "color": "0.4"})
        label = f"{node.name or node.op}\n{node.value:.3g}\ngrad {node.grad:.3g}"
        ax.text(x1, y1, label, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "fc": "#e8f0fe" if node.parents else "#fde8e8"})
    ax.set_xlim(-0.6, max(columns) + 0.6)
    ax.set_ylim(-1.6, 2.2)
    ax.axis("off")


fig, ax = plt.subplots(figsize=(8, 3.2))
draw_graph(f, ax)
ax.set_title("f = relu(a*b + c) * a: leaves (red) and ops (blue), after backward")
save_figure(fig, "01_graph.png", fresh_label("the tiny engine's graph", data=False))
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ### The same computation in learnres
#
# learnres's `Tensor` does what `Scalar` does, on whole arrays. The check below is the
# contract of every teaching engine in these chapters: what we build by hand must agree with
# the package.

# %% slideshow={"slide_type": "fragment"}
ta, tb, tc = (Tensor(np.array(v), requires_grad=True) for v in (2.0, -1.5, 4.0))
tf = relu(ta * tb + tc) * ta
tf.backward()
print(tf, ta.grad, tb.grad, tc.grad)
for mine, theirs in ((a, ta), (b, tb), (c, tc)):
    assert np.isclose(mine.grad, float(theirs.grad)), (mine, theirs.grad)
print("tiny engine == learnres: gradients agree")

# %% [markdown] slideshow={"slide_type": "subslide"}
# A bigger test: a logistic loss $L = \log(1 + e^{-(w_1 x_1 + w_2 x_2 + w_0)})$ on a batch of
# random points, summed, so that each weight is used many times. Random inputs, both engines,
# same gradients.

# %% slideshow={"slide_type": "fragment"}
rng = np.random.default_rng(0)
X, w_init = rng.standard_normal((16, 2)), rng.standard_normal(3)

w = [Scalar(v) for v in w_init]
loss = Scalar(0.0)
for x1, x2 in X:
    z = w[1] * x1 + w[2] * x2 + w[0]
    loss = loss + (1 + (z * -1).exp()).log()
scalar_backward(loss)

tw = Tensor(w_init.copy(), requires_grad=True)
tz = Tensor(X) @ tw[1:] + tw[0]  # (16, 2) @ (2,) + () -> (16,)
tloss = tsum(log(1 + exp(-tz)))
tloss.backward()
print("tiny engine:", np.array([p.grad for p in w]))
print("learnres:   ", tw.grad)
np.testing.assert_allclose([p.grad for p in w], tw.grad, rtol=1e-12)
np.testing.assert_allclose(loss.value, tloss.item(), rtol=1e-12)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. learnres's Tensor and Function
#
# On arrays the local derivative is a Jacobian, far too big to store (a 3x3 convolution of a
# $128\times16\times32\times32$ batch has a Jacobian with $4\times10^{12}$ entries). Instead
# each primitive implements the **vector–Jacobian product**
#
# $$ \frac{\partial L}{\partial x} = \Big(\frac{\partial y}{\partial x}\Big)^{\!\top}
#    \frac{\partial L}{\partial y}, $$
#
# as a `Function` with `forward(*arrays)` directly above `backward(gy)`. Here is learnres's
# ReLU, printed from the package (not copied):

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
print(inspect.getsource(learnres.functions.elementwise.ReLU))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Broadcasting means summing in backward
#
# If $x$ of shape $(1, 4)$ was stretched to $(3, 4)$, each of its entries was used three
# times, so its gradient is the sum over the stretched axis — the "$\mathrel{+}=$" of the
# chain rule again. learnres's `Add` calls `sum_to` for this:

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
print(inspect.getsource(learnres.functions.elementwise.Add))

# %%
x = Tensor(np.ones((1, 4)), requires_grad=True)
y = Tensor(np.arange(12.0).reshape(3, 4))
(x + y).backward(np.ones((3, 4)))
print("dL/dx =", x.grad)  # each entry was used 3 times
assert np.array_equal(x.grad, np.full((1, 4), 3.0))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The graph walk
#
# `learnres.autograd.topological_order` is the loop we wrote for `Scalar`, on `Tensor`s.
# Let us check that both engines order the same graph the same way (by operation name).

# %% slideshow={"slide_type": "fragment"}
tg = relu(ta * tb + tc) * ta  # a fresh graph: backward released the first one's buffers
order = topological_order(tg)
print(" -> ".join(t.creator.name if t.creator else "leaf" for t in order))
mine = [n.op for n in scalar_topological_order(f) if n.op != "leaf"]
theirs = [t.creator.name for t in order if t.creator is not None]
print(mine, theirs)
assert [m.replace("*", "mul").replace("+", "add") for m in mine] == theirs

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Checking gradients
#
# ### Finite differences
#
# The central difference approximates a directional derivative without any backward code:
#
# $$ \frac{\partial L}{\partial x_i} \approx \frac{L(x + \varepsilon e_i) - L(x - \varepsilon e_i)}{2\varepsilon},
#    \qquad \text{error} = O(\varepsilon^2) + O(\epsilon_{\text{mach}}/\varepsilon). $$
#
# Too large an $\varepsilon$: truncation error. Too small: round-off. Move the slider to see
# both regimes for $L = \sum_i \tanh(x_i)^2$ in float64 and float32.

# %% slideshow={"slide_type": "skip"}
def fd_error(eps, dtype):
    """Max |central difference - exact| / max |exact| for L = sum tanh(x)^2 at a fixed x."""
    x = np.linspace(-2, 2, 7).astype(dtype)
    exact = 2 * np.tanh(x) * (1 - np.tanh(x) ** 2)
    eps = dtype(eps)
    numeric = np.empty_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (np.sum(np.tanh(up) ** 2) - np.sum(np.tanh(down) ** 2)) / (2 * eps)
    return float(np.abs(numeric - exact).max() / np.abs(exact).max())


eps_grid = np.logspace(-12, -1, 12 if S.quick else 45)
curves = {dt.__name__: [fd_error(e, dt) for e in eps_grid] for dt in (np.float64, np.float32)}


def plot_fd(eps=1e-6):
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, errs in curves.items():
        ax.loglog(eps_grid, errs, "o-", ms=3, label=name)
    ax.axvline(eps, color="k", lw=0.8)
    ax.set_xlabel(r"step $\varepsilon$")
    ax.set_ylabel("relative error")
    ax.set_title(f"central differences: eps = {eps:.1e}: "
                 f"float64 {fd_error(eps, np.float64):.1e}, float32 {fd_error(eps, np.float32):.1e}")
    ax.legend()
    return fig


fig = plot_fd()
save_figure(fig, "01_finite_differences.png", fresh_label("finite-difference error vs step", data=False))
plt.close(fig)


def show_fd(eps):
    plot_fd(eps)
    plt.show()


# %% slideshow={"slide_type": "fragment"}
interact(show_fd, eps=FloatLogSlider(value=1e-6, base=10, min=-12, max=-1, step=0.25,
                                     description="eps", readout_format=".1e"));

# %% [markdown] slideshow={"slide_type": "notes"}
# The minimum of the float64 curve sits near $\varepsilon \approx 10^{-5}$ (where
# $\varepsilon^2 \approx \epsilon_{\text{mach}}/\varepsilon$), float32's near $10^{-2}$.
# That is why `learnres.testing.gradcheck` works in float64 with $\varepsilon = 10^{-6}$.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Why the upstream gradient must be random
#
# `gradcheck(fn, inputs)` compares $\partial \langle g, f(x)\rangle / \partial x$ from
# backward with finite differences, for a **random** $g$. A common shortcut, checking
# $\partial\, \mathrm{sum}(f(x)) / \partial x$ (i.e. $g = 1$), can miss real bugs. Softmax's
# outputs always sum to 1, so $\partial\, \mathrm{sum}(\mathrm{softmax}(x))/\partial x = 0$
# for *any* backward that returns something summing to zero across a row.
#
# Below, a deliberately **wrong** softmax backward (it forgets a term) passes the `sum()`
# check and fails the random-$g$ check. (Batch norm has the same trap, Chapter 2.)

# %% slideshow={"slide_type": "subslide"}
class BrokenSoftmax(Function):
    """softmax over the last axis with a WRONG backward, to show what sum() checks miss."""

    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.y = e / e.sum(axis=-1, keepdims=True)
        return self.y

    def backward(self, gy):
        # right: y * (gy - sum(gy * y)); wrong: y * (gy - mean(gy)) -- zero for gy = 1 too
        return (self.y * (gy - gy.mean(axis=-1, keepdims=True)),)


x0 = np.random.default_rng(1).standard_normal((3, 5))
sum_check = gradcheck(lambda t: tsum(BrokenSoftmax()(t)), [x0])
random_check = gradcheck(lambda t: BrokenSoftmax()(t), [x0])
right_check = gradcheck(lambda t: softmax(t), [x0])
print("broken backward, g = 1:     ", "passed" if sum_check else "FAILED")
print("broken backward, random g:  ", "passed" if random_check else "FAILED")
print("learnres softmax, random g: ", "passed" if right_check else "FAILED")
assert sum_check and not random_check and right_check
print(random_check)

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Against the reference: PyTorch
#
# Finite differences are slow (two forward passes per input entry) and only accurate to
# about $10^{-7}$. The reference for every op of learnres is `torch.autograd`: same inputs,
# same random upstream gradient, compare the output and every input gradient. In float64
# both sides differ only by summation order, so the tolerance is tight
# (`learnres.testing.FLOAT64_RTOL` $=10^{-10}$).
#
# A two-layer perceptron with a cross-entropy loss, end to end:

# %% slideshow={"slide_type": "fragment"}
import torch


def mlp_loss(x, w1, w2, y, F):
    """relu(x @ w1) @ w2, then the mean cross-entropy; F supplies relu and cross_entropy."""
    return F["cross_entropy"](F["relu"](x @ w1) @ w2, y)


ours = {"relu": relu, "cross_entropy": cross_entropy}
theirs = {"relu": torch.relu, "cross_entropy": torch.nn.functional.cross_entropy}
rng = np.random.default_rng(2)
inputs = [rng.standard_normal((8, 5)), rng.standard_normal((5, 16)) / 2,
          rng.standard_normal((16, 3)) / 4, rng.integers(0, 3, size=8)]
result = compare_with_torch(
    lambda x, w1, w2, y: mlp_loss(x, w1, w2, y.data, ours),
    lambda x, w1, w2, y: mlp_loss(x, w1, w2, y, theirs),
    inputs, name="2-layer MLP + cross-entropy", dtype=np.float64,
    requires_grad=[True, True, True, False],
)
print(result)
result.assert_ok()
assert result.worst < FLOAT64_RTOL

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Accumulation, checked
#
# `compare_with_torch` also runs backward a second time without clearing gradients and checks
# that they doubled: a tensor used in two places (or two backward passes) must **add** its
# contributions, exactly like `parent.grad += ...` in our tiny engine.

# %% slideshow={"slide_type": "fragment"}
x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
(x * x).backward(np.ones(3))  # d(x^2)/dx = 2x: x is used twice in one op
first = x.grad.copy()
(x * x).backward(np.ones(3))
print(first, x.grad)
assert np.array_equal(first, 2 * x.data) and np.array_equal(x.grad, 2 * first)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * A computation is a graph; backpropagation visits it in reverse topological order and
#   applies the chain rule locally, **adding** contributions of every path.
# * learnres's `Function` pairs a `forward` on arrays with a `backward` computing the
#   vector–Jacobian product; `Tensor.backward()` walks the graph with a loop.
# * Gradients are checked two ways: finite differences with a **random** upstream gradient,
#   and parity with `torch.autograd` in float64.
#
# **Next** (Chapter 2): the two primitives that dominate a ResNet's cost, convolution and
# batch normalization, and their backward passes derived by hand.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Questions
#
# Write your prediction down **before** you run anything, then check it with this chapter's
# code. The answers are not in this notebook; instructors build them with
# `learnres lectures answers 01`.
#
# **Graded exercise:** `exercises/ex1_autograd.py` — you write `sum_to`, the backward of
# `Mul`, `MatMul` and `ReLU`, and `topological_order`; `pytest exercises/test_ex1_autograd.py`
# grades it.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q1 (predict, then check).** Flip one sign: $f = \mathrm{relu}(ab + c)\,a$ at
# $a = 2, b = -1.5$ and now $c = -4$. Predict $f$, $\partial f/\partial a$,
# $\partial f/\partial b$ and $\partial f/\partial c$ without running anything. Then check
# with `scalar_backward` and with learnres's `Tensor`. What does your answer say about a
# ReLU that is off for every input of a batch?

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q2 (derive before you look it up).** For logits $z \in \mathbb{R}^{N\times K}$ and labels
# $y$, the mean cross-entropy is $L = \frac1N\sum_n -\log \mathrm{softmax}(z_n)_{y_n}$.
# Derive $\partial L/\partial z$ by hand (it is short). Then write it in
# `cross_entropy_grad_yours` below and run the check: it compares your formula with the
# backward of `learnres.functions.cross_entropy` on random logits.

# %% slideshow={"slide_type": "skip"}
from learnres.lectures.derivations import check_derivation


def cross_entropy_grad_yours(z, y):
    """Your dL/dz of the mean cross-entropy: z (N, K) logits, y (N,) int labels -> (N, K)."""
    return None  # replace with your formula


def cross_entropy_grad_from_learnres(z, y):
    tz = Tensor(z.copy(), requires_grad=True)
    cross_entropy(tz, y).backward()
    return tz.grad


rng = np.random.default_rng(3)
ce_cases = [(rng.standard_normal((n, 5)) * 3, rng.integers(0, 5, n)) for n in (1, 4, 16)]
print(check_derivation(cross_entropy_grad_yours, cross_entropy_grad_from_learnres, ce_cases,
                       what="dL/dz of the mean cross-entropy"))

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q3 (a number to predict).** The finite-difference error has a truncation term
# $\approx \varepsilon^2$ and a round-off term $\approx \epsilon_{\text{mach}}/\varepsilon$.
# In float32 ($\epsilon_{\text{mach}} \approx 1.2\times10^{-7}$): at which step
# $\varepsilon$ is the error smallest, and how small is it? Predict both numbers, then
# check with `fd_error(eps, np.float32)` over a grid of steps.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q4 (think).** `BrokenSoftmax` passed the check with $g = 1$. Would a check with a
# *one-hot* upstream gradient — $g$ equal to 1 at one output per row, 0 elsewhere — have
# caught its bug? Decide from the two formulas in its `backward` comment first; then
# compute both backwards with such a $g$ and compare.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q5 (experiment).** How deep can a graph be? Build a chain of $n$ multiplications,
# `x = x * 1.0001` repeated $n$ times from one leaf, and call `backward()` for
# $n = 10^3, 10^4, 10^5$. Before you run it: does it crash? What gradient should the leaf
# get? How should the time grow with $n$? Then time it (`learnres.lectures.time_call`).
