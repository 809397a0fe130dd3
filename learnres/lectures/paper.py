"""The paper's CIFAR-10 figures and tables, drawn from stored learnres runs.

The chapters set learnres's own runs beside He et al. (2015): Fig. 6 (training and test
error of plain nets and ResNets against iterations), Table 6 (test error by depth) and
Fig. 7 (std of the layer responses). Every number a chapter states about these runs comes
from the functions here, computed from ``chapters/runs/<model>-seed<k>/`` at run time:

    groups = {"plain-20": stored_seeds("plain20"), "plain-56": stored_seeds("plain56")}
    fig = fig6_panel(groups, "plain nets")           # mean over seeds; band: min..max test
    rows = table6(["resnet20", "resnet56"])            # final errors, mean ± sd over seeds
    gap = error_gap(stored_seeds("plain56"), stored_seeds("resnet56"))
    fig = fig7({"plain-20": [...], "ResNet-20": [...]})   # original order and sorted

What these runs are, and are not: a 5,085-image subset of CIFAR-10's 50,000 training
images and its 1,017-image test subset, the paper's recipe scaled to a few thousand
iterations (the milestones moved to 1/2 and 3/4 of the run), a few seeds. A test error
measured on 1,017 images has a standard error of about 1.5 points by itself
(``binomial_se``); seeds add their own spread. ``error_gap`` says whether a difference
stands out of both.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "PAPER_TABLE6",
    "binomial_se",
    "compare",
    "early_peak",
    "error_gap",
    "final_error",
    "fig6_panel",
    "fig7",
    "limitations",
    "model_label",
    "parameters_of",
    "table6",
    "table6_markdown",
    "versus_markdown",
    "versus_summary",
]

# Table 6 of the paper (CIFAR-10 test error, %, option A, 64k iterations on all 50k images):
# model -> (layers, parameters in millions as printed, test error). ResNet-110: best of 5
# runs; the paper gives the mean 6.61 ± 0.16 beside it.
PAPER_TABLE6 = {
    "resnet20": (20, 0.27, 8.75),
    "resnet32": (32, 0.46, 7.51),
    "resnet44": (44, 0.66, 7.17),
    "resnet56": (56, 0.85, 6.97),
    "resnet110": (110, 1.7, 6.43),
    "resnet1202": (1202, 19.4, 7.93),
}


def model_label(name: str) -> str:
    """ "resnet56" -> "ResNet-56", "plain20" -> "plain-20", "mlp56" -> "MLP-56"."""
    for prefix, label in (("resnet", "ResNet-"), ("plain", "plain-"), ("mlp", "MLP-")):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return label + name[len(prefix) :]
    return name


def parameters_of(name: str) -> int:
    """Parameters of the CIFAR-10 model ``name`` (built, then counted)."""
    from learnres.train.run import build_model

    return build_model(name, num_classes=10, in_channels=3).num_parameters()


def final_error(run, column: str = "train_error", last: int = 100) -> float:
    """A run's final error (percent). The test error is its last evaluation; the training
    error, noisier (a window of a few batches), is the mean of the windows logged in the
    run's last ``last`` iterations."""
    its, values = run.history.column(column)
    if not its:
        raise ValueError(f"{run.name}: no {column} in its metrics.csv")
    if column != "train_error":
        return float(values[-1])
    end = its[-1]
    return float(np.mean([v for i, v in zip(its, values) if i > end - last]))


def binomial_se(error_percent: float, n: int) -> float:
    """Standard error (points) of an error rate measured on ``n`` images:
    100 sqrt(p (1 - p) / n)."""
    p = error_percent / 100.0
    return 100.0 * math.sqrt(p * (1.0 - p) / n)


def _test_images(runs) -> int:
    sizes = {int(r.config.get("test_images", 0)) for r in runs}
    sizes.discard(0)
    if len(sizes) != 1:
        raise ValueError("stored runs do not record one common test-set size (config.json)")
    return sizes.pop()


def _images_behind(runs, column: str) -> int:
    """How many image classifications one final error of ``column`` averages: the test
    set for the test error; ``last`` iterations of ``batch_size`` images for the training
    error (see ``final_error``)."""
    if column == "test_error":
        return _test_images(runs)
    batches = {int(r.config.get("batch_size", 128)) for r in runs}
    return min(100, min(r.iterations for r in runs)) * min(batches)


def error_gap(a_runs, b_runs, column: str = "test_error") -> dict:
    """How far apart two models' final errors are (b minus a, in points), and whether the
    difference stands out: |gap| > 2 standard errors, the standard error of each mean
    over seeds taking the larger of the binomial error of the images behind one final
    error and the spread between seeds (when there are several).

    Arguments: two ``{seed: StoredRun}`` (or lists of runs); ``column``: "test_error" or
    "train_error".
    Returns: ``{"a", "b", "gap", "se", "clear", "seeds": (len a, len b)}``.
    """
    a_runs = list(a_runs.values()) if isinstance(a_runs, dict) else list(a_runs)
    b_runs = list(b_runs.values()) if isinstance(b_runs, dict) else list(b_runs)
    a = np.array([final_error(r, column) for r in a_runs])
    b = np.array([final_error(r, column) for r in b_runs])
    n = _images_behind(a_runs + b_runs, column)

    def variance_of_mean(values):
        seed_var = values.var(ddof=1) if len(values) > 1 else 0.0
        return max(seed_var, binomial_se(values.mean(), n) ** 2) / len(values)

    se = math.sqrt(variance_of_mean(a) + variance_of_mean(b))
    gap = float(b.mean() - a.mean())
    return {
        "a": float(a.mean()),
        "b": float(b.mean()),
        "gap": gap,
        "se": se,
        "clear": abs(gap) > 2 * se,
        "seeds": (len(a), len(b)),
    }


def compare(a: str, b: str, column: str = "test_error", root=None) -> str:
    """A sentence comparing the stored runs of models ``a`` and ``b`` (e.g. "plain20",
    "plain56") on ``column``, with the numbers, the seeds and whether the gap stands out
    (``error_gap``); says so when either has no stored run."""
    from learnres.lectures.runs import stored_seeds

    ra, rb = stored_seeds(a, root), stored_seeds(b, root)
    la, lb = model_label(a), model_label(b)
    what = "test error" if column == "test_error" else "training error"
    if not ra or not rb:
        absent = " and ".join(model_label(n) for n, r in ((a, ra), (b, rb)) if not r)
        return f"No stored run of {absent}: nothing to compare."
    g = error_gap(ra, rb, column)
    order = "higher" if g["gap"] > 0 else "lower"
    seeds = f"seeds: {g['seeds'][1]} and {g['seeds'][0]}"
    text = (
        f"{lb} ends with a {order} {what} than {la}: {g['b']:.1f}% vs {g['a']:.1f}% "
        f"({seeds}), a gap of {g['gap']:+.1f} points"
    )
    caveat = ""
    if min(g["seeds"]) < 2:
        caveat = " (one seed: the spread between seeds is not in this standard error)"
    if g["clear"]:
        return (
            text + f", more than twice its standard error ({g['se']:.1f}){caveat}: "
            "a clear difference."
        )
    return (
        text + f", within twice its standard error ({g['se']:.1f}){caveat}: these runs cannot "
        "tell the two apart."
    )


def table6(names, paper=PAPER_TABLE6, root=None) -> list[dict]:
    """One row per model with stored runs: layers, parameters, iterations, seeds, final
    training and test error (mean and sample sd over seeds), and the paper's test error
    when Table 6 has the model. Models without stored runs are left out."""
    from learnres.lectures.runs import seed_stats, stored_seeds

    rows = []
    for name in names:
        runs = stored_seeds(name, root)
        if not runs:
            continue
        its = sorted({r.iterations for r in runs.values()})
        train = seed_stats(final_error(r, "train_error") for r in runs.values())
        test = seed_stats(final_error(r, "test_error") for r in runs.values())
        depth = "".join(ch for ch in name if ch.isdigit())
        rows.append(
            {
                "model": name,
                "label": model_label(name),
                "layers": int(depth),
                "params": parameters_of(name),
                "iterations": its,
                "seeds": list(runs),
                "train": train[:2],
                "test": test[:2],
                "paper": paper[name][2] if name in paper else None,
                "device": sorted({r.config.get("device", "?") for r in runs.values()}),
                "hours": sum(r.history.last("elapsed_s") or 0 for r in runs.values()) / 3600,
            }
        )
    return rows


def table6_markdown(names, root=None) -> str:
    """``table6(names)`` as a Markdown table, the paper's test error beside ours where
    Table 6 has the model ("" when no model has stored runs)."""
    rows = table6(names, root=root)
    if not rows:
        return ""
    lines = [
        "| model | layers | parameters | iterations | seeds | final training error "
        "| final test error | paper's test error (Table 6) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = f"{r['paper']:.2f}%" if r["paper"] is not None else "—"
        lines.append(
            f"| {r['label']} | {r['layers']} | {r['params']:,} | "
            f"{', '.join(map(str, r['iterations']))} | {len(r['seeds'])} | "
            f"{r['train'][0]:.1f}% ± {r['train'][1]:.1f} | {r['test'][0]:.1f}% ± "
            f"{r['test'][1]:.1f} | {paper} |"
        )
    return "\n".join(lines) + "\n\n(± : sample standard deviation over seeds; 0.0 with one seed.)"


def limitations(names, root=None) -> str:
    """What the stored runs of ``names`` are, read from their own files, and what they
    cannot show: a limitations paragraph for a chapter ("" when none is stored)."""
    from learnres.lectures.runs import stored_seeds

    groups = {n: stored_seeds(n, root) for n in names}
    runs = [r for g in groups.values() for r in g.values()]
    if not runs:
        return ""
    its = sorted({r.iterations for r in runs})
    seeds = sorted({len(g) for g in groups.values() if g})
    devices = sorted({r.config.get("device", "?") for r in runs})
    batch = int(runs[0].config.get("batch_size", 128))
    train_images = {int(r.config.get("train_images", 0)) for r in runs} - {0}
    images = max(train_images) if train_images else None
    epochs = max(its) * batch / images if images else None
    epochs = f" (about {epochs:.0f} epoch{'s' if round(epochs) != 1 else ''})" if epochs else ""
    test = _test_images(runs)
    hours = sum(r.history.last("elapsed_s") or 0 for r in runs) / 3600
    return (
        f"**What these runs are, and what they cannot show.** {len(runs)} stored runs of "
        f"{' / '.join(map(str, its))} iterations at batch {batch}{epochs}, "
        f"{' or '.join(map(str, seeds))} seed(s) per model, trained on "
        f"{'/'.join(d.upper() for d in devices)} ({hours:.1f} hours in all), on "
        f"{f'{images:,}' if images else 'a subset of the'} CIFAR-10 training images and "
        f"tested on {test:,}. The paper trains for 64,000 iterations (about 160 epochs) on "
        "all 50,000 training images and tests on 10,000. One test error on "
        f"{test:,} images carries a standard error of about "
        f"{binomial_se(50.0, test):.1f} points by itself (at 50% error), and seeds differ by "
        "more; the sentences below call a gap clear only when it is more than twice that "
        "noise. The errors are far above the paper's: only an ordering that is clear here "
        "can be set beside the paper's, and a short schedule can reverse orderings that the "
        "full one would show."
    )


def _mean_curve(runs, column):
    """Iterations measured in every run, and the mean, min and max of ``column`` there."""
    columns = [dict(zip(*r.history.column(column))) for r in runs]
    common = sorted(set.intersection(*(set(c) for c in columns))) if columns else []
    values = np.array([[c[i] for i in common] for c in columns])
    if not common:
        return [], [], [], []
    return common, values.mean(0), values.min(0), values.max(0)


def fig6_panel(groups: dict, title: str, ylim=None):
    """Fig. 6's style for ``{label: {seed: StoredRun}}``: per model, thin line the training
    error and bold line the test error, each the mean over its seeds (a band shows the
    seeds' min..max of the test error when there are several). Returns the Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for k, (label, runs) in enumerate(groups.items()):
        runs = list(runs.values()) if isinstance(runs, dict) else list(runs)
        if not runs:
            continue
        colour = f"C{k}"
        its, mean, _, _ = _mean_curve(runs, "train_error")
        ax.plot(its, mean, color=colour, linewidth=0.8, alpha=0.8)
        its, mean, low, high = _mean_curve(runs, "test_error")
        seeds = f" ({len(runs)} seeds)" if len(runs) > 1 else " (1 seed)"
        ax.plot(its, mean, color=colour, linewidth=2.2, label=label + seeds)
        if len(runs) > 1:
            ax.fill_between(its, low, high, color=colour, alpha=0.15, linewidth=0)
    ax.set(xlabel="iterations", ylabel="error (%)", title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    ax.legend(
        title="thin: train, bold: test (mean over seeds)", fontsize="small", title_fontsize="small"
    )
    return fig


def fig7(groups: dict):
    """Fig. 7's two panels for ``{label: [responses]}`` (each a ``read_responses`` dict;
    several seeds are averaged layer by layer): top, the std of each 3x3 layer's response
    in network order; bottom, the same sorted by magnitude. Returns the Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.6), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    for label, responses in groups.items():
        if not responses:
            continue
        std = np.mean([r["std"] for r in responses], axis=0)
        colour = "C3" if label.lower().startswith("plain") else "C2"
        deep = int("".join(ch for ch in label if ch.isdigit()) or 0) > 20
        style = "--" if deep else "-"
        layers = np.arange(1, len(std) + 1)
        top.plot(layers, std, style, color=colour, label=label, lw=1.2)
        bottom.plot(layers, np.sort(std)[::-1], style, color=colour, label=label, lw=1.2)
    top.set(xlabel="layer index (original)", ylabel="std")
    bottom.set(xlabel="layer index (sorted by magnitude)", ylabel="std")
    top.legend(ncol=4, fontsize="small")
    fig.suptitle("std of layer responses: each 3x3 layer after BN, before ReLU/addition")
    return fig


def versus_summary(pairs: dict) -> dict:
    """learnres against PyTorch over seeds, from ``stored_pairs(...)[0]`` (``{seed:
    (learnres run, torch run)}``): final test accuracies, their gaps (learnres minus
    torch, points), the mean gap, its standard error (sd of the gaps / sqrt(seeds)) and
    whether the mean gap is within max(2 points, 2 standard errors)."""
    seeds = list(pairs)
    ours = np.array([100 - final_error(a, "test_error") for a, _ in pairs.values()])
    theirs = np.array([100 - final_error(b, "test_error") for _, b in pairs.values()])
    gaps = ours - theirs
    sd = float(gaps.std(ddof=1)) if len(gaps) > 1 else float("nan")
    se = sd / math.sqrt(len(gaps)) if len(gaps) > 1 else float("nan")
    mean = float(gaps.mean()) if len(gaps) else float("nan")
    bound = max(2.0, 2 * se) if len(gaps) > 1 else float("nan")
    return {
        "seeds": seeds,
        "learnres": ours,
        "torch": theirs,
        "gaps": gaps,
        "mean": mean,
        "sd": sd,
        "se": se,
        "bound": bound,
        "within": bool(abs(mean) <= bound),
    }


def versus_markdown(pairs: dict, label: str) -> str:
    """``versus_summary`` as a Markdown table and a sentence ("" without pairs)."""
    if not pairs:
        return ""
    v = versus_summary(pairs)
    lines = [
        f"**{label}: final test accuracy, learnres vs PyTorch (same weights, batches, "
        "augmentation)**",
        "",
        "| seed | learnres | PyTorch | gap |",
        "|---|---|---|---|",
    ]
    for seed, a, b, g in zip(v["seeds"], v["learnres"], v["torch"], v["gaps"]):
        lines.append(f"| {seed} | {a:.2f}% | {b:.2f}% | {g:+.2f} |")
    lines.append(
        f"| **mean** | {v['learnres'].mean():.2f}% | {v['torch'].mean():.2f}% | "
        f"**{v['mean']:+.2f}** |"
    )
    if len(v["gaps"]) > 1:
        verdict = "within" if v["within"] else "**outside**"
        lines += [
            "",
            f"Mean gap {v['mean']:+.2f} points over {len(v['gaps'])} seeds (sd of the "
            f"gaps {v['sd']:.2f}, standard error {v['se']:.2f}): {verdict} "
            f"max(2 points, 2 standard errors) = {v['bound']:.2f}.",
        ]
    else:
        lines += ["", "One seed only: no spread can be measured, so no conclusion."]
    return "\n".join(lines)


def early_peak(run, until: int = 30) -> tuple[float, int]:
    """The highest training loss a run logged in its first ``until`` iterations, and the
    iteration of that window (the early blow-up of deep nets at lr 0.1)."""
    its, loss = run.history.column("train_loss")
    early = [(v, i) for i, v in zip(its, loss) if i <= until]
    if not early:
        raise ValueError(f"{run.name}: no training loss logged in its first {until} iterations")
    value, iteration = max(early)
    return float(value), int(iteration)


def warmup_peaks(run) -> dict:
    """Where a run with the paper's warm-up (``--schedule warmup``) switched to its full
    learning rate, and its highest training loss before and after the switch:
    ``{"switch": iteration, "before": (loss, iteration), "after": (loss, iteration)}``.
    The switch is the first logged window at the run's largest learning rate."""
    its, lrs = run.history.column("lr")
    _, loss = run.history.column("train_loss")
    if not its or len(loss) != len(its):
        raise ValueError(f"{run.name}: needs lr and train_loss in every row of its metrics.csv")
    top = max(lrs)
    switch = next(i for i, lr in zip(its, lrs) if lr == top)
    before = [(v, i) for i, v in zip(its, loss) if i < switch]
    after = [(v, i) for i, v in zip(its, loss) if i >= switch]
    if not before or min(lrs) == top:
        raise ValueError(f"{run.name}: no warm-up (its learning rate starts at {top})")
    loss_before, at_before = max(before)  # the highest loss before the switch, and when
    loss_after, at_after = max(after)
    return {
        "switch": int(switch),
        "before": (float(loss_before), int(at_before)),
        "after": (float(loss_after), int(at_after)),
    }
