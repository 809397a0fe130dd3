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
# # Chapter 4 — Residual learning
#
# **Covers** §3.1–3.3 of He et al. 2015 (Eq. 1–2, Fig. 2, shortcut options A/B/C and
# Table 3) and §4.2 (Fig. 6, Fig. 7, Table 6). Graded exercise: `exercises/ex4_residual.py`.
#
# Chapter 3 ended with a puzzle: a 56-layer plain net could copy a 20-layer one by making its
# extra layers identities, yet SGD finds a worse solution. He et al. make the identity the
# **default**: instead of asking a few stacked layers to fit a mapping $\mathcal H(x)$, let
# them fit the residual $\mathcal F(x) = \mathcal H(x) - x$ and add $x$ back (§3.1):
#
# $$ y = \mathcal F(x, \{W_i\}) + x \qquad (1) $$
#
# "If identity mappings are optimal, the solvers may simply drive the weights of the
# multiple nonlinear layers toward zero to approach identity mappings."
#
# 1. the building block (Fig. 2), by hand and in learnres;
# 2. shortcuts that change shape: options A, B, C (§3.3, Table 3);
# 3. ResNet-20/56 vs their plain twins (Fig. 6), from stored runs of 2,000 iterations;
# 4. layer responses (Fig. 7), measured on those runs' final weights;
# 5. zero-initialised residual branches.

# %% slideshow={"slide_type": "skip"}
import inspect

import numpy as np
from IPython.display import Markdown, display
from ipywidgets import ToggleButtons, interact

from learnres import Tensor, no_grad
from learnres.analysis import summary
from learnres.analysis.responses import layer_responses
from learnres.functions import batch_norm, conv2d, relu
from learnres.lectures import (
    batch,
    fresh_label,
    load_cifar10,
    missing_runs_note,
    record_outputs,
    save_figure,
    show_figure,
    sizes,
    stored_label,
    stored_seeds,
    train_fresh,
)
from learnres.lectures.paper import (
    compare,
    fig6_panel,
    fig7,
    limitations,
    model_label,
    table6_markdown,
)
from learnres.models import plain, resnet, resnet34
from learnres.nn import BasicBlock, init, subsample_and_zero_pad
from learnres.train import plot_history

S = sizes()
data = load_cifar10(S)
xb, yb = batch(data, S.stats_batch, seed=1)
print(f"{S.mode} mode: {data}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The building block (Fig. 2)
#
# Two $3\times3$ convolutions, each followed by BN; a ReLU between them; the shortcut added
# **before** the last ReLU:
#
# $$ y = \mathrm{relu}\big(\mathrm{BN}_2(W_2 * \mathrm{relu}(\mathrm{BN}_1(W_1 * x))) + x\big). $$
#
# The shortcut adds no parameter and (almost) no computation, so a plain net and its residual
# twin cost the same — a fair comparison. learnres's `BasicBlock.forward`, from the package:

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
print(inspect.getsource(BasicBlock.forward))

# %% [markdown] slideshow={"slide_type": "subslide"}
# The same block written with the functional ops of Chapters 1–2, reading the weights of a
# learnres block — and checked against it, in training and in evaluation mode:

# %% slideshow={"slide_type": "fragment"}
def basic_block_by_hand(x, blk, training):
    """relu(BN2(conv2(relu(BN1(conv1 x)))) + x) for a block whose shape is kept."""
    def bn(t, layer):
        return batch_norm(t, None if training else layer.running_mean,
                          None if training else layer.running_var,
                          layer.weight, layer.bias, training=training)
    out = relu(bn(conv2d(x, blk.conv1.weight, padding=1), blk.bn1))
    out = bn(conv2d(out, blk.conv2.weight, padding=1), blk.bn2)
    return relu(out + x)  # F(x) + x, Eq. (1)


init.manual_seed(0)
block = BasicBlock(16, 16)
x = Tensor(np.random.default_rng(0).standard_normal((4, 16, 8, 8)).astype(np.float32))
with no_grad():
    for training in (True, False):
        block.train(training)
        mine, theirs = basic_block_by_hand(x, block, training).data, block(x).data
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)
        print(f"{'train' if training else 'eval '} mode: block by hand == learnres BasicBlock")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Shortcuts that change shape (§3.3)
#
# At the first block of a stage the map is halved (stride 2) and the filters doubled, so $x$
# and $\mathcal F(x)$ differ in shape. Eq. (2) projects the shortcut:
# $y = \mathcal F(x, \{W_i\}) + W_s x$. Table 3 compares three options:
#
# * **A** — zero-padding: the identity, subsampled with stride 2, with zero channels appended
#   (no parameters; the CIFAR nets use it);
# * **B** — projection $W_s$ (a $1\times1$ convolution + BN) where the shape changes,
#   identity elsewhere;
# * **C** — projections everywhere.
#
# Table 3 (ImageNet, ResNet-34, 10-crop top-1 error): A 25.03%, B 24.52%, C 24.19% — "the
# small differences among A/B/C indicate that projection shortcuts are not essential for
# addressing the degradation problem".

# %% slideshow={"slide_type": "subslide"}
def option_a_by_hand(x, out_channels, stride=2):
    """Option A in NumPy: keep every stride-th pixel, append zero channels after the others."""
    sub = x[:, :, ::stride, ::stride]  # (N, C, H, W) -> (N, C, H/2, W/2)
    zeros = np.zeros((x.shape[0], out_channels - x.shape[1], *sub.shape[2:]), dtype=x.dtype)
    return np.concatenate([sub, zeros], axis=1)  # -> (N, out_channels, H/2, W/2)


xa = np.random.default_rng(1).standard_normal((2, 16, 8, 8)).astype(np.float32)
np.testing.assert_array_equal(option_a_by_hand(xa, 32), subsample_and_zero_pad(Tensor(xa), 32, 2).data)
print("option A by hand == learnres subsample_and_zero_pad:", option_a_by_hand(xa, 32).shape)

print("\nparameters (learnres.analysis.summary):")
for option in "ABC":
    r34 = summary(resnet34(shortcut=option), (3, 224, 224), print_table=False)
    r20 = summary(resnet(20, shortcut=option), (3, 32, 32), print_table=False)
    print(f"  option {option}: ResNet-34 {r34.total_params / 1e6:6.2f}M params, "
          f"{r34.mult_adds / 1e9:.2f}G mult-adds | ResNet-20 (CIFAR) {r20.total_params:,}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Play: the three options on CIFAR-10
#
# ResNet-20 with options A, B and C, trained fresh in this notebook (same seed, same
# batches). Pick an option to see its shortcut modules and its curve against the others.

# %% slideshow={"slide_type": "fragment"}
option_runs = {}
for option in "ABC":
    init.manual_seed(0)
    option_runs[option] = train_fresh(resnet(20, shortcut=option), data, desc=f"ResNet-20 {option}")
for option, h in option_runs.items():
    print(f"option {option}: final train error {h.last('train_error'):.1f}%, test error {h.last('test_error'):.1f}%")

fig = plot_history({f"ResNet-20, option {o}": h for o, h in option_runs.items()},
                   title="shortcut options A/B/C (Table 3's comparison, on CIFAR-10)")
save_figure(fig, "04_shortcut_options.png", fresh_label(f"{S.iterations} iterations each"))


def show_option(option):
    net = resnet(20, shortcut=option)
    print(f"option {option}: {net.num_parameters():,} parameters; first block of conv3_x:")
    print(net.conv3_x[0].shortcut)
    print("a block that keeps the shape:", type(net.conv3_x[1].shortcut).__name__)
    fig = plot_history({f"option {o}": h for o, h in option_runs.items()},
                       title=f"option {option} (bold = test error)")
    for line in fig.axes[0].get_lines():
        if not line.get_label().endswith(option) and line.get_linewidth() > 1:
            line.set_alpha(0.25)
    show_figure(fig)


interact(show_option, option=ToggleButtons(options=list("ABC"), value="A", description="shortcut"));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. ResNets vs plain nets on CIFAR-10 (Fig. 6)
#
# Same layers, same parameters, same cost; only the shortcuts differ. In the paper (Fig. 6),
# the plain nets get worse with depth while "ResNets manage to overcome the optimization
# difficulty and demonstrate accuracy gains when the depth increases" (ResNet-56: 6.97%
# test error, Table 6).
#
# ### From stored runs
#
# Runs made with `learnres train` (2,000 iterations, the paper's recipe with its
# milestones moved to 1/2 and 3/4 of the run) and stored in `chapters/runs/`; thin lines
# training error, bold test error, the mean over seeds with their range shaded.

# %% slideshow={"slide_type": "fragment"}
names = ["plain20", "plain56", "resnet20", "resnet56"]
missing = [n for n in names if not stored_seeds(n)]
if missing:
    display(Markdown("**Note.** " + missing_runs_note(missing)))
for kind, title in (("plain", "Fig. 6 (left) style: plain nets"), ("resnet", "Fig. 6 (middle) style: ResNets")):
    group = [n for n in names if n.startswith(kind)]
    panel = {model_label(n): stored_seeds(n) for n in group}
    if any(panel.values()):
        fig = fig6_panel(panel, f"{title}, CIFAR-10 subset (stored runs)")
        found = {f"{n}-seed{k}": r for n in group for k, r in stored_seeds(n).items()}
        save_figure(fig, f"04_fig6_{kind}_stored.png", stored_label(found))
        show_figure(fig)
if len(missing) < len(names):
    display(Markdown(table6_markdown(names)))
    display(Markdown(limitations(names)))
else:
    print("No stored runs: only the fresh runs below are shown.")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the stored runs show
#
# Four comparisons, each computed from the runs above: does each ResNet beat its plain
# twin, does the plain net degrade with depth, and does the ResNet gain with depth?

# %% slideshow={"slide_type": "fragment"}
display(Markdown("\n".join("* " + compare(a, b, column) for a, b, column in (
    ("resnet20", "plain20", "train_error"), ("resnet56", "plain56", "train_error"),
    ("resnet56", "plain56", "test_error"), ("plain20", "plain56", "train_error"),
    ("resnet20", "resnet56", "train_error"), ("resnet20", "resnet56", "test_error")))))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A fresh run

# %% slideshow={"slide_type": "fragment"}
models, fresh = {}, {}
for kind, build in (("plain", plain), ("ResNet", resnet)):
    for depth in (20, 56):
        name = f"{kind}-{depth}"
        init.manual_seed(0)
        models[name] = build(depth)
        fresh[name] = train_fresh(models[name], data, desc=name)
for name, h in fresh.items():
    print(f"{name:10s} final train error {h.last('train_error'):5.1f}%, test error {h.last('test_error'):5.1f}%")
for kind in ("plain", "ResNet"):
    fig = plot_history({n: h for n, h in fresh.items() if n.startswith(kind)},
                       title=f"{kind}-20 vs {kind}-56, fresh {S.mode}-mode run")
    save_figure(fig, f"04_fig6_{kind.lower()}_fresh.png", fresh_label(f"{S.iterations} iterations"))
    show_figure(fig)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Layer responses (Fig. 7)
#
# "The responses are the outputs of each $3\times3$ layer, after BN and before other
# nonlinearity (ReLU/addition)." The paper finds that ResNets "have generally smaller
# responses than their plain counterparts", supporting the idea that residual functions are
# closer to zero than non-residual ones. Measured as the paper measures a trained net: in
# evaluation mode (BN with its running statistics, so a response depends on the input and
# the learnt weights), over all the test images, on the final weights of each stored run
# (`python -m learnres.analysis.responses RUN`, kept as `responses.csv`).
#
# Why not training mode: with batch statistics every BN output has exactly mean $\beta$ and
# std $\approx|\gamma|$ per channel, so the "response" would measure BN's own parameters,
# not what the layer passes on.

# %% slideshow={"slide_type": "fragment"}
groups = {model_label(n): [r.responses for r in stored_seeds(n).values() if r.responses]
          for n in ("plain20", "resnet20", "plain56", "resnet56")}
if any(groups.values()):
    fig = fig7(groups)
    found = {f"{n}-seed{k}": r for n in ("plain20", "resnet20", "plain56", "resnet56")
             for k, r in stored_seeds(n).items()}
    save_figure(fig, "04_fig7_stored.png", stored_label(found))
    show_figure(fig)
    lines = []
    for depth in (20, 56):
        p, r = groups[f"plain-{depth}"], groups[f"ResNet-{depth}"]
        if p and r:
            sp, sr = np.mean([x["std"] for x in p], axis=0), np.mean([x["std"] for x in r], axis=0)
            smaller = int((sr < sp).sum())
            lines.append(f"* {depth} layers: the ResNet's response std is smaller than the plain net's "
                         f"in {smaller} of {len(sr)} layers (mean std {sr.mean():.2f} vs {sp.mean():.2f}; "
                         f"{len(r)} and {len(p)} seed(s), final weights at iteration {r[0]['iteration']}).")
    display(Markdown("**What the stored runs show:**\n" + "\n".join(lines)))
else:
    display(Markdown("**Note.** No stored responses (responses.csv) in chapters/runs: "
                     "only the fresh measurement below is shown."))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The same measurement on the fresh models of this notebook
#
# `learnres.analysis.responses.layer_responses` on the four nets trained above, in
# evaluation mode, over a batch of test images. After a short fresh run the BN running
# averages (updated with momentum 0.1) have not settled, so these are the numbers of
# barely trained nets: a check that the tool runs, not the paper's figure.

# %% slideshow={"slide_type": "fragment"}
xt, yt = batch(data, S.stats_batch, split="test", seed=2)
responses = {name: [{"std": np.array([s for _, s in layer_responses(net, [(xt, yt)])])}]
             for name, net in models.items()}
fig = fig7(responses)
save_figure(fig, "04_fig7_responses.png",
            fresh_label(f"models of the fresh run above ({S.iterations} iterations), eval mode"))
show_figure(fig)
for name, (r,) in responses.items():
    print(f"{name:10s} mean std of responses {r['std'].mean():.3f} over {len(r['std'])} layers")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Zero-initialised residual branches
#
# Taking the idea "identity by default" literally: set the $\gamma$ of each block's last BN
# to 0, so that $\mathcal F(x) = 0$ at initialisation and **every block starts as its
# shortcut** (Goyal et al. 2017, *Accurate, Large Minibatch SGD*; not in the paper, now
# common). The whole ResNet then starts as a shallow net. Check it on our blocks:

# %% slideshow={"slide_type": "fragment"}
init.manual_seed(0)
zero_net = resnet(56, zero_init_residual=True).eval()
blocks = [m for m in zero_net.modules() if isinstance(m, BasicBlock)]
with no_grad(), record_outputs(zero_net, BasicBlock) as calls:
    zero_net(Tensor(xt))
outs = [out.data for _, out in calls]  # one output per block, in forward order
checked = 0
with no_grad():
    for i in range(1, len(outs)):  # block i's input is block i-1's output
        shortcut_only = blocks[i].shortcut(Tensor(outs[i - 1])).data  # identity, or option A
        np.testing.assert_allclose(outs[i], shortcut_only, rtol=1e-6, atol=1e-6)
        checked += 1
zero_net.train()
print(f"{checked} blocks checked: each block computes exactly its shortcut at initialisation")

# %% slideshow={"slide_type": "fragment"}
init.manual_seed(0)
zero_history = train_fresh(resnet(56, zero_init_residual=True), data, desc="ResNet-56 zero-init")
fig = plot_history({"ResNet-56": fresh["ResNet-56"], "ResNet-56, zero-init residual": zero_history},
                   title="zero-initialised residual branches")
save_figure(fig, "04_zero_init.png", fresh_label(f"{S.iterations} iterations"))
show_figure(fig)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * Residual learning: $y = \mathcal F(x) + x$ (Eq. 1); the identity is free, so a deeper net
#   can always fall back on its shallower self.
# * Shortcut options A/B/C differ little (Table 3): the identity is what matters; projections
#   add parameters.
# * In the paper, ResNets get better with depth where plain nets get worse (Fig. 6), and their
#   layer responses are smaller (Fig. 7).
# * Starting each residual branch at zero makes the identity the literal starting point.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Summary: what **our** stored runs show
#
# Computed from `chapters/runs/` now (see the limitations paragraph above):

# %% slideshow={"slide_type": "fragment"}
display(Markdown("\n".join("* " + compare(a, b, column) for a, b, column in (
    ("plain56", "resnet56", "train_error"), ("plain20", "plain56", "train_error"),
    ("resnet20", "resnet56", "test_error")))))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Next** (Chapter 5): deeper still, at the same cost — bottlenecks, ResNet-50/101/152.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Questions
#
# Write your prediction down **before** you run anything, then check it with this chapter's
# code. The answers are not in this notebook; instructors build them with
# `learnres lectures answers 04`.
#
# **Graded exercise:** `exercises/ex4_residual.py` — option A (`subsample_and_zero_pad`),
# the projection of option B, `make_shortcut` and `BasicBlock`;
# `pytest exercises/test_ex4_residual.py`. Assembling the whole ResNet-$(6n+2)$ from them is
# among the exercises in `exercises/`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q1 (a number to predict).** How many parameters does option **B** add to ResNet-34
# (Table 1's 34-layer net, four stages of 64, 128, 256, 512 filters), compared with option
# A? Count the projections (a $1\times1$ convolution and its BN) from the architecture
# first; then check with `resnet34(shortcut="B").num_parameters()`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q2 (a number to predict).** And option **C**, a projection on every one of the 16
# blocks? Predict the extra parameters and their share of ResNet-34's 21.8M; then check.
# Table 3 gains 0.33 points of top-1 error from B to C: is that worth it?

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q3 (derive).** Option A's shortcut at the first block of a stage is
# $y = \mathrm{pad}_{\text{channels}}(x_{:, :, ::2, ::2})$. Derive $\partial L/\partial x$
# given $\partial L/\partial y$: which entries of $x$ receive gradient through the
# shortcut, and which get exactly zero? Check with `subsample_and_zero_pad` and a random
# upstream gradient.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q4 (predict).** With `zero_init_residual=True`, every block starts as its shortcut. So
# what does ResNet-56 compute at initialisation, in evaluation mode — and how does it
# compare with a zero-initialised ResNet-20 that has the same first convolution, first BN
# and fc layer? Predict, then copy those three layers from one net into the other and
# compare their logits.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q5 (experiment).** Table 3 separates A and B by 0.51 points on ImageNet. Train
# ResNet-20 with option A twice, with seeds 0 and 1 (`train_fresh(..., seed=k)` after
# `init.manual_seed(k)`), and compare the spread of the two with the A–B difference of the
# fresh runs above. What would you need to see a 0.5-point effect on our 1,017 test images?
