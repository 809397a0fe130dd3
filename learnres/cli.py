"""``learnres`` on the command line: one sub-command per job.

Each sub-command lives in its own module, which provides ``add_arguments(parser)`` and
``main(args) -> int``; this file only lists them, so that ``learnres --help`` stays fast
(a module is imported only when its command runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "COMMANDS"]

# name -> (module, one-line help)
COMMANDS = {
    "demo": ("learnres.demo", "build a small graph, backpropagate, check it against PyTorch"),
    "bench": ("learnres.bench", "time learnres ops against PyTorch (ratio of medians)"),
    "check": ("learnres.reference.cli", "compare a model with its PyTorch twin, layer by layer"),
    "summary": ("learnres.analysis.cli", "print a model's layers, parameters and mult-adds"),
    "train": ("learnres.train.cli", "train a model with the paper's CIFAR protocol"),
    "plot": ("learnres.train.plot_cli", "overlay training runs the way Fig. 6 does"),
    "scale": (
        "learnres.reference.ddp",
        "train with PyTorch's DistributedDataParallel under torchrun (N GPUs), and back",
    ),
    "lectures": (
        "learnres.lectures.cli",
        "build the chapters: notebooks, offline slides and HTML; run and time them",
    ),
    "doctor": ("learnres.doctor", "NumPy/CuPy/CUDA versions and known problems"),
    "grade": ("learnres.grading.cli", "grade an exercise (or all) and print the score table"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="learnres", description="Deep Residual Learning, built from an autograd engine up."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _parser()
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}")
        parser.parse_args(argv)
        parser.print_help()
        return 0
    name, rest = argv[0], argv[1:]
    module_name, help_ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            print(f"learnres {name}: not available in this version", file=sys.stderr)
            return 2
        raise
    parser = argparse.ArgumentParser(prog=f"learnres {name}", description=help_)
    module.add_arguments(parser)
    return int(module.main(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    sys.exit(main())
