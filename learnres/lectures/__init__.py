"""The chapters' support: quick mode and sizes, data, stored runs, probes, and the builds
(notebooks, slides, HTML) — the notebooks themselves are ``chapters/NN_name.py``.

    from learnres.lectures import sizes, load_cifar10, train_fresh, stored_run, save_figure
    S = sizes()                      # QUICK when LEARNRES_QUICK=1 (CI), else FULL
    data = load_cifar10(S)           # the CIFAR-10 subset in ../shared/datasets
    history = train_fresh(resnet20(), data)
    run = stored_run("plain56-seed0")  # chapters/runs/plain56-seed0/metrics.csv ... or None
    runs = stored_seeds("plain56")   # every stored seed of plain-56

Command line (``python -m learnres.lectures --help``):

    python -m learnres.lectures notebooks [--out DIR] [--execute] [--full] [CHAPTER ...]
    python -m learnres.lectures slides    [--out DIR] [--no-execute | --executed DIR] [CHAPTER ...]
    python -m learnres.lectures answers   [--out DIR] [CHAPTER ...]   (the instructor's build)
    python -m learnres.lectures html      [--out DIR] [--execute] [CHAPTER ...]
    python -m learnres.lectures run       [--full] [CHAPTER ...]      (time each chapter)
    python -m learnres.lectures check     DECK.slides.html|DIR ...   (look at every slide)
    python -m learnres.lectures screenshot PAGE.html OUT.png [--slide N]

Lecture decks (``learnres.lectures.deck``), derive-before-the-reveal checks
(``learnres.lectures.derivations``) and the precomputed widget curves
(``learnres.lectures.sweeps``) live in their own modules.
"""

from learnres.analysis.probes import (
    ProbeReport,
    bn_after_3x3,
    probe,
    record_outputs,
    weight_grad_norms,
)
from learnres.lectures.config import (
    FULL,
    QUICK,
    QUICK_ENV,
    Sizes,
    chapters_dir,
    data_dir,
    figures_dir,
    is_quick,
    repo_root,
    runs_dir,
    sizes,
)
from learnres.lectures.experiments import (
    CifarData,
    batch,
    load_cifar10,
    run_torchrun,
    time_call,
    train_fresh,
)
from learnres.lectures.runs import (
    StoredRun,
    fresh_label,
    missing_runs_note,
    save_figure,
    seed_stats,
    show_figure,
    stored_label,
    stored_pairs,
    stored_run,
    stored_runs,
    stored_seeds,
)

__all__ = [
    "FULL",
    "QUICK",
    "QUICK_ENV",
    "CifarData",
    "ProbeReport",
    "Sizes",
    "StoredRun",
    "batch",
    "bn_after_3x3",
    "chapters_dir",
    "data_dir",
    "figures_dir",
    "fresh_label",
    "is_quick",
    "load_cifar10",
    "missing_runs_note",
    "probe",
    "record_outputs",
    "repo_root",
    "run_torchrun",
    "runs_dir",
    "save_figure",
    "show_figure",
    "sizes",
    "stored_label",
    "stored_pairs",
    "seed_stats",
    "stored_run",
    "stored_runs",
    "stored_seeds",
    "time_call",
    "train_fresh",
    "weight_grad_norms",
]  # fmt: skip
