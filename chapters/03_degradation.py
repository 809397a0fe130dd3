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
# # Chapter 3 — The degradation problem
#
# **Covers** §1 (Fig. 1) and §4.1–4.2 of He et al. 2015: the plain nets, Fig. 6 (left),
# the argument that the degradation is not caused by vanishing gradients, and Fig. 4
# (left) and Table 2 for ImageNet.
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
# 1. plain-20 vs plain-56 on CIFAR-10 (Fig. 6, left): stored runs of 2,000 iterations and a
#    fresh run made here;
# 2. the same with deep fully connected stacks (20 vs 56 layers);
# 3. the paper's argument that it is *not* vanishing gradients — measured, layer by layer.

# %% slideshow={"slide_type": "skip"}
import inspect
import time

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
    stored_seeds,
    train_fresh,
)
from learnres.lectures.paper import compare, fig6_panel, limitations, model_label, table6_markdown
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

# %% slideshow={"slide_type": "fragment"}
for depth in (20, 56):
    s = summary(plain(depth), (3, 32, 32), print_table=False)
    print(f"plain-{depth}: {s.total_params:,} parameters, {s.mult_adds / 1e6:.1f}M mult-adds per image")

# %%
summary(plain(20), (3, 32, 32), max_depth=1);

# %% [markdown] slideshow={"slide_type": "subslide"}
# A plain block is Chapter 4's residual block without its shortcut: two $3\times3$
# convolutions with BN, a ReLU after each. learnres's `PlainBasicBlock.forward`, from the
# package:

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
print(inspect.getsource(PlainBasicBlock.forward))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Fig. 6 (left), from stored runs
#
# Training 56 layers for thousands of iterations takes more than an hour on two CPU cores,
# so these curves come from runs made with `learnres train` and stored in `chapters/runs/`
# (the commands are printed under the figure). Thin lines: training error; bold: test
# error, as in the paper; each the mean over the stored seeds, with the seeds' range shaded.

# %% slideshow={"slide_type": "fragment"}
plain_names = ["plain20", "plain56"]
plain_runs = {model_label(n): stored_seeds(n) for n in plain_names}
missing = [n for n in plain_names if not stored_seeds(n)]
if missing:
    display(Markdown("**Note.** " + missing_runs_note(missing)))
if any(plain_runs.values()):
    fig = fig6_panel(plain_runs, "Fig. 6 (left) style: plain nets, CIFAR-10 subset (stored runs)")
    found = {f"{n}-seed{k}": r for n in plain_names for k, r in stored_seeds(n).items()}
    path = save_figure(fig, "03_fig6_left_stored.png", stored_label(found))
    show_figure(fig)
    display(Markdown(table6_markdown(plain_names)))
    display(Markdown(limitations(plain_names)))
    display(Markdown("* " + compare("plain20", "plain56", "train_error") + "\n* "
                     + compare("plain20", "plain56", "test_error")))
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
# In the paper the 56-layer net has higher *training* error than the 20-layer one
# throughout training (Fig. 6 left): it is not overfitting, it is failing to optimise. The
# sentences under the stored figure say whether our runs show the same, and how clearly.
# The 56-layer plain net can represent everything the 20-layer one can (set the extra
# layers to identities), so a better solution exists; SGD does not find it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Deep fully connected stacks
#
# Is degradation about convolutions? `learnres.models.mlp(depth, width)` stacks
# Linear–BN–ReLU layers (the same "two layers per block" layout, no shortcuts) on flattened
# CIFAR images: the simplest deep plain net. 20 vs 56 layers, first fresh (quick mode: a
# sketch), then from stored runs (the paper's recipe, 2,000 iterations), with a sentence
# that says what the stored runs show.

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
mlp_names = ["mlp20", "mlp56"]
mlp_missing = [n for n in mlp_names if not stored_seeds(n)]
if mlp_missing:
    display(Markdown("**Note.** " + missing_runs_note(mlp_missing)))
if len(mlp_missing) < len(mlp_names):
    fig = fig6_panel({model_label(n): stored_seeds(n) for n in mlp_names},
                     "plain MLP-20 vs MLP-56, CIFAR-10 subset (stored runs)")
    found = {f"{n}-seed{k}": r for n in mlp_names for k, r in stored_seeds(n).items()}
    save_figure(fig, "03_mlp_stored.png", stored_label(found))
    show_figure(fig)
    display(Markdown(table6_markdown(mlp_names)))
    display(Markdown("* " + compare("mlp20", "mlp56", "train_error") + "\n* "
                     + compare("mlp20", "mlp56", "test_error")))

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


def signal_facts(rep):
    """What one probe shows: the forward std's range, and the backward rms gradient's span
    (largest / smallest block, and where the smallest is) and input-end / output-end ratio."""
    std, g = np.asarray(rep.forward_std), np.asarray(rep.grad_rms)
    assert np.all(np.isfinite(g)) and np.all(g > 0)
    return {"std": (std.min(), std.max()), "span": g.max() / g.min(),
            "low": int(np.argmin(g)) + 1, "high": int(np.argmax(g)) + 1,
            "in_out": g[0] / g[-1], "blocks": len(g)}


lines = []
for depth in (20, 56):
    for when, rep in (("at initialisation", probes_init[depth]), ("after the fresh run", probes_trained[depth])):
        f = signal_facts(rep)
        lines.append(f"* plain-{depth} {when}: forward std between {f['std'][0]:.2f} and {f['std'][1]:.2f}; "
                     f"the rms gradient spans a factor of {f['span']:,.0f} over {f['blocks']} blocks "
                     f"(largest at block {f['high']}, smallest at block {f['low']}); "
                     f"first block / last block = {f['in_out']:.3g}.")
display(Markdown("**Measured on this batch** (fresh, " + S.mode + " mode):\n\n" + "\n".join(lines)))

# %% [markdown] slideshow={"slide_type": "subslide"}
# What to look for, in the figure and in the numbers above:
#
# * **Forward:** the std of every block's output stays of order one — BN re-normalises each
#   layer, as the paper says.
# * **Backward:** "vanishing" would mean the gradient at the first blocks is orders of
#   magnitude below the last block's, more so the deeper the net. Read the first / last
#   ratio: at initialisation a deep plain net with BN tends to have the opposite, a gradient
#   that *grows* towards the input (an effect of batch normalization in deep plain stacks;
#   Yang et al. 2019). Read the span too: where it is large, the gradient does dip by that
#   factor somewhere in the middle of the net — a profile, not a uniform decay.
# * These are one batch and a short fresh run; the paper measured its trained nets. What
#   carries is the shape of the argument: the statistics stay finite and far from zero at
#   the input end, yet plain-56 trains worse (section 1). The paper's conjecture: "deep
#   plain nets may have exponentially low convergence rates, which impact the reducing of
#   the training error".

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Play: depth vs gradient profile
#
# Choose a depth and whether the blocks have identity shortcuts (Chapter 4); the plot shows
# the rms gradient reaching each block's output at initialisation, on the same batch. What
# to look at: how far each curve rises or falls from the output end (right) to the input
# end (left), and how that changes with depth — the ratios are printed under the plot.
#
# Why the shortcut flattens it: for residual units **without** a ReLU after the addition,
# $x_{\ell+1} = x_\ell + \mathcal F(x_\ell)$, so $x_L = x_\ell + \sum_{i=\ell}^{L-1}
# \mathcal F(x_i)$ and
# $\frac{\partial L}{\partial x_\ell} = \frac{\partial L}{\partial x_L}\Big(I +
# \frac{\partial}{\partial x_\ell}\sum_{i=\ell}^{L-1}\mathcal F(x_i)\Big)$, with $I$ the
# identity matrix: a term that reaches every block unchanged (He et al. 2016, *Identity
# Mappings in Deep Residual Networks*, Eq. 5 — a follow-up paper). The blocks of this paper
# put a ReLU after the addition, so the identity path passes only where that ReLU is open;
# the equation is the idea, not an exact law for these nets.

# %% slideshow={"slide_type": "skip"}
profiles = {}


def gradient_profile(depth, residual):
    key = (depth, residual)
    if key not in profiles:
        init.manual_seed(0)
        net = resnet(depth) if residual else plain(depth)
        profiles[key] = probe(net, xb, yb, select=BasicBlock if residual else PlainBasicBlock)
    return profiles[key]


def show_profile(depth=S.depths[-1], with_resnet=True):
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for residual in ((False, True) if with_resnet else (False,)):
        rep = gradient_profile(depth, residual)
        ax.semilogy(np.arange(1, len(rep.names) + 1), rep.grad_rms, "o-", ms=3,
                    label=f"{'ResNet' if residual else 'plain'}-{depth}", color="C2" if residual else "C3")
    ax.set(xlabel="block (input → output)", ylabel="rms of dL/d(block output)",
           title=f"gradient reaching each block at initialisation, depth {depth}")
    ax.legend()
    return fig


tic = time.perf_counter()
for depth in S.depths:  # every position of the widget, once: moving it only redraws
    for residual in (False, True):
        gradient_profile(depth, residual)
profile_seconds = time.perf_counter() - tic
fig = show_profile()
save_figure(fig, "03_gradient_profile.png", fresh_label(f"initialisation, batch of {S.stats_batch}"))
plt.close(fig)
for residual in (False, True):
    g = np.asarray(gradient_profile(S.depths[-1], residual).grad_rms)
    print(f"{'ResNet' if residual else 'plain'}-{S.depths[-1]} at initialisation: gradient at the "
          f"first block / last block = {g[0] / g[-1]:.3g}, largest / smallest block = {g.max() / g.min():.3g}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The widget below redraws profiles that were all measured once, when the cell above ran
# (every depth of the slider, plain and ResNet, at initialisation, on the same batch):

# %% slideshow={"slide_type": "fragment"}
display(Markdown(f"**Precomputed:** {2 * len(S.depths)} gradient profiles (depths "
                 f"{', '.join(map(str, S.depths))}, plain and ResNet, a batch of {S.stats_batch}) "
                 f"in {profile_seconds:.0f} s when the cell above ran; the widget only redraws them."))


def play_profile(depth, with_resnet):
    show_profile(depth, with_resnet)
    plt.show()


interact(play_profile,
         depth=SelectionSlider(options=list(S.depths), value=S.depths[-1], description="depth"),
         with_resnet=Checkbox(True, description="with the ResNet twin"));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * The paper: deeper plain nets have **higher training error** — on CIFAR-10 (Fig. 6 left)
#   and on ImageNet, where plain-34's training error stays above plain-18's throughout
#   (Fig. 4 left) and its validation error is higher too (Table 2: 28.54% vs 27.94% top-1,
#   10-crop). An optimisation problem, not overfitting.
# * With BN, neither the forward signal nor the gradient at the input end vanishes (section
#   3's numbers), yet the deeper net trains worse.
# * A deeper net could copy a shallower one by making its extra layers identities; SGD does
#   not find that solution. **Next** (Chapter 4): make the identity the default — residual
#   learning.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Summary: what **our** stored runs show
#
# Computed from `chapters/runs/` now (see the limitations paragraph above):

# %% slideshow={"slide_type": "fragment"}
display(Markdown("\n".join("* " + compare(a, b, column) for a, b, column in (
    ("plain20", "plain56", "train_error"), ("plain20", "plain56", "test_error"),
    ("mlp20", "mlp56", "train_error")))))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Questions
#
# Write your prediction down **before** you run anything, then check it with this chapter's
# code. The answers are not in this notebook; instructors build them with
# `learnres lectures answers 03`.
#
# **Graded exercises:** the plain nets here are built from the pieces you write in
# `exercises/ex2_conv.py`, `exercises/ex3_batchnorm.py` and `exercises/ex4_residual.py`;
# assembling a net of $6n+2$ layers and a degradation study of your own are among the
# exercises in `exercises/` (see `exercises/README.md`).

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q1 (predict, then check).** What does the degradation problem predict for **plain-32**:
# where does its final *training* error fall, relative to plain-20's and plain-56's, trained
# the same way? Write the three in the order you expect, and say why it is the training
# error, not the test error, that makes the point. Then check: train `plain(32)` with
# `train_fresh` like the others (or look up a stored `plain32` run).

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q2 (derive a formula, then check it).** Count the parameters of plain-$(6n+2)$ as a
# function of $n$: the first $3\times3$ convolution, three stages of $2n$ convolutions
# (16, 32, 64 filters; the first layer of stages 2 and 3 changes the width), a BN ($\gamma$,
# $\beta$) after every convolution, and the 10-way fc layer with its bias. You should get
# $P(n) = a\,n + b$. Predict $P(3)$ and $P(9)$, then check with
# `plain(depth).num_parameters()`. Does ResNet-$(6n+2)$ with option A have more?

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q3 (derive).** "The added layers are identity mappings" (§1): find weights that make
# one `PlainBasicBlock` (conv–BN–ReLU–conv–BN–ReLU, 16 channels, stride 1) compute
# exactly its input, for any non-negative input, in **evaluation** mode. Then build it and
# check on `relu` of a random batch. Why can SGD not simply sit at this solution in
# **training** mode?

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q4 (predict).** At initialisation, is the rms gradient at plain-56's *first* block
# larger or smaller than at its last block, and by more or less than plain-20's? And for
# ResNet-56? Commit to an answer, then read it off `gradient_profile(depth, residual)`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q5 (experiment).** Train MLP-20 and MLP-56 again at learning rate **0.01** instead of
# 0.05 (`train_fresh(mlp(depth, S.mlp_width), data, iterations=S.mlp_iterations, lr=0.01)`,
# seeded as above). Before you run: does the gap between the two shrink or grow? Then
# run, and say what one seed can and cannot tell you.
