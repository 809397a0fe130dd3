"""``Module``: the base class of every layer and model, shaped like ``torch.nn.Module``.

A Module keeps three ordered registries, filled by plain attribute assignment in
``__init__``:

* parameters (``self.weight = Parameter(w)``): learnable Tensors, found by ``parameters()``;
* buffers (``self.register_buffer("running_mean", array)``): plain NumPy/CuPy arrays that
  are state but not learned (BatchNorm's running statistics);
* submodules (``self.conv1 = Conv2d(...)``): Modules nested inside this one.

Everything else follows from walking these registries in the order they were filled:
dotted names (``conv1.weight``, ``0.bias``), ``state_dict()`` (per module its parameters,
then its buffers, then its submodules, exactly torch's order), ``train()``/``eval()``,
``to(device)``, ``double()`` and the nested ``repr``.

    class TwoLayer(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(784, 100)
            self.fc2 = Linear(100, 10)

        def forward(self, x):
            return self.fc2(relu(self.fc1(x)))

    model = TwoLayer()
    [name for name, _ in model.named_parameters()]
    # ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from learnres.autograd.tensor import Tensor
from learnres.backend import device_of, get_array_module, to_device
from learnres.nn.parameter import Parameter

__all__ = ["Module", "IncompatibleKeys", "RemovableHandle"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``remove()`` takes the hook off (once or
    many times); as a context manager it removes the hook when the block ends."""

    _next_id = 0

    def __init__(self, hooks: dict, hook):
        self.hooks, self.id = hooks, RemovableHandle._next_id
        RemovableHandle._next_id += 1
        hooks[self.id] = hook

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _is_array(value) -> bool:
    return isinstance(value, get_array_module(value).ndarray)


def _whole(array) -> bool:
    """Every value of a floating-point array is a finite whole number (3.0, not 3.5 or NaN)."""
    xp = get_array_module(array)
    return bool(xp.all(xp.isfinite(array) & (xp.floor(array) == array)))


def _as_array(value):
    """A state-dict value as an array: a Tensor's data, an array as it is, anything else
    (a torch tensor, a list) through ``np.asarray``."""
    value = value.data if isinstance(value, Tensor) else value
    return value if _is_array(value) else np.asarray(value)


def _some(keys: list, limit: int = 10) -> str:
    """The first ``limit`` keys, and how many there are when that is not all of them."""
    more = f", ... ({len(keys)} in all)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


class Module:
    """Base class of layers and models: subclass it, assign parts in ``__init__`` (after
    ``super().__init__()``), and write ``forward``. Call the module, not ``forward``."""

    training: bool

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these dicts to exist
        object.__setattr__(self, "_parameters", {})  # name -> Parameter or None
        object.__setattr__(self, "_buffers", {})  # name -> array or None
        object.__setattr__(self, "_modules", {})  # name -> Module or None
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", {})  # id -> hook(module, args)
        object.__setattr__(self, "_forward_hooks", {})  # id -> hook(module, args, output)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        pre_hooks = self.__dict__.get("_forward_pre_hooks")  # {} until a hook is registered
        hooks = self.__dict__.get("_forward_hooks")
        for hook in list(pre_hooks.values()) if pre_hooks else ():
            changed = hook(self, args)
            if changed is not None:  # a pre-hook may hand forward other inputs
                args = changed if isinstance(changed, tuple) else (changed,)
        output = self.forward(*args, **kwargs)
        for hook in list(hooks.values()) if hooks else ():
            changed = hook(self, args, output)
            if changed is not None:  # a hook may replace the output
                output = changed
        return output

    # ---- hooks (torch's semantics) -------------------------------------------------------
    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``; if it returns something,
        that (a tuple, or one value) is what ``forward`` gets. ``.remove()`` the handle
        (or use it in a ``with``) to take the hook off again."""
        return RemovableHandle(self.__dict__.setdefault("_forward_pre_hooks", {}), hook)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``; if it returns
        something, that replaces the output. Returns a handle with ``.remove()``."""
        return RemovableHandle(self.__dict__.setdefault("_forward_hooks", {}), hook)

    # ---- registration --------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__ and isinstance(value, (Parameter, Module)):
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__(): "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        if isinstance(value, Parameter):
            self._register(self._parameters, name, value)
        elif isinstance(value, Module):
            self._register(self._modules, name, value)
        elif name in self.__dict__.get("_parameters", ()):
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to parameter {name!r} of "
                    f"{type(self).__name__}: expected a Parameter or None"
                )
            self._parameters[name] = None
        elif name in self.__dict__.get("_modules", ()):
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} to submodule {name!r} of "
                    f"{type(self).__name__}: expected a Module or None"
                )
            self._modules[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            self.register_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def _register(self, registry: dict, name: str, value) -> None:
        """Put ``value`` into ``registry`` (keeping its place when ``name`` is already there)
        and out of the other registries and the plain attributes."""
        for other in (self.__dict__, self._parameters, self._buffers, self._modules):
            if other is not registry:
                other.pop(name, None)
        registry[name] = value

    def __getattr__(self, name: str):
        # Only called when normal lookup fails, i.e. for registered names.
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry, {})
            if name in found:
                return found[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[registry]:
                del self.__dict__[registry][name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name``; None reserves the name (e.g. ``bias=False``)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter({name!r}): expected a Parameter or None, "
                f"got {type(param).__name__}"
            )
        self._register(self._parameters, name, param)

    def register_buffer(self, name: str, array) -> None:
        """Register a plain array (state that is saved but not learned) under ``name``."""
        if array is not None and not _is_array(array):
            raise TypeError(
                f"buffer {name!r} of {type(self).__name__} must be a NumPy/CuPy "
                f"array or None, got {type(array).__name__}"
            )
        self._register(self._buffers, name, array)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` under ``name`` (for names that are not identifiers: "0")."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        self._register(self._modules, name, module)

    # ---- walking the tree ----------------------------------------------------------------
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted name, module)`` for this module and every submodule, depth first
        in registration order; this module itself comes first with name ``prefix``."""
        seen = set()
        stack = [(prefix, self)]
        while stack:  # a loop rather than recursion, like the graph walk
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [(_join(name, n), m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))  # reversed: the first child is popped first

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        """Yield ``(name, module)`` for the direct submodules."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """Yield ``(dotted name, Parameter)``; a parameter shared by two modules comes once."""
        seen = set()
        walk = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in walk:
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield _join(module_name, name), param

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        """Yield ``(dotted name, array)`` for every buffer."""
        seen = set()
        walk = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in walk:
            for name, array in module._buffers.items():
                if array is not None and id(array) not in seen:
                    seen.add(id(array))
                    yield _join(module_name, name), array

    def buffers(self, recurse: bool = True):
        for _, array in self.named_buffers(recurse=recurse):
            yield array

    def num_parameters(self) -> int:
        """The number of learnable scalars (what the paper's tables count)."""
        return sum(int(p.size) for p in self.parameters())

    @property
    def dtype(self):
        """The dtype of the first parameter (what ``.double()``/``.float()`` set), or None
        for a module without parameters."""
        return next((p.data.dtype for p in self.parameters()), None)

    @property
    def device(self) -> str:
        """Where the first parameter lives (what ``.to(...)`` set): "cpu" or "cuda", as
        ``learnres.backend.device_of`` says; "cpu" for a module without parameters."""
        return next((device_of(p.data) for p in self.parameters()), "cpu")

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every submodule and then on this one (e.g. to initialise)."""
        for module in reversed(list(self.modules())):  # children before parents, as torch
            fn(module)
        return self

    # ---- modes, devices, dtypes ----------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode for this module and every submodule (BatchNorm uses batch stats)."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode) expects a bool, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode (BatchNorm uses its running statistics); same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None, as torch does by default)."""
        for param in self.parameters():
            param.grad = None

    def _apply(self, fn) -> Module:
        """Replace every parameter's data and gradient and every buffer by ``fn(array)``.

        The Parameter objects stay the same, so an optimizer built before still holds them."""
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None:
                    param.data = fn(param.data)
                    if param.grad is not None:
                        param.grad = fn(param.grad)
            for name, array in module._buffers.items():
                if array is not None:
                    module._buffers[name] = fn(array)
        return self

    def to(self, device: str) -> Module:
        """Move parameters, gradients and buffers to "cpu" or "cuda" (in place); returns self."""
        return self._apply(lambda a: to_device(a, device))

    def double(self) -> Module:
        """Cast floating-point parameters and buffers to float64 (in place); returns self."""
        return self._apply(lambda a: a.astype(np.float64) if a.dtype.kind == "f" else a)

    def float(self) -> Module:
        """Cast floating-point parameters and buffers to float32 (in place); returns self."""
        return self._apply(lambda a: a.astype(np.float32) if a.dtype.kind == "f" else a)

    # ---- saving and loading --------------------------------------------------------------
    def state_dict(self) -> OrderedDict:
        """``OrderedDict`` of dotted name -> array: for each module (depth first), its
        parameters, then its buffers, in registration order (torch's keys and order).

        The arrays are the module's own, not copies (as in torch): copy them to keep a
        snapshot that later training steps do not change.
        """
        state = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            for name, param in module._parameters.items():
                if param is not None:
                    state[_join(module_name, name)] = param.data
            for name, array in module._buffers.items():
                if array is not None:
                    state[_join(module_name, name)] = array
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy the values of ``state_dict`` (name -> array, e.g. from ``state_dict()``, an
        ``.npz`` file or a torch model converted with ``.numpy()``) into this module.

        Each value is copied into the existing array, keeping its dtype and device. All or
        nothing: every key and value is checked first (``state_dict_problems``) and one
        error lists all the problems; when it raises, nothing has changed.

        Raises:
            TypeError: ``state_dict`` is not a mapping (a list, say).
            RuntimeError: the problems ``state_dict_problems`` finds.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)`` (empty lists when strict).
        """
        problems = self.state_dict_problems(state_dict, strict)
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                + "\n  ".join(problems)
            )
        own = self.state_dict()
        converted = {}  # every value on its target's device and in its dtype, before any copy
        for key, target in own.items():
            if key in state_dict:
                value = to_device(_as_array(state_dict[key]), device_of(target))
                converted[key] = get_array_module(target).asarray(value, dtype=target.dtype)
        for key, value in converted.items():  # nothing can fail from here on
            own[key][...] = value
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        return IncompatibleKeys(missing, unexpected)

    def state_dict_problems(self, state_dict, strict: bool = True) -> list[str]:
        """What keeps ``state_dict`` from loading into this module, one line per problem
        (an empty list: it fits): keys the module has but the dict lacks (missing), keys the
        module does not have (unexpected; both only with ``strict``), shape mismatches, and
        values that are not numeric arrays (object arrays such as ``np.array([None])``,
        strings, complex numbers) or would lose their value (fractions into an integer
        buffer). ``load_state_dict`` raises with these lines; nothing is changed here.

        Raises:
            TypeError: ``state_dict`` is not a mapping (a list, say).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{type(self).__name__}.load_state_dict expects a mapping of name -> array "
                f"(such as model.state_dict()), got {type(state_dict).__name__}"
            )
        own = self.state_dict()
        missing = [key for key in own if key not in state_dict]
        unexpected = [str(key) for key in state_dict if key not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing key(s): {_some(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected key(s): {_some(unexpected)}")
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _as_array(state_dict[key])
            got = tuple(value.shape)
            if value.dtype.kind not in "biuf":
                problems.append(f"{key}: expected a numeric array, got dtype {value.dtype}")
            elif target.dtype.kind in "biu" and value.dtype.kind == "f" and not _whole(value):
                problems.append(
                    f"{key}: {value.dtype} values that are not whole numbers "
                    f"cannot be copied into the {target.dtype} buffer"
                )
            elif got != target.shape:
                problems.append(
                    f"size mismatch for {key}: expected shape {target.shape}, got {got}"
                )
        return problems

    # ---- printing ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its parentheses; override in layers."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        if not self._modules:  # a leaf: one line, Conv2d(3, 16, kernel_size=3, stride=1)
            return f"{type(self).__name__}({extra})"
        lines = extra.split("\n") if extra else []
        lines += [f"({name}): {_indent(repr(m))}" for name, m in self._modules.items()]
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
