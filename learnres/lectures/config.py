"""Quick mode, experiment sizes and the folders the chapters read and write.

Quick mode (``LEARNRES_QUICK=1``) shrinks every experiment of every chapter, so that each
chapter runs top to bottom in a few minutes on two CPU cores (what CI does); without it a
chapter runs the sizes a student should see. Every chapter takes its sizes from ``sizes()``
instead of hard-coding them, so the two modes stay uniform:

    from learnres.lectures import sizes
    S = sizes()           # S.quick, S.train_images, S.iterations, S.batch_size, ...

Folders (all overridable with an environment variable):

* data: ``$LEARNRES_DATA_DIR`` when set, else ``<repo>/../shared/datasets`` (the CIFAR-10
  subset kept beside the repository), else None (``load_dataset`` then downloads).
* stored runs: ``$LEARNRES_RUNS_DIR``, else ``<repo>/chapters/runs``.
* figures: ``$LEARNRES_FIGURES_DIR``, else ``<repo>/chapters/_build/figures``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import learnres

__all__ = [
    "FULL",
    "QUICK",
    "QUICK_ENV",
    "Sizes",
    "chapters_dir",
    "data_dir",
    "figures_dir",
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


def repo_root() -> Path:
    """The repository holding the learnres package (``<repo>/learnres/__init__.py``)."""
    return Path(learnres.__file__).resolve().parents[1]


def chapters_dir() -> Path:
    """``<repo>/chapters``: the jupytext sources of the chapters."""
    return repo_root() / "chapters"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def data_dir() -> Path | None:
    """Where the datasets are: ``$LEARNRES_DATA_DIR``, else ``<repo>/../shared/datasets``
    when it exists, else None (``learnres.data.load_dataset`` then downloads)."""
    env = _env_path("LEARNRES_DATA_DIR")
    if env is not None:
        return env
    shared = repo_root().parent / "shared" / "datasets"
    return shared if shared.is_dir() else None


def runs_dir() -> Path:
    """Where stored training runs live: ``$LEARNRES_RUNS_DIR``, else ``<repo>/chapters/runs``."""
    return _env_path("LEARNRES_RUNS_DIR") or chapters_dir() / "runs"


def figures_dir() -> Path:
    """Where chapters save their figures: ``$LEARNRES_FIGURES_DIR``, else
    ``<repo>/chapters/_build/figures`` (made on first use)."""
    path = _env_path("LEARNRES_FIGURES_DIR") or chapters_dir() / "_build" / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path
