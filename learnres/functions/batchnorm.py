"""Batch normalization (Ioffe & Szegedy, 2015), which the paper puts after every convolution
and before the activation (section 3.4).

For each channel c, over the m = N*H*W values of the batch:

    mu = mean(x),  var = mean((x - mu)^2)  (biased),  sigma = sqrt(var + eps)
    x_hat = (x - mu) / sigma,  y = gamma * x_hat + beta

In training mode the running statistics are updated in place, exactly as torch does:
``running = (1 - momentum) * running + momentum * batch_stat``, with the *unbiased* variance
``var * m / (m - 1)`` going into ``running_var``. In evaluation mode x is normalised with the
running statistics instead, and the op is a fixed per-channel affine map.

Reductions run over contiguous axes first: x is viewed as (N, C, H*W), summed over the
last axis, then over N.
"""

from __future__ import annotations

import math
import numbers

from learnres.autograd.function import Function, OpError
from learnres.backend import get_array_module
from learnres.functions.conv import for_chunks, get_num_threads

__all__ = ["BatchNorm", "batch_norm"]


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
    """y = gamma * (x - mu) / sqrt(var + eps) + beta per channel; x (N, C, H, W) or (N, C)."""

    def __init__(self, running_mean, running_var, training, momentum, eps, has_weight, has_bias):
        self.running_mean, self.running_var = _as_array(running_mean), _as_array(running_var)
        self.training, self.momentum, self.eps = training, momentum, float(eps)
        self.has_weight, self.has_bias = has_weight, has_bias

    def forward(self, x, *affine):
        xp = get_array_module(x)
        C = _check_batch_norm(x, self.running_mean, self.running_var, affine, self.training)
        gamma = affine[0] if self.has_weight else xp.ones(C, dtype=x.dtype)
        beta = affine[-1] if self.has_bias else None
        x3 = x.reshape(x.shape[0], C, -1)  # (N, C, H, W) -> (N, C, H*W); (N, C) -> (N, C, 1)
        m = x3.shape[0] * x3.shape[2]  # values per channel
        if self.training and m < 2:
            raise OpError(
                f"batch_norm: expected more than 1 value per channel when training, got {x.shape}"
            )
        if self.training:
            mean, var = xp.empty(C, dtype=x.dtype), xp.empty(C, dtype=x.dtype)
        else:
            mean = self.running_mean.astype(x.dtype, copy=False)
            var = self.running_var.astype(x.dtype, copy=False)
        x_hat, y, inv_std = xp.empty_like(x3), xp.empty_like(x3), xp.empty(C, dtype=x.dtype)

        def channels(c0, c1):  # channels are independent: groups of them run in threads
            c = slice(c0, c1)
            if self.training:
                xp.divide(_channel_sum(x3[:, c]), m, out=mean[c])
            xp.subtract(x3[:, c], _per_channel(mean[c]), out=x_hat[:, c])  # centred
            if self.training:
                xp.divide(_channel_sum(x_hat[:, c], x_hat[:, c]), m, out=var[c])  # biased
            xp.add(var[c], self.eps, out=inv_std[c])  # written in place: no copies
            xp.reciprocal(xp.sqrt(inv_std[c], out=inv_std[c]), out=inv_std[c])  # 1 / sigma
            x_hat[:, c] *= _per_channel(inv_std[c])  # normalised
            xp.multiply(x_hat[:, c], _per_channel(gamma[c]), out=y[:, c])
            if beta is not None:
                y[:, c] += _per_channel(beta[c])

        for_chunks(channels, C, xp, chunk=-(-C // get_num_threads()))
        if self.training:
            self._update_running(mean, var, m)
        self.x_hat, self.inv_std, self.gamma = x_hat, inv_std, gamma  # kept for backward
        return y.reshape(x.shape)  # (N, C, L) -> x's shape

    def backward(self, gy):
        # y = gamma x_hat + beta: dL/dbeta = sum g, dL/dgamma = sum g x_hat. Training: mu and
        # sigma depend on x; with d x_hat_i/d x_j = (delta_ij - 1/m - x_hat_i x_hat_j / m) / sigma,
        # dL/dx = (gamma / sigma) * (g - mean(g) - x_hat * mean(g * x_hat)), means over (N, H, W).
        # Eval: mu and sigma are constants, dL/dx = (gamma / sigma) * g.
        xp, x_hat, C = get_array_module(gy), self.x_hat, self.x_hat.shape[1]
        g = gy.reshape(x_hat.shape)  # (N, C, H, W) -> (N, C, L)
        m = x_hat.shape[0] * x_hat.shape[2]
        g_sum, gx_hat_sum = xp.empty(C, dtype=g.dtype), xp.empty(C, dtype=g.dtype)
        scale = self.gamma * self.inv_std  # (C,)
        gx = xp.empty_like(g) if self.needs_input_grad[0] else None

        def channels(c0, c1):
            c = slice(c0, c1)
            g_sum[c] = _channel_sum(g[:, c])  # dL/dbeta
            gx_hat_sum[c] = _channel_sum(g[:, c], x_hat[:, c])  # dL/dgamma
            if gx is None:
                return
            if self.training:
                out = gx[:, c]
                xp.multiply(x_hat[:, c], _per_channel(gx_hat_sum[c] / m), out=out)
                out += _per_channel(g_sum[c] / m)  # mean(g) + x_hat * mean(g x_hat)
                xp.subtract(g[:, c], out, out=out)
                out *= _per_channel(scale[c])
            else:
                xp.multiply(g[:, c], _per_channel(scale[c]), out=gx[:, c])

        for_chunks(channels, C, xp, chunk=-(-C // get_num_threads()))
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


def _check_batch_norm(x, running_mean, running_var, affine, training) -> int:
    if x.ndim not in (2, 4):
        raise OpError(f"batch_norm: expected input (N, C, H, W) or (N, C), got shape {x.shape}")
    C = x.shape[1]
    for name, a in [("running_mean", running_mean), ("running_var", running_var)] + [
        ("weight/bias", a) for a in affine
    ]:
        if a is not None and a.shape != (C,):
            raise OpError(
                f"batch_norm: input has {C} channels (shape {x.shape}) "
                f"but {name} has shape {a.shape}"
            )
    if not training and (running_mean is None or running_var is None):
        raise OpError(
            "batch_norm: running_mean and running_var must be given "
            "in evaluation mode (training=False)"
        )
    return C


def batch_norm(
    x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5
):
    """Batch normalization with torch.nn.functional.batch_norm's arguments and semantics.

    Arguments:
        x: (N, C, H, W) or (N, C).
        running_mean, running_var: plain arrays (C,) or None; in training mode they are
            updated in place: running = (1 - momentum) * running + momentum * batch_stat
            (unbiased variance for running_var).
        weight, bias: gamma and beta (C,), or None for 1 and 0.
        training: normalise with the batch statistics (True) or the running ones (False).
        momentum: a float; torch's cumulative average (``momentum=None``) needs a batch
            counter, which only a layer keeps: pass ``momentum=1 / num_batches_tracked``.
        eps: added to the variance for numerical safety.

    Returns:
        y, shaped like x: gamma * (x - mu) / sqrt(var + eps) + beta.
    """
    if momentum is None:
        raise OpError(
            "batch_norm: momentum=None (a cumulative average) needs the number of batches seen, "
            "which a layer keeps; call batch_norm with momentum=1 / num_batches_tracked instead"
        )
    if not isinstance(momentum, numbers.Real) or not math.isfinite(momentum):
        raise OpError(f"batch_norm: momentum must be a float, got {momentum!r}")
    if bias is not None and weight is None:  # gamma = 1, as a constant
        weight = get_array_module(_as_array(bias)).ones_like(_as_array(bias))
    f = BatchNorm(
        running_mean,
        running_var,
        training,
        float(momentum),
        eps,
        weight is not None,
        bias is not None,
    )
    return f(x, *(a for a in (weight, bias) if a is not None))
