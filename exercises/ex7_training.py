"""Exercise 7: Softmax cross-entropy and the training step.

The paper's networks end in a fully connected layer whose outputs are the logits of the
classes; the loss is the softmax cross-entropy (Sec. 3.4: "standard" classification).
You write the loss as a Function (a numerically stable log-softmax, the loss, its
backward), then the two loops every experiment of the paper runs: one training step
(the model in training mode, so that batch normalization uses and updates the batch's
statistics) and the evaluation pass (evaluation mode, no graph).

What you write (each stub raises NotImplementedError until you do):

    7.1  _log_softmax           log softmax(x) along an axis, without overflow
    7.2  CrossEntropy.forward   the mean cross-entropy of a batch
    7.3  CrossEntropy.backward  dL/dlogits
    7.4  train_step             one SGD step: mode, forward, loss, zero_grad, backward, step
    7.5  evaluate               the loss and error of a model over a loader, in evaluation mode

Check your work: ``pytest exercises/test_ex7_training.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

# ruff: noqa: F401
# (the imports of the solution: some stay unused until the stubs are written)

from __future__ import annotations

import numpy as np

from learnres.autograd.function import Function
from learnres.autograd.grad_mode import no_grad
from learnres.autograd.tensor import Tensor
from learnres.backend import asnumpy, get_array_module
from learnres.functions.loss import cross_entropy

__all__ = ["CrossEntropy", "evaluate", "train_step"]


def _log_softmax(x, axis):
    """Exercise 7.1: log softmax(x) along an axis, without overflow.

    Shapes: x (N, C) (any shape; ``axis`` names the class axis); the result is shaped
    like x: log(exp(x_i) / sum_j exp(x_j)) along ``axis``.
    exp overflows float64 beyond about 709, and logits of a badly initialised or
    diverging network get there. Show that adding the same number to every x_j of a
    row leaves the softmax unchanged, then choose the number that keeps every
    exponent at or below 0. Take the log analytically instead of computing the
    softmax first (log of a tiny softmax underflows to -inf).

    Stuck? Hints in three levels: ``pytest exercises --hint 7.1`` (add
    ``--hint-level 2`` or 3), or ``hint("7.1")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 7.1: _log_softmax (log softmax(x) along an axis, without overflow)"
    )


class CrossEntropy(Function):
    """Mean over the batch of -log softmax(logits)[n, target[n]]."""

    def __init__(self, target):
        self.target = target

    def forward(self, logits):
        """Exercise 7.2: the mean cross-entropy of a batch.

        Arguments: logits (N, C); ``self.target`` holds the N integer labels.
        Returns: a 0-d array, the mean over the batch of -log p(target), with p the
        softmax of each row. Save what backward needs (the softmax probabilities).
        Hint: NumPy's fancy indexing picks one entry per row: a[xp.arange(n), target].

        Stuck? Hints in three levels: ``pytest exercises --hint 7.2`` (add
        ``--hint-level 2`` or 3), or ``hint("7.2")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 7.2: CrossEntropy.forward (the mean cross-entropy of a batch)"
        )

    def backward(self, gy):
        """Exercise 7.3: dL/dlogits.

        Arguments: gy, the upstream gradient of the (scalar) loss. Returns a tuple with
        dL/dlogits, shaped (N, C).
        Derive it: write the loss of one row as -x_t + log sum_j exp(x_j) and
        differentiate by x_i (two cases: i = t and i != t). Then remember that the loss
        is a MEAN over the batch, and multiply by gy.

        Stuck? Hints in three levels: ``pytest exercises --hint 7.3`` (add
        ``--hint-level 2`` or 3), or ``hint("7.3")`` from learnres.grading.
        """
        raise NotImplementedError("Exercise 7.3: CrossEntropy.backward (dL/dlogits)")


def train_step(model, optimizer, x, labels) -> tuple[float, int]:
    """One SGD step on a batch; returns (the batch's mean loss before the step, the number of
    wrong predictions).

    Arguments:
        model: a Module returning logits (B, classes).
        optimizer: holds the model's parameters (``learnres.optim.SGD``).
        x: a batch of inputs (a NumPy array or a Tensor); labels: int (B,).

    Exercise 7.4: one SGD step: mode, forward, loss, zero_grad, backward, step.

    A step must leave the model exactly where PyTorch's loop would: think about what
    each call changes. The gradients of the last step are still in ``p.grad``: when
    must they be cleared, and what happens to a step taken before ``backward``? The
    model may arrive in evaluation mode (after an evaluation): which mode must batch
    normalization be in while it trains?

    Stuck? Hints in three levels: ``pytest exercises --hint 7.4`` (add
    ``--hint-level 2`` or 3), or ``hint("7.4")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 7.4: train_step (one SGD step: mode, forward, loss, zero_grad, backward, step)"
    )


def evaluate(model, loader, dtype=None) -> tuple[float, float]:
    """Mean cross-entropy and error (percent) of ``model`` over one pass of ``loader``.

    The model runs in eval mode (BatchNorm with its running statistics) and without a
    graph; its previous mode is restored. Images are cast to ``dtype`` (default: the
    model's parameters' dtype). The sums stay on the model's device until the pass is done
    (one read-back on a GPU).

    Exercise 7.5: the loss and error of a model over a loader, in evaluation mode.

    The evaluation pass must not change the model: batch normalization uses its
    running statistics (and must not update them), no graph is built (nothing will
    call backward), and the model leaves in the mode it came in, even when an error
    interrupts the loop. Average the loss over images, not over batches (the last
    batch may be smaller).

    Stuck? Hints in three levels: ``pytest exercises --hint 7.5`` (add
    ``--hint-level 2`` or 3), or ``hint("7.5")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 7.5: evaluate (the loss and error of a model over a loader, in evaluation mode)"
    )
