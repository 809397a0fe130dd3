"""Stored training runs and figure provenance.

Curves that a CPU cannot produce in minutes (plain-56 for thousands of iterations, Table 6)
come from runs made by ``learnres train`` and kept small in the repository:

    chapters/runs/<name>/metrics.csv     the history written by the training loop
    chapters/runs/<name>/command.txt     the exact command that made it

``stored_run(name)`` reads one (None when it is absent: a chapter then says so and shows
its fresh quick run only). Every figure a chapter saves goes through ``save_figure`` with
its provenance, "fresh" or "stored", printed on the figure itself, so a reader can never
mistake a two-minute run on 500 images for the paper's experiment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from learnres.lectures.config import figures_dir, runs_dir, sizes
from learnres.models import normalise_name
from learnres.train.metrics import MetricsHistory, read_csv

__all__ = [
    "StoredRun",
    "fresh_label",
    "missing_runs_note",
    "save_figure",
    "show_figure",
    "stored_label",
    "stored_pairs",
    "stored_run",
    "stored_runs",
    "stored_seeds",
    "seed_stats",
]


@dataclass
class StoredRun:
    """A training run kept in ``chapters/runs/<name>``.

    Attributes:
        name: the folder's name (``plain56``).
        path: the folder.
        history: its ``metrics.csv`` as a ``MetricsHistory``.
        command: the command that made it (``command.txt``), or None when not recorded.
        config: its ``config.json`` (the resolved ``TrainConfig``), or {}.
    """

    name: str
    path: Path
    history: MetricsHistory
    command: str | None = None
    config: dict = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        return self.history.rows[-1]["iteration"] if self.history.rows else 0

    def final(self, column: str = "test_error"):
        """The last measured value of ``column`` (percent for errors), or None."""
        return self.history.last(column)

    @property
    def responses(self) -> dict | None:
        """Fig. 7's layer responses measured from the run's final weights
        (``responses.csv``, see ``learnres.analysis.responses``), or None when not stored."""
        from learnres.analysis.responses import RESPONSES_NAME, read_responses

        path = self.path / RESPONSES_NAME
        return read_responses(path) if path.is_file() else None

    def __repr__(self) -> str:
        return f"StoredRun({self.name!r}, {len(self.history)} rows, {self.iterations} iterations)"


def stored_run(name: str, root: Path | None = None) -> StoredRun | None:
    """The stored run called ``name`` ("plain56"; "plain-56" and "Plain_56" match too), or
    None when ``root`` (default ``runs_dir()``) has no such folder with a metrics.csv."""
    root = Path(root) if root is not None else runs_dir()
    if not root.is_dir():
        return None
    wanted = normalise_name(name)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if normalise_name(folder.name) != wanted or not (folder / "metrics.csv").is_file():
            continue
        command_file = folder / "command.txt"
        command = command_file.read_text().strip() if command_file.is_file() else None
        config_file = folder / "config.json"
        try:
            config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        except json.JSONDecodeError:
            config = {}
        return StoredRun(folder.name, folder, read_csv(folder), command or None, config)
    return None


def stored_runs(names, root: Path | None = None) -> tuple[dict, list]:
    """``({name: StoredRun}, [missing names])`` for ``names``, in their order."""
    found, missing = {}, []
    for name in names:
        run = stored_run(name, root)
        if run is None:
            missing.append(name)
        else:
            found[name] = run
    return found, missing


def stored_seeds(name: str, root: Path | None = None) -> dict:
    """``{seed: StoredRun}`` of the runs of one model stored as ``<name>-seed<k>``
    (``stored_seeds("resnet56")`` finds ``resnet56-seed0``, ``resnet56-seed1``, ...), seeds
    in order; {} when there is none."""
    root = Path(root) if root is not None else runs_dir()
    if not root.is_dir():
        return {}
    pattern = re.compile(re.escape(name) + r"-seed(\d+)")
    seeds = sorted(
        int(m.group(1)) for p in root.iterdir() if p.is_dir() and (m := pattern.fullmatch(p.name))
    )
    runs = {seed: stored_run(f"{name}-seed{seed}", root) for seed in seeds}
    return {seed: run for seed, run in runs.items() if run is not None}


def seed_stats(values) -> tuple[float, float, int]:
    """``(mean, spread, n)`` of one number per seed; the spread is the sample standard
    deviation (0 for a single seed, when no spread can be measured)."""
    import numpy as np

    values = np.asarray([float(v) for v in values], dtype=float)
    spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), spread, len(values)


def stored_pairs(name: str, root: Path | None = None) -> tuple[dict, str | None]:
    """The learnres-vs-torch runs kept in ``chapters/runs/<name>`` by
    ``python -m learnres.reference.versus_torch --seeds ... --out <name>``.

    That folder holds ``seed<k>/learnres/metrics.csv`` and ``seed<k>/torch/metrics.csv`` for
    each seed and the command in ``command.txt``. Returns ``({seed: (learnres run, torch
    run)}, command)``, seeds in order; ``({}, None)`` when the folder is absent. A seed with
    only one of its two runs is left out.
    """
    folder = (Path(root) if root is not None else runs_dir()) / name
    if not folder.is_dir():
        return {}, None
    pairs = {}
    seeds = (p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"seed\d+", p.name))
    for seed_dir in sorted(seeds, key=lambda p: int(p.name[4:])):
        ours, theirs = stored_run("learnres", seed_dir), stored_run("torch", seed_dir)
        if ours is not None and theirs is not None:
            pairs[int(seed_dir.name[4:])] = (ours, theirs)
    command_file = folder / "command.txt"
    return pairs, (command_file.read_text().strip() if command_file.is_file() else None)


def missing_runs_note(missing, root: Path | None = None) -> str:
    """A sentence telling the reader which stored runs are absent and how to make them."""
    if not missing:
        return ""
    root = Path(root) if root is not None else runs_dir()
    names = ", ".join(missing)
    return (
        f"Stored run(s) {names} not found in {root}: the figure below shows only what exists. "
        f"Make them with `learnres train --model NAME --out {root}/NAME ...` (the command of "
        "each stored run is in its command.txt)."
    )


def fresh_label(what: str = "", data: bool = True) -> str:
    """The provenance line of a figure made by this notebook just now; ``data`` adds the
    training data of the chapter's fresh runs (leave it out for figures that use none)."""
    S = sizes()
    detail = f" ({what})" if what else ""
    text = f"FRESH {S.mode.upper()}-MODE RUN in this notebook{detail}"
    if data:
        train = "all 5,085" if S.train_images is None else f"{S.train_images}"
        text += f": CIFAR-10 subset, {train} training images, batch {S.batch_size}"
    return text


def stored_label(runs) -> str:
    """The provenance line of a figure drawn from stored runs: their names, the device they
    were trained on and the command that made them (the first line of ``command.txt``).
    Seeds of one model made by one command are named once: ``plain20-seed{0,1}: learnres
    train ... --seed {0,1} --out runs/plain20-seed{0,1}``."""
    runs = list(runs.values()) if isinstance(runs, dict) else list(runs)
    if not runs:
        return "STORED RUNS: none found"
    groups: dict = {}
    for run in runs:
        command = (run.command or "(command.txt missing)").splitlines()[0]
        match = re.fullmatch(r"(.+)-seed(\d+)", run.name)
        base, seed = (match.group(1), match.group(2)) if match else (run.name, None)
        if seed is not None:
            command = re.sub(rf"--seed {seed}\b", "--seed {K}", command)
            command = command.replace(f"{base}-seed{seed}", f"{base}-seed{{K}}")
        device = str(run.config.get("device", "cpu")).upper()
        groups.setdefault((base if seed is not None else run.name, command, device), []).append(
            seed
        )
    parts = []
    for (name, command, device), seeds in groups.items():
        if seeds[0] is not None:
            ks = "{" + ",".join(sorted(seeds, key=int)) + "}"
            name, command = f"{name}-seed{ks}", command.replace("{K}", ks)
        parts.append(f"{name} ({device}): {command}")
    return "STORED RUN(S) from chapters/runs: " + " | ".join(parts)


def save_figure(fig, name: str, source: str, wrap: int | None = None) -> Path:
    """Print ``source`` (from ``fresh_label`` / ``stored_label``) at the bottom of ``fig``
    and save it as ``figures_dir() / name`` (``.png`` added when there is no suffix).

    Returns the path written. The figure is returned unchanged otherwise, so a notebook
    still shows it.
    """
    import textwrap

    wrap = wrap or max(60, int(fig.get_figwidth() * 17))  # characters per line at 6.5 pt
    text = "\n".join(textwrap.wrap(source, wrap)) or source
    fig.text(
        0.005, 0.002, text, fontsize=6.5, color="0.25", ha="left", va="bottom", family="monospace"
    )
    lines = text.count("\n") + 1
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    room = 0.035 * lines  # leave room for the note under the axes
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(rect=(0, room, 1, 1 - room))
    else:
        if engine is not None:
            fig.set_layout_engine("none")
        fig.subplots_adjust(bottom=max(fig.subplotpars.bottom, 0.1 + room))
    path = figures_dir() / name
    if not path.suffix:
        path = path.with_suffix(".png")
    fig.savefig(path, dpi=110)
    return path


def show_figure(fig, dpi: int = 100) -> None:
    """Display a matplotlib ``Figure`` in the notebook as a PNG (works for figures made
    without pyplot, such as ``learnres.train.plot_history``'s, under any backend)."""
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    display(Image(data=buffer.getvalue(), format="png"))
