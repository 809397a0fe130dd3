"""The PyTorch reference: twins of learnres models and the gradient-by-gradient comparison.

    from learnres.reference import to_torch, compare
    twin = to_torch(model)                        # same structure, weights and buffers
    from_torch(model, twin)                       # and back: the twin's values, checked
    report = compare(model, x, labels, mode="train")
    print(report)                                 # names the first module that disagrees

Needs PyTorch (the ``reference`` extra). Only the layers above it import it (``bench``,
``grading``; see the table in ``learnres/__init__.py``), and only where they use torch.
"""

try:
    import torch  # noqa: F401
except ModuleNotFoundError as e:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "learnres.reference needs PyTorch: pip install 'learnres[reference]' (or torch)",
        name=e.name,
    ) from e

from learnres.reference.check import ModuleError, Report, TensorError, compare
from learnres.reference.convert import COMPOSITES, LAYERS, register_twin, to_torch
from learnres.reference.from_torch import from_torch

__all__ = [
    "to_torch",
    "from_torch",
    "register_twin",
    "compare",
    "Report",
    "ModuleError",
    "TensorError",
    "LAYERS",
    "COMPOSITES",
]
