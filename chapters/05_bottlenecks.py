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
# # Chapter 5 — Bottleneck architectures
#
# **Covers** §3.3 and §4.1 of He et al. 2015 (*Deeper Bottleneck Architectures*): Fig. 5,
# Table 1, and the ImageNet results of Tables 3–4. Graded exercise:
# `exercises/ex5_bottleneck.py`.
#
# On ImageNet the paper goes to 50, 101 and 152 layers. "Because of concerns on the training
# time that we can afford, we modify the building block as a **bottleneck** design" (§4.1,
# *Deeper Bottleneck Architectures*): three layers, $1\times1$, $3\times3$, $1\times1$, "where
# the $1\times1$ layers are responsible for reducing and then increasing (restoring)
# dimensions, leaving the $3\times3$ layer a bottleneck with smaller input/output dimensions"
# (Fig. 5).
#
# 1. the bottleneck block, by hand and in learnres; basic vs bottleneck at equal cost;
# 2. Table 1's parameters and mult-adds, reproduced with `learnres.analysis.summary`;
# 3. ResNet-50/101/152, checked against PyTorch layer by layer;
# 4. Fig. 3: VGG-19, the 34-layer plain net and ResNet-34 side by side, and how to compare
#    plain nets, ResNets and VGG on CIFAR-100.

# %% slideshow={"slide_type": "skip"}
import inspect

import matplotlib.pyplot as plt
import numpy as np
from ipywidgets import ToggleButtons, interact

from learnres import Tensor, no_grad
from learnres.analysis import summary
from learnres.analysis.architecture import draw_architectures, layer_diagram
from learnres.functions import batch_norm, conv2d, relu
from learnres.lectures import fresh_label, save_figure, show_figure, sizes, time_call
from learnres.models import (
    get_model,
    plain34,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    vgg19,
)
from learnres.nn import BasicBlock, Bottleneck, Conv2d, Linear, init
from learnres.reference import compare

S = sizes()
rng = np.random.default_rng(0)
print(f"{S.mode} mode")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The bottleneck block (Fig. 5, right)
#
# On a 256-d input: a $1\times1$ convolution reduces to 64 channels, a $3\times3$ works at 64,
# a $1\times1$ restores 256 (`expansion = 4`); BN after each, ReLU after the first two, and the
# identity added before the last ReLU:
#
# $$ y = \mathrm{relu}\Big(\mathrm{BN}_3\big(W_3 * \mathrm{relu}(\mathrm{BN}_2(W_2 *
#    \mathrm{relu}(\mathrm{BN}_1(W_1 * x))))\big) + x\Big). $$
#
# learnres's `Bottleneck.forward`, from the package:

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
print(inspect.getsource(Bottleneck.forward))

# %% slideshow={"slide_type": "subslide"}
def bottleneck_by_hand(x, blk):
    """The bottleneck block with the functional ops (training mode, identity shortcut)."""
    def bn(t, layer):
        return batch_norm(t, None, None, layer.weight, layer.bias, training=True)
    out = relu(bn(conv2d(x, blk.conv1.weight), blk.bn1))  # 1x1: 256 -> 64
    out = relu(bn(conv2d(out, blk.conv2.weight, padding=1), blk.bn2))  # 3x3: 64 -> 64
    out = bn(conv2d(out, blk.conv3.weight), blk.bn3)  # 1x1: 64 -> 256
    return relu(out + x)


init.manual_seed(0)
block = Bottleneck(256, 64)
x = Tensor(rng.standard_normal((2, 256, 8, 8)).astype(np.float32))
with no_grad():
    np.testing.assert_allclose(bottleneck_by_hand(x, block).data, block(x).data, rtol=1e-4, atol=1e-5)
print("bottleneck by hand == learnres Bottleneck; output", block(x).shape)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Derive it first: what does a bottleneck cost?
#
# A $k\times k$ convolution from $C$ to $O$ channels with stride 1 on an $H\times W$ map:
# how many multiply-adds? Then the bottleneck on a $4d$-channel map: $1\times1$ from $4d$ to
# $d$, $3\times3$ from $d$ to $d$, $1\times1$ from $d$ to $4d$. Write its count as a formula
# in $d$ and the map's side in `bottleneck_mult_adds_yours` (convolutions only; BN, ReLU and
# the addition are not counted) and run the check, which compares it with
# `learnres.analysis.summary` for random widths and sizes. Then predict: how does it compare
# with a basic block (two $3\times3$, $d \to d$) on a $d$-channel map?

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
def bottleneck_mult_adds_yours(d, size):
    """Your multiply-adds of one image through Bottleneck(4 * d, d) on a size x size map."""
    return None  # replace with your formula


# %% slideshow={"slide_type": "fragment"}
from learnres.lectures.derivations import check_derivation


def bottleneck_mult_adds_from_learnres(d, size):
    """The count of learnres.analysis.summary (convolutions only): the reference."""
    return summary(Bottleneck(4 * d, d), (4 * d, size, size), print_table=False).mult_adds


cost_rng = np.random.default_rng(11)
cost_cases = [(int(8 * d), int(2 * n)) for d, n in zip(cost_rng.integers(1, 9, 3), cost_rng.integers(2, 8, 3))]
print(check_derivation(bottleneck_mult_adds_yours, bottleneck_mult_adds_from_learnres, cost_cases,
                       what="your bottleneck count", rtol=0, atol=0.5))

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The count, worked
#
# Each output of a convolution is a dot product of length $C k^2$, and there are $O\,HW$
# outputs: $O\,C\,k^2\,HW$ multiply-adds. For the bottleneck on a $4d$-channel map, per
# output pixel:
#
# $$ \underbrace{4d\cdot d}_{1\times1 \text{ reduce}} + \underbrace{9\,d^2}_{3\times3}
#    + \underbrace{d\cdot 4d}_{1\times1 \text{ restore}} = 17\,d^2 , $$
#
# against $2\cdot 9\,d^2 = 18\,d^2$ for a basic block on a $d$-channel map: **four times the
# width for 17/18 of the cost**. Fig. 5's pair ($d = 64$ on $56\times56$):
# $17\cdot 64^2\cdot 56^2 \approx 218.4$M against $231.2$M multiply-adds.

# %% slideshow={"slide_type": "fragment"}
worked = check_derivation(lambda d, size: 17 * d * d * size * size, bottleneck_mult_adds_from_learnres,
                          cost_cases, what="17 d^2 size^2", rtol=0, atol=0.5)
print(worked)  # what "correct" looks like for your bottleneck_mult_adds_yours
assert worked

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Basic vs bottleneck at equal cost
#
# Fig. 5 puts a basic block on 64-d maps next to a bottleneck on 256-d maps: four times the
# width for about the same cost. Counted with `learnres.analysis.summary` on a $56\times56$
# map (the size of `conv2_x`), and timed forward + backward on this CPU:

# %% slideshow={"slide_type": "fragment"}
size = 56 if not S.quick else 14
blocks = {"basic, 64-d": (BasicBlock(64, 64), 64), "bottleneck, 256-d": (Bottleneck(256, 64), 256)}
costs = {}
for name, (blk, width) in blocks.items():
    s = summary(blk, (width, 56, 56), print_table=False)
    xb = rng.standard_normal((S.timing_batch, width, size, size)).astype(np.float32)

    def step(blk=blk, xb=xb):
        t = Tensor(xb, requires_grad=True)
        y = blk(t)
        y.backward(np.ones(y.shape, dtype=np.float32))

    costs[name] = (s.total_params, s.mult_adds, time_call(step, repeats=S.timing_repeats))
for name, (p, m, t) in costs.items():
    print(f"{name:18s} {p:7,} params  {m / 1e6:6.1f}M mult-adds/image at 56x56  "
          f"{1e3 * t:7.1f} ms fwd+bwd (batch {S.timing_batch}, {size}x{size})")
(pb, mb, _), (pn, mn, _) = costs.values()
assert abs(pn - pb) / pb < 0.06 and abs(mn - mb) / mb < 0.06  # within 6% of each other

# %% [markdown] slideshow={"slide_type": "notes"}
# Why identity shortcuts matter even more here (§4.1): the shortcut of a bottleneck connects
# the two 256-d ends; "if the identity shortcut in Fig. 5 (right) is replaced with projection,
# one can show that the time complexity and model size are doubled".

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Table 1, reproduced
#
# The ImageNet ResNets: a $7\times7$ stride-2 convolution and a max pool, then stages
# `conv2_x` … `conv5_x` of basic blocks (18, 34 layers) or bottlenecks (50, 101, 152), average
# pooling and a 1000-way fc layer. Table 1 quotes their cost in FLOPs (multiply-adds) at
# $224\times224$; parameter counts are torchvision's, which learnres matches exactly.

# %% slideshow={"slide_type": "fragment"}
PAPER_GFLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160,
                      152: 60_192_808}
builders = {18: resnet18, 34: resnet34, 50: resnet50, 101: resnet101, 152: resnet152}
table = {}
for depth, build in builders.items():
    table[depth] = summary(build(), (3, 224, 224), print_table=False, max_depth=1)

print(f"{'model':11s} {'params':>12s} {'torchvision':>12s} {'mult-adds':>10s} {'Table 1':>8s}")
for depth, s in table.items():
    gflops = s.mult_adds / 1e9
    print(f"ResNet-{depth:<4d} {s.total_params:12,d} {TORCHVISION_PARAMS[depth]:12,d} "
          f"{gflops:9.2f}G {PAPER_GFLOPS[depth]:7.1f}G")
    assert s.total_params == TORCHVISION_PARAMS[depth]
    assert abs(gflops - PAPER_GFLOPS[depth]) / PAPER_GFLOPS[depth] < 0.025

# %% slideshow={"slide_type": "subslide"}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
depths = list(table)
pos = np.arange(len(depths))
ax1.bar(pos - 0.2, [table[d].mult_adds / 1e9 for d in depths], 0.4, label="learnres.summary")
ax1.bar(pos + 0.2, [PAPER_GFLOPS[d] for d in depths], 0.4, label="Table 1")
ax1.set(xticks=pos, xticklabels=[f"ResNet-{d}" for d in depths], ylabel="GFLOPs (mult-adds)",
        title="cost at 224x224")
ax1.legend()
ax2.bar(pos - 0.2, [table[d].total_params / 1e6 for d in depths], 0.4, label="learnres.summary")
ax2.bar(pos + 0.2, [TORCHVISION_PARAMS[d] / 1e6 for d in depths], 0.4, label="torchvision")
ax2.set(xticks=pos, xticklabels=[f"ResNet-{d}" for d in depths], ylabel="parameters (M)",
        title="parameters")
ax2.legend()
fig.tight_layout()
save_figure(fig, "05_table1.png", fresh_label("counted by learnres.analysis.summary, no training", data=False))
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Play: where the cost sits
#
# Per stage, parameters and mult-adds. Deeper bottleneck nets put their extra blocks in
# `conv4_x` (23 blocks in ResNet-101, 36 in ResNet-152), at $14\times14$.

# %% slideshow={"slide_type": "fragment"}
def show_stages(depth=50):
    rows = [r for r in table[depth].rows if r.depth == 1 and (r.params or r.mult_adds)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    names = [r.name for r in rows]
    a1.bar(names, [r.params / 1e6 for r in rows], color="C0")
    a2.bar(names, [r.mult_adds / 1e9 for r in rows], color="C1")
    a1.set(ylabel="parameters (M)", title=f"ResNet-{depth}: parameters per stage")
    a2.set(ylabel="GFLOPs", title=f"ResNet-{depth}: mult-adds per stage (224x224)")
    for a in (a1, a2):
        a.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    plt.show()


interact(show_stages, depth=ToggleButtons(options=depths, value=50, description="ResNet-"));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. ResNet-50/101/152, checked against PyTorch
#
# Training on ImageNet is far beyond this notebook (Table 3 reports ResNet-50 22.85%,
# ResNet-101 21.75%, ResNet-152 21.43% top-1 error with 10-crop testing; Table 4, single-model
# results with multi-scale testing, 20.74%, 19.87%, 19.38%). What we *can* check is that the
# networks are right: `learnres.reference.compare` builds a PyTorch twin with the same
# weights, runs one training step in both (float64) and compares every module's output and
# every gradient.

# %% slideshow={"slide_type": "fragment"}
side = 32 if S.quick else 64
x = rng.standard_normal((2, 3, side, side))
y = np.array([1, 7])
check_depths = (50,) if S.quick else (50, 101, 152)
for depth in check_depths:
    init.manual_seed(0)
    report = compare(builders[depth](num_classes=10), x, y)
    local = max(m.local_forward for m in report.modules if m.local_forward is not None)
    print(f"ResNet-{depth}: {'OK' if report.ok else 'MISMATCH'} over {len(report.modules)} module "
          f"calls; worst relative error per module given the same input {local:.1e}; end to end: "
          f"outputs {report.worst_forward_error:.1e}, gradients {report.worst_gradient_error:.1e}")
    assert report.ok, report.format()

# %% [markdown] slideshow={"slide_type": "notes"}
# The "end to end" errors are larger than per-module ones: float64 rounding differences are
# amplified through 50+ layers of train-mode BN on a batch of two. `compare` judges each
# module on the same input, where they agree to ~1e-14.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Fig. 3: VGG-19, plain-34, ResNet-34
#
# Fig. 3 of the paper draws three networks side by side: VGG-19 (Simonyan & Zisserman), a
# 34-layer plain net and its residual version. "Our 34-layer baseline has 3.6 billion FLOPs
# (multiply-adds), which is only 18% of VGG-19 (19.6 billion FLOPs)" (§3.3): VGG spends its
# cost on wide $3\times3$ layers at full resolution ($224\times224$ and $112\times112$) and on
# three fully connected layers, while the ResNets halve the map at once (a $7\times7$ stride-2
# convolution and a max pool) and keep the filters few.
#
# All three are learnres models (`learnres.models.vgg19`, `plain34`, `resnet34`); VGG-19 has
# torchvision's layout and loads its weights (`load_torchvision_weights`). The residual net
# of Fig. 3 uses option A here (zero-padding where the dimensions increase: the plain net's
# parameters exactly, as in the paper's Table 2 comparison); torchvision's ResNet-34 projects
# instead (option B).

# %% slideshow={"slide_type": "fragment"}
fig3_models = {
    "VGG-19": vgg19(),
    "34-layer plain": plain34(),
    "34-layer residual (A)": resnet34(shortcut="A"),
    "ResNet-34, option B": resnet34(),
}
PAPER_FIG3_GFLOPS = {"VGG-19": 19.6, "34-layer plain": 3.6, "34-layer residual (A)": 3.6,
                     "ResNet-34, option B": 3.6}
fig3 = {name: summary(m, (3, 224, 224), print_table=False, max_depth=1)
        for name, m in fig3_models.items()}
weighted = {name: sum(isinstance(mod, (Conv2d, Linear)) and "shortcut" not in n.split(".")
                      for n, mod in m.named_modules())
            for name, m in fig3_models.items()}
print(f"{'network':22s} {'weighted layers':>15s} {'params':>13s} {'mult-adds':>10s} {'paper':>7s}")
for name, s in fig3.items():
    print(f"{name:22s} {weighted[name]:15d} {s.total_params:13,d} {s.mult_adds / 1e9:9.2f}G "
          f"{PAPER_FIG3_GFLOPS[name]:6.1f}G")
    assert abs(s.mult_adds / 1e9 - PAPER_FIG3_GFLOPS[name]) / PAPER_FIG3_GFLOPS[name] < 0.025
assert fig3["VGG-19"].total_params == 143_667_240  # torchvision's vgg19
assert fig3["34-layer plain"].total_params == fig3["34-layer residual (A)"].total_params
share = fig3["34-layer plain"].mult_adds / fig3["VGG-19"].mult_adds
print(f"\nthe 34-layer plain net costs {share:.1%} of VGG-19's mult-adds (the paper: 18%)")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Stage by stage (the rows of `summary` one level down): output size, parameters and
# mult-adds. VGG-19's `conv3` alone, and its `conv4` alone, cost more than a whole
# ResNet-34; its `fc6` holds 103 of its 144 million parameters.

# %% slideshow={"slide_type": "fragment"}
for name in ("VGG-19", "34-layer residual (A)"):
    print(f"{name}:")
    for row in fig3[name].rows:
        if row.depth == 1 and (row.params or row.mult_adds):
            size = "x".join(map(str, row.output_shape[2:])) or "-"
            print(f"  {row.name:8s} output {size:>7s} {row.params:>13,d} params "
                  f"{row.mult_adds / 1e9:6.2f}G mult-adds")
vgg_stages = {row.name: row for row in fig3["VGG-19"].rows if row.depth == 1}
assert min(vgg_stages["conv3"].mult_adds, vgg_stages["conv4"].mult_adds) > max(
    fig3[name].mult_adds for name in ("34-layer residual (A)", "ResNet-34, option B"))
assert (round(vgg_stages["fc6"].params / 1e6), round(fig3["VGG-19"].total_params / 1e6)) == (103, 144)

# %% [markdown] slideshow={"slide_type": "notes"}
# Fig. 3, drawn from the three models by `learnres.analysis.architecture`: one box per
# convolution, pool and fully connected layer, in the order the model runs them, coloured by
# the output size they work at (equal sizes on one band); the residual net's shortcuts beside
# it, dotted where they increase dimensions.

# %% slideshow={"slide_type": "subslide"}
diagrams = [layer_diagram(fig3_models[name], (3, 224, 224), title=name)
            for name in ("VGG-19", "34-layer plain", "34-layer residual (A)")]
for d in diagrams:
    assert d.weighted_layers == weighted[d.title]
assert sum(s.changes_dimensions for s in diagrams[2].shortcuts) == 3  # conv3_x .. conv5_x
fig = draw_architectures(diagrams)
save_figure(fig, "05_fig3.png", fresh_label(
    "drawn from learnres.models.vgg19, plain34, resnet34(shortcut='A') by "
    "learnres.analysis.architecture; counts by learnres.analysis.summary; no training",
    data=False))
show_figure(fig, dpi=70)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Plain nets, ResNets and VGG on CIFAR-100
#
# With 100 classes the plain nets' trouble shows sooner than on CIFAR-10. The ImageNet
# networks take $32\times32$ images with a CIFAR stem (a $3\times3$, stride-1 first
# convolution and no max pool: the stages work at 32, 16, 8 and 4 pixels), and VGG with BN
# and one fc layer; each is one command (`learnres train --help` lists the names):
#
# ```bash
# for model in plain18-cifar plain34-cifar resnet18-cifar resnet34-cifar vgg16-cifar vgg19-cifar; do
#     learnres train --model $model --dataset cifar100 --validation 5000 --out runs/$model-cifar100
# done
# learnres plot runs/plain18-cifar-cifar100 runs/plain34-cifar-cifar100 \
#     runs/resnet18-cifar-cifar100 runs/resnet34-cifar-cifar100 --out cifar100.png
# ```
#
# The six networks at $32\times32$:

# %% slideshow={"slide_type": "fragment"}
print(f"{'model':16s} {'params':>12s} {'mult-adds':>10s} (32x32, 100 classes)")
for name in ("plain18-cifar", "plain34-cifar", "resnet18-cifar", "resnet34-cifar",
             "vgg16-cifar", "vgg19-cifar"):
    s = summary(get_model(name, num_classes=100), (3, 32, 32), print_table=False)
    print(f"{name:16s} {s.total_params:12,d} {s.mult_adds / 1e9:9.2f}G")

# %% [markdown] slideshow={"slide_type": "notes"}
# The first run downloads CIFAR-100 (169 MB, checked against its MD5) into the cache, or reads
# it from `--data-dir` / `$LEARNRES_DATA_DIR`; the recipe is the paper's CIFAR one (64k
# iterations of batch 128: run them on a GPU with `--device cuda`; `--iterations` shortens the
# run and keeps the schedule's shape). The data is not on the machines this course was built
# on: `tests/train/test_cifar100.py` runs each command for one step on a small archive in
# CIFAR-100's format, served from 127.0.0.1.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * The bottleneck ($1\times1$ reduce, $3\times3$, $1\times1$ restore) costs what a basic block
#   costs at a quarter of the width: depth for free, provided the shortcut is the identity.
# * `learnres.analysis.summary` reproduces Table 1: 1.8 / 3.6 / 3.8 / 7.6 / 11.3 GFLOPs, and
#   torchvision's parameter counts exactly.
# * ResNet-50/101/152 agree with their PyTorch twins layer by layer.
# * Fig. 3, drawn from the models: VGG-19 costs 19.6 GFLOPs, the 34-layer plain net and
#   ResNet-34 3.6 (18% of it), with the same layers; the shortcuts add no parameters
#   (option A).
#
# **Next** (Chapter 6): the full CIFAR protocol on a GPU, and Table 6.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Questions
#
# Write your prediction down **before** you run anything, then check it with this chapter's
# code. The answers are not in this notebook; instructors build them with
# `learnres lectures answers 05`.
#
# **Graded exercise:** `exercises/ex5_bottleneck.py` — the `Bottleneck` block, the
# multiply-adds of a convolution and of a bottleneck (the count you derived above);
# `pytest exercises/test_ex5_bottleneck.py`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q1 (derive).** §4.1: "if the identity shortcut in Fig. 5 (right) is replaced with
# projection, one can show that the time complexity and model size are doubled." Show it
# for the 256-d block: count the parameters and multiply-adds of a $1\times1$ projection
# from 256 to 256 channels against the block's own. Then check with `summary` on
# `Bottleneck(256, 64)` and `Bottleneck(256, 64, shortcut="C")`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q2 (a number to predict).** ResNet-101 differs from ResNet-50 only in `conv4_x`: 23
# bottleneck blocks instead of 6, each $1024 \to 256 \to 1024$ on $14\times14$. From the
# count you derived, predict ResNet-101's GFLOPs from ResNet-50's, then compare with
# `table[101].mult_adds` and Table 1's 7.6.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q3 (derive).** The first block of `conv3_x` ($256 \to 128 \to 512$) halves the map from
# $56\times56$ to $28\times28$. The paper puts the stride 2 on the first $1\times1$;
# torchvision ("ResNet v1.5") puts it on the $3\times3$. Which is cheaper, by how many
# multiply-adds? Derive it, then check with
# `learnres.analysis.counting.bottleneck_mult_adds(..., stride_in_1x1=...)`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q4 (predict).** In ResNet-50, which stage (`conv2_x` … `conv5_x`) holds the most
# parameters, and which costs the most multiply-adds? Think of what halving the map and
# doubling the filters does to each; then read `table[50].rows` (or the widget above).

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q5 (experiment).** The basic block (64-d) and the bottleneck (256-d) cost the same
# multiply-adds. Do they take the same time? Predict, then time both, forward and backward
# as the cell that filled `costs` does, at a batch of 16 on $28\times28$ maps, and explain
# the difference you see.
