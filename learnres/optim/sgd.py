"""Stochastic gradient descent with momentum and weight decay: the paper's optimiser.

Section 3.4 and 4.2 of the paper: "We use SGD with a mini-batch size of 256 [128 on
CIFAR] ... a weight decay of 0.0001 and a momentum of 0.9". The update is PyTorch's
``torch.optim.SGD``, term by term and in the same order, so that a learnres run and a
PyTorch run started from the same weights stay together step after step:

    d_p = grad + weight_decay * p                       (L2 penalty folded into the gradient)
    buf = d_p                                           (first step)
    buf = momentum * buf + (1 - dampening) * d_p        (later steps)
    d_p = d_p + momentum * buf   if nesterov else  buf
    p   = p - lr * d_p

Every hyper-parameter is kept as a Python float, so a float32 parameter stays float32
(NumPy 2 does not promote an array by a Python scalar); the update happens in place on
``p.data``, so arrays shared with anything else (a view, a CuPy buffer) see it.

``_update`` is the rule for one parameter. How the updates are scheduled is
``learnres.optim.flat``'s business: on the first step the parameters of a group are laid
out in flat buffers (each ``p.data`` becomes a view of its stretch), and from then on the
same arithmetic runs once over each buffer (one fused kernel on a GPU) instead of seven
array operations per parameter.
"""

from __future__ import annotations

import numbers

from learnres.autograd.grad_mode import no_grad
from learnres.backend import asnumpy, device_of, get_array_module, to_device
from learnres.optim.flat import update_groups

__all__ = ["SGD"]

_HYPER = ("lr", "momentum", "dampening", "weight_decay", "nesterov")


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"SGD: {name} must be a real number, got {value!r} ({type(value).__name__})"
        )
    value = float(value)  # a Python float: never promotes a float32 array
    if not value >= 0.0:  # also rejects nan
        raise ValueError(f"SGD: {name} must be >= 0, got {value}")
    return value


class SGD:
    """SGD with momentum, dampening, Nesterov momentum and L2 weight decay (torch's formula).

    Arguments:
        params: an iterable of parameters (tensors with ``.data`` and ``.grad`` arrays), or
            of dicts ``{"params": [...], "lr": ...}`` (parameter groups with their own
            hyper-parameters, as in PyTorch).
        lr: learning rate (the paper: 0.1, divided by 10 at 32k and 48k iterations).
        momentum: the factor mu of buf = mu * buf + (1 - dampening) * d_p (paper: 0.9).
        weight_decay: the L2 factor lambda added to the gradient as lambda * p (paper: 1e-4).
        nesterov: use d_p + mu * buf instead of buf (needs momentum > 0 and dampening 0).
        dampening: scales the new gradient inside the momentum buffer.

    ``param_groups`` is a list of dicts (``"params"``, ``"lr"``, ``"momentum"``, ...);
    a schedule sets ``group["lr"]``. ``state[i]["momentum_buffer"]`` holds the buffer of
    the i-th parameter (counted over all groups), created on its first update.
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
    ):
        defaults = {
            "lr": _as_float("lr", lr),
            "momentum": _as_float("momentum", momentum),
            "dampening": _as_float("dampening", dampening),
            "weight_decay": _as_float("weight_decay", weight_decay),
            "nesterov": bool(nesterov),
        }
        params = list(params)
        if not params:
            raise ValueError("SGD got an empty parameter list: nothing to optimise")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        for group in groups:
            self.add_param_group(group, defaults)
        self.state: dict[int, dict] = {}
        self.layouts = None  # each group's flat buffers (learnres.optim.flat), from step 1 on

    def add_param_group(self, group: dict, defaults: dict | None = None) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones: defaults)."""
        defaults = defaults if defaults is not None else self.param_groups[0]
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if hasattr(params, "data") else list(params)
        for p in group["params"]:
            if not hasattr(p, "data") or not hasattr(p, "grad"):
                raise TypeError(
                    f"SGD: expected parameters (tensors with .data and .grad), got "
                    f"{type(p).__name__}"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("SGD: a parameter appears in more than one parameter group")
        for key in _HYPER:
            value = group.get(key, defaults[key])
            group[key] = bool(value) if key == "nesterov" else _as_float(key, value)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )
        self.param_groups.append(group)

    def _indexed(self):
        """(index over all groups, group, parameter) in order: the keys of ``state``."""
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                yield i, group, p
                i += 1

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (None, as PyTorch's default; or zeros in place)."""
        for _, _, p in self._indexed():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def step(self) -> None:
        """One update of every parameter that has a gradient (the others are skipped).

        ``update_groups`` (learnres.optim.flat) updates the groups whose parameters and
        gradients lie in flat buffers as a whole, with ``_update``'s arithmetic; the other
        parameters are updated here, one by one.
        """
        with no_grad():
            done = update_groups(self)  # the ids of the parameters it updated
            for i, group, p in self._indexed():
                if p.grad is None or id(p) in done:
                    continue
                self._update(i, group, p)

    def _update(self, i: int, group: dict, p) -> None:
        lr, mu = group["lr"], group["momentum"]
        wd, damp = group["weight_decay"], group["dampening"]
        d_p = p.grad
        if d_p.shape != p.data.shape:
            raise ValueError(
                f"SGD: parameter {i} has shape {p.data.shape} but its gradient has shape "
                f"{d_p.shape}"
            )
        if wd != 0:
            d_p = d_p + wd * p.data  # a new array: p.grad is left as backward wrote it
        if mu != 0:
            state = self.state.setdefault(i, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d_p.copy()
            else:
                buf *= mu
                buf += (1.0 - damp) * d_p
            d_p = d_p + mu * buf if group["nesterov"] else buf
        p.data -= lr * d_p  # in place: p.data keeps its identity

    # ---- state -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {i: {"momentum_buffer": array}}, "param_groups": [...]}`` (torch's layout).

        Buffers are NumPy arrays (copied from the GPU); ``"params"`` in each group lists the
        parameter indices, not the tensors.
        """
        groups, i = [], 0
        for group in self.param_groups:
            n = len(group["params"])
            entry = {key: group[key] for key in _HYPER}
            entry["params"] = list(range(i, i + n))
            groups.append(entry)
            i += n
        state = {
            i: {key: asnumpy(value).copy() for key, value in s.items()}
            for i, s in sorted(self.state.items())
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and momentum buffers saved by ``state_dict()``.

        The buffers move to each parameter's device and dtype. Raises ValueError when the
        saved groups do not match this optimiser's parameters (count or shapes).
        """
        groups = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in self.param_groups]
        saved = [len(g["params"]) for g in groups]
        if sizes != saved:
            raise ValueError(
                f"SGD.load_state_dict: saved groups hold {saved} parameters, this optimiser's "
                f"hold {sizes}"
            )
        params = {i: p for i, _, p in self._indexed()}
        new_state = {}
        for key, s in state_dict["state"].items():
            i = int(key)
            if i not in params:
                raise ValueError(f"SGD.load_state_dict: state for parameter {i}, which is absent")
            p = params[i]
            new_state[i] = {}
            for name, value in s.items():
                if tuple(value.shape) != tuple(p.data.shape):
                    raise ValueError(
                        f"SGD.load_state_dict: {name} of parameter {i} has shape "
                        f"{tuple(value.shape)}, the parameter has shape {tuple(p.data.shape)}"
                    )
                xp = get_array_module(p.data)
                value = to_device(value, device_of(p.data))
                new_state[i][name] = xp.array(value, dtype=p.data.dtype, copy=True)
        for group, saved_group in zip(self.param_groups, groups):
            for key in _HYPER:
                if key in saved_group:
                    value = saved_group[key]
                    group[key] = bool(value) if key == "nesterov" else float(value)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            settings = ", ".join(f"{key}={group[key]}" for key in _HYPER)
            lines.append(f"  group {k}: {len(group['params'])} parameters, {settings}")
        return "\n".join(lines) + "\n)"
