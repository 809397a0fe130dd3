"""How SGD's updates are scheduled: whole flat buffers instead of one parameter at a time.

``SGD._update`` is the rule for one parameter (exercise 6): seven small array operations.
ResNet-56 has 170 parameter arrays, so a step would be over a thousand of them, and on a
GPU each is a kernel launch that costs Python and driver time whatever its size: the step
waits on launches, not arithmetic. The update is elementwise, so it can run over all the
parameters at once if they lie side by side in memory. That is what this module arranges:

* ``FlatParameters``: the parameters of one group that share a dtype and a device, laid out
  end to end in one array ``data`` (n,). Each ``Parameter.data`` becomes a view of its
  stretch (the values are copied in once); each parameter's ``grad_buffer`` is the same
  stretch of a second array ``grad``, where backward writes its gradient (see
  ``learnres.autograd.graph``); the momentum buffers are a third array whose stretches are
  ``SGD.state[i]["momentum_buffer"]``, so ``state_dict`` keeps torch's layout.
* ``update_kernel``: ``SGD._update``'s arithmetic on whole arrays, term by term in the same
  order. On NumPy it is plain NumPy (a step gives the same bits as one parameter at a time,
  which the tests check); on CuPy it is compiled by ``cupy.fuse`` into one kernel, compared
  with its NumPy twin on a real GPU (``tests/optim/test_flat.py``).

``SGD.step`` lays the buffers out on its first step and calls ``update_groups``, which
updates every group whose parameters all have their gradients in the buffer; the others
(a parameter without a gradient is skipped, as torch does; a gradient assigned by hand;
a model moved to another device or dtype, whose parameters left their views) are updated
one parameter at a time by ``SGD._update``, and the layout is rebuilt when it is gone.
A group of one parameter is flat already and is left as it is.
"""

from __future__ import annotations

import functools

import numpy as np

from learnres.autograd.tensor import Tensor
from learnres.backend import device_of, get_array_module

__all__ = ["FlatParameters", "flatten", "lay_out", "update_groups", "update_kernel"]


class FlatParameters:
    """Parameters of one dtype and device, their gradients and momentum buffers, each kind
    in one flat array.

    Arguments:
        params: the parameters (Tensors), in order; their values are copied into ``data``.
        indices: their indices in the optimizer (the keys of ``SGD.state``).

    ``data``, ``grad`` (n,): the values and gradients; ``momentum`` (n,) or None until the
    first update with momentum. ``views[k]``/``grad_views[k]`` are parameter k's stretches,
    shaped like it.
    """

    def __init__(self, params: list, indices: list[int]):
        xp, dtype = get_array_module(params[0].data), params[0].data.dtype
        self.params, self.indices = list(params), list(indices)
        self.shapes = [p.data.shape for p in params]
        sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.bounds = list(zip(np.cumsum([0] + sizes[:-1]).tolist(), np.cumsum(sizes).tolist()))
        self.data = xp.empty(sum(sizes), dtype=dtype)
        self.grad = xp.zeros(sum(sizes), dtype=dtype)
        self.momentum = None
        self._momentum_views: list = []
        self.views = [self._stretch(self.data, k) for k in range(len(params))]
        self.grad_views = [self._stretch(self.grad, k) for k in range(len(params))]
        for p, view, grad_view in zip(self.params, self.views, self.grad_views):
            view[...] = p.data
            p.data, p.grad_buffer = view, grad_view
            if p.grad is not None and p.grad.shape == view.shape:
                grad_view[...] = p.grad
                p.grad = grad_view

    def _stretch(self, flat, k: int):
        start, stop = self.bounds[k]
        return flat[start:stop].reshape(self.shapes[k])  # (n,) -> parameter k's shape, a view

    @property
    def intact(self) -> bool:
        """Whether every parameter still has its values here (not moved or replaced)."""
        return all(p.data is view for p, view in zip(self.params, self.views))

    @property
    def has_grads(self) -> bool:
        """Whether every parameter's gradient is its stretch of ``grad`` (backward wrote it)."""
        return all(p.grad is view for p, view in zip(self.params, self.grad_views))

    def momentum_state(self, state: dict) -> str:
        """How the parameters' momentum buffers in ``state`` relate to ``momentum``:
        "none" (no parameter has one yet), "flat" (each is its stretch), "scattered" (each
        has its own, e.g. after ``load_state_dict``) or "mixed" (some have none)."""
        bufs = [state.get(i, {}).get("momentum_buffer") for i in self.indices]
        if all(b is None for b in bufs):
            return "none"
        if any(b is None for b in bufs):
            return "mixed"
        if self.momentum is not None and all(
            b is self._momentum_views[k] for k, b in enumerate(bufs)
        ):
            return "flat"
        return "scattered"

    def adopt_momentum(self, state: dict, gather: bool) -> None:
        """Make ``momentum`` hold the buffers and ``state`` point to its stretches; with
        ``gather`` copy the parameters' own buffers in first (after ``load_state_dict``)."""
        xp = get_array_module(self.data)
        if self.momentum is None:
            self.momentum = xp.zeros_like(self.data)
            self._momentum_views = [self._stretch(self.momentum, k) for k in range(len(self))]
        for i, view in zip(self.indices, self._momentum_views):
            if gather:
                view[...] = state[i]["momentum_buffer"]
            state.setdefault(i, {})["momentum_buffer"] = view

    def __len__(self) -> int:
        return len(self.params)


def flatten(group: dict, indices: list[int]) -> list[FlatParameters]:
    """Lay out a parameter group: one ``FlatParameters`` per dtype and device with at least
    two parameters (a single parameter is flat already)."""
    buckets: dict[tuple, tuple[list, list]] = {}
    for i, p in zip(indices, group["params"]):
        if not isinstance(p, Tensor):  # a look-alike has no grad_buffer for backward to fill
            continue
        key = (p.data.dtype, device_of(p.data))
        buckets.setdefault(key, ([], []))
        buckets[key][0].append(p)
        buckets[key][1].append(i)
    return [FlatParameters(ps, ids) for ps, ids in buckets.values() if len(ps) > 1]


@functools.lru_cache(maxsize=None)
def update_kernel(xp, decay: bool, momentum: bool, nesterov: bool, first: bool):
    """``SGD._update``'s arithmetic on whole arrays, as one function of
    ``(p, grad, buf, lr, mu, one_minus_dampening, weight_decay)`` that updates ``p`` and
    ``buf`` in place (``buf`` is unused without momentum).

    The flags are fixed per kernel (the fused code cannot branch on values). On NumPy it is
    the NumPy function itself; on CuPy, ``cupy.fuse`` compiles it into one kernel. The
    scalars are passed in the arrays' dtype, so float32 stays float32 as in ``_update``.
    """

    def sgd_update(p, grad, buf, lr, mu, one_minus_dampening, weight_decay):
        d_p = grad + weight_decay * p if decay else grad
        if momentum:
            if first:
                buf[...] = d_p  # the first step: buf = d_p (a copy)
            else:
                buf *= mu
                buf += one_minus_dampening * d_p
            d_p = d_p + mu * buf if nesterov else buf
        p -= lr * d_p

    return sgd_update if xp is np else xp.fuse(kernel_name="sgd_update")(sgd_update)


def lay_out(optimizer) -> list[list[FlatParameters]]:
    """``optimizer.layouts``, made on the first call and again when parameters moved or
    groups were added."""
    layouts = optimizer.layouts
    if (
        layouts is None
        or len(layouts) != len(optimizer.param_groups)
        or not all(f.intact for fs in layouts for f in fs)
    ):
        layouts, i = [], 0
        for group in optimizer.param_groups:
            n = len(group["params"])
            layouts.append(flatten(group, list(range(i, i + n))))
            i += n
        optimizer.layouts = layouts
    return layouts


def update_groups(optimizer) -> set[int]:
    """Update, as whole buffers, every laid-out group whose gradients are all in its buffer;
    returns the ids of the parameters done (``SGD.step`` does the rest one by one)."""
    done = set()
    for group, flats in zip(optimizer.param_groups, lay_out(optimizer)):
        for flat in flats:
            if not (flat.intact and flat.has_grads):
                continue
            mu = group["momentum"]
            first = False
            if mu != 0:
                how = flat.momentum_state(optimizer.state)
                if how == "mixed":
                    continue  # some parameters skipped a step: one at a time keeps torch's rule
                first = how == "none"
                if how != "flat":
                    flat.adopt_momentum(optimizer.state, gather=how == "scattered")
            _run(flat, group, first)
            done.update(id(p) for p in flat.params)
    return done


def _run(flat: FlatParameters, group: dict, first: bool) -> None:
    xp, scalar = get_array_module(flat.data), flat.data.dtype.type
    mu, wd = group["momentum"], group["weight_decay"]
    kernel = update_kernel(xp, wd != 0, mu != 0, group["nesterov"], first)
    buf = flat.momentum if mu != 0 else flat.grad
    kernel(
        flat.data,
        flat.grad,
        buf,
        scalar(group["lr"]),
        scalar(mu),
        scalar(1.0 - group["dampening"]),
        scalar(wd),
    )
