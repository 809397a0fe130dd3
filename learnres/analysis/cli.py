"""``learnres summary MODEL``: print a model's layers, output shapes, parameters and
mult-adds (see ``learnres.analysis.summary``).

    learnres summary resnet50                        # 224x224, the paper's layout
    learnres summary resnet50 --stride-in-3x3        # torchvision's layout (4.1 GFLOPs)
    learnres summary resnet110 --max-depth 1
    learnres summary resnet20 --input-shape 3 64 64 --shortcut B
    learnres summary vgg19 --max-depth 1             # Fig. 3: 19.6 G mult-adds
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        help="a model name, e.g. resnet20, resnet50, plain34, vgg19, resnet18-cifar "
        "(learnres.models.list_models())",
    )
    parser.add_argument(
        "--input-shape",
        type=int,
        nargs="+",
        metavar="N",
        help="C H W of one input (default: the paper's, 3 32 32 for CIFAR "
        "models, 3 224 224 for ImageNet ones)",
    )
    parser.add_argument(
        "--max-depth",
        type=int,
        default=3,
        help="deepest rows to print (0: the model only; default 3)",
    )
    parser.add_argument("--shortcut", choices=["A", "B", "C"], help="shortcut option (ResNets)")
    parser.add_argument(
        "--stride-in-3x3",
        action="store_true",
        help="bottlenecks stride their 3x3 conv (torchvision) instead of the first 1x1 (the paper)",
    )
    parser.add_argument("--num-classes", type=int, help="outputs of the classifier")


def model_kwargs(args) -> dict:
    """The model options given on the command line (shared with ``learnres check``)."""
    kwargs = {}
    if getattr(args, "shortcut", None):
        kwargs["shortcut"] = args.shortcut
    if getattr(args, "stride_in_3x3", False):
        kwargs["stride_in_1x1"] = False
    if getattr(args, "num_classes", None):
        kwargs["num_classes"] = args.num_classes
    return kwargs


def main(args) -> int:
    import sys

    from learnres.analysis.summary import summary
    from learnres.models import MODELS, canonical_name, get_model

    try:
        model = get_model(args.model, **model_kwargs(args))
    except (ValueError, TypeError) as e:
        print(f"learnres summary: {e}", file=sys.stderr)
        return 2
    key = canonical_name(args.model)
    shape = tuple(args.input_shape) if args.input_shape else MODELS[key].input_shape
    if len(shape) not in (3, 4):
        print(
            f"learnres summary: --input-shape takes C H W (or N C H W), got {shape}",
            file=sys.stderr,
        )
        return 2
    try:
        summary(model, shape, max_depth=args.max_depth)
    except ValueError as e:  # OpError: an input the model cannot take
        print(f"learnres summary: {e}", file=sys.stderr)
        return 2
    return 0
