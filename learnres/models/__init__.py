"""The paper's networks: CIFAR-10 ResNets and plain nets (Sec. 4.2), deep MLPs, and the
ImageNet ResNets and plain nets of Table 1.

    from learnres.models import resnet20, get_model
    model = resnet20()                      # option A shortcuts, 0.27M parameters
    model = get_model("resnet50", stride_in_1x1=False)

``get_model(name, **kwargs)`` builds any model of ``MODELS`` by name (what the command line
uses); ``MODELS[name].input_shape`` is the (C, H, W) the paper feeds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from learnres.models import cifar, imagenet
from learnres.models.cifar import (
    MLP,
    CifarResNet,
    mlp,
    plain,
    plain20,
    plain32,
    plain44,
    plain56,
    plain110,
    resnet,
    resnet20,
    resnet32,
    resnet44,
    resnet56,
    resnet110,
    resnet1202,
)
from learnres.models.imagenet import (
    ImageNetResNet,
    from_torchvision_state_dict,
    load_torchvision_weights,
    plain18,
    plain34,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)

__all__ = [
    "cifar", "imagenet",
    "CifarResNet", "ImageNetResNet", "MLP",
    "resnet", "plain", "mlp",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
    "plain20", "plain32", "plain44", "plain56", "plain110",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34",
    "from_torchvision_state_dict", "load_torchvision_weights",
    "ModelInfo", "MODELS", "get_model", "list_models",
]  # fmt: skip

CIFAR_INPUT = (3, 32, 32)
IMAGENET_INPUT = (3, 224, 224)


@dataclass(frozen=True)
class ModelInfo:
    """A named model: how to build it, the (C, H, W) input it is made for, and its origin."""

    build: Callable
    input_shape: tuple
    source: str


def _mlp(depth: int, residual: bool) -> Callable:
    def build(width: int = 256, **kwargs):
        return mlp(depth, width, residual=residual, **kwargs)

    build.__doc__ = f"{'residual' if residual else 'plain'} MLP of {depth} layers (width 256)"
    return build


MODELS: dict[str, ModelInfo] = {
    **{
        f"resnet{d}": ModelInfo(getattr(cifar, f"resnet{d}"), CIFAR_INPUT, "CIFAR-10, Table 6")
        for d in (20, 32, 44, 56, 110, 1202)
    },
    **{
        f"plain{d}": ModelInfo(getattr(cifar, f"plain{d}"), CIFAR_INPUT, "CIFAR-10, Fig. 6")
        for d in (20, 32, 44, 56, 110)
    },
    **{
        f"resnet{d}": ModelInfo(
            getattr(imagenet, f"resnet{d}"), IMAGENET_INPUT, "ImageNet, Table 1"
        )
        for d in (18, 34, 50, 101, 152)
    },
    **{
        f"plain{d}": ModelInfo(getattr(imagenet, f"plain{d}"), IMAGENET_INPUT, "ImageNet, Table 2")
        for d in (18, 34)
    },
    **{
        f"mlp{d}": ModelInfo(_mlp(d, False), CIFAR_INPUT, "fully connected, degradation")
        for d in (20, 56)
    },
    **{
        f"resmlp{d}": ModelInfo(_mlp(d, True), CIFAR_INPUT, "fully connected, degradation")
        for d in (20, 56)
    },
}


def list_models() -> list[str]:
    """The names ``get_model`` knows, CIFAR first, then ImageNet, then the MLPs."""
    return list(MODELS)


def get_model(name: str, **kwargs):
    """Build the model called ``name`` (see ``list_models()``) with ``kwargs`` passed on
    (``shortcut="B"``, ``num_classes=100``, ``stride_in_1x1=False``, ...)."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[key].build(**kwargs)
