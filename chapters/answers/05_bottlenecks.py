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
# The block's convolutions: $256\cdot64 + 9\cdot64^2 + 64\cdot256 = 69{,}632$ weights (plus
# 768 of BN) and $17\cdot64^2 = 69{,}632$ multiply-adds per pixel. A projection from 256 to
# 256 channels adds $256^2 = 65{,}536$ weights (plus 512 of BN) and $65{,}536$ multiply-adds
# per pixel: almost exactly as much again. The identity shortcut is what keeps the
# bottleneck cheap.

# %%
identity = summary(Bottleneck(256, 64), (256, 56, 56), print_table=False)
projected = summary(Bottleneck(256, 64, shortcut="C"), (256, 56, 56), print_table=False)
ratio_p = projected.total_params / identity.total_params
ratio_m = projected.mult_adds / identity.mult_adds
print(f"with a projection: {ratio_p:.2f}x the parameters, {ratio_m:.2f}x the multiply-adds")
assert projected.mult_adds - identity.mult_adds == 256 * 256 * 56 * 56
assert 1.9 < ratio_p < 2.0 and 1.9 < ratio_m < 2.0

# %% [markdown]
# ### Answer to Q2
#
# Each extra `conv4_x` block costs $17\cdot256^2\cdot14^2 \approx 0.218$G multiply-adds;
# ResNet-101 has 17 more of them than ResNet-50, so
# $3.86 + 17 \times 0.218 \approx 7.57$G, Table 1's 7.6 (and ResNet-152, with 30 more
# blocks in `conv4_x` and 4 more in `conv3_x`, 11.3).

# %%
per_block = 17 * 256**2 * 14**2
predicted = table[50].mult_adds + 17 * per_block
print(f"predicted {predicted / 1e9:.3f}G, counted {table[101].mult_adds / 1e9:.3f}G, Table 1 7.6G")
assert predicted == table[101].mult_adds

# %% [markdown]
# ### Answer to Q3
#
# Paper (stride on the first $1\times1$): every convolution works at $28\times28$.
# torchvision: the first $1\times1$ ($256\to128$) works at $56\times56$, four times as many
# pixels: $256\cdot128\cdot(56^2 - 28^2) \approx 77.1$M multiply-adds more, about 26% of the
# block. torchvision pays it because a $1\times1$ convolution with stride 2 simply ignores
# three quarters of its input.

# %%
from learnres.analysis.counting import bottleneck_mult_adds

paper = bottleneck_mult_adds(256, 128, 56, 56, stride=2, stride_in_1x1=True)
torchvision = bottleneck_mult_adds(256, 128, 56, 56, stride=2, stride_in_1x1=False)
print(f"paper {paper / 1e6:.1f}M, torchvision {torchvision / 1e6:.1f}M, difference "
      f"{(torchvision - paper) / 1e6:.2f}M")
assert torchvision - paper == 256 * 128 * (56**2 - 28**2)

# %% [markdown]
# ### Answer to Q4
#
# Parameters grow with the width squared and ignore the map: the last stage, `conv5_x`
# (2048-d), holds more than half of them. Multiply-adds are parameters times pixels: halving
# the map and doubling the filters keeps a block's cost about constant, so the stage with
# the **most blocks**, `conv4_x` (6), costs the most.

# %%
stages = {r.name: r for r in table[50].rows if r.depth == 1 and r.name.endswith("_x")}
for name, r in stages.items():
    print(f"{name}: {r.params / 1e6:5.2f}M parameters, {r.mult_adds / 1e9:.2f}G multiply-adds")
assert max(stages, key=lambda n: stages[n].params) == "conv5_x"
assert max(stages, key=lambda n: stages[n].mult_adds) == "conv4_x"

# %% [markdown]
# ### Answer to Q5

# %%
timed = {}
for name, (blk, width) in blocks.items():
    xq = rng.standard_normal((16, width, 28, 28)).astype(np.float32)

    def fwd_bwd(blk=blk, xq=xq):
        t = Tensor(xq, requires_grad=True)
        out = blk(t)
        out.backward(np.ones(out.shape, dtype=np.float32))

    timed[name] = time_call(fwd_bwd, repeats=S.timing_repeats)
(n1, t1), (n2, t2) = timed.items()
print(f"{n1}: {1e3 * t1:.0f} ms, {n2}: {1e3 * t2:.0f} ms per forward + backward "
      f"(batch 16, 28x28): ratio {t2 / t1:.2f}")
print("Equal multiply-adds need not mean equal time: the bottleneck moves 4x wider maps "
      "through memory (BN, ReLU and the addition touch every value of a 256-d map), and its "
      "1x1 convolutions are thin matrix products; the measured ratio above is this machine's.")
