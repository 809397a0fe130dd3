# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# ### Answer to Q1
#
# $e = ab + c = -3 - 4 = -7 < 0$, so the ReLU is off: $g = 0$ and $f = 0$. Every gradient
# is 0: $\partial f/\partial b = a\cdot\mathrm{relu}'(e)\cdot a = 0$,
# $\partial f/\partial c = a\cdot\mathrm{relu}'(e) = 0$, and
# $\partial f/\partial a = \mathrm{relu}(e) + a\,\mathrm{relu}'(e)\,b = 0 + 0$. A ReLU that
# is off for every input of a batch passes no gradient back: the weights before it get no
# update from that batch (a "dead" unit if it stays so).

# %%
a, b, c = Scalar(2.0), Scalar(-1.5), Scalar(-4.0)
f = (a * b + c).relu() * a
scalar_backward(f)
ta, tb, tc = (Tensor(np.array(v), requires_grad=True) for v in (2.0, -1.5, -4.0))
(relu(ta * tb + tc) * ta).backward()
print(f"f = {f.value}; tiny engine: {a.grad}, {b.grad}, {c.grad}; "
      f"learnres: {float(ta.grad)}, {float(tb.grad)}, {float(tc.grad)}")
assert f.value == 0 and (a.grad, b.grad, c.grad) == (0.0, 0.0, 0.0)
assert float(ta.grad) == float(tb.grad) == float(tc.grad) == 0.0

# %% [markdown]
# ### Answer to Q2
#
# With $p_n = \mathrm{softmax}(z_n)$, $-\log p_{n,y_n} = -z_{n,y_n} + \log\sum_k e^{z_{n,k}}$,
# so $\partial/\partial z_{n,k} = -[k = y_n] + p_{n,k}$. With the mean over the batch:
#
# $$ \frac{\partial L}{\partial z} = \frac{1}{N}\big(\mathrm{softmax}(z) - \mathrm{onehot}(y)\big). $$
#
# Each row sums to zero: pushing all logits of an image up together changes nothing.

# %%
def cross_entropy_grad_answer(z, y):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


verdict = check_derivation(cross_entropy_grad_answer, cross_entropy_grad_from_learnres, ce_cases,
                           what="dL/dz of the mean cross-entropy")
print(verdict)
assert verdict

# %% [markdown]
# ### Answer to Q3
#
# The error $\approx \varepsilon^2 + \epsilon_{\text{mach}}/\varepsilon$ is smallest where
# both terms are equal: $\varepsilon^\ast \approx \epsilon_{\text{mach}}^{1/3} \approx 5\times10^{-3}$
# in float32, with an error of about $\epsilon_{\text{mach}}^{2/3} \approx 2\times10^{-5}$
# (the constants of this function shift both a little). In float64 the same argument gives
# $\approx 6\times10^{-6}$ and $\approx 4\times10^{-11}$: why float64 and
# $\varepsilon = 10^{-6}$ for gradient checks.

# %%
steps = np.logspace(-5, -0.5, 28)
errors = [fd_error(e, np.float32) for e in steps]
best = int(np.argmin(errors))
print(f"float32: smallest error {errors[best]:.1e} at eps = {steps[best]:.1e}")
assert 1e-3 <= steps[best] <= 3e-2 and errors[best] < 1e-3

# %% [markdown]
# ### Answer to Q4
#
# Yes. With $g = e_k$ in a row, the wrong backward returns $y \odot (e_k - \tfrac15)$, the
# right one $y \odot (e_k - y_k)$: they agree only when $y_k = 1/5$, i.e. almost never. What
# made $g = 1$ blind is that it is constant along the axis that softmax normalises; any
# upstream gradient that varies along that axis exposes the bug. A random $g$ does so
# with probability one, which is why the checks use it.

# %%
gy = np.zeros_like(x0)
gy[:, 0] = 1.0  # one-hot: the first output of every row
t = Tensor(x0.copy(), requires_grad=True)
softmax(t).backward(gy)  # the right backward, learnres's
broken = BrokenSoftmax()
broken.forward(x0)
(wrong,) = broken.backward(gy)
print("largest difference between the broken and the right backward:", np.abs(wrong - t.grad).max())
assert np.abs(wrong - t.grad).max() > 1e-3

# %% [markdown]
# ### Answer to Q5
#
# It does not crash: `topological_order` walks the graph with an explicit stack, not with
# recursion, so depth is limited by memory only. The leaf's gradient is
# $1.0001^n$ ($\approx 1.105$, $2.718$, $2.2\times10^4$). Time grows linearly with $n$: each
# node is visited once forward and once backward.

# %%
from learnres.lectures import time_call


def chain(n):
    x0_ = Tensor(np.array(1.0), requires_grad=True)
    y_ = x0_
    for _ in range(n):
        y_ = y_ * 1.0001
    y_.backward()
    return x0_


for n in (1_000, 10_000) if S.quick else (1_000, 10_000, 100_000):
    leaf = chain(n)
    assert np.isclose(float(leaf.grad), 1.0001**n, rtol=1e-9)
    print(f"n = {n:>7,}: gradient {float(leaf.grad):.6g} (1.0001^n = {1.0001**n:.6g}), "
          f"{1e3 * time_call(lambda n=n: chain(n), repeats=1, warmup=0):.0f} ms")
