"""The paper's networks: CIFAR-10 ResNets and plain nets (Sec. 4.2), deep MLPs, the
ImageNet ResNets and plain nets of Table 1, and VGG-16/19, which Fig. 3 compares them with.

    from learnres.models import resnet20, get_model
    model = resnet20()                      # option A shortcuts, 0.27M parameters
    model = get_model("resnet50", stride_in_1x1=False)
    model = get_model("resnet18-cifar", num_classes=100)   # CIFAR stem, for 32x32 images

``get_model(name, **kwargs)`` builds any model of ``MODELS`` by name (what the command line
uses); ``MODELS[name].input_shape`` is the (C, H, W) the paper feeds it. Names are matched
without case, "-" or "_" ("ResNet-20", "vgg16_bn"); ``canonical_name`` gives the key.

The "-cifar" models are the ImageNet architectures adapted to 32x32 images, for comparing
plain nets, ResNets and VGG on CIFAR-100: plain-18/34 and ResNet-18/34 with a 3x3, stride-1
first convolution and no max pool (option A shortcuts, as the paper's plain-vs-ResNet
comparison of Table 2), and VGG-16/19 with BN and a single fc layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from learnres.models import cifar, imagenet, vgg
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
    plain18,
    plain34,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from learnres.models.vgg import (
    VGG,
    CifarVGG,
    vgg16,
    vgg16_bn,
    vgg16_cifar,
    vgg19,
    vgg19_bn,
    vgg19_cifar,
)

__all__ = [
    "cifar", "imagenet", "vgg",
    "CifarResNet", "ImageNetResNet", "MLP", "VGG", "CifarVGG",
    "resnet", "plain", "mlp",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
    "plain20", "plain32", "plain44", "plain56", "plain110",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34",
    "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "vgg16_cifar", "vgg19_cifar",
    "from_torchvision_state_dict", "load_torchvision_weights",
    "ModelInfo", "MODELS", "get_model", "list_models", "canonical_name", "normalise_name",
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


def _cifar_stem(build: Callable, shortcut: str | None) -> Callable:
    """``build`` (resnet18, plain34, ...) with the CIFAR stem; option A by default for
    ResNets, so that they have exactly the parameters of their plain partners."""

    def build_cifar(**kwargs):
        if shortcut is not None:
            kwargs.setdefault("shortcut", shortcut)
        return build(stem="cifar", **kwargs)

    build_cifar.__doc__ = f"{build.__name__} with the CIFAR stem (3x3, stride 1, no max pool)"
    return build_cifar


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
    "vgg16": ModelInfo(vgg16, IMAGENET_INPUT, "ImageNet, VGG configuration D"),
    "vgg16-bn": ModelInfo(vgg16_bn, IMAGENET_INPUT, "ImageNet, torchvision's vgg16_bn"),
    "vgg19": ModelInfo(vgg19, IMAGENET_INPUT, "ImageNet, Fig. 3 (VGG configuration E)"),
    "vgg19-bn": ModelInfo(vgg19_bn, IMAGENET_INPUT, "ImageNet, torchvision's vgg19_bn"),
    **{
        f"{kind}{d}-cifar": ModelInfo(
            _cifar_stem(getattr(imagenet, f"{kind}{d}"), "A" if kind == "resnet" else None),
            CIFAR_INPUT,
            "CIFAR-100 comparison, CIFAR stem",
        )
        for kind in ("plain", "resnet")
        for d in (18, 34)
    },
    "vgg16-cifar": ModelInfo(vgg16_cifar, CIFAR_INPUT, "CIFAR-100 comparison, VGG with BN"),
    "vgg19-cifar": ModelInfo(vgg19_cifar, CIFAR_INPUT, "CIFAR-100 comparison, VGG with BN"),
}


def normalise_name(name) -> str:
    """A model or run name as it is matched: lower case, without "-", "_" or spaces
    ("ResNet-56", "resnet_56" and "resnet 56" are all "resnet56")."""
    return re.sub(r"[-_ ]", "", str(name).lower())


def list_models() -> list[str]:
    """The names ``get_model`` knows: CIFAR, ImageNet, the MLPs, VGG, the "-cifar" models."""
    return list(MODELS)


def canonical_name(name: str) -> str:
    """The ``MODELS`` key that ``name`` means, matched without case, "-" or "_"
    ("ResNet-20" -> "resnet20", "vgg16_bn" -> "vgg16-bn"); ValueError listing the valid
    names otherwise."""
    wanted = normalise_name(name)
    for key in MODELS:
        if normalise_name(key) == wanted:
            return key
    raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")


def get_model(name: str, **kwargs):
    """Build the model called ``name`` (see ``list_models()``) with ``kwargs`` passed on
    (``shortcut="B"``, ``num_classes=100``, ``stride_in_1x1=False``, ...)."""
    return MODELS[canonical_name(name)].build(**kwargs)


def from_torchvision_state_dict(state_dict, model=None) -> dict:
    """A torchvision ResNet's or VGG's state dict (NumPy arrays) renamed to learnres's keys
    (ResNet: ``layer1`` -> ``conv2_x``, ``downsample`` -> ``shortcut``; VGG: ``features.i``
    -> ``convK.j`` / ``poolK``, ``classifier.0/3/6`` -> ``fc6/fc7/fc8``), checked against
    ``model`` when given (a VGG needs it: its renaming depends on the layout)."""
    if isinstance(model, VGG) or any(str(k).startswith("features.") for k in state_dict):
        return vgg.from_torchvision_state_dict(state_dict, model)
    return imagenet.from_torchvision_state_dict(state_dict, model)


def load_torchvision_weights(model, state_dict):
    """Load a torchvision ResNet or VGG state dict (NumPy arrays) into ``model``."""
    if isinstance(model, VGG):
        return vgg.load_torchvision_weights(model, state_dict)
    return imagenet.load_torchvision_weights(model, state_dict)
