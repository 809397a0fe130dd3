"""Training curves in the style of the paper's Fig. 6.

Fig. 6 plots error (%) against iterations for several networks at once: thin lines are
training error, bold lines test error, one colour per network. ``plot_runs`` draws the
same from the ``metrics.csv`` of one or more runs (validation error, when a run has it and
no test error, takes the bold line's place).

matplotlib is optional (the ``notebooks`` extra): ``matplotlib_problem()`` says why it
cannot be used, and the callers skip the plot with that message. No pyplot: the figure is
built with ``matplotlib.figure.Figure`` directly, so nothing depends on a GUI backend and a
notebook shows the returned figure as it is.
"""

from __future__ import annotations

from pathlib import Path

from learnres.train.metrics import MetricsHistory, read_csv

__all__ = ["matplotlib_problem", "plot_history", "plot_runs"]


def matplotlib_problem() -> str | None:
    """Why matplotlib cannot be used, or None when it can."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        return (
            f"matplotlib is not installed ({e}); pip install matplotlib (or 'learnres[notebooks]')"
        )
    return None


def _run_name(run) -> str:
    path = Path(run)
    return path.parent.name if path.name == "metrics.csv" else path.name


def plot_history(histories: dict, out=None, title: str | None = None, ylim=None):
    """Fig. 6 for ``{label: MetricsHistory}``; saved to ``out`` when given. Returns the Figure.

    Thin line: ``train_error``; bold line: ``test_error`` (else ``val_error``), both in
    percent, against iterations (shown in units of 1e4 when the runs are that long, as the
    paper's axes are).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    longest = max((h.rows[-1]["iteration"] for h in histories.values() if h.rows), default=0)
    scale = 1e4 if longest >= 2e4 else 1.0
    colours = [f"C{i}" for i in range(10)]
    for k, (label, history) in enumerate(histories.items()):
        colour = colours[k % len(colours)]
        its, err = history.column("train_error")
        if its:
            ax.plot([i / scale for i in its], err, color=colour, linewidth=0.8, alpha=0.8)
        held_out = "test_error" if history.column("test_error")[0] else "val_error"
        its, err = history.column(held_out)
        if its:
            ax.plot([i / scale for i in its], err, color=colour, linewidth=2.2, label=label)
        elif history.column("train_error")[0]:
            ax.plot([], [], color=colour, linewidth=2.2, label=label)
    ax.set_xlabel("iter. (1e4)" if scale != 1.0 else "iterations")
    ax.set_ylabel("error (%)")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(True, linewidth=0.3, alpha=0.5)
    ax.legend(title="thin: train, bold: test", fontsize="small", title_fontsize="small")
    if title:
        ax.set_title(title)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120)
    return fig


def plot_runs(runs, out=None, labels=None, title: str | None = None, ylim=None):
    """Fig. 6 for run folders (or their ``metrics.csv`` files); saved to ``out`` when given.

    Arguments:
        runs: paths of run folders written by ``learnres train``.
        out: image file to write (``.png``, ``.pdf``, ``.svg``); None to only return it.
        labels: legend names (default: the run folders' names).
        title: a title above the axes.
        ylim: ``(low, high)`` of the error axis in percent (the paper's Fig. 6: (0, 20)).

    Returns:
        The matplotlib ``Figure``.
    """
    runs = [Path(r) for r in runs]
    if labels is None:
        labels = [_run_name(r) for r in runs]
        if len(set(labels)) < len(labels):  # two runs in folders of the same name
            labels = [str(r) for r in runs]
    labels = list(labels)
    if len(labels) != len(runs):
        raise ValueError(f"got {len(labels)} labels for {len(runs)} runs")
    histories: dict[str, MetricsHistory] = {}
    for label, run in zip(labels, runs):
        histories[label] = read_csv(run)
    return plot_history(histories, out=out, title=title, ylim=ylim)
