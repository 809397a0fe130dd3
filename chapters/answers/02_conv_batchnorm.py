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
# $X_{\text{col}}$ has $C k^2 = 144$ rows and $H_oW_o = 1024$ columns per image:
# $128 \times 144 \times 1024 \times 4$ bytes $\approx 75.5$ MB, against
# $128 \times 16 \times 1024 \times 4 \approx 8.4$ MB for the input: $k^2 = 9$ times. The
# fast convolution buys its matrix product with memory; learnres's `conv2d` therefore
# processes a large batch in chunks.

# %%
from learnres.functions.conv import _im2col

x = np.zeros((128, 16, 32, 32), dtype=np.float32)
cols = _im2col(x, 3, 3, 1, 1, 1, 1)  # 3x3 kernel, stride 1, padding 1
x_bytes = x.nbytes
print(f"X_col {cols.shape}: {cols.nbytes / 1e6:.1f} MB; input {x_bytes / 1e6:.1f} MB; "
      f"ratio {cols.nbytes / x_bytes:.1f}")
assert cols.shape == (128, 144, 1024) and cols.nbytes == 9 * x_bytes

# %% [markdown]
# ### Answer to Q2
#
# With fixed $\mu_r$, $\sigma_r^2$ the layer is affine in $x$:
# $y = \gamma (x - \mu_r)/\sqrt{\sigma_r^2 + \epsilon} + \beta$, and no statistic depends
# on the batch. So
# $\partial L/\partial x = \gamma\, g / \sqrt{\sigma_r^2 + \epsilon}$,
# $\partial L/\partial \gamma = \sum_i g_i \hat x_i$ (with the running statistics in
# $\hat x$), $\partial L/\partial\beta = \sum_i g_i$. The terms through $\mu$ and
# $\sigma^2$ vanish because they are constants now.

# %%
running_mean, running_var = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.3, 4.0])


def bn_eval_grad_answer(x, gamma, g):
    return gamma.reshape(1, -1, 1, 1) * g / np.sqrt(running_var.reshape(1, -1, 1, 1) + 1e-5)


def bn_eval_grad_from_learnres(x, gamma, g):
    tx = Tensor(x.copy(), requires_grad=True)
    batch_norm(tx, running_mean, running_var, Tensor(gamma), None, training=False).backward(g)
    return tx.grad


verdict = check_derivation(bn_eval_grad_answer, bn_eval_grad_from_learnres, bn_cases,
                           what="eval-mode BN dL/dx")
print(verdict)
assert verdict

# %% [markdown]
# ### Answer to Q3
#
# $\bar g = a$ (since $\overline{\hat x} = 0$) and
# $\overline{g\hat x} = b\,\overline{\hat x^2} = b\,\sigma^2/(\sigma^2+\epsilon)$, so
# $\partial L/\partial x = \frac{\gamma}{\hat\sigma}\, b\,\hat x\,\frac{\epsilon}{\sigma^2+\epsilon}$:
# not exactly zero, but smaller than $g$ by about $\epsilon/\sigma^2$ ($\approx 10^{-6}$
# here). BN is blind to any change of its input's mean and scale — those directions are
# exactly the ones it normalises away.

# %%
x_hat = (xb - xb.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(xb.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
g_affine = 3.0 - 2.0 * x_hat
gx = batch_norm_backward_by_hand(xb, np.ones(3), g_affine)[0]
sigma2 = xb.var(axis=(0, 2, 3))
print(f"largest |dL/dx| = {np.abs(gx).max():.2e} for an upstream gradient of size "
      f"{np.abs(g_affine).max():.1f}; eps / sigma^2 per channel = {1e-5 / sigma2}")
assert np.abs(gx).max() < 1e-4 * np.abs(g_affine).max()

# %% [markdown]
# ### Answer to Q4
#
# $H_o = \lfloor (8 - 3)/2 \rfloor + 1 = 3$: the windows start at rows 0, 2, 4 and cover
# rows 0–6; row 7 is never read, and neither is column 7. Those $8 + 8 - 1 = 15$ pixels
# get a zero gradient whatever $g$ is (the forward never used them).

# %%
tx = Tensor(rng.standard_normal((2, 3, 8, 8)), requires_grad=True)
y = conv2d(tx, Tensor(rng.standard_normal((4, 3, 3, 3))), stride=2)
y.backward(rng.standard_normal(y.shape))
dead = (tx.grad == 0).all(axis=(0, 1))  # (8, 8): zero for every image and channel
print(f"output {y.shape[2]}x{y.shape[3]}; {int(dead.sum())} of 64 pixels get no gradient:",
      sorted({(int(r), int(c)) for r, c in zip(*np.nonzero(dead))})[:3], "...")
assert dead.sum() == 15 and dead[7].all() and dead[:, 7].all()

# %% [markdown]
# ### Answer to Q5
#
# The running mean's distance to 3 shrinks by a factor $0.9$ per batch:
# $3 \cdot 0.9^n < 0.03$ for $n > \ln 0.01/\ln 0.9 \approx 43.7$, i.e. **44 batches** (a
# little noise from each batch's mean aside). A model evaluated after a dozen steps uses
# running statistics that are still far from the data's: its test error says little (why
# the chapters' short fresh runs are a sketch).

# %%
bn_layer = BatchNorm2d(3)
data_rng = np.random.default_rng(5)
n = 0
while np.abs(bn_layer.running_mean - 3.0).max() >= 0.03:
    bn_layer(Tensor((data_rng.standard_normal((64, 3, 8, 8)) + 3.0).astype(np.float32)))
    n += 1
print(f"within 1% of the true mean after {n} batches")
assert 42 <= n <= 46
