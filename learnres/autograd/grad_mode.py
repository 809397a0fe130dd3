"""Switching graph recording off: ``with no_grad(): ...``."""

from __future__ import annotations

import contextlib

__all__ = ["no_grad", "enable_grad", "is_grad_enabled"]

_enabled = True


def is_grad_enabled() -> bool:
    """Whether new ops record the graph (True unless inside ``no_grad()``)."""
    return _enabled


@contextlib.contextmanager
def _grad_mode(mode: bool):
    global _enabled
    previous, _enabled = _enabled, mode
    try:
        yield
    finally:
        _enabled = previous


def no_grad():
    """Context manager: ops inside record no graph and keep no buffers (evaluation, SGD)."""
    return _grad_mode(False)


def enable_grad():
    """Context manager: record the graph again, e.g. inside a ``no_grad()`` block."""
    return _grad_mode(True)
