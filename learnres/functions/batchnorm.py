"""Batch normalization (Ioffe & Szegedy, 2015), which the paper puts after every convolution
and before the activation (section 3.4).

For each channel c, over the m = N*H*W values of the batch:

    mu = mean(x),  var = mean((x - mu)^2)  (biased),  sigma = sqrt(var + eps)
    x_hat = (x - mu) / sigma,  y = gamma * x_hat + beta

In training mode the running statistics are updated in place, exactly as torch does:
``running = (1 - momentum) * running + momentum * batch_stat``, with the *unbiased* variance
``var * m / (m - 1)`` going into ``running_var``. In evaluation mode x is normalised with the
running statistics instead, and the op is a fixed per-channel affine map.

The sums over (N, H, W) view x as (N, C, H*W) and add up over N and H*W in one einsum,
without temporaries. This file is the math only: ``learnres.parallel.batch_norm``, which the
layers call, runs this same ``BatchNorm`` on groups of channels in threads.
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
        xp = get_array_module(x)
        N, C, L = x.shape[0], x.shape[1], math.prod(x.shape[2:])  # L = H*W (1 for (N, C))
        x3, m = x.reshape(N, C, L), N * L  # (N, C, H, W) -> (N, C, H*W); m values per channel
        if self.training:
            mean = _channel_sum(x3) / m  # mu, (C,)
            x_hat = x3 - _per_channel(mean)  # centred
            var = _channel_sum(x_hat, x_hat) / m  # the biased variance, (C,)
            self._update_running(mean, var, m)
        else:
            mean = self.running_mean.astype(x.dtype, copy=False)
            var = self.running_var.astype(x.dtype, copy=False)
            x_hat = x3 - _per_channel(mean)
        inv_std = 1 / xp.sqrt(var + self.eps)  # 1 / sigma, (C,)
        x_hat *= _per_channel(inv_std)  # normalised, in place
        gamma = affine[0] if self.has_weight else xp.ones(C, dtype=x.dtype)
        y = x_hat * _per_channel(gamma)
        if self.has_bias:
            y += _per_channel(affine[-1])  # + beta, in place
        self.x_hat, self.inv_std, self.gamma = x_hat, inv_std, gamma  # kept for backward
        return y.reshape(x.shape)  # (N, C, L) -> x's shape

    def backward(self, gy):
        # y = gamma x_hat + beta: dL/dbeta = sum g, dL/dgamma = sum g x_hat. Training: mu and
        # sigma depend on x; with d x_hat_i/d x_j = (delta_ij - 1/m - x_hat_i x_hat_j / m) / sigma,
        # dL/dx = (gamma / sigma) * (g - mean(g) - x_hat * mean(g * x_hat)), means over (N, H, W).
        # Eval: mu and sigma are constants, dL/dx = (gamma / sigma) * g.
        x_hat = self.x_hat
        g, m = gy.reshape(x_hat.shape), x_hat.shape[0] * x_hat.shape[2]  # (N, C, H, W) -> (N, C, L)
        g_sum, gx_hat_sum = _channel_sum(g), _channel_sum(g, x_hat)  # dL/dbeta, dL/dgamma
        scale = _per_channel(self.gamma * self.inv_std)  # gamma / sigma, (1, C, 1)
        gx = None
        if self.needs_input_grad[0] and self.training:
            gx = g - _per_channel(g_sum / m)  # g - mean(g)
            gx -= x_hat * _per_channel(gx_hat_sum / m)  # - x_hat * mean(g * x_hat)
            gx *= scale
        elif self.needs_input_grad[0]:
            gx = g * scale
        gx = gx.reshape(gy.shape) if gx is not None else None  # (N, C, L) -> x's shape
        return (
            (gx,) + ((gx_hat_sum,) if self.has_weight else ()) + ((g_sum,) if self.has_bias else ())
        )

    def _update_running(self, mean, var, m):
        mom = self.momentum
        if self.running_mean is not None:
            self.running_mean *= 1 - mom
            self.running_mean += mom * mean
        if self.running_var is not None:
            self.running_var *= 1 - mom
            self.running_var += (mom * m / (m - 1)) * var  # the unbiased batch variance


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
