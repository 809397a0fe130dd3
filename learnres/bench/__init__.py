"""``learnres bench``: how fast learnres is, measured against PyTorch in the same process.

    learnres bench                       # --suite ops: ResNet-20's convs, batch norm, ReLU
    learnres bench --suite step          # a whole training step (learnres.bench.step)
    learnres bench --suite engine        # per-op overhead and error table (learnres.bench.engine)
    learnres bench --quick --batch-size 4   # a smoke test

Timings alternate learnres and torch run by run and report medians and the ratio of the
medians, which a busy machine disturbs far less than either time alone.

A suite module provides its rows: ``learnres.bench.step.add_step_rows(args)`` returns a list
of ``learnres.bench.ops.Row`` (printed here as a table) or prints its own report.
"""

from __future__ import annotations

import importlib

__all__ = ["add_arguments", "main"]

SUITES = {
    "ops": "learnres.bench.ops",
    "step": "learnres.bench.step",
    "engine": "learnres.bench.engine",
}


def add_arguments(parser) -> None:
    parser.add_argument(
        "--suite", choices=list(SUITES), default="ops", help="what to time (default: ops)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=128, help="images per batch (default: 128)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs per case (default: 20; 3 with --quick)",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--depths",
        type=int,
        nargs="+",
        default=None,
        help="--suite step: the ResNet depths to time (default: 20 56)",
    )
    parser.add_argument(
        "--csv", default=None, help="--suite step: also write the table to this CSV file"
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for learnres's convolutions and torch (default: learnres's)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="--suite step: split learnres's batch over N processes (learnres.data_parallel; "
        "each with cores / N threads); default 1",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time (default) or process CPU time (steadier on a busy machine; "
        "use with --threads 1)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="few repeats, no memory probe: a smoke test for CI"
    )
    parser.add_argument(
        "--no-memory", dest="memory", action="store_false", help="skip the peak-memory probe"
    )


def main(args) -> int:
    if args.quick:
        args.memory = False
    if args.suite == "ops":
        from learnres.bench.ops import run

        return run(args)
    try:
        module = importlib.import_module(SUITES[args.suite])
    except ModuleNotFoundError as e:
        if e.name == SUITES[args.suite]:
            print(
                f"learnres bench: --suite {args.suite} is not available in this version "
                f"({e.name} is missing)"
            )
            return 2
        raise
    if args.suite == "engine":
        module.print_engine_report()
        return 0
    rows = module.add_step_rows(args)
    if rows:
        from learnres.bench.ops import print_table

        print_table(rows)
    return 0
