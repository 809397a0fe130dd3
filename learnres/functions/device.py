"""Moving a tensor between devices and dtypes; gradients move back the same way."""

from __future__ import annotations

from learnres.autograd.function import Function
from learnres.backend import device_of
from learnres.backend import to_device as _array_to_device

__all__ = ["ToDevice", "to_device", "AsType", "astype"]


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = device_of(x)
        return _array_to_device(x, self.device)

    def backward(self, gy):
        # dL/dx = gy, moved back to x's device
        return (_array_to_device(gy, self.source),)


def to_device(x, device):
    """``x`` copied to "cpu" or "cuda"."""
    return ToDevice(device)(x)


class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.source = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        # dL/dx = gy, cast back to x's dtype
        return (gy.astype(self.source),)


def astype(x, dtype):
    """``x`` converted to ``dtype``."""
    return AsType(dtype)(x)
