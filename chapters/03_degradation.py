# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # Chapter 3 — The degradation problem
#
# > "Is learning better networks as easy as stacking more layers?" (He et al. 2015, §1)
#
# Vanishing and exploding gradients were largely addressed by normalized initialization and
# batch normalization. Yet "with the network depth increasing, accuracy gets saturated […]
# and then degrades rapidly. Unexpectedly, such degradation is **not caused by
# overfitting**, and adding more layers to a suitably deep model leads to **higher training
# error**" (§1, Fig. 1).
#
# In this chapter:
#
# 1. plain-20 vs plain-56 on CIFAR-10 (Fig. 6, left): stored full runs and a fresh run;
# 2. the same with deep fully connected stacks (20 vs 56 layers);
# 3. the paper's argument that it is *not* vanishing gradients — measured, layer by layer.

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from ipywidgets import Checkbox, SelectionSlider, interact

from learnres.analysis import summary
from learnres.lectures import (
    batch,
    fresh_label,
    load_cifar10,
    missing_runs_note,
    probe,
    save_figure,
    show_figure,
    sizes,
    stored_label,
    stored_runs,
    train_fresh,
)
from learnres.models import mlp, plain, resnet
from learnres.nn import BasicBlock, PlainBasicBlock, init
from learnres.train import plot_history

S = sizes()
data = load_cifar10(S)
print(f"{S.mode} mode: {data}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Plain networks on CIFAR-10 (§4.2)
#
# The CIFAR-10 nets of the paper: a $3\times3$ convolution, then three stages of $2n$
# $3\times3$ layers on maps of $32\times32$, $16\times16$, $8\times8$ with 16, 32, 64 filters,
# global average pooling and a 10-way fully connected layer: **$6n+2$ weighted layers**.
# BN after every convolution, He initialisation, no dropout. A *plain* net is exactly this,
# with no shortcuts.
#
# | output map | $32\times32$ | $16\times16$ | $8\times8$ |
# |---|---|---|---|
# | layers | $1+2n$ | $2n$ | $2n$ |
# | filters | 16 | 32 | 64 |

# %% slideshow={"slide_type": "subslide"}
for depth in (20, 56):
    s = summary(plain(depth), (3, 32, 32), print_table=False)
    print(f"plain-{depth}: {s.total_params:,} parameters, {s.mult_adds / 1e6:.1f}M mult-adds per image")
print()
summary(plain(20), (3, 32, 32), max_depth=1);

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Fig. 6 (left), from stored full runs
#
# Training 56 layers for thousands of iterations takes hours on a CPU, so the longer curves
# come from runs made with `learnres train` and stored in `chapters/runs/` (the command that
# made each is printed under the figure: a few hundred iterations on the CIFAR-10 subset, far
# shorter than the paper's 64k, but long enough for the gap to open). Thin lines: training
# error; bold: test error, as in the paper.

# %% slideshow={"slide_type": "fragment"}
runs, missing = stored_runs(["plain20", "plain56"])
if missing:
    display(Markdown("**Note.** " + missing_runs_note(missing)))
if runs:
    fig = plot_history({f"plain-{n[5:]}": r.history for n, r in runs.items()},
                       title="Fig. 6 (left): plain nets on CIFAR-10 (stored runs)")
    path = save_figure(fig, "03_fig6_left_stored.png", stored_label(runs))
    for name, run in runs.items():
        print(f"{name}: {run.iterations} iterations, final train error "
              f"{run.final('train_error')}%, test error {run.final('test_error')}%")
        print(f"   made by: {run.command}")
    show_figure(fig)
else:
    print("No stored plain-net runs: only the fresh run below is shown.")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A fresh run, right here
#
# The same two nets trained in this notebook with the paper's recipe (SGD, momentum 0.9,
# weight decay $10^{-4}$, lr 0.1 divided by 10 at 1/2 and 3/4 of the run, crop + flip) on the
# CIFAR-10 subset. In quick mode this is a handful of iterations on a few hundred images: it
# shows the machinery, not the result — the figure says which mode made it.

# %% slideshow={"slide_type": "fragment"}
models, histories, probes_init = {}, {}, {}
xb, yb = batch(data, S.stats_batch, seed=1)
for depth in (20, 56):
    init.manual_seed(0)
    models[depth] = plain(depth)
    probes_init[depth] = probe(models[depth], xb, yb, select=PlainBasicBlock)
    histories[f"plain-{depth}"] = train_fresh(models[depth], data, desc=f"plain-{depth}")

for name, h in histories.items():
    print(f"{name}: final train error {h.last('train_error'):.1f}%, test error {h.last('test_error'):.1f}%")
fig = plot_history(histories, title=f"plain-20 vs plain-56, fresh {S.mode}-mode run")
save_figure(fig, "03_plain_fresh.png", fresh_label(f"{S.iterations} iterations"))
show_figure(fig)

# %% [markdown] slideshow={"slide_type": "notes"}
# In the stored runs (and in the paper) the 56-layer net has higher *training* error than
# the 20-layer one throughout training: it is not overfitting, it is failing to optimise.
# The 56-layer plain net can represent everything the 20-layer one can (set the extra layers
# to identities), so a better solution exists; SGD does not find it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Deep fully connected stacks
#
# Degradation is not about convolutions. `learnres.models.mlp(depth, width)` stacks
# Linear–BN–ReLU layers (the same "two layers per block" layout, no shortcuts) on flattened
# CIFAR images. 20 vs 56 layers:

# %% slideshow={"slide_type": "fragment"}
mlp_histories = {}
for depth in (20, 56):
    init.manual_seed(0)
    net = mlp(depth, S.mlp_width)
    mlp_histories[f"MLP-{depth}"] = train_fresh(net, data, iterations=S.mlp_iterations, lr=0.05,
                                                desc=f"MLP-{depth}")
for name, h in mlp_histories.items():
    print(f"{name}: final train error {h.last('train_error'):.1f}%, test error {h.last('test_error'):.1f}%")
fig = plot_history(mlp_histories, title=f"plain MLP-20 vs MLP-56 (width {S.mlp_width}), fresh run")
save_figure(fig, "03_mlp_fresh.png", fresh_label(f"{S.mlp_iterations} iterations, lr 0.05"))
show_figure(fig)

# %% slideshow={"slide_type": "fragment"}
mlp_runs, mlp_missing = stored_runs(["mlp20", "mlp56"])
if mlp_missing:
    display(Markdown("**Note.** " + missing_runs_note(mlp_missing)))
if mlp_runs:
    fig = plot_history({n: r.history for n, r in mlp_runs.items()},
                       title="plain MLP-20 vs MLP-56 (stored runs)")
    save_figure(fig, "03_mlp_stored.png", stored_label(mlp_runs))
    show_figure(fig)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Is it vanishing gradients? Measure it.
#
# §4.1: "We argue that this optimization difficulty is *unlikely* to be caused by vanishing
# gradients. These plain networks are trained with BN, which ensures forward propagated
# signals to have non-zero variances. We also verify that the backward propagated gradients
# exhibit healthy norms with BN. So neither forward nor backward signals vanish."
#
# For every block of the plain nets we record, on a fixed batch,
#
# * the standard deviation of its output $h_\ell$ (forward signal), and
# * the root-mean-square of $\partial L/\partial h_\ell$ (backward signal),
#
# at initialisation and after the fresh training run above (`learnres.lectures.probe`).

# %% slideshow={"slide_type": "subslide"}
probes_trained = {d: probe(models[d], xb, yb, select=PlainBasicBlock) for d in (20, 56)}

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for depth, colour in ((20, "C0"), (56, "C3")):
    for when, rep, style in (("init", probes_init[depth], "--"), ("trained", probes_trained[depth], "-")):
        layers = np.arange(1, len(rep.names) + 1)
        axes[0].plot(layers, rep.forward_std, style, color=colour, label=f"plain-{depth}, {when}")
        axes[1].semilogy(layers, rep.grad_rms, style, color=colour, label=f"plain-{depth}, {when}")
axes[0].set(xlabel="block (input → output)", ylabel="std of block output", title="forward signal")
axes[1].set(xlabel="block (input → output)", ylabel="rms of dL/d(block output)",
            title="backward signal (log scale)")
axes[0].legend(fontsize="small")
fig.tight_layout()
save_figure(fig, "03_signal_stats.png",
            fresh_label(f"batch of {S.stats_batch}, at init and after {S.iterations} iterations"))
plt.show()
for depth in (20, 56):
    g = np.asarray(probes_trained[depth].grad_rms)
    ratio = g[0] / g[-1]
    print(f"plain-{depth}: gradient rms at the first block / last block = {ratio:.2f}")
    assert np.all(np.isfinite(g)) and np.all(g > 0)

# %% [markdown] slideshow={"slide_type": "subslide"}
# What to look for: the forward std stays of order one in every block (BN re-normalises each
# layer), and the backward signal reaching the first block is nowhere near zero — in a deep
# plain net with BN it tends, at initialisation, to *grow* towards the input rather than
# vanish (a known effect of batch normalization in deep plain stacks; Yang et al. 2019).
# Nothing vanishes — yet plain-56 trains worse. The paper's conjecture: "deep plain nets may
# have exponentially low convergence rates, which impact the reducing of the training error".

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Play: depth vs gradient profile
#
# Choose a depth and whether the blocks have identity shortcuts (Chapter 4); the plot shows
# the rms gradient reaching each block's output at initialisation, on the same batch. With
# shortcuts the gradient has a direct path to every block:
# $\partial L/\partial x_\ell = \partial L/\partial x_L\,(1 + \partial/\partial x_\ell
# \sum_i F(x_i))$ — it cannot vanish through the sum.

# %% slideshow={"slide_type": "skip"}
profiles = {}


def gradient_profile(depth, residual):
    key = (depth, residual)
    if key not in profiles:
        init.manual_seed(0)
        net = resnet(depth) if residual else plain(depth)
        profiles[key] = probe(net, xb, yb, select=BasicBlock if residual else PlainBasicBlock)
    return profiles[key]


def show_profile(depth=S.depths[-1], compare=True):
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for residual in ((False, True) if compare else (False,)):
        rep = gradient_profile(depth, residual)
        ax.semilogy(np.arange(1, len(rep.names) + 1), rep.grad_rms, "o-", ms=3,
                    label=f"{'ResNet' if residual else 'plain'}-{depth}", color="C2" if residual else "C3")
    ax.set(xlabel="block (input → output)", ylabel="rms of dL/d(block output)",
           title=f"gradient reaching each block at initialisation, depth {depth}")
    ax.legend()
    return fig


fig = show_profile()
save_figure(fig, "03_gradient_profile.png", fresh_label(f"initialisation, batch of {S.stats_batch}"))
plt.close(fig)

# %% slideshow={"slide_type": "fragment"}
def play_profile(depth, compare):
    show_profile(depth, compare)
    plt.show()


interact(play_profile,
         depth=SelectionSlider(options=list(S.depths), value=S.depths[-1], description="depth"),
         compare=Checkbox(True, description="with the ResNet twin"));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * Deeper plain nets have **higher training error** (Fig. 6 left; Table 2 on ImageNet:
#   plain-34 28.54% vs plain-18 27.94% top-1 error) — an optimisation problem, not
#   overfitting. Fully connected stacks show it too.
# * With BN, neither the forward signal nor the backward gradient vanishes: the measured
#   per-block statistics stay far from zero (in a deep plain net the gradient even grows
#   towards the input at initialisation), yet the deeper net still trains worse.
# * A deeper net could copy a shallower one by making its extra layers identities; SGD does
#   not find that solution. **Next** (Chapter 4): make the identity the default — residual
#   learning.
