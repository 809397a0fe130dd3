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
# An epoch is one pass over the training images: $64{,}000 \cdot 128 / 45{,}000 \approx 182$
# epochs in the paper (learnres counts whole batches, $\lfloor 45{,}000/128 \rfloor = 351$
# per epoch: 182.3). The widget's full-mode runs: $\lfloor 5{,}085/128 \rfloor = 39$ batches
# per epoch, so 500 iterations are $500/39 \approx 12.8$ epochs — a short run, which is why
# its errors are far from Table 6's.

# %%
print(f"paper: {64_000 * 128 / 45_000:.1f} epochs (learnres's count: {64_000 / (45_000 // 128):.1f})")
h = lr_history(0.1)
if h is not None and h.rows:
    from learnres.lectures import FULL

    info = sweep.sizes if sweep is not None else {"batch_size": S.batch_size, "train_images": len(data.train)}
    images = info.get("train_images") or len(load_cifar10(FULL).train)  # None: the whole subset
    last = h.rows[-1]
    expected = last["iteration"] / (images // info["batch_size"])
    print(f"the widget's run at lr 0.1: {last['iteration']} iterations = epoch {last['epoch']:.2f} "
          f"in its metrics ({images} images / batch {info['batch_size']}: {expected:.2f})")
    assert abs(last["epoch"] - expected) < 0.01

# %% [markdown]
# ### Answer to Q2

# %%
finals = {}
for lr in lr_options:
    h = lr_history(lr) if sweep is not None or lr in fresh_lr_runs or lr == start_lr else None
    if h is not None and h.rows and h.last("test_error") is not None:
        finals[lr] = h.last("test_error")
steps_per_run = sweep.sizes.get("iterations") if sweep is not None else S.iterations
blown = sorted(sweep.diverged) if sweep is not None else [lr for lr, h in fresh_lr_runs.items() if h is None]
if finals:
    best = min(finals, key=finals.get)
    display(Markdown(
        "Final test error per rate: " + ", ".join(f"lr {lr:g}: {e:.1f}%" for lr, e in sorted(finals.items()))
        + f". Lowest at **lr {best:g}**; "
        + (f"diverged: {', '.join(f'{lr:g}' for lr in blown)}." if blown else "no rate diverged.")
        + (" (Precomputed full-mode curves.)" if sweep is not None else
           f" (Only the rates trained so far, {S.mode} mode: build the sweep for all of them.)")
        + f" Too small a rate barely moves in {steps_per_run} steps; too large a rate makes the "
        "first steps overshoot, and BN cannot undo a loss that has become infinite."))

# %% [markdown]
# ### Answer to Q3
#
# (a) With momentum the velocity $v \leftarrow \mu v + g$ tends to $g/(1-\mu) = 10\,g$: the
# steps become $\eta g/(1-\mu)$, ten times the plain SGD step. (b) Weight decay adds
# $\lambda w$ to the gradient, so a weight with $g = 0$ sees the same amplification:
# $w \leftarrow w\,(1 - \eta\lambda/(1-\mu)) = w\,(1 - 10^{-4})$ per iteration, halved after
# $\ln 2 / 10^{-4} \approx 6{,}931$ iterations (a few more while the velocity builds up) —
# about 11% of the paper's run.

# %%
from learnres.nn import Parameter

w = Parameter(np.ones(1))
opt = SGD([w], lr=0.1, momentum=0.9, weight_decay=1e-4)
steps = 0
while w.data[0] > 0.5:
    w.grad = np.zeros(1)
    opt.step()
    steps += 1
print(f"halved after {steps} iterations (ln 2 / 1e-4 = {np.log(2) / 1e-4:.0f})")
assert abs(steps - np.log(2) / 1e-4) < 20

# %% [markdown]
# ### Answer to Q4

# %%
pairs, _ = stored_pairs("versus-torch-resnet20")
if len(pairs) > 1:
    v = versus_summary(pairs)
    sd = float(np.std(v["gaps"], ddof=1))
    need = int(np.ceil((sd / 0.25) ** 2))
    display(Markdown(
        f"The stored gaps have a standard deviation of {sd:.2f} points over {len(v['gaps'])} seeds. "
        f"The standard error of a mean of $n$ gaps is $\\mathrm{{sd}}/\\sqrt n$; below 0.25 points "
        f"takes $n \\ge (\\mathrm{{sd}}/0.25)^2 = {need}$ seeds. The 5 stored seeds can only "
        "rule out differences of a few points: that is what 'within 2 standard errors' means."))
else:
    print("No stored learnres-vs-torch seeds (chapters/runs/versus-torch-resnet20): the "
          "answer needs their spread. With an sd of about 2 points per seed, n >= (2/0.25)^2 = 64.")

# %% [markdown]
# ### Answer to Q5

# %%
small = S.batch_size // 4
iterations = 4 * S.iterations  # the same number of images as the full-batch run
runs_q5 = {}
for lr in (0.1, 0.025):
    init.manual_seed(0)
    runs_q5[lr] = train_fresh(resnet(8), data, batch_size=small, lr=lr, iterations=iterations,
                              desc=f"ResNet-8, batch {small}, lr {lr:g}")
reference = lr_history(0.1)
lines = [f"* batch {small}, lr {lr:g}: final test error {h.last('test_error'):.1f}%"
         for lr, h in runs_q5.items()]
if reference is not None and sweep is None:
    lines.append(f"* batch {S.batch_size}, lr 0.1 (the widget's run): {reference.last('test_error'):.1f}%")
display(Markdown(
    f"{iterations} iterations of batch {small} ({S.mode} mode, one seed):\n\n" + "\n".join(lines)
    + "\n\nA smaller batch gives noisier gradients; the *linear scaling rule* (Goyal et al. "
    "2017) keeps the step per image the same by scaling the rate with the batch, which is why "
    "lr/4 is the fair comparison. One seed at this size cannot rank runs a point or two apart."))
