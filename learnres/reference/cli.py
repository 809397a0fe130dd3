"""``learnres check MODEL``: compare a learnres model with its PyTorch twin, layer by layer,
and print where they first disagree (``learnres.reference.compare``). Exit code 0 when
they agree, 1 on a mismatch, 2 on bad arguments.

    learnres check resnet20                          # train mode, batch 2, 32x32
    learnres check resnet50 --mode eval --input-size 64
    learnres check resnet20 --plant bn-backward      # watch it find a planted bug
"""

from __future__ import annotations

import argparse
import sys

from learnres.analysis.cli import model_kwargs

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model name, e.g. resnet20, plain56, resnet50, vgg16")
    parser.add_argument("--batch-size", type=int, default=2, help="default 2")
    parser.add_argument("--mode", choices=["train", "eval"], default="train")
    parser.add_argument(
        "--input-size",
        type=int,
        help="H = W of the random input (default 32 for CIFAR models, 64 for ImageNet ones)",
    )
    parser.add_argument("--seed", type=int, default=0, help="for the weights, input and labels")
    parser.add_argument("--rtol", type=float, help="tolerance (default 1e-10, float64)")
    parser.add_argument("--shortcut", choices=["A", "B", "C"], help="shortcut option (ResNets)")
    parser.add_argument(
        "--stride-in-3x3",
        action="store_true",
        help="bottlenecks stride their 3x3 conv (torchvision's layout)",
    )
    parser.add_argument("--num-classes", type=int, help="outputs of the classifier")
    parser.add_argument(
        "--no-trace",
        action="store_true",
        help="end-to-end errors only (less memory; locates less precisely)",
    )
    parser.add_argument("--full", action="store_true", help="print every row of the tables")
    parser.add_argument(
        "--plant",
        choices=["drop-shortcut", "bn-backward", "conv-padding"],
        help="plant a bug in the learnres model first (a demonstration)",
    )


def main(args) -> int:
    import numpy as np

    from learnres.models import MODELS, canonical_name, get_model
    from learnres.nn import init
    from learnres.reference import compare, to_torch
    from learnres.reference.bugs import plant_bug

    init.manual_seed(args.seed)
    try:
        model = get_model(args.model, **model_kwargs(args)).double()
    except (ValueError, TypeError) as e:
        print(f"learnres check: {e}", file=sys.stderr)
        return 2
    channels, default_size, _ = MODELS[canonical_name(args.model)].input_shape
    size = args.input_size or (32 if default_size == 32 else 64)
    if args.batch_size < 1 or size < 1:
        print("learnres check: --batch-size and --input-size must be positive", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch_size, channels, size, size))
    target = rng.integers(0, getattr(model, "num_classes", 10), size=args.batch_size)
    twin = to_torch(model, dtype=np.float64)  # before any planted bug: the right model
    options = {"mode": args.mode, "rtol": args.rtol, "twin": twin, "trace": not args.no_trace}
    if args.plant:
        with plant_bug(model, args.plant) as where:
            print(f"planted bug {args.plant!r} in {where or '(model)'}\n")
            report = compare(model, x, target, **options)
    else:
        report = compare(model, x, target, **options)
    print(report.format(full=args.full))
    return 0 if report.ok else 1
