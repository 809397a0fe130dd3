"""``learnres plot RUN [RUN ...]``: overlay training runs the way the paper's Fig. 6 does.

    learnres plot runs/plain20 runs/plain56 --out fig6-plain.png --ylim 0 20

Thin lines: training error; bold lines: test error (validation error for runs without a
test evaluation); one colour per run; x axis iterations, y axis error (%).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="run folders written by 'learnres train' (or their metrics.csv)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        default="fig6.png",
        help="image to write (.png, .pdf, .svg; default fig6.png)",
    )
    parser.add_argument(
        "--labels",
        nargs="+",
        metavar="NAME",
        help="legend names, one per run (default: the folder names)",
    )
    parser.add_argument("--title", help="title above the plot")
    parser.add_argument(
        "--ylim",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="error axis range in percent (the paper's Fig. 6: 0 20)",
    )


def main(args: argparse.Namespace) -> int:
    from learnres.train.plot import matplotlib_problem, plot_runs

    problem = matplotlib_problem()
    if problem:
        print(f"learnres plot: error: {problem}", file=sys.stderr)
        return 2
    try:
        plot_runs(args.runs, out=args.out, labels=args.labels, title=args.title, ylim=args.ylim)
    except (FileNotFoundError, ValueError) as e:
        print(f"learnres plot: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {Path(args.out)}")
    return 0
