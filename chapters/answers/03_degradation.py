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
# The degradation problem predicts that training error *rises* with depth for plain nets
# trained the same way: plain-20 < plain-32 < plain-56 (Fig. 6 left shows plain-20, 32, 44,
# 56 in that order throughout training). It is the **training** error that makes the
# point: overfitting would lower training error and raise test error; here the deeper net
# fits its own training set worse, so the optimiser, not the capacity, is failing. What
# our runs show:

# %%
plain32 = stored_seeds("plain32")
if plain32:
    display(Markdown("* " + compare("plain20", "plain32", "train_error") + "\n* "
                     + compare("plain32", "plain56", "train_error")))
else:
    init.manual_seed(0)
    h32 = train_fresh(plain(32), data, desc="plain-32")
    finals = {"plain-20": histories["plain-20"].last("train_error"), "plain-32": h32.last("train_error"),
              "plain-56": histories["plain-56"].last("train_error")}
    display(Markdown("No stored plain-32 run; fresh " + S.mode + "-mode runs (one seed), final "
                     "training error: " + ", ".join(f"{k} {v:.1f}%" for k, v in finals.items())
                     + (". In quick mode a dozen steps on 500 images show the machinery, not the "
                        "ordering: it takes the stored runs' thousands of iterations." if S.quick else ".")))

# %% [markdown]
# ### Answer to Q2
#
# Per stage $k$ with $c_k$ filters (16, 32, 64) a $3\times3$ convolution from $c$ to $c_k$
# channels has $9 c c_k$ weights and its BN $2c_k$. First layer: $9\cdot3\cdot16 + 32 = 464$.
# Stage 1: $2n$ layers of $9\cdot16^2 + 32 = 2336$. Stage 2: one of $9\cdot16\cdot32 + 64
# = 4672$, then $2n-1$ of $9\cdot32^2 + 64 = 9280$. Stage 3: one of $9\cdot32\cdot64 + 128
# = 18560$, then $2n-1$ of $9\cdot64^2 + 128 = 36992$. fc: $64\cdot10 + 10 = 650$. In all
#
# $$ P(n) = 97{,}216\,n - 21{,}926, \qquad P(3) = 269{,}722,\quad P(9) = 853{,}018. $$
#
# Option A shortcuts have no parameters, so ResNet-$(6n+2)$ has exactly as many (Table 6:
# 0.27M and 0.85M).

# %%
for n in (3, 5, 7, 9, 18):
    depth = 6 * n + 2
    formula = 97_216 * n - 21_926
    counted = plain(depth).num_parameters()
    print(f"plain-{depth}: formula {formula:,}, counted {counted:,}, ResNet-{depth} (A) "
          f"{resnet(depth).num_parameters():,}")
    assert counted == formula == resnet(depth).num_parameters()

# %% [markdown]
# ### Answer to Q3
#
# Each convolution: the identity kernel, $w_{o,c,u,v} = [o = c][u = v = 1]$ (centre tap,
# same channel; padding 1 keeps the size). Each BN in evaluation mode computes
# $\gamma(x - \mu_r)/\sqrt{\sigma_r^2+\epsilon} + \beta$: choose
# $\gamma = \sqrt{\sigma_r^2+\epsilon}$ and $\beta = \mu_r$. Each ReLU then sees a
# non-negative input (the previous block ended with a ReLU) and passes it unchanged.
#
# In **training** mode BN normalises with the statistics of the current batch, which change
# from batch to batch: no fixed $\gamma, \beta$ undo them exactly, so the identity is only
# approximately representable — one more reason it is hard for SGD to find through a deep
# stack, and why the paper adds it explicitly (Chapter 4).

# %%
from learnres import Tensor

blk = PlainBasicBlock(16, 16).eval()
for conv, bn_layer in ((blk.conv1, blk.bn1), (blk.conv2, blk.bn2)):
    conv.weight.data[...] = 0.0
    conv.weight.data[np.arange(16), np.arange(16), 1, 1] = 1.0
    bn_layer.weight.data[...] = np.sqrt(bn_layer.running_var + bn_layer.eps)
    bn_layer.bias.data[...] = bn_layer.running_mean
x_pos = np.maximum(np.random.default_rng(0).standard_normal((4, 16, 8, 8)), 0).astype(np.float32)
out = blk(Tensor(x_pos)).data
print("largest |block(x) - x| in eval mode:", np.abs(out - x_pos).max())
assert np.allclose(out, x_pos, atol=1e-6)
blk.train()
print("the same block in training mode:", np.abs(blk(Tensor(x_pos)).data - x_pos).max())

# %% [markdown]
# ### Answer to Q4

# %%
ratio = {}
for depth in (20, 56):
    for residual in (False, True):
        g = np.asarray(gradient_profile(depth, residual).grad_rms)
        ratio[("ResNet" if residual else "plain", depth)] = g[0] / g[-1]
lines = [f"* {kind}-{depth}: first / last block = {r:.3g}" for (kind, depth), r in ratio.items()]
deeper = "larger" if ratio[("plain", 56)] > ratio[("plain", 20)] else "smaller"
flatter = abs(np.log(ratio[("ResNet", 56)])) < abs(np.log(ratio[("plain", 56)]))
display(Markdown(
    f"Measured at initialisation on this chapter's batch ({S.stats_batch} images, {S.mode} mode):\n\n"
    + "\n".join(lines) + "\n\n"
    f"A ratio above 1 means the gradient *grows* toward the input: nothing vanishes. Here "
    f"plain-56's ratio is {deeper} than plain-20's, and ResNet-56's profile is "
    f"{'flatter' if flatter else 'not flatter'} than plain-56's (its ratio is "
    f"{'closer to' if flatter else 'further from'} 1). One batch at initialisation is a hint, "
    "not a law: compare a few seeds before you believe a small difference."))

# %% [markdown]
# ### Answer to Q5

# %%
slow = {}
for depth in (20, 56):
    init.manual_seed(0)
    slow[f"MLP-{depth}"] = train_fresh(mlp(depth, S.mlp_width), data, iterations=S.mlp_iterations,
                                       lr=0.01, desc=f"MLP-{depth}, lr 0.01")
gap = {lr: runs["MLP-56"].last("train_error") - runs["MLP-20"].last("train_error")
       for lr, runs in ((0.05, mlp_histories), (0.01, slow))}
display(Markdown(
    f"Final training error, MLP-56 minus MLP-20: {gap[0.05]:+.1f} points at lr 0.05, "
    f"{gap[0.01]:+.1f} points at lr 0.01 ({S.mlp_iterations} iterations, one seed, {S.mode} mode). "
    "A smaller step makes both nets slower; whether the deep one suffers more is what the run "
    "says — but one seed cannot separate a gap of a few points from seed noise (Chapter 4's "
    "stored runs use several seeds for exactly this reason)."))
