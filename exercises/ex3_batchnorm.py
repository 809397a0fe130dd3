"""Exercise 3: Batch normalization.

Batch normalization (Ioffe & Szegedy, 2015) normalises each channel with the statistics
of the batch; the paper puts it after every convolution and before the ReLU (Sec. 3.4).
The op is one Function: the layer (learnres.nn.BatchNorm2d) owns gamma, beta and the
running statistics and passes them in. The semantics are PyTorch's: in training mode the
running statistics move toward the batch's, in evaluation mode they replace them.

What you write (each stub raises NotImplementedError until you do):

    3.1  BatchNorm.forward          normalise x in training and in evaluation mode
    3.2  BatchNorm._update_running  move the running statistics toward the batch's, in place
    3.3  BatchNorm.backward         the gradients, in training and in evaluation mode

Check your work: ``pytest exercises/test_ex3_batchnorm.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

from __future__ import annotations

import math
import numbers

from learnres.autograd.function import Function, OpError
from learnres.backend import get_array_module
from learnres.functions._checks import check_channels, check_dtype, check_layout

__all__ = ["NDIMS", "BatchNorm", "batch_norm"]


NDIMS = (2, 3, 4)  # the input's numbers of axes: (N, C), (N, C, L), (N, C, H, W)


def _channel_sum(a, b=None):
    """Sum over N and L of an (N, C, L) array, or of a * b, without temporaries -> (C,)."""
    xp = get_array_module(a)
    return xp.einsum("ncl->c", a) if b is None else xp.einsum("ncl,ncl->c", a, b)


def _per_channel(v):
    """(C,) -> (1, C, 1), to broadcast against (N, C, L)."""
    return v.reshape(1, -1, 1)


def _as_array(a):
    """A plain array, or None: a Tensor (a layer's buffer) gives its ``.data``."""
    from learnres.autograd.tensor import Tensor

    return a.data if isinstance(a, Tensor) else a


class BatchNorm(Function):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta per channel; x (N, C, H, W), (N, C, L)
    or (N, C). The math only: ``batch_norm`` checks the input (``_check_batch_norm``)."""

    def __init__(self, running_mean, running_var, training, momentum, eps, has_weight, has_bias):
        self.running_mean, self.running_var = _as_array(running_mean), _as_array(running_var)
        self.training, self.momentum, self.eps = training, momentum, float(eps)
        self.has_weight, self.has_bias = has_weight, has_bias

    def forward(self, x, *affine):
        """Exercise 3.1: normalise x in training and in evaluation mode.

        Arguments: x (N, C, H, W), (N, C, L) or (N, C); ``affine`` holds gamma then beta,
        each (C,), when ``self.has_weight`` / ``self.has_bias`` (either may be absent).
        Returns: y, shaped like x.

        Per channel, over the m = N*H*W values of the batch, in training mode:
            mu = mean(x),  var = mean((x - mu)^2)  (biased),  sigma = sqrt(var + eps)
            x_hat = (x - mu) / sigma,  y = gamma * x_hat + beta
        and the running statistics move: ``self._update_running(mu, var, m)``.
        In evaluation mode (``self.training`` False) mu and var are
        ``self.running_mean`` and ``self.running_var``, and nothing is updated.
        Save on self what backward needs: ``self.x_hat`` (N, C, L), ``self.inv_std``
        (1 / sigma) and ``self.gamma`` (C,).
        Hints: view x as (N, C, L) with ``x.reshape(N, C, L)``, L = H*W (1 for (N, C):
        ``math.prod(x.shape[2:])``); ``_channel_sum`` sums it over N and L, and
        ``_per_channel`` turns a (C,) vector into (1, C, 1) to broadcast.
        The input is checked already: ``batch_norm`` runs ``_check_batch_norm`` first.

        Stuck? Hints in three levels: ``pytest exercises --hint 3.1`` (add
        ``--hint-level 2`` or 3), or ``hint("3.1")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 3.1: BatchNorm.forward (normalise x in training and in evaluation mode)"
        )

    def backward(self, gy):
        """Exercise 3.3: the gradients, in training and in evaluation mode.

        Returns: (dL/dx, dL/dgamma, dL/dbeta), without dL/dgamma or dL/dbeta when the
        op had no gamma or beta; dL/dx is shaped like x, the others (C,).

        Derive it from forward, with g = dL/dy and sums per channel over (N, H, W):
        y = gamma * x_hat + beta gives dL/dbeta and dL/dgamma at once. For dL/dx, write
        down what each quantity depends on. In evaluation mode mu and sigma are fixed
        numbers; in training mode they are computed from the batch, so every x_j of a
        channel reaches y_i three ways: directly, through mu and through sigma. Follow
        each path back (the chain rule adds them), using what forward saved (x_hat,
        1 / sigma, gamma). Check your result against the graders with a random gy: with
        gy = 1 the training-mode dL/dx is 0 whatever you write, so a sum() check proves
        nothing.

        Stuck? Hints in three levels: ``pytest exercises --hint 3.3`` (add
        ``--hint-level 2`` or 3), or ``hint("3.3")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 3.3: BatchNorm.backward (the gradients, in training and in evaluation mode)"
        )

    def _update_running(self, mean, var, m):
        """Exercise 3.2: move the running statistics toward the batch's, in place.

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
        The running variance takes the UNBIASED batch variance: m / (m - 1) times the
        biased one used to normalise (as PyTorch). Change the arrays in place (``*=``,
        ``+=``): they are the layer's buffers, and a new array would leave the layer's
        unchanged. Either may be None (then skip it). (m >= 2 here: ``_check_batch_norm``
        refuses a batch with one value per channel in training mode.)

        Stuck? Hints in three levels: ``pytest exercises --hint 3.2`` (add
        ``--hint-level 2`` or 3), or ``hint("3.2")`` from learnres.grading.
        """
        raise NotImplementedError(
            "Exercise 3.2: BatchNorm._update_running (move the running statistics toward the "
            "batch's, in place)"
        )


def _check_batch_norm(x, running_mean, running_var, affine, training, layer=None, ndims=NDIMS):
    """The input of batch norm, checked once before it runs: x (N, C, ...) with C matching
    every per-channel array and the dtype of gamma and beta, and (when the batch's statistics
    are used) more than one value per channel. ``ndims``: the numbers of axes x may have (a
    layer narrows them: BatchNorm2d takes 4). Errors name ``layer`` when a layer called."""
    name = layer or "batch_norm"
    check_layout(name, x, ndims)
    affine = dict(zip(("weight", "bias"), affine))  # gamma then beta, as far as given
    for what, a in {**affine, "running_mean": running_mean, "running_var": running_var}.items():
        if a is not None and a.ndim != 1:
            raise OpError(f"{name} expects {what} of shape (C,), got shape {a.shape}")
        if a is not None:
            check_channels(name, x, a.shape[0], f"{what} shape {a.shape}")
    check_dtype(name, x, affine, layer=layer is not None)
    has_running = running_mean is not None and running_var is not None
    if training and x.size <= x.shape[1]:
        fix = "use a batch of 2 or more"
        if has_running:
            fix += f", or {'.eval()' if layer else 'training=False'} to use the running statistics"
        raise OpError(
            f"{name} needs more than one value per channel to compute batch statistics, got "
            f"input of shape {tuple(x.shape)}; {fix}"
        )
    if not training and not has_running:
        raise OpError(
            f"{name} normalises with running_mean and running_var in evaluation mode "
            "(training=False), and they were not given; pass them, or use training=True"
        )


def batch_norm(
    x,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
    *,
    layer=None,
    ndims=NDIMS,
):
    """Batch normalization with torch.nn.functional.batch_norm's arguments and semantics.

    Arguments:
        x: (N, C, H, W), (N, C, L) or (N, C).
        running_mean, running_var: plain arrays (C,) or None; in training mode they are
            updated in place: running = (1 - momentum) * running + momentum * batch_stat
            (unbiased variance for running_var).
        weight, bias: gamma and beta (C,), or None for 1 and 0.
        training: normalise with the batch statistics (True) or the running ones (False).
        momentum: a float; torch's cumulative average (``momentum=None``) needs a batch
            counter, which only a layer keeps: pass ``momentum=1 / num_batches_tracked``.
        eps: added to the variance for numerical safety.
        layer, ndims: for a layer that calls (``learnres.nn.BatchNorm2d``): its name, which
            errors name instead of the op, and the numbers of axes it takes ((4,)).

    Returns:
        y, shaped like x: gamma * (x - mu) / sqrt(var + eps) + beta.
    """
    f, affine = _batch_norm_op(running_mean, running_var, weight, bias, training, momentum, eps)
    _check_batch_norm(x, f.running_mean, f.running_var, affine, training, layer, ndims)
    return f(x, *affine)


def _batch_norm_op(running_mean, running_var, weight, bias, training, momentum, eps):
    """``batch_norm``'s arguments checked: the ``BatchNorm`` Function and its affine inputs."""
    if momentum is None:
        raise OpError(
            "batch_norm: momentum=None (a cumulative average) needs the number of batches seen, "
            "which a layer keeps; call batch_norm with momentum=1 / num_batches_tracked instead"
        )
    if not isinstance(momentum, numbers.Real) or not math.isfinite(momentum):
        raise OpError(f"batch_norm: momentum must be a float, got {momentum!r}")
    if bias is not None and weight is None:  # gamma = 1, as a constant
        weight = get_array_module(_as_array(bias)).ones_like(_as_array(bias))
    has_weight, has_bias = weight is not None, bias is not None
    f = BatchNorm(running_mean, running_var, training, float(momentum), eps, has_weight, has_bias)
    return f, tuple(a for a in (weight, bias) if a is not None)
