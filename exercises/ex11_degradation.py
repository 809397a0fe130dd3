"""Exercise 11: A degradation study.

The paper's starting point (Sec. 4.1, Fig. 6): a deeper plain network trains WORSE than
a shallower one, although it could copy the shallower one and set its extra layers to
the identity; with shortcuts the deeper network trains well. You run that experiment in
miniature: plain and residual fully connected nets (``learnres.models.cifar.mlp``) at
two depths, trained for a few hundred SGD steps on data a random network labels, and
summarise what the curves show. The grader reruns the protocol and compares your
numbers; look at them yourself too (print ``summarize(degradation_study())``) and say
in your notebook what you see.

What you write (each stub raises NotImplementedError until you do):

    11.1  train_curve        the training loss of every step
    11.2  degradation_study  plain and residual nets at each depth
    11.3  summarize          what the curves show

Check your work: ``pytest exercises/test_ex11_degradation.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

# ruff: noqa: F401
# (the imports of the solution: some stay unused until the stubs are written)

from __future__ import annotations

import numpy as np

from learnres.analysis.degradation import train_step
from learnres.models.cifar import mlp
from learnres.nn import init
from learnres.optim.sgd import SGD

__all__ = ["STUDY", "degradation_study", "model_name", "summarize", "teacher_data", "train_curve"]


STUDY = {
    "depths": (4, 20),
    "width": 32,
    "steps": 200,
    "batch_size": 64,
    "lr": 0.05,
    "examples": 512,
    "features": 32,
    "classes": 4,
}


def teacher_data(examples: int = 512, features: int = 32, classes: int = 4, seed: int = 0):
    """Inputs and the labels a random two-layer ReLU "teacher" gives them.

    Returns:
        x: float32 (examples, features), standard normal.
        labels: int64 (examples,): argmax of relu(x @ W1) @ W2 with each class logit centred
            over the examples (so that every class occurs).
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((examples, features))
    w1 = rng.standard_normal((features, 64))
    w2 = rng.standard_normal((64, classes))
    logits = np.maximum(x @ w1, 0) @ w2  # (examples, classes)
    logits -= logits.mean(axis=0)
    return x.astype(np.float32), logits.argmax(axis=1).astype(np.int64)


def train_curve(
    model, x, labels, steps: int, batch_size: int, lr: float, seed: int = 0
) -> np.ndarray:
    """Train ``model`` for ``steps`` SGD steps (momentum 0.9) on random mini-batches of
    (x, labels); return the training loss of every step, float64 (steps,).

    Batch k holds the examples ``rng.choice(len(x), batch_size, replace=False)`` of the k-th
    draw from one ``rng = np.random.default_rng(seed)``.

    Exercise 11.1: the training loss of every step.

    Follow the protocol in the docstring exactly: the grader repeats it with
    learnres's code and compares the curves number for number. Use ``train_step``
    for each step (it puts the model in training mode).

    Stuck? Hints in three levels: ``pytest exercises --hint 11.1`` (add
    ``--hint-level 2`` or 3), or ``hint("11.1")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 11.1: train_curve (the training loss of every step)")


def model_name(residual: bool, depth: int) -> str:
    """ "plain-20" or "residual-20"."""
    return f"{'residual' if residual else 'plain'}-{depth}"


def degradation_study(
    depths=STUDY["depths"],
    width: int = STUDY["width"],
    steps: int = STUDY["steps"],
    batch_size: int = STUDY["batch_size"],
    lr: float = STUDY["lr"],
    examples: int = STUDY["examples"],
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The training-loss curves of plain and residual MLPs at each depth.

    Returns:
        {"plain-4": curve, "plain-20": ..., "residual-4": ..., "residual-20": ...}, plain
        nets first, depths in the given order: each curve from ``train_curve`` on
        ``teacher_data(examples, seed=seed)``, each model built by ``mlp(depth, width,
        residual, in_features, num_classes)`` right after ``init.manual_seed(seed)``.

    Exercise 11.2: plain and residual nets at each depth.

    Each model must start from the same seeded state as the grader's: seed right
    before building it, not once for all four. Build with ``mlp``; the data comes
    from ``teacher_data``.

    Stuck? Hints in three levels: ``pytest exercises --hint 11.2`` (add
    ``--hint-level 2`` or 3), or ``hint("11.2")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 11.2: degradation_study (plain and residual nets at each depth)"
    )


def summarize(curves: dict[str, np.ndarray], last: int = 20) -> dict:
    """What the curves show: each model's final training loss (the mean of its ``last``
    steps), the gap between the deepest and the shallowest net of each kind (deep minus
    shallow: positive when depth hurt), and two verdicts: ``plain_degrades`` (the deeper
    plain net ends worse) and ``residual_fixes`` (the deepest residual net ends better than
    the plain net of its depth).

    Exercise 11.3: what the curves show.

    Compute every number from the curves you are given (the grader hands you its own
    curves too). The shallowest and deepest depth come from the names.

    Stuck? Hints in three levels: ``pytest exercises --hint 11.3`` (add
    ``--hint-level 2`` or 3), or ``hint("11.3")`` from learnres.grading.
    """
    raise NotImplementedError("Exercise 11.3: summarize (what the curves show)")
