"""The backward pass: a topological walk of the graph with an explicit loop.

ResNet-1202 builds graphs of tens of thousands of nodes, too deep for a recursive walk
(Python's recursion limit is 1000), so the order is found with an explicit stack.
"""

from __future__ import annotations

from learnres.autograd.errors import OpError
from learnres.backend import device_of

__all__ = ["topological_order", "backward"]


def _accumulate(tensor, g) -> None:
    """``tensor.grad += g``; the first gradient is copied, into ``tensor.grad_buffer`` when
    the tensor has one that fits (an optimizer's flat buffer), where later ones add in place.
    """
    buffer = tensor.grad_buffer
    fits = (
        buffer is not None
        and buffer.shape == g.shape
        and buffer.dtype == g.dtype
        and device_of(buffer) == device_of(g)
    )
    if tensor.grad is None and fits:
        buffer[...] = g
        tensor.grad = buffer
    elif tensor.grad is None:
        tensor.grad = g.copy()
    elif fits and tensor.grad is buffer:
        buffer += g
    else:
        tensor.grad = tensor.grad + g


def topological_order(root) -> list:
    """Tensors reachable from ``root`` that require grad, each before all of its inputs.

    Depth-first search with an explicit stack: a tensor is appended after all of its
    inputs (post-order), so the reversed list puts every tensor before its inputs. A tensor
    is marked visited when it is expanded, not when it is pushed: in ``c / sum(c)`` the
    walk must finish ``sum(c)`` before it may place ``c``.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:  # reached again along another path, already expanded
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        f = tensor.creator
        if f is None:
            continue
        if f.released:
            raise RuntimeError(
                f"backward through {f.name} a second time: its buffers were released after "
                "the first backward; pass retain_graph=True to the first backward"
            )
        stack.extend((x, False) for x in f.inputs if x.requires_grad and id(x) not in visited)
    order.reverse()
    return order


def backward(root, grad, retain_graph: bool = False) -> None:
    """Accumulate ``d root / d leaf`` (times ``grad``) into every leaf's ``.grad``.

    Gradients of a tensor used more than once are summed before they flow on.
    Non-leaf tensors keep their gradient only after ``retain_grad()``.
    """
    order = topological_order(root)
    grads = {id(root): grad}
    for i in range(len(order)):
        tensor, order[i] = order[i], None  # let activations go as soon as we pass them
        g = grads.pop(id(tensor), None)
        if g is None:
            continue
        f = tensor.creator
        if f is None or tensor.retains_grad:
            _accumulate(tensor, g)
        if f is None:
            continue
        gxs = f.backward(g)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(f.inputs):
            raise OpError(
                f"{f.name}.backward returned {len(gxs)} gradients for {len(f.inputs)} inputs"
            )
        for x, gx in zip(f.inputs, gxs):
            if gx is None or not x.requires_grad:
                continue
            if gx.shape != x.shape:
                raise OpError(
                    f"{f.name}.backward returned a gradient of shape {gx.shape} "
                    f"for an input of shape {x.shape}"
                )
            if gx.dtype != x.dtype:
                gx = gx.astype(x.dtype)
            previous = grads.get(id(x))
            grads[id(x)] = gx if previous is None else previous + gx
        if not retain_graph:
            f.release()
