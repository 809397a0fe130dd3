"""The degradation problem in miniature (Sec. 4.1, Fig. 6 and Table 2 of the paper).

"When deeper networks are able to start converging, a degradation problem has been exposed:
with the network depth increasing, accuracy gets saturated and then degrades rapidly" - and
it is not overfitting: the deeper plain net has the higher *training* error. Residual
connections remove it. The CIFAR experiment takes hours; this study shows the same effect in
seconds on a CPU, with the fully connected nets of ``learnres.models.cifar.mlp`` (plain and
residual, each pair of Linear-BN layers a block) on data a random teacher network labels:

    curves = degradation_study()        # plain-4, plain-20, residual-4, residual-20
    summarize(curves)
    # {"final": {"plain-4": 0.042, "plain-20": 1.005, "residual-4": 0.029, "residual-20": 0.136},
    #  "plain_gap": 0.963, "residual_gap": 0.108, "plain_degrades": True, "residual_fixes": True}

(seed 0 on the development machine, float32; ``tests/analysis/test_degradation.py`` checks the
two verdicts, and a run with the same seed repeats the numbers on the same machine.) The
deeper plain net trains far worse than the shallow one; the residual
net of the same depth trains nearly as well as the shallow nets.

The protocol, every detail fixed so that a run can be repeated number for number: the data is
``teacher_data(seed)``; each model is built right after ``init.manual_seed(seed)``; it trains
for ``steps`` steps of SGD (momentum 0.9, no weight decay, constant rate) on mini-batches of
``batch_size`` examples drawn without replacement by ``np.random.default_rng(seed)``, one
``rng.choice`` per step; the curve is the training loss of each step, before its update.

``train_step`` is the step of ``learnres.train.Trainer`` without its bookkeeping (schedule,
dtype, divergence check): train mode, forward, loss, ``zero_grad``, ``backward``, ``step``.
It is the reference of exercise 7; the study is exercise 11.
"""

from __future__ import annotations

import numpy as np

from learnres.autograd.tensor import Tensor
from learnres.functions.loss import cross_entropy
from learnres.models.cifar import mlp
from learnres.nn import init
from learnres.optim.sgd import SGD

__all__ = [
    "STUDY",
    "degradation_study",
    "model_name",
    "summarize",
    "teacher_data",
    "train_curve",
    "train_step",
]

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
"""The study's settings: two depths of nets 32 units wide, 200 steps of batches of 64."""


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


def train_step(model, optimizer, x, labels) -> tuple[float, int]:
    """One SGD step on a batch; returns (the batch's mean loss before the step, the number of
    wrong predictions).

    Arguments:
        model: a Module returning logits (B, classes).
        optimizer: holds the model's parameters (``learnres.optim.SGD``).
        x: a batch of inputs (a NumPy array or a Tensor); labels: int (B,).
    """
    model.train()
    logits = model(x if isinstance(x, Tensor) else Tensor(x))  # (B, classes)
    loss = cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    wrong = int((logits.data.argmax(axis=1) != labels).sum())
    return float(loss.item()), wrong


def train_curve(
    model, x, labels, steps: int, batch_size: int, lr: float, seed: int = 0
) -> np.ndarray:
    """Train ``model`` for ``steps`` SGD steps (momentum 0.9) on random mini-batches of
    (x, labels); return the training loss of every step, float64 (steps,).

    Batch k holds the examples ``rng.choice(len(x), batch_size, replace=False)`` of the k-th
    draw from one ``rng = np.random.default_rng(seed)``.
    """
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(seed)
    losses = np.zeros(steps)
    for k in range(steps):
        batch = rng.choice(len(x), batch_size, replace=False)
        losses[k], _ = train_step(model, optimizer, x[batch], labels[batch])
    return losses


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
    """
    x, labels = teacher_data(examples, STUDY["features"], STUDY["classes"], seed)
    curves = {}
    for residual in (False, True):
        for depth in depths:
            init.manual_seed(seed)
            model = mlp(depth, width, residual, x.shape[1], STUDY["classes"])
            curves[model_name(residual, depth)] = train_curve(
                model, x, labels, steps, batch_size, lr, seed
            )
    return curves


def summarize(curves: dict[str, np.ndarray], last: int = 20) -> dict:
    """What the curves show: each model's final training loss (the mean of its ``last``
    steps), the gap between the deepest and the shallowest net of each kind (deep minus
    shallow: positive when depth hurt), and two verdicts: ``plain_degrades`` (the deeper
    plain net ends worse) and ``residual_fixes`` (the deepest residual net ends better than
    the plain net of its depth)."""
    final = {name: float(np.mean(curve[-last:])) for name, curve in curves.items()}
    depths = sorted({int(name.rsplit("-", 1)[1]) for name in curves})
    shallow, deep = depths[0], depths[-1]
    plain_gap = final[model_name(False, deep)] - final[model_name(False, shallow)]
    residual_gap = final[model_name(True, deep)] - final[model_name(True, shallow)]
    return {
        "final": final,
        "plain_gap": plain_gap,
        "residual_gap": residual_gap,
        "plain_degrades": plain_gap > 0,
        "residual_fixes": final[model_name(True, deep)] < final[model_name(False, deep)],
    }
