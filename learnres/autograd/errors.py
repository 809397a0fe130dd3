"""``OpError``, raised by the ops, the Tensor and the graph walk for bad input.

It has a module of its own so that ``tensor``, ``graph`` and ``function`` can all raise it
without importing each other.
"""

__all__ = ["OpError"]


class OpError(ValueError):
    """Bad input to an op; the message names the op, what it expected and what came."""
