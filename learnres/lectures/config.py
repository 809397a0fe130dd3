"""Quick mode, experiment sizes and the folders the chapters read and write.

Quick mode (``LEARNRES_QUICK=1``) shrinks every experiment of every chapter, so that each
chapter runs top to bottom in a few minutes on two CPU cores (what CI does); without it a
chapter runs the sizes a student should see. Every chapter takes its sizes from ``sizes()``
instead of hard-coding them, so the two modes stay uniform:

    from learnres.lectures import sizes
    S = sizes()           # S.quick, S.train_images, S.iterations, S.batch_size, ...

Folders. A chapter belongs to the chapters folder it is opened from, not to the place
learnres is installed: JupyterLab (and ``execute_chapter``) runs a notebook's kernel in the
notebook's folder, so the folders are found from the working directory, and a copy of
``chapters/`` anywhere, with learnres installed with ``pip install .`` or ``-e``, reads its
own stored runs and writes only inside itself.

* chapters: ``$LEARNRES_CHAPTERS_DIR``; else the working directory or the nearest folder
  above it that holds chapter sources (jupytext ``NN_name.py`` files); else ``./chapters``
  when it holds them (a command run from the repository root); else the ``chapters/`` of
  the checkout learnres was installed from with ``-e``; else the working directory.
* stored runs (read): ``$LEARNRES_RUNS_DIR``, else ``<chapters>/runs``.
* figures (written): ``$LEARNRES_FIGURES_DIR``, else ``<chapters>/_build/figures`` for the
  chapters folder found from the working directory (never the installed package's
  checkout: a notebook outside any chapters folder writes under its own folder).
* data (read): ``$LEARNRES_DATA_DIR``; else ``shared/datasets`` beside the repository that
  holds the chapters (``<chapters>/../../shared/datasets``) or beside the one learnres was
  installed from; else None (``load_dataset`` then downloads).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHAPTERS_ENV",
    "FULL",
    "QUICK",
    "QUICK_ENV",
    "Sizes",
    "chapters_dir",
    "data_dir",
    "figures_dir",
    "holds_chapters",
    "is_quick",
    "repo_root",
    "runs_dir",
    "sizes",
]

QUICK_ENV = "LEARNRES_QUICK"
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Sizes:
    """How big the chapters' experiments are (see ``QUICK`` and ``FULL``).

    Attributes:
        quick: whether these are the quick-mode sizes.
        train_images, test_images: CIFAR-10 images used for fresh training runs (class-
            balanced subsets of the 5,085 / 1,017 images in ``../shared/datasets``; None: all).
        batch_size: images per SGD step of a fresh run (the paper: 128).
        iterations: SGD steps of a fresh run of a convolutional net.
        mlp_iterations: SGD steps of a fresh run of a fully connected net.
        log_every, eval_every: logging window and evaluation interval of a fresh run.
        stats_batch: images per batch when measuring activations and gradients.
        stats_iterations: SGD steps between "at initialisation" and "during training" when
            tracking per-layer statistics.
        depths: depths (6n + 2) offered by the depth sliders and swept by the plots.
        mlp_width: units per hidden layer of the fully connected nets.
        timing_batch, timing_repeats: batch and repeats of the speed measurements.
        naive_size: spatial size of the input for the slow ``conv2d_naive`` timing.
    """

    quick: bool
    train_images: int | None
    test_images: int | None
    batch_size: int
    iterations: int
    mlp_iterations: int
    log_every: int
    eval_every: int
    stats_batch: int
    stats_iterations: int
    depths: tuple[int, ...]
    mlp_width: int
    timing_batch: int
    timing_repeats: int
    naive_size: int

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"


QUICK = Sizes(
    quick=True,
    train_images=500,
    test_images=200,
    batch_size=16,
    iterations=12,
    mlp_iterations=30,
    log_every=3,
    eval_every=6,
    stats_batch=16,
    stats_iterations=5,
    depths=(8, 20, 56),
    mlp_width=64,
    timing_batch=8,
    timing_repeats=2,
    naive_size=8,
)

FULL = Sizes(
    quick=False,
    train_images=None,
    test_images=None,
    batch_size=128,
    iterations=500,
    mlp_iterations=2000,
    log_every=20,
    eval_every=100,
    stats_batch=128,
    stats_iterations=200,
    depths=(8, 14, 20, 32, 44, 56, 110),
    mlp_width=256,
    timing_batch=64,
    timing_repeats=10,
    naive_size=16,
)


def is_quick() -> bool:
    """True when ``$LEARNRES_QUICK`` is 1/true/yes/on (CI), False otherwise."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in _TRUE


def sizes() -> Sizes:
    """The experiment sizes for the current mode: ``QUICK`` or ``FULL``."""
    return QUICK if is_quick() else FULL


CHAPTERS_ENV = "LEARNRES_CHAPTERS_DIR"
_CHAPTER_GLOB = "[0-9][0-9]_*.py"
_JUPYTEXT_HEADER = "# ---\n# jupyter:\n"


def repo_root() -> Path:
    """The folder above the learnres package (this file is ``<repo>/learnres/lectures/config.py``):
    the checkout with an editable install, ``site-packages`` with ``pip install .``."""
    return Path(__file__).resolve().parents[2]


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def holds_chapters(folder: Path) -> bool:
    """True when ``folder`` holds a chapter source: a ``NN_name.py`` file that starts with a
    jupytext header (plain scripts named ``01_x.py`` do not count)."""
    for path in Path(folder).glob(_CHAPTER_GLOB):
        try:
            with open(path, encoding="utf-8") as f:
                if f.read(len(_JUPYTEXT_HEADER)) == _JUPYTEXT_HEADER:
                    return True
        except (OSError, UnicodeDecodeError):
            continue
    return False


def _chapters_from_cwd() -> Path | None:
    """``$LEARNRES_CHAPTERS_DIR``, else the working directory or the nearest folder above it
    holding chapter sources, else ``./chapters`` when it holds them, else None."""
    env = _env_path(CHAPTERS_ENV)
    if env is not None:
        return env
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if holds_chapters(folder):
            return folder
    return cwd / "chapters" if holds_chapters(cwd / "chapters") else None


def chapters_dir() -> Path:
    """The chapters folder in use (see the module's docstring): the one the working
    directory is in (a notebook's kernel runs in the notebook's folder), else
    ``./chapters``, else the checkout learnres was installed from with ``-e``, else the
    working directory. ``$LEARNRES_CHAPTERS_DIR`` overrides the search."""
    found = _chapters_from_cwd()
    if found is not None:
        return found
    checkout = repo_root() / "chapters"
    return checkout if holds_chapters(checkout) else Path.cwd().resolve()


def data_dir() -> Path | None:
    """Where the datasets are: ``$LEARNRES_DATA_DIR``, else ``shared/datasets`` beside the
    repository holding the chapters (``<chapters>/../../shared/datasets``) or beside the
    one learnres was installed from, when it exists; else None (``load_dataset`` then
    downloads)."""
    env = _env_path("LEARNRES_DATA_DIR")
    if env is not None:
        return env
    for repo in (chapters_dir().parent, repo_root()):
        shared = repo.parent / "shared" / "datasets"
        if shared.is_dir():
            return shared
    return None


def runs_dir() -> Path:
    """Where stored training runs are read from: ``$LEARNRES_RUNS_DIR``, else
    ``<chapters_dir()>/runs`` (beside the chapter files)."""
    return _env_path("LEARNRES_RUNS_DIR") or chapters_dir() / "runs"


def figures_dir() -> Path:
    """Where chapters save their figures (made on first use): ``$LEARNRES_FIGURES_DIR``,
    else ``_build/figures`` in the chapters folder the working directory is in, else in the
    working directory itself. Never inside the installed package."""
    env = _env_path("LEARNRES_FIGURES_DIR")
    path = env or (_chapters_from_cwd() or Path.cwd().resolve()) / "_build" / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path
