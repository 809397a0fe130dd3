#!/usr/bin/env bash
# Build the Gradescope autograder zip from this checkout:
#
#     bash exercises/autograder/make_autograder.sh [autograder.zip]
#
# The zip holds setup.sh, run_autograder, a learnres wheel, and exercises/ with the graders,
# conftest.py and pytest.ini (not the stubs, not the solutions).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$(realpath -m "${1:-autograder.zip}")"
python="${PYTHON:-python3}"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
# the wheel is built from a copy, so that setuptools' build/ folder lands there, not in the checkout
mkdir "$stage/src"
cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/learnres" "$stage/src/"
find "$stage/src" -name __pycache__ -prune -exec rm -rf {} +
"$python" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$stage" "$stage/src"
mkdir "$stage/exercises"
cp "$repo/exercises/conftest.py" "$repo/exercises/pytest.ini" "$repo"/exercises/test_ex*.py "$stage/exercises/"
cp "$here/setup.sh" "$here/run_autograder" "$stage/"
chmod +x "$stage/setup.sh" "$stage/run_autograder"
rm -f "$out"
(cd "$stage" && "$python" -m zipfile -c "$out" setup.sh run_autograder learnres-*.whl exercises)
echo "wrote $out:"
"$python" -m zipfile -l "$out"
