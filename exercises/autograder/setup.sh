#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, when it builds the autograder
# image. It makes a Python >= 3.11 virtual environment in /autograder/venv and installs
# learnres, NumPy and pytest into it from the wheelhouse beside this file, offline (no index):
# the zip carries every wheel, for Python 3.11 and 3.12 on Linux x86_64. No PyTorch: the
# grader compares with expected values recorded when the zip was built.
#
# AUTOGRADER_ROOT replaces /autograder, AUTOGRADER_BASE_PYTHON the interpreter to build the
# venv from (exercises/autograder/dry_run.sh uses both). Every user must be able to run the
# venv's Python: run_autograder runs the student's code as the user nobody.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/venv"

has_wheels() {  # has_wheels PYTHON: the wheelhouse holds a NumPy wheel for its version
    local tag
    tag="$("$1" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
    compgen -G "wheelhouse/numpy-*-${tag}-*.whl" >/dev/null
}

python="${AUTOGRADER_BASE_PYTHON:-}"
if [ -z "$python" ]; then
    for candidate in python3.11 python3.12 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null &&
            has_wheels "$candidate"; then
            python="$(command -v "$candidate")"
            break
        fi
    done
fi
if [ -z "$python" ]; then
    # The image's Python is older than 3.11 (Gradescope's Ubuntu 22.04 has 3.10), or has no
    # venv module: uv downloads a standalone CPython 3.11, into a folder every user can read.
    apt-get update -q && apt-get install -y -q curl ca-certificates
    curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR=/usr/local/bin sh
    export UV_PYTHON_INSTALL_DIR=/opt/uv-python
    uv python install 3.11
    python="$(uv python find 3.11)"
    chmod -R a+rX /opt/uv-python
fi
"$python" -m venv "$VENV"
# offline, from the wheelhouse only (no index, no pip configuration of this machine)
PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip install --quiet --no-index \
    --find-links wheelhouse learnres pytest pytest-timeout
"$VENV/bin/python" -c 'import learnres, numpy, pytest; print("learnres", learnres.__version__, "numpy", numpy.__version__)'
chmod -R a+rX "$VENV"
# the library's wheel would let anyone read its sources here; it is installed now
rm -f wheelhouse/learnres-*.whl
