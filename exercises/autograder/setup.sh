#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, when it builds the autograder
# image. It makes a Python >= 3.11 virtual environment in /autograder/venv with PyTorch (CPU)
# and learnres (the wheel make_autograder.sh put beside this file).
set -euo pipefail
cd "$(dirname "$0")"
VENV=/autograder/venv

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        python="$candidate"
        break
    fi
done

if [ -n "$python" ] && "$python" -m venv "$VENV" 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
else
    # The base image's Python is older than 3.11 (Ubuntu 22.04 has 3.10), or has no venv
    # module: uv downloads a standalone CPython 3.11.
    apt-get update -q && apt-get install -y -q curl ca-certificates
    curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR=/usr/local/bin sh
    uv venv --seed --python 3.11 "$VENV"
fi

# PyTorch first, from its CPU index: the default wheel on PyPI brings CUDA (gigabytes)
"$VENV/bin/python" -m pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
# then learnres and the test runner
"$VENV/bin/python" -m pip install --quiet ./learnres-*.whl pytest pytest-timeout
"$VENV/bin/python" -c 'import learnres, torch; print("learnres", learnres.__version__, "torch", torch.__version__)'
