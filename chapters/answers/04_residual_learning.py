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
# Option B projects only where the shape changes: the first block of stages 2, 3 and 4,
# i.e. $64\to128$, $128\to256$, $256\to512$. Each is a $1\times1$ convolution ($C\cdot O$
# weights, no bias) and a BN ($2O$):
# $64\cdot128 + 256 + 128\cdot256 + 512 + 256\cdot512 + 1024 = 173{,}824$ parameters,
# 0.8% of ResNet-34.

# %%
extra_b = resnet34(shortcut="B").num_parameters() - resnet34(shortcut="A").num_parameters()
print(f"option B adds {extra_b:,} parameters")
assert extra_b == 64 * 128 + 256 + 128 * 256 + 512 + 256 * 512 + 1024 == 173_824

# %% [markdown]
# ### Answer to Q2
#
# Every block gets a $1\times1$ projection and a BN: 3 blocks at 64, 4 at 128 (the first
# from 64), 6 at 256 (the first from 128), 3 at 512 (the first from 256):
# $3(64^2+128) + (64\cdot128+256) + 3(128^2+256) + (128\cdot256+512) +{}$
# $5(256^2+512) + (256\cdot512+1024) + 2(512^2+1024) = 1{,}092{,}992$, about 5% of the
# net, for 0.33 points
# of top-1 error — and, in a bottleneck net, twice the cost of each block (Chapter 5). The
# paper concludes that "projection shortcuts are not essential" and keeps B at most.

# %%
base = resnet34(shortcut="A").num_parameters()
extra_c = resnet34(shortcut="C").num_parameters() - base
print(f"option C adds {extra_c:,} parameters, {100 * extra_c / base:.1f}% of ResNet-34 (A)")
assert extra_c == 1_092_992

# %% [markdown]
# ### Answer to Q3
#
# The shortcut copies $x_{n,c,2i,2j}$ to $y_{n,c,i,j}$ for $c < C$ and writes zeros to the
# other channels. So $\partial L/\partial x_{n,c,2i,2j} = \partial L/\partial y_{n,c,i,j}$,
# every other entry of $x$ (odd rows or columns) gets **zero** through the shortcut, and
# the gradient of the padded channels goes nowhere. (Those entries still get gradient
# through $\mathcal F$, whose stride-2 convolution reads them.)

# %%
tx = Tensor(np.random.default_rng(4).standard_normal((2, 16, 8, 8)), requires_grad=True)
y = subsample_and_zero_pad(tx, 32, 2)
gy = np.random.default_rng(5).standard_normal(y.shape)
y.backward(gy)
expected = np.zeros(tx.shape)
expected[:, :, ::2, ::2] = gy[:, :16]
np.testing.assert_array_equal(tx.grad, expected)
print(f"{int((tx.grad != 0).sum())} of {tx.grad.size} entries of x get gradient through "
      "option A's shortcut: the even rows and columns, from the first 16 channels of dL/dy")

# %% [markdown]
# ### Answer to Q4
#
# Every residual branch outputs 0, so each block computes $\mathrm{relu}(\text{shortcut}(x))$,
# and the input to every block is already non-negative: the net is conv1–BN–ReLU, then the
# shortcuts only (identities, and option A's subsample-and-pad twice), then pooling and fc.
# Depth drops out: ResNet-56 and ResNet-20 with the same three layers compute **the same
# logits**, to rounding.

# %%
init.manual_seed(0)
deep = resnet(56, zero_init_residual=True).eval()
init.manual_seed(1)
shallow = resnet(20, zero_init_residual=True).eval()
for name in ("conv1", "bn1", "fc"):
    for mine, theirs in zip(getattr(shallow, name).parameters(), getattr(deep, name).parameters()):
        mine.data[...] = theirs.data
with no_grad():
    a, b = deep(Tensor(xt)).data, shallow(Tensor(xt)).data
print("largest difference between the logits of ResNet-56 and ResNet-20:", np.abs(a - b).max())
assert np.allclose(a, b, rtol=1e-5, atol=1e-5)

# %% [markdown]
# ### Answer to Q5

# %%
spread = {}
for seed in (0, 1):
    init.manual_seed(seed)
    spread[seed] = train_fresh(resnet(20, shortcut="A"), data, seed=seed, desc=f"ResNet-20 A, seed {seed}")
seed_gap = abs(spread[0].last("test_error") - spread[1].last("test_error"))
ab_gap = abs(option_runs["A"].last("test_error") - option_runs["B"].last("test_error"))
n_test = len(data.test)
se = 100 * np.sqrt(0.1 * 0.9 / n_test)  # binomial standard error at 10% error
display(Markdown(
    f"Two seeds of option A end {seed_gap:.1f} points apart; options A and B above, "
    f"{ab_gap:.1f} points ({S.mode} mode, {n_test} test images). A difference between two "
    "runs is only evidence when it is large against the spread of seeds. And the test set "
    f"itself: at 10% error a test error measured on {n_test} images has a standard error of "
    f"{se:.1f} points. Seeing 0.5 points takes a standard error well below that, i.e. "
    "thousands of test images (the paper's 50,000) and several seeds per option."))
