"""``Sequential``: modules applied one after another, the output of each the input of the next:

    net = Sequential(Conv2d(3, 16, 3, padding=1, bias=False), BatchNorm2d(16), ReLU())
    net[0]  # the Conv2d
    [name for name, _ in net.named_parameters()]  # ['0.weight', '1.weight', '1.bias']

The children are named by position ("0", "1", ...), as in torch, so state_dict keys match.
"""

from __future__ import annotations

from learnres.nn.module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """``Sequential(*modules)`` (children named "0", "1", ...) or ``Sequential(dict)`` (named
    by the dict's keys). Indexable (``net[0]``, ``net[-1]``, ``net[1:3]``), ``len(net)``,
    ``for layer in net``."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = list(modules[0].items())
        else:
            items = [(str(i), module) for i, module in enumerate(modules)]
        for name, module in items:
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential: entry {name} is a {type(module).__name__}, expected a Module"
                )
            self.add_module(name, module)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by its position)."""
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):  # keeps the names, as torch does
            return Sequential(dict(items[index]))
        if not -len(items) <= index < len(items):
            raise IndexError(
                f"index {index} is out of range for a Sequential of length {len(items)}"
            )
        return items[index][1]
