"""``python -m learnres.lectures`` (and ``learnres lectures``): build and run the chapters.

    notebooks   write chapters/_build/notebooks/NN_name.ipynb (--execute: with outputs)
    slides      write chapters/_build/slides/NN_name.slides.html + assets/: the decks a
                lecturer uses (chapters run in quick mode first, or --executed DIR)
    answers     the instructor's build, chapters/_build/answers/: each chapter run with the
                answers to its questions, as NN_name.answers.ipynb and a deck
    html        write chapters/_build/html/NN_name.html + assets/ (pages, widgets drawn)
    run         execute chapters top to bottom and print each one's time
    check       look at every slide of built decks in headless Chromium (what the tests do)
    screenshot  open a built page in headless Chromium and save a PNG of it

Quick mode (``LEARNRES_QUICK=1``) is the default for executing; ``--full`` runs the sizes a
student sees (long on a CPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(p, execute=True, by_default=False):
        p.add_argument(
            "chapters", nargs="*", metavar="CHAPTER", help="chapter numbers or names (default: all)"
        )
        p.add_argument("--out", type=Path, help="output folder")
        if execute:
            p.add_argument(
                "--execute",
                action="store_true",
                default=by_default,
                help="(the default) run the chapters first and keep their outputs"
                if by_default
                else "run the chapters first and keep their outputs",
            )
        if by_default:
            p.add_argument(
                "--no-execute",
                dest="execute",
                action="store_false",
                help="do not run the chapters: prose and equations, no outputs",
            )
        p.add_argument(
            "--full",
            action="store_true",
            help="execute in full mode (default: quick mode, LEARNRES_QUICK=1)",
        )
        p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")

    common(sub.add_parser("notebooks", help="build .ipynb files from the jupytext sources"))
    for name, what in (
        ("slides", "the lecture decks (reveal.js)"),
        ("answers", "the instructor's notebooks and decks, with answers"),
        ("html", "HTML pages"),
    ):
        p = sub.add_parser(name, help=f"build offline {what} (assets from npm, copied beside)")
        common(p, by_default=name != "html")
        p.add_argument(
            "--executed",
            type=Path,
            metavar="DIR",
            help="take outputs from DIR/NN_name.ipynb (answers: DIR/NN_name.answers.ipynb)",
        )
    p = sub.add_parser("run", help="execute chapters top to bottom and time them")
    common(p, execute=False)
    p.add_argument("--save", type=Path, metavar="DIR", help="also save the executed notebooks")
    p = sub.add_parser("check", help="check every slide of built decks in headless Chromium")
    p.add_argument(
        "decks",
        nargs="+",
        type=Path,
        metavar="DECK",
        help="NN_name.slides.html files, or folders holding them",
    )
    p = sub.add_parser("screenshot", help="screenshot a built page in headless Chromium")
    p.add_argument("page", type=Path)
    p.add_argument("png", type=Path)
    p.add_argument(
        "--slide",
        default=None,
        metavar="H[,V]",
        help="reveal.js slide to show: horizontal index, optionally ,vertical index",
    )
    p.add_argument(
        "--scroll-to",
        default=None,
        metavar="CSS",
        help="scroll the first element matching this CSS selector into view",
    )
    p.add_argument("--size", default="1280x720", help="window size WxH (default 1280x720)")


def main(args) -> int:
    from learnres.lectures import build

    quick = not getattr(args, "full", False)
    if args.action == "notebooks":
        build.build_notebooks(
            args.out, args.chapters, execute=args.execute, quick=quick, timeout=args.timeout
        )
    elif args.action in ("slides", "answers", "html"):
        fn = {
            "slides": build.build_slides,
            "answers": build.build_answers,
            "html": build.build_html,
        }[args.action]
        fn(
            args.out,
            args.chapters,
            execute=args.execute,
            quick=quick,
            timeout=args.timeout,
            executed_dir=args.executed,
        )
    elif args.action == "check":
        return _check(args.decks)
    elif args.action == "run":
        import nbformat

        total = 0.0
        for path in build.chapter_paths(args.chapters):
            run = build.execute_chapter(path, quick=quick, timeout=args.timeout)
            total += run.seconds
            print(
                f"{path.name:32s} {run.seconds:7.1f} s  ({'quick' if quick else 'full'} mode)",
                flush=True,
            )
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                nbformat.write(run.notebook, args.save / f"{path.stem}.ipynb")
        print(f"{'total':32s} {total:7.1f} s")
    elif args.action == "screenshot":
        from learnres.lectures.browser import render

        width, height = (int(v) for v in args.size.lower().split("x"))
        js = None
        if args.slide is not None:
            h, _, v = args.slide.partition(",")
            js = f"Reveal.slide({int(h)}, {int(v or 0)}, 1000)"  # every fragment shown
        elif args.scroll_to:
            js = (
                f"document.querySelector({args.scroll_to!r}).scrollIntoView(); "
                "window.scrollBy(0, -60)"
            )
        page = render(args.page, screenshot=args.png, window=(width, height), before_screenshot=js)
        print(f"wrote {page.screenshot}")
        for key, value in page.evaluate_results.items():
            print(f"  {key}: {value}")
        if page.external_requests:
            print(f"  requests that left the machine: {page.external_requests}")
            return 1
    return 0


def _check(paths) -> int:
    """Check every slide of the decks at ``paths``; print one line per deck and every
    failure; 1 when anything fails."""
    from learnres.lectures.browser import Browser, check_deck

    decks = []
    for path in paths:
        decks += sorted(path.glob("*.slides.html")) if path.is_dir() else [path]
    if not decks:
        print(f"no decks (*.slides.html) in {', '.join(map(str, paths))}")
        return 1
    failures = 0
    with Browser() as browser:
        for deck in decks:
            report = check_deck(browser, deck)
            print(
                f"{deck.name}: {len(report.slides)} slides checked, "
                f"{len(report.failures)} failures",
                flush=True,
            )
            for line in report.failures:
                print("  " + line)
            failures += len(report.failures)
    return 1 if failures else 0


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learnres.lectures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(_main())
