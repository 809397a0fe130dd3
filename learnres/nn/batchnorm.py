"""Batch normalisation layers around ``learnres.functions.batchnorm.batch_norm`` (Ioffe and
Szegedy, 2015; the paper puts BN "right after each convolution and before activation",
Sec. 3.4).

    y = (x - mean) / sqrt(var + eps) * weight + bias,   per channel

Which mean and var, exactly as in torch:

* training mode: the batch's (over N, and H, W), and the running statistics move toward them,
  ``running = (1 - momentum) * running + momentum * batch`` (the running variance uses the
  unbiased batch variance); ``num_batches_tracked`` counts the steps. ``momentum=None``
  gives the plain average of all batches so far (momentum = 1 / num_batches_tracked).
* evaluation mode: ``running_mean`` and ``running_var``.
* ``track_running_stats=False``: no running statistics; the batch's, in both modes.
"""

from __future__ import annotations

import numpy as np

from learnres.functions._checks import check_dtype
from learnres.nn._checks import check_bool_arg, check_int_arg, check_real_arg
from learnres.nn.module import Module
from learnres.nn.parameter import Parameter
from learnres.parallel import batch_norm

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d (which differ only in the input they accept)."""

    ndims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ):
        super().__init__()
        name = type(self).__name__
        check_int_arg(name, "num_features", num_features)
        check_real_arg(name, "eps", eps, positive=True)
        if momentum is not None:
            check_real_arg(name, "momentum", momentum, high=1.0)
        check_bool_arg(name, "affine", affine)
        check_bool_arg(name, "track_running_stats", track_running_stats)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=np.float32))  # gamma
            self.bias = Parameter(np.zeros(num_features, dtype=np.float32))  # beta
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x):
        # the op checks x against gamma, beta and the running statistics, and names this layer
        # if it must refuse. It takes running statistics of any dtype; a layer's are its own:
        if self.weight is None:
            running = {"running_mean": self.running_mean}
            check_dtype(self._name(), x, running, layer=True, kind="running statistics")
        use_batch_stats = self.training or self.running_mean is None
        tracking = self.training and self.running_mean is not None
        momentum = self.momentum
        if tracking and momentum is None:  # the cumulative average, this batch included
            momentum = 1.0 / float(self.num_batches_tracked + 1)
        y = batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=use_batch_stats,
            momentum=0.0 if momentum is None else momentum,
            eps=self.eps,
            layer=self._name(),
            ndims=self.ndims,
        )
        if tracking:  # after the op: an input it refused counts no batch
            self.num_batches_tracked += 1  # in place: the buffer stays the same array
        return y

    def _name(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of an (N, C, H, W) batch, statistics per channel over N, H, W.

    Parameters ``weight`` (C,) = 1 and ``bias`` (C,) = 0 (when ``affine``); buffers
    ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1, ``num_batches_tracked`` () = 0
    (when ``track_running_stats``).
    """

    ndims = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of an (N, C) or (N, C, L) batch, statistics per channel over N
    (and L). Parameters and buffers as in ``BatchNorm2d``."""

    ndims = (2, 3)
