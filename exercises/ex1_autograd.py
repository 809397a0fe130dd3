"""Exercise 1: Autograd.

A define-by-run engine records, for every result, the Function that made it. Backward
walks that graph from the loss to the leaves and calls each Function's ``backward(gy)``,
which turns gy = dL/d(output) into dL/d(input) for each input. Here you write four of
those backward methods (their forward is given) and the order of the walk.

Conventions: forward and backward take and return plain NumPy arrays; backward returns
a tuple with one gradient per input, each shaped exactly like its input.

What you write (each stub raises NotImplementedError until you do):

    1.1  sum_to             the broadcasting sum: a gradient back to its input's shape
    1.2  Mul.backward       the gradients of y = a * b
    1.3  MatMul.backward    the gradients of y = a @ b
    1.4  ReLU.backward      the gradient of y = max(x, 0)
    1.5  topological_order  the order in which backward visits the graph

Check your work: ``pytest exercises/test_ex1_autograd.py`` (or ``pytest exercises/`` for
all exercises) prints a score table; each failure says which value is wrong and why.

This file is generated from learnres's own code (``python -m learnres.grading.exercises``):
the code around the stubs is the reference implementation, which you may read and use.
"""

from __future__ import annotations

from learnres.autograd.function import Function, OpError
from learnres.backend import get_array_module

__all__ = ["MatMul", "Mul", "ReLU", "sum_to", "topological_order"]


def sum_to(g, shape: tuple):
    """Sum ``g`` over the axes broadcasting added or stretched, so that it has ``shape``.

    Exercise 1.1: the broadcasting sum: a gradient back to its input's shape.

    Shapes: g has the broadcast shape, e.g. (2, 3, 4); ``shape`` is the shape an input
    had before it was broadcast, e.g. (3, 1) or (4,). The result has exactly ``shape``.

    Why a sum: broadcasting used each entry of the input many times (once for every
    position along the axes it was copied along), and a value used many times gets
    the sum of the gradients of its uses. Work out which axes of g are copies: the
    ones broadcasting added in front, and the ones along which the input was
    stretched from size 1. Example: g (2, 3, 4) to shape (3, 1) sums two axes.
    Return g itself when the shapes already agree.

    Stuck? Hints in three levels: ``pytest exercises --hint 1.1`` (add
    ``--hint-level 2`` or 3), or ``hint("1.1")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 1.1: sum_to (the broadcasting sum: a gradient back to its input's shape)"
    )


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        """Exercise 1.2: the gradients of y = a * b.

        Arguments: gy = dL/dy, shaped like y (the broadcast shape of a and b).
        Returns: (dL/da, dL/db), shaped like ``self.a`` and like ``self.b``.

        Derive it with the chain rule: which entries of y does a[k] change, and by how
        much per unit of a[k]? A product's derivative in one factor is the other factor.
        If an input was broadcast (a (4,) times b (3, 4)), its gradient comes out with
        the broadcast shape: ``sum_to`` (1.1) brings it back.
        ``self.needs_input_grad[i]`` says whether input i needs its gradient; return
        None in its place when it does not.

        Stuck? Hints in three levels: ``pytest exercises --hint 1.2`` (add
        ``--hint-level 2`` or 3), or ``hint("1.2")`` from learnres.grading.
        """
        raise NotImplementedError("Exercise 1.2: Mul.backward (the gradients of y = a * b)")


class MatMul(Function):
    """a @ b for a of shape (..., n, k) and b of shape (..., k, m) -> (..., n, m)."""

    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise OpError(
                f"matmul: inner dimensions differ: a is {a.shape} (k={a.shape[-1]}), "
                f"b is {b.shape} (k={b.shape[-2]})"
            )
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        """Exercise 1.3: the gradients of y = a @ b.

        Shapes: a (..., n, k), b (..., k, m), gy = dL/dy (..., n, m).
        Returns: (dL/da, dL/db), shaped like a (..., n, k) and like b (..., k, m).

        Derive it from y[i, j] = sum over k of a[i, k] * b[k, j]: which y does a[i, k]
        reach, and with which factor? Sum gy times those factors and you will find a
        matrix product of gy with one operand (transposed: ``x.swapaxes(-1, -2)``). The
        shapes check your answer: dL/da must come out (n, k).
        With batch axes an operand may have been broadcast (b (k, m) against
        a (5, n, k)): ``sum_to`` each result to its input's shape, as in Mul.

        Stuck? Hints in three levels: ``pytest exercises --hint 1.3`` (add
        ``--hint-level 2`` or 3), or ``hint("1.3")`` from learnres.grading.
        """
        raise NotImplementedError("Exercise 1.3: MatMul.backward (the gradients of y = a @ b)")


class ReLU(Function):
    def forward(self, x):
        self.y = get_array_module(x).maximum(x, 0)
        return self.y

    def backward(self, gy):
        """Exercise 1.4: the gradient of y = max(x, 0).

        Shapes: gy and the gradient are shaped like x.
        Derive it: what is the slope of max(x, 0) left and right of 0? At x = 0 itself
        the slope is undefined; take 0 there, as PyTorch does. Forward saved only
        ``self.y = max(x, 0)``: what does y tell you about the sign of x?
        Return a tuple with one array: ``(gx,)``.

        Stuck? Hints in three levels: ``pytest exercises --hint 1.4`` (add
        ``--hint-level 2`` or 3), or ``hint("1.4")`` from learnres.grading.
        """
        raise NotImplementedError("Exercise 1.4: ReLU.backward (the gradient of y = max(x, 0))")


def topological_order(root) -> list:
    """Tensors reachable from ``root`` that require grad, each before all of its inputs.

    Depth-first search with an explicit stack: a tensor is appended after all of its
    inputs (post-order), so the reversed list puts every tensor before its inputs. A tensor
    is marked visited when it is expanded, not when it is pushed: in ``c / sum(c)`` the
    walk must finish ``sum(c)`` before it may place ``c``.

    Exercise 1.5: the order in which backward visits the graph.

    The graph: ``tensor.creator`` is the Function that made a tensor (None for a
    leaf) and ``tensor.creator.inputs`` the tensors it was applied to. Leave out
    inputs with ``requires_grad=False``; list each tensor once, however many ops use
    it. Backward needs every contribution to a tensor's gradient (one from each op
    that used it) before it passes that gradient on to the tensor's inputs: so in
    the order you return, where must a tensor stand relative to the tensors that use
    it? Draw a graph in which one tensor is used twice and check your order on it.
    No recursion: a chain of 5,000 ops must work, and Python stops at about 1,000
    nested calls. Remember visited tensors by ``id(tensor)``.

    Stuck? Hints in three levels: ``pytest exercises --hint 1.5`` (add
    ``--hint-level 2`` or 3), or ``hint("1.5")`` from learnres.grading.
    """
    raise NotImplementedError(
        "Exercise 1.5: topological_order (the order in which backward visits the graph)"
    )
