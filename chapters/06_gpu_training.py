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
# # Chapter 6 — Training the full models on a GPU
#
# **Covers** §3.4 and §4.2 of He et al. 2015: the training recipe, the CIFAR-10 protocol,
# the ResNet-110 warm-up, Table 6 and Fig. 6. Graded exercise: `exercises/ex6_sgd.py`.
#
# Everything so far ran on NumPy. The paper's CIFAR-10 results (Table 6) need 64,000
# iterations of batch 128 per model — on a laptop CPU, days. learnres runs the same code on
# a GPU through **CuPy**, a NumPy-compatible array library for CUDA.
#
# 1. the CIFAR protocol of §4.2, as `learnres train` runs it; play with the learning rate;
# 2. the CuPy backend: one switch, `.to("cuda")`;
# 3. CPU vs GPU timing;
# 4. a Table 6 from stored run logs (CPU runs on a CIFAR-10 subset: what they are is said
#    with them);
# 5. the same run in learnres and in PyTorch: can the engine be trusted to train? And the
#    early blow-up of deep nets, with the paper's warm-up.

# %% slideshow={"slide_type": "skip"}
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from ipywidgets import SelectionSlider, interact

import learnres
from learnres import Tensor
from learnres.backend import gpu_problem
from learnres.functions import cross_entropy
from learnres.lectures import (
    fresh_label,
    load_cifar10,
    missing_runs_note,
    runs_dir,
    save_figure,
    show_figure,
    sizes,
    stored_label,
    stored_pairs,
    stored_seeds,
    train_fresh,
)
from learnres.lectures.gpu import (
    cpu_gpu_markdown,
    cpu_gpu_runs,
    cuda_leg_result,
    first_steps,
    first_steps_markdown,
    fp32_errors,
    gpu_check_dir,
    step_table,
    step_table_markdown,
)
from learnres.lectures.paper import (
    PAPER_TABLE6,
    compare,
    early_peak,
    fig6_panel,
    limitations,
    model_label,
    table6,
    table6_markdown,
    versus_markdown,
    versus_summary,
    warmup_peaks,
)
from learnres.lectures.sweeps import COMMAND as LR_COMMAND
from learnres.lectures.sweeps import LR_SWEEP, lr_sweep
from learnres.models import resnet
from learnres.nn import init
from learnres.optim import SGD, make_schedule
from learnres.train import TrainingDiverged
from learnres.train.run import TrainConfig

S = sizes()
data = load_cifar10(S)
GPU = learnres.is_gpu_available()
print(f"{S.mode} mode; GPU available: {GPU}" + ("" if GPU else f" ({gpu_problem()})"))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The CIFAR protocol (§4.2)
#
# * the schedule was chosen on a 45k/5k train/validation split; the reported nets are then
#   trained on all 50k training images and tested on the 10k test images;
# * SGD, batch 128, momentum 0.9, weight decay $10^{-4}$, He initialisation, BN, no dropout;
# * learning rate 0.1, divided by 10 at 32k and 48k iterations, stop at 64k;
# * augmentation: pad 4 pixels, random $32\times32$ crop, horizontal flip; per-pixel mean
#   subtracted;
# * ResNet-110: "we use 0.01 to warm up the training until the training error is below 80%
#   (about 400 iterations), and then go back to 0.1".
#
# `learnres.train.TrainConfig`'s defaults **are** this protocol:

# %% slideshow={"slide_type": "fragment"}
config = TrainConfig()
for key in ("model", "iterations", "batch_size", "lr", "momentum", "weight_decay", "schedule",
            "shortcut", "augment", "normalization"):
    value = getattr(config, key)
    print(f"  {key:13s} {value if value is not None else '64000 (the paper)'}")
schedule = make_schedule("paper", 0.1, 64_000)
print("milestones:", schedule.milestones)
assert (config.batch_size, config.lr, config.momentum, config.weight_decay) == (128, 0.1, 0.9, 1e-4)
assert schedule.milestones == (32_000, 48_000) and config.shortcut == "A"
assert schedule.lr(31_999) == 0.1 and abs(schedule.lr(48_000) - 0.001) < 1e-12

# %% [markdown] slideshow={"slide_type": "subslide"}
# One SGD step, as learnres takes it (PyTorch's semantics): weight decay is added to the
# gradient, the momentum buffer accumulates it, and the parameter moves by
# $\eta$ times the buffer — `SGD._update`, from the package:

# %% slideshow={"slide_type": "fragment"} tags=["show-code"]
print(inspect.getsource(SGD._update))

# %% slideshow={"slide_type": "subslide"}
its = np.arange(0, 64_000, 100)
fig, ax = plt.subplots(figsize=(6.4, 2.6))
ax.semilogy(its / 1e4, [schedule.lr(int(i)) for i in its])
ax.set(xlabel="iter. (1e4)", ylabel="learning rate", title="the paper's schedule (learnres.optim)")
save_figure(fig, "06_schedule.png", "SCHEDULE computed by learnres.optim.make_schedule('paper', 0.1, 64000); no training")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The command lines for the paper's CIFAR-10 runs (on a GPU; all 50k training images,
# tested on the 10k test images):
#
# ```bash
# learnres train --model resnet20  --device cuda --out runs/resnet20
# learnres train --model resnet110 --device cuda --schedule warmup --out runs/resnet110
# learnres plot runs/resnet20 runs/resnet56 runs/resnet110 --out fig6.png
# ```
#
# To choose a schedule as the paper did, hold out 5,000 training images and watch the
# validation error instead: `learnres train --model resnet20 --validation 5000 ...`. Every
# option defaults to the paper's value; `--iterations N` shortens a run and moves the
# milestones to $N/2$ and $3N/4$.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Play: the learning rate
#
# ResNet-8 trained with the recipe above for `S.iterations` steps (500 of batch 128 in full
# mode; the schedule divides the rate by 10 at 1/2 and 3/4 of the run) at the learning rate
# of your choice. Too small: slow; too large: the loss jumps around or diverges. One such
# run takes many minutes on a CPU, so the curves of every position of the slider were
# **precomputed** once and stored in `chapters/runs/lr-sweep-resnet8/` (the line under the
# slider says what and by which command): moving it only redraws. Without them, each new
# position trains now.

# %% slideshow={"slide_type": "fragment"}
sweep = lr_sweep()
fresh_lr_runs = {}


def lr_history(lr):
    """The ResNet-8 history at ``lr``: precomputed when stored, else trained now (once);
    None when that run diverged before its first logged window."""
    if sweep is not None and lr in sweep.histories:
        return sweep.histories[lr]
    if lr not in fresh_lr_runs:
        init.manual_seed(0)
        try:
            fresh_lr_runs[lr] = train_fresh(resnet(8), data, lr=lr, desc=f"ResNet-8, lr {lr:g}")
        except TrainingDiverged as e:
            print(f"lr {lr:g}: {e}")
            fresh_lr_runs[lr] = None
    return fresh_lr_runs[lr]


def lr_figure(selected, lrs):
    """Training loss and test error of the runs at ``lrs``, the one at ``selected`` in red."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    losses = []
    for lr in lrs:
        h = lr_history(lr) if lr == selected or sweep is not None or lr in fresh_lr_runs else None
        if h is None or not h.rows:
            continue
        style = {"color": "C3", "lw": 2.2, "zorder": 3} if lr == selected else {"color": "0.7", "lw": 1}
        its, loss = h.column("train_loss")
        losses += loss
        ax1.plot(its, loss, **style)
        ax2.plot(*h.column("test_error"), "o-", ms=3, **style)
    chosen = lr_history(selected)
    diverged = chosen is None or (sweep is not None and selected in sweep.diverged)
    result = ("diverged" if diverged else
              f"final test error {chosen.last('test_error'):.1f}%")
    if losses and max(losses) > 20 * min(losses):
        ax1.set_yscale("log")  # a diverging rate: its loss spans decades
    ax1.set(xlabel="iterations", ylabel="training loss (window mean)")
    ax2.set(xlabel="iterations", ylabel="test error (%)", ylim=(0, 100))
    fig.suptitle(f"ResNet-8 at lr {selected:g} (red; grey: the other rates): {result}")
    return fig


if sweep is not None:
    lr_options = sweep.lrs
    lr_source = ("STORED SWEEP from chapters/runs/" + LR_SWEEP + ": " + sweep.command
                 + f" ({sweep.sizes.get('iterations')} iterations per rate)")
    display(Markdown(sweep.describe()))
else:
    lr_options = [0.001, 0.01, 0.1, 1.0]
    lr_source = fresh_label(f"ResNet-8, {S.iterations} iterations per rate")
    display(Markdown(f"**No precomputed curves** in `{runs_dir() / LR_SWEEP}`: each new position "
                     f"of the slider trains ResNet-8 now ({S.iterations} iterations). Make them once "
                     f"with `{LR_COMMAND}`."))
start_lr = 0.1 if 0.1 in lr_options else lr_options[0]
fig = lr_figure(start_lr, lr_options)
save_figure(fig, "06_learning_rate_stored.png" if sweep is not None else "06_learning_rate.png",
            lr_source)
plt.close(fig)


def play_lr(lr):
    lr_figure(lr, lr_options)
    plt.show()


interact(play_lr, lr=SelectionSlider(options=[(f"{lr:g}", lr) for lr in lr_options],
                                     value=start_lr, description="lr"));

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The CuPy backend
#
# Only `learnres/backend.py` imports CuPy. Every op asks for the array module of its input,
# `xp = get_array_module(x)`, and writes `xp.exp(x)`, `xp.matmul(...)`: NumPy arrays in,
# NumPy out; CuPy in, CuPy out. Moving work to the GPU is one call:
#
# ```python
# model = resnet(110).to("cuda")                         # parameters and BN buffers
# x = Tensor(images).to("cuda")                          # or DataLoader(..., device="cuda")
# loss = cross_entropy(model(x), labels_on_gpu)          # runs as CUDA kernels
# loss.backward(); optimizer.step()
# ```
#
# `learnres.is_gpu_available()` checks that a kernel really runs (a CuPy installed on a machine
# without a usable GPU is harmless); `learnres doctor` explains what is missing.

# %% slideshow={"slide_type": "fragment"}
print("GPU available:", GPU)
print("why not:" if not GPU else "", gpu_problem() or "")
if GPU:
    init.manual_seed(0)
    net = resnet(20).to("cuda")
    print("parameters live on:", {p.device for p in net.parameters()})
    xg = Tensor(np.zeros((2, 3, 32, 32), dtype=np.float32)).to("cuda")
    print("output on:", net(xg).device)
else:
    print("No GPU here: the GPU cells below are skipped (they run as they are on a CUDA machine).")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. CPU vs GPU: time per training step
#
# One SGD step of ResNet-20 (forward, backward, update) at batch size `S.timing_batch`
# (128 on a GPU is the paper's). From this, the time of the paper's 64k iterations.

# %% slideshow={"slide_type": "fragment"}
def step_time(device, batch_size, repeats):
    init.manual_seed(0)
    net = resnet(20).to(device)
    opt = SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((batch_size, 3, 32, 32)).astype(np.float32)).to(device)
    y = Tensor(rng.integers(0, 10, batch_size)).to(device).data

    def one_step():
        loss = cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()  # .item() waits for the GPU to finish

    one_step()
    tic = time.perf_counter()
    for _ in range(repeats):
        one_step()
    return (time.perf_counter() - tic) / repeats


timings = {"CPU (NumPy)": step_time("cpu", S.timing_batch, S.timing_repeats)}
if GPU:
    timings["GPU (CuPy)"] = step_time("cuda", S.timing_batch, 5 * S.timing_repeats)
    timings["GPU (CuPy), batch 128"] = step_time("cuda", 128, 5 * S.timing_repeats)
for name, t in timings.items():
    per_image = t / (128 if "128" in name else S.timing_batch)
    hours = per_image * 128 * 64_000 / 3600
    print(f"{name:22s} {1e3 * t:8.1f} ms/step  {1 / per_image:8.0f} images/s  "
          f"-> 64k iterations of batch 128: ~{hours:,.1f} h")

fig, ax = plt.subplots(figsize=(6.4, 2.4))
ax.barh(list(timings), [1e3 * t for t in timings.values()], color=["C0", "C2", "C2"][: len(timings)])
ax.set(xlabel="ms per SGD step", title=f"ResNet-20 training step, batch {S.timing_batch}")
save_figure(fig, "06_step_time.png", fresh_label(f"random inputs, timed on this machine; GPU: {GPU}", data=False))
plt.show()

# %% [markdown] slideshow={"slide_type": "notes"}
# The times above are measured on the machine that runs this notebook, nothing else: the
# hours printed are that step time multiplied out. The next slides read what one run of
# `tools/gpu_check.sh` on a real GPU stored in `chapters/runs/gpu-check/`.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### On a real GPU: one training step, learnres against PyTorch
#
# Stored by `learnres bench --suite step --device cuda --depths 20 56 110`: the same step
# (forward, loss, backward, SGD) of the same model from the same weights, learnres on CuPy
# and PyTorch on CUDA with cuDNN, both in true float32, alternating, median of 10 steps;
# peak GPU memory from a fresh process each.

# %% slideshow={"slide_type": "fragment"}
stored_steps = step_table()
if stored_steps is None:
    print(f"No stored GPU benchmark in {gpu_check_dir()}: run tools/gpu_check.sh on a GPU.")
else:
    step_rows, step_hardware = stored_steps
    display(Markdown(step_table_markdown(step_rows)))
    worst = max(step_rows, key=lambda r: r["ratio"])
    print(step_hardware.replace("; ", "\n", 1))
    print(f"learnres takes {min(r['ratio'] for r in step_rows):.1f}x to {worst['ratio']:.1f}x "
          f"PyTorch's time (ResNet-{worst['model'][6:]} the most).")

# %% [markdown] slideshow={"slide_type": "notes"}
# Why learnres is several times slower on a GPU, when it is within about 2x on a CPU: a
# step of ResNet-56 is thousands of small kernels (`tests/train/test_step_budget.py` counts
# them), each launched from Python, and at batch 128 on 32x32 images most finish before the
# next is launched. PyTorch launches fewer, fused, cuDNN kernels from C++. The ratio grows
# with depth because the launches do. The stored table is one run on one machine: other
# GPUs, drivers and batch sizes move these numbers.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### On a real GPU: is it the same computation?
#
# `python -m learnres.train.cpu_vs_gpu` builds one run twice, on the CPU (NumPy) and on the
# GPU (CuPy), from the same weights, and feeds both the same batches. In float64 the two
# must agree to rounding; in float32 they may drift.

# %% slideshow={"slide_type": "fragment"}
def show_first_steps(dtype, model):
    steps_rows = first_steps(dtype)
    if not steps_rows:
        print(f"No stored {dtype} comparison in {gpu_check_dir()}.")
        return
    last = steps_rows[-1]
    print(f"{model}, {dtype}: after {int(last['step'])} steps the weights differ by "
          f"{last['param_rel_diff']:.0e} (relative);\nthe CPU run's loss went from "
          f"{steps_rows[0]['loss_cpu']:.2f} to at most {max(r['loss_cpu'] for r in steps_rows):.2f}")
    display(Markdown(first_steps_markdown(steps_rows)))


leg = cuda_leg_result()
print("The tests' CuPy leg on that GPU (pytest -m gpu):\n  " + (leg or "not stored"))
show_first_steps("float64", "ResNet-20")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### On a real GPU: float32 drifts

# %% slideshow={"slide_type": "fragment"}
op_errors = fp32_errors()
if op_errors:
    print("float32 ops against float64, largest relative error:\n"
          f"  on the GPU {max(g for g, _ in op_errors.values()):.0e}, in NumPy on the CPU "
          f"{max(c for _, c in op_errors.values()):.0e} ({len(op_errors)} ops: fp32-check.txt)")
show_first_steps("float32", "ResNet-56")

# %% [markdown] slideshow={"slide_type": "notes"}
# The CuPy leg's errors, if the line shows any, are test modules that could not be imported
# on that machine (it lacks the notebooks extra); `chapters/runs/gpu-check/pytest-gpu.txt`
# names them. How to read the two tables. In float64 the difference stays at rounding:
# CuPy's kernels and cuBLAS compute what NumPy computes. In float32 each op is about as
# exact on the GPU as on the CPU (the first line of the float32 slide, from
# `chapters/runs/gpu-check/fp32-check.txt`, made by `tools/gpu_fp32_check.py`; TF32 would
# show as ~1e-3), yet ResNet-56's two runs drift apart within a few steps: at lr 0.1 its
# first steps are violent (the loss climbs far above ln 10), and such dynamics amplify
# rounding differences step after step. A batch-norm bias, a sum of many terms that nearly
# cancel, is where the difference shows first. The same happens between two CPU libraries;
# section 5 compares trained accuracies over seeds instead.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### On a real GPU: the stored runs again
#
# The stored CPU runs of section 4 and the same commands with `--device cuda` (one seed
# each). The 56-layer GPU runs are shorter: the script gave each run what its time budget
# allowed, so they follow a shorter schedule (learning rate divided at 1/2 and 3/4 of it).

# %% slideshow={"slide_type": "fragment"}
device_pairs = cpu_gpu_runs(["plain20", "resnet20", "plain56", "resnet56"])
if device_pairs:
    display(Markdown(cpu_gpu_markdown(device_pairs)))
    print("made by:", stored_label({r.name: r for pair in device_pairs.values() for r in pair})
          .split(": ", 1)[1].replace(" | ", "\n         "))
else:
    print("No pair of CPU and GPU runs is stored (<model>-seed0 and <model>-cuda-seed0).")

# %% [markdown] slideshow={"slide_type": "notes"}
# What this table can and cannot show. One seed per run, the 5,085-image subset, at most
# 2,000 iterations: the paper's 64,000 on 50,000 images are far beyond both. The GPU's
# images/s were measured with five training processes sharing one GPU, so they understate
# what one run alone gets (the benchmark above is that). Runs of the same command on the
# two devices need not end at the same error: float32 rounding differs (previous slide),
# and after thousands of steps the runs are as different as two seeds.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. A Table 6 from run logs
#
# Table 6 of the paper (CIFAR-10 test error, option A shortcuts) beside runs stored in
# `chapters/runs/<model>-seed<k>/` by `learnres train` (each folder's `command.txt` remakes
# it). The table says how long they ran, on what, and over how many seeds; the paragraph
# under it says what they are and what they cannot show.

# %% slideshow={"slide_type": "fragment"}
table_names = ["plain20", "plain32", "plain44", "plain56", "resnet20", "resnet32", "resnet44",
               "resnet56", "resnet110", "resnet1202"]
print(f"stored runs looked up in {runs_dir()}")
table = table6(table_names)
if table:
    display(Markdown(table6_markdown(table_names)))
    display(Markdown(limitations(table_names)))
    made_by = {f"{n}-seed{k}": r for n in table_names for k, r in stored_seeds(n).items()}
    print("made by:", stored_label(made_by).split(": ", 1)[1].replace(" | ", "\n         "))
    display(Markdown("\n".join(f"* {r['label']}: trained on {'/'.join(d.upper() for d in r['device'])}, "
                                f"{r['hours']:.1f} hours for {len(r['seeds'])} seed(s)" for r in table)))
missing = [n for n in PAPER_TABLE6 if not stored_seeds(n)]
if missing:
    display(Markdown("**Absent stored runs:** " + ", ".join(missing) + ". " + missing_runs_note(missing)))

# %% slideshow={"slide_type": "subslide"}
resnets = {n: stored_seeds(n) for n in PAPER_TABLE6 if stored_seeds(n)}
if resnets:
    fig = fig6_panel({model_label(n): r for n, r in resnets.items()},
                     "CIFAR-10 subset: stored ResNet runs (mean over seeds)")
    found = {f"{n}-seed{k}": r for n, g in resnets.items() for k, r in g.items()}
    save_figure(fig, "06_table6_curves_stored.png", stored_label(found))
    show_figure(fig)
    rows = [r for r in table if r["model"] in resnets]
    fig, ax = plt.subplots(figsize=(6.4, 3))
    pos = np.arange(len(rows))
    ax.bar(pos - 0.2, [r["test"][0] for r in rows], 0.4, yerr=[r["test"][1] for r in rows],
           label="stored runs (subset, short schedule)")
    ax.bar(pos + 0.2, [r["paper"] for r in rows], 0.4, label="paper, Table 6 (full CIFAR-10)")
    ax.set(xticks=pos, xticklabels=[r["label"] for r in rows], ylabel="test error (%)")
    ax.legend()
    save_figure(fig, "06_table6_stored.png", stored_label(found))
    plt.show()
    display(Markdown("**Depth, in these runs:** " + compare("resnet20", "resnet56", "test_error")))
else:
    print("No stored Table 6 runs are present, so there is no Table 6 figure. "
          "Make them with the commands above, into chapters/runs/NAME-seedK/.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. The same run in learnres and in PyTorch
#
# Gradient checks test one step. Does the engine also *train* like PyTorch? `versus_torch`
# trains a model in learnres and its PyTorch twin from the **same initial weights**, on the
# **same batches with the same crops and flips**, with the same recipe (torch's own `SGD`
# and `MultiStepLR`). In float64 the two loss curves agree to ~1e-15 for 20 steps (a test
# checks 1e-6). In float32 the two libraries round differently, training amplifies the
# difference, and after a few hundred steps the runs are as different as two seeds: the
# fair comparison is the test accuracy over several seeds.

# %% slideshow={"slide_type": "fragment"}
versus = {}
for name, label in (("resnet20", "ResNet-20"), ("resnet56", "ResNet-56")):
    pairs, versus_command = stored_pairs(f"versus-torch-{name}")
    if not pairs:
        print(f"Stored learnres-vs-torch runs not found in {runs_dir() / f'versus-torch-{name}'}. "
              f"Make them with `python -m learnres.reference.versus_torch --model {name} --data-dir DIR "
              f"--iterations {500 if name == 'resnet20' else 300} --seeds 0 1 2 --out chapters/runs/versus-torch-{name}`.")
        continue
    versus[name] = pairs
    display(Markdown(versus_markdown(pairs, label) + f"\n\nMade by: `{versus_command}`"))
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for k, (seed, (ours, theirs)) in enumerate(pairs.items()):
        for run, style, lib in ((ours, "-", "learnres"), (theirs, "--", "torch")):
            its, err = run.history.column("test_error")
            ax.plot(its, err, style, color=f"C{k}", label=f"seed {seed}, {lib}")
    ax.set(xlabel="iterations", ylabel="test error (%)",
           title=f"{label}, CIFAR-10 subset: learnres (solid) vs PyTorch (dashed)")
    ax.legend(fontsize="x-small", ncol=2)
    save_figure(fig, f"06_versus_torch_{name}_stored.png",
                f"STORED RUNS from chapters/runs/versus-torch-{name}: {versus_command}")
    plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The early blow-up, and the paper's warm-up
#
# Deep nets started at lr 0.1 go through a violent first few dozen iterations: the training
# loss jumps far above its starting value $\ln 10 \approx 2.3$ before it comes down — in
# learnres and in PyTorch alike, from the same weights. Rounding differences are amplified
# there, which is why two float32 runs of one seed end apart. For ResNet-110 the paper
# starts at lr 0.01 "until the training error is below 80% (about 400 iterations)"
# (`--schedule warmup`). Below: ResNet-56's first iterations at lr 0.1 (the learnres and
# PyTorch runs above) and with the warm-up. Watch what happens when the warm-up ends.

# %% slideshow={"slide_type": "fragment"}
warm = stored_seeds("resnet56-warmup")
deep_pairs = versus.get("resnet56", {})
if deep_pairs or warm:
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    lines = []
    for k, (seed, (ours, theirs)) in enumerate(deep_pairs.items()):
        for run, style, lib in ((ours, "-", "learnres"), (theirs, "--", "torch")):
            its, loss = run.history.column("train_loss")
            ax.plot(its, loss, style, color=f"C{k}", lw=1, label=f"lr 0.1, seed {seed}, {lib}")
            peak, at = early_peak(run, 30)
            lines.append(f"* lr 0.1, seed {seed}, {lib}: peak training loss {peak:.2f} at iteration {at}")
    warm_peaks = {}
    for k, (seed, run) in enumerate(warm.items()):
        its, loss = run.history.column("train_loss")
        ax.plot(its, loss, ":", color=f"C{k}", lw=2, label=f"warm-up, seed {seed}, learnres")
        w = warm_peaks[seed] = warmup_peaks(run)
        lines.append(f"* warm-up, seed {seed}: lr 0.01 until iteration {w['switch']} (training error "
                     f"< 80%), peak loss {w['before'][0]:.2f}; after the switch to 0.1, peak "
                     f"{w['after'][0]:.2f} at iteration {w['after'][1]}")
    ax.axhline(np.log(10), color="0.5", lw=0.6)
    ax.set(xlim=(0, 100), xlabel="iterations", ylabel="training loss (window mean)",
           title="ResNet-56, first 100 iterations (grey: ln 10, the loss of a uniform guess)")
    ax.legend(fontsize="xx-small", ncol=2)
    found = {f"resnet56-warmup-seed{k}": r for k, r in warm.items()}
    save_figure(fig, "06_early_blowup_stored.png",
                stored_label(found) + " | lr 0.1: chapters/runs/versus-torch-resnet56")
    plt.show()
    display(Markdown("\n".join(lines)))
    if warm_peaks and deep_pairs:
        start = [early_peak(run, 30)[0] for pair in deep_pairs.values() for run in pair]
        later = [w["after"][0] for w in warm_peaks.values()]
        during = max(w["before"][0] for w in warm_peaks.values())
        verdict = ("the warm-up moved the blow-up to the end of the warm-up; it did not remove it"
                   if min(later) > 2 * np.log(10) else "the warm-up removed most of the blow-up")
        display(Markdown(
            f"In these runs the loss stays at most {during:.2f} during the warm-up; when the rate "
            f"returns to 0.1 it jumps to {min(later):.2f}-{max(later):.2f}, against "
            f"{min(start):.2f}-{max(start):.2f} at the start without warm-up: {verdict}."))
else:
    print("No stored ResNet-56 runs for the early iterations (versus-torch-resnet56, "
          "resnet56-warmup-seedK).")

# %% [markdown] slideshow={"slide_type": "notes"}
# The paper warms up ResNet-110 only, because "the initial learning rate of 0.1 is slightly
# too large to start converging" (§4.2); it says nothing of what the return to 0.1 does.
# These runs are ResNet-56 on the 5,085-image subset, 3 seeds of 300 iterations: they show
# what happens at the switch, not whether ResNet-110 on all of CIFAR-10 would fail to
# converge without the warm-up. The 80% threshold is reached here far sooner than the
# paper's ~400 iterations (the switch is printed on the slide): a small set is fitted sooner.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## When one machine is not enough
#
# The paper did not train on one device either: its CIFAR-10 nets were "trained with a
# mini-batch size of 128 on two GPUs" (§4.2), and ImageNet's mini-batch of 256 (§3.4) over
# a number of GPUs the paper does not state. A course that wants those runs need not rewrite the model: learnres
# hands it to PyTorch, whose DistributedDataParallel (DDP) trains it with one process per
# GPU, and takes the weights back.
#
# $$\text{learnres model} \xrightarrow{\texttt{to\_torch}} \text{torch twin}
# \xrightarrow{\text{DDP},\ N \text{ GPUs}} \text{trained twin}
# \xrightarrow{\texttt{from\_torch}} \text{learnres model}$$
#
# `learnres scale` (`learnres/reference/ddp.py`) is that glue and nothing more: `learnres
# train`'s options and run folder (metrics.csv, plot.png, checkpoint.npz with the learnres
# weights), NCCL between GPUs, gloo between CPU processes. On a machine with 8 GPUs:
#
# ```bash
# torchrun --standalone --nproc_per_node 8 -m learnres scale --model resnet110 \
#     --device cuda --schedule warmup --validation 5000 --out runs/resnet110-ddp
# ```
#
# It trains what `learnres train` trains (the 32x32 datasets and models); ImageNet would
# need a reader learnres does not have, though `to_torch` and `from_torch` carry the
# ImageNet ResNets both ways.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What changes with N processes
#
# * **Batch per GPU.** `--batch-size` is the global batch, the paper's 128; each process
#   takes 128 / N images (64 on two GPUs: the paper's CIFAR-10 set-up). It must divide.
# * **Learning rate.** Unchanged: DDP averages the N gradients during `backward` (an
#   all-reduce), so each step still follows the mean gradient over 128 images. Growing the
#   global batch instead (128 per GPU on 8 GPUs = 1024) calls for a larger learning rate and
#   a warm-up (the linear scaling rule of Goyal et al., 2017); the paper did not do that, and
#   `learnres scale` uses the `--lr` you give it.
# * **BatchNorm statistics per GPU.** Each process normalises over its own 128 / N images,
#   as multi-GPU implementations of BN do by default (the paper does not say otherwise; the
#   statistics over the whole batch would need SyncBatchNorm); the running statistics used for testing are process
#   0's (DDP copies them to the others at every forward pass). So N processes compute what one
#   process computes when it runs BN on each 1/N of the batch separately, *not* one BN over
#   all 128: `tests/reference/test_ddp.py` checks both statements.
# * **Data.** Every process reads the files with learnres's readers and takes a disjoint
#   share of each epoch (`DistributedSampler`), with the same per-pixel mean, 4-pixel
#   pad-and-crop and flip as `learnres train`.

# %% slideshow={"slide_type": "subslide"}
import tempfile
from pathlib import Path

from learnres.lectures import data_dir, run_torchrun, sizes

ddp_S = sizes()
try:
    import torch

    ddp_possible = torch.distributed.is_available() and torch.distributed.is_gloo_available()
    ddp_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
except ImportError:  # torch is the `reference` extra
    torch, ddp_possible, ddp_gpus = None, False, 0
ddp_out = Path(tempfile.mkdtemp(prefix="learnres-ddp-")) / "resnet20-ddp"
ddp_args = ["--model", "resnet20", "--iterations", str(ddp_S.iterations),
            "--batch-size", str(ddp_S.batch_size), "--log-every", str(ddp_S.log_every),
            "--eval-every", str(ddp_S.eval_every), "--no-progress", "--out", str(ddp_out)]
if ddp_S.train_images is not None:  # the chapter's class-balanced subset (same seed)
    ddp_args += ["--subset", str(ddp_S.train_images)]
if data_dir() is not None:
    ddp_args += ["--data-dir", str(data_dir())]
ddp_command = ["torchrun", "--standalone", "--nproc_per_node", "2", "-m", "learnres", "scale",
               *ddp_args]
print("$", " ".join(ddp_command))
if ddp_possible:  # two CPU processes with gloo: what this machine can run
    done, ddp_out = run_torchrun(ddp_command)  # (once more if gloo aborts a process)
    print(done.stdout.strip())
else:
    print("torch.distributed with gloo is not available here (pip install 'learnres[reference]')")

# %% slideshow={"slide_type": "subslide"}
import matplotlib.pyplot as plt
import numpy as np

from learnres.lectures import batch, bn_after_3x3, fresh_label, load_cifar10, probe, save_figure
from learnres.nn import init as ddp_init
from learnres.train import read_csv

if ddp_possible:
    from learnres.reference.ddp import load_run_model
    from learnres.train.run import build_model

    ddp_model = load_run_model(ddp_out)  # the DDP-trained weights, in a learnres model
    ddp_init.manual_seed(0)  # the same seed: the weights the run started from
    ddp_start = build_model("resnet20", num_classes=10, in_channels=3)
    ddp_data = load_cifar10(ddp_S)  # the same images and per-pixel mean as the run's
    ddp_x, ddp_y = batch(ddp_data, ddp_S.stats_batch, split="test", seed=2)
    ddp_std = {label: probe(net, ddp_x, ddp_y, select=bn_after_3x3).forward_std
               for label, net in (("at initialisation", ddp_start),
                                  ("trained with DDP, back in learnres", ddp_model))}
    ddp_history = read_csv(ddp_out)
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.6), layout="constrained")
    for (label, std), style in zip(ddp_std.items(), ("--", "-")):
        axes[0].plot(np.arange(1, len(std) + 1), std, style, label=label)
    axes[0].set(xlabel="layer index", ylabel="std of response",
                title="Fig. 7 probe (learnres) of the DDP-trained ResNet-20")
    axes[0].legend(fontsize="small")
    for column, style in (("train_error", "-"), ("test_error", "o-")):
        its, err = ddp_history.column(column)
        axes[1].plot(its, err, style, label=column.replace("_", " "))
    axes[1].set(xlabel="iterations", ylabel="error (%)", title="its metrics.csv")
    axes[1].legend(fontsize="small")
    save_figure(fig, "06_ddp_fresh.png", fresh_label(
        f"`learnres scale`, 2 CPU processes (gloo), ResNet-20, {ddp_S.iterations} iterations; "
        "weights loaded back into learnres and probed there"))
    plt.show()
    print(f"ran here: 2 processes, gloo, CPU, torch {torch.__version__}; GPUs visible to "
          f"torch: {ddp_gpus}" + ("" if ddp_gpus else " (so NCCL did not run in this notebook)"))

# %% [markdown] slideshow={"slide_type": "notes"}
# What was run for this section, and what was not. Run: `learnres scale` with two CPU
# processes and gloo (the cell above, and `tests/reference/test_ddp.py`, which checks that
# both processes hold identical weights after every step, that the result equals a
# one-process run with BN per half, and that the weights brought back give the torch
# model's logits in learnres). Not run by the project: NCCL, several GPUs, 8-GPU ImageNet,
# or any full-length run with `learnres scale`. One GPU was used once (section 3's stored
# results, `tools/gpu_check.sh`); `learnres scale --device cuda` has not run on one.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### The same split on the cores of one machine
#
# `learnres train --processes 2` (`learnres.data_parallel`) splits every batch of 128 over
# two processes of one CPU, as the paper split it over two GPUs, and adds their gradients.
# Unlike DDP's default above, its batch norm is synchronised (`SyncBatchNorm`): each
# layer's mean and variance are those of all 128 images, the processes adding their sums.
# So the step is the one-process step, up to the order in which floats are added; the cell
# below checks that on one float64 step. Processes, unlike threads, do not share Python's
# interpreter lock: README's "Speed on the CPU" has what that gains.

# %% slideshow={"slide_type": "subslide"}
from learnres.data_parallel import DataParallel


def dp_copy():  # the same float64 ResNet-20 and SGD each time
    ddp_init.manual_seed(0)
    net = resnet(20).double()
    return net, SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


dp_rng = np.random.default_rng(0)
dp_x, dp_y = dp_rng.standard_normal((16, 3, 32, 32)), dp_rng.integers(0, 10, size=16)
(dp_one, dp_opt), (dp_two, dp_opt2) = dp_copy(), dp_copy()
dp_one.train()
dp_loss = cross_entropy(dp_one(Tensor(dp_x)), dp_y)  # one process, all 16 images
dp_opt.zero_grad(), dp_loss.backward(), dp_opt.step()
with DataParallel(dp_two, dp_opt2, processes=2) as dp:  # 8 images in each process
    dp.step(dp_x, dp_y)
dp_diff = max(float(np.abs(np.asarray(a) - b).max())
              for a, b in zip(dp_one.state_dict().values(), dp_two.state_dict().values()))
print(f"one step: weights and BN statistics, 1 process vs 2, differ by at most {dp_diff:.1e}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Summary
#
# * The CIFAR protocol is `TrainConfig()`'s defaults; `learnres train` runs it, shortened or
#   not, and writes `metrics.csv` that the figures here read.
# * The same learnres code runs on CuPy: `.to("cuda")` for models and tensors,
#   `device="cuda"` for loaders; only `backend.py` knows.
# * Every figure says whether it is a fresh run or a stored one, on what device, and how it
#   was made; the stored runs here are short runs on a subset, far from the paper's, made
#   on a CPU and, for four of them and the learnres-vs-PyTorch pairs of ResNet-56, on a GPU.
# * learnres and PyTorch, started alike and fed alike, agree step by step in float64; in
#   float32 the stored seeds say how close their test accuracies are:

# %% slideshow={"slide_type": "fragment"}
for name, pairs in versus.items():
    v = versus_summary(pairs)
    print(f"{model_label(name)}: mean gap {v['mean']:+.2f} points over {len(v['gaps'])} seeds"
          + (f" ({'within' if v['within'] else 'outside'} max(2 points, 2 standard errors))"
             if len(v["gaps"]) > 1 else ""))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Questions
#
# Write your prediction down **before** you run anything, then check it with this chapter's
# code. The answers are not in this notebook; instructors build them with
# `learnres lectures answers 06`.
#
# **Graded exercise:** `exercises/ex6_sgd.py` — `SGD._update` (momentum and weight decay),
# `scaled_milestones` and `StepSchedule.lr`; `pytest exercises/test_ex6_sgd.py`. The
# softmax and training step and He initialisation are among the exercises in `exercises/`.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q1 (a number to predict).** How many epochs (passes over the training images) are the
# paper's 64k iterations of batch 128 on its 45k training split? And the 500 iterations of
# the learning-rate widget's runs on the 5,085-image subset? Predict both, then check the
# second with the `epoch` column of a widget run's history (`lr_history(0.1)`).

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q2 (predict, then check).** Before you move the learning-rate slider: at which of its
# rates will ResNet-8 end with the lowest test error, and does its training loss blow up
# at any of them instead of falling (if so, from which rate on)? Write both down, then move
# the slider, and say what batch norm has to do with the answer.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q3 (derive).** SGD with momentum $\mu = 0.9$ and weight decay $\lambda = 10^{-4}$ at
# learning rate $\eta = 0.1$. (a) Under a constant gradient $g$, how large do the steps
# become? (b) A weight that the loss ignores ($g = 0$) only decays: after how many
# iterations is it halved? Derive both, then check (b) with `SGD` on a single `Parameter`
# whose gradient you set to zero at every step.

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q4 (a number to predict).** The learnres-vs-PyTorch table gives the standard deviation
# of the per-seed gap. Suppose the two libraries truly differed by 0.5 points of test
# accuracy. How many seeds would make the standard error of the mean gap small enough
# (below 0.25 points) to see it? Predict the order of magnitude, then compute it from the
# stored runs' spread (`versus_summary`).

# %% [markdown] slideshow={"slide_type": "subslide"} tags=["question"]
# **Q5 (experiment).** Train ResNet-8 with a batch four times smaller than this mode's,
# once at the same learning rate and once at a quarter of it
# (`train_fresh(resnet(8), data, batch_size=S.batch_size // 4, lr=...)`, seeded like the
# widget's runs). Predict which of the two ends closer to the full-batch run at lr 0.1 after
# the same number of *images*, then run it.
