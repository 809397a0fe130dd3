#!/usr/bin/env bash
# One command per job, each doing all set-up first (idempotent, fast when already done):
#   bash run.sh main    the main job (see README)
#   bash run.sh test    the whole test suite
# Set-up: a virtual environment in .venv with PyTorch 2.13.0 (CPU build; installed first,
# exactly as `pip install torch==2.13.0`, so no other torch requirement pulls CUDA
# packages), then learnres with its test, notebook and reference extras; and, for the slide
# tests, Debian's chromium (when root with apt-get; the tests skip without it).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=${LEARNRES_VENV:-.venv}

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    # shellcheck disable=SC1091
    . "$VENV/bin/activate"
    local stamp="$VENV/.learnres-setup"
    local want
    want=$(cat pyproject.toml run.sh | sha256sum | cut -c1-16)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        python -m pip install -q --upgrade pip
        python -m pip install -q torch==2.13.0
        python -m pip install -q -e '.[test,notebooks,reference]'
        echo "$want" > "$stamp"
    fi
    if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
}

case "${1:-}" in
    main)
        setup
        shift
        export LEARNRES_DATA_DIR=${LEARNRES_DATA_DIR:-../shared/datasets}
        learnres train --model resnet20 --dataset cifar10 --iterations 200 --out "runs/quickstart-$(date +%Y%m%d-%H%M%S)" "$@"
        ;;
    test)
        setup
        shift
        python -m pytest "$@"
        ;;
    *)
        echo "usage: bash run.sh main|test [extra arguments]" >&2
        exit 2
        ;;
esac
