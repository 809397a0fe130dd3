#!/usr/bin/env bash
# Build the Gradescope autograder zip from this checkout:
#
#     bash exercises/autograder/make_autograder.sh [path/to/autograder.zip] [--seed N] [--pythons 3.11 3.12]
#
# PYTHON (default python3) must import numpy, pytest and PyTorch (the expected values are
# recorded from learnres's reference and PyTorch); learnres is taken from this checkout. No
# `wheel` or `build` package is needed, and the output's folders are created. What goes into
# the zip and why: learnres/grading/autograder.py; how to try it: exercises/autograder/dry_run.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
out="${1:-autograder.zip}"
shift || true
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m learnres.grading.autograder "$out" "$@"
