"""``from_torch(model, twin)``: the way back from PyTorch, the inverse of ``to_torch``.

A learnres model sent to PyTorch with ``to_torch`` (to train it with PyTorch's tools, for
example under ``torchrun`` on several GPUs: ``learnres.reference.ddp``) comes back with

    twin = to_torch(model)              # learnres -> torch: same keys, same values
    ...                                 # train the twin with PyTorch
    from_torch(model, twin)             # torch -> learnres: the twin's values, copied in

after which the learnres model computes what the twin computes, and everything of learnres
(``learnres.lectures.probe`` for Fig. 7, ``summary``, checkpoints) works on it.

The copy is all-or-nothing. Every key, shape and dtype is checked before anything is
written; one error lists every problem, each naming the key, what the model expected and
what came; when it raises, the learnres model is exactly as it was. Values are copied (the
two models share no memory afterwards) onto the device of the learnres model's arrays.

dtypes must match as they are: a float32 model takes float32 tensors (cast the twin with
``twin.float()`` / ``twin.double()``, or the model with ``model.double()``, first). A
silent cast could hide a twin trained in another precision than the one you meant.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from learnres.nn.module import Module
from learnres.reference.convert import single_threaded

__all__ = ["from_torch", "torch_state_as_numpy", "DDP_PREFIX"]

DDP_PREFIX = "module."  # DistributedDataParallel(model).state_dict() keys: "module.conv1.weight"


def _unwrap(source):
    """A torch module's own state dict, or the mapping given; ``DistributedDataParallel``
    and ``DataParallel`` wrappers are looked through."""
    if isinstance(source, nn.Module):
        while isinstance(source, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            source = source.module
        return source.state_dict()
    if isinstance(source, Mapping):
        return source
    raise TypeError(
        "from_torch expects a torch.nn.Module or a state dict (a mapping of names to "
        f"tensors or arrays), got {type(source).__name__}"
    )


def _strip_ddp_prefix(state: Mapping, own: Mapping) -> Mapping:
    """Keys saved from a DDP-wrapped model all start with ``module.``; drop it when every
    key has it and the learnres model has no such key (torch's
    ``consume_prefix_in_state_dict_if_present`` does the same)."""
    if (
        state
        and all(k.startswith(DDP_PREFIX) for k in state)
        and not any(k.startswith(DDP_PREFIX) for k in own)
    ):
        return {k[len(DDP_PREFIX) :]: v for k, v in state.items()}
    return state


def _describe(dtype, shape) -> str:
    return f"{np.dtype(dtype).name} {tuple(shape)}"


def torch_state_as_numpy(source) -> dict:
    """``{key: NumPy array}`` of a torch module (wrappers looked through) or state dict:
    copies on the CPU, dtypes kept (float32 stays float32, int64 stays int64).

    Raises TypeError naming the key for a value that has no NumPy dtype (e.g. bfloat16).
    """
    out = {}
    for key, value in _unwrap(source).items():
        if isinstance(value, torch.Tensor):
            try:
                value = value.detach().to("cpu", copy=True).numpy()
            except TypeError as e:  # bfloat16 and other dtypes NumPy lacks
                raise TypeError(
                    f"{key}: torch dtype {value.dtype} has no NumPy equivalent; cast the "
                    "twin first (twin.float())"
                ) from e
        out[key] = np.array(value)  # a copy; plain Python numbers become 0-d arrays
    return out


def from_torch(model: Module, source) -> Module:
    """Copy a torch twin's parameters and buffers into the learnres ``model``; return it.

    Arguments:
        model: the learnres model whose twin ``source`` is (same structure: the keys of
            ``to_torch(model).state_dict()``). Its modes (train/eval) are left as they are.
        source: the twin (a ``torch.nn.Module``; a ``DistributedDataParallel`` wrapper is
            looked through), or its ``state_dict()`` (tensors or NumPy arrays; a DDP
            state dict's ``module.`` prefix is dropped).

    Returns:
        ``model``, now holding the twin's values: for every key ``k``,
        ``model.state_dict()[k] == source.state_dict()[k]`` exactly.

    Raises:
        ValueError: keys missing or unexpected, or a shape or dtype that differs; every
            problem is listed (key, expected, came) and nothing was copied.
        TypeError: ``source`` is neither a module nor a mapping, or holds a dtype NumPy
            lacks.
    """
    own = model.state_dict()
    with single_threaded():
        state = _strip_ddp_prefix(torch_state_as_numpy(source), own)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    problems = [
        f"missing {k}: expected {_describe(own[k].dtype, own[k].shape)}, came nothing"
        for k in missing
    ]
    problems += [
        f"unexpected {k}: expected nothing, came {_describe(state[k].dtype, state[k].shape)}"
        for k in unexpected
    ]
    for key, target in own.items():
        if key not in state:
            continue
        value = state[key]
        if value.shape != tuple(target.shape) or value.dtype != target.dtype:
            problems.append(
                f"{key}: expected {_describe(target.dtype, target.shape)}, "
                f"came {_describe(value.dtype, value.shape)}"
            )
    if problems:
        raise ValueError(
            f"from_torch: the torch state does not fit this {type(model).__name__} "
            f"({len(problems)} problem(s); nothing was copied):\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(state, strict=True)  # checked above: every copy succeeds
    return model
