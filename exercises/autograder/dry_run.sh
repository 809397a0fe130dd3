#!/usr/bin/env bash
# Try an autograder zip on this machine before uploading it to Gradescope:
#
#     bash exercises/autograder/dry_run.sh autograder.zip
#
# It unzips the zip into a stand-in /autograder (a temporary folder), runs its setup.sh there
# (a fresh venv, installed offline from the zip's wheelhouse), then runs its run_autograder on
# two submissions: the untouched stubs, which must score 0, and learnres's reference solution
# (in a subfolder, as students often upload one), which must score full marks. It prints both
# scores and exits 1 if either is off.
#
# PYTHON (default python3) makes the stubs and the solution from this checkout;
# AUTOGRADER_BASE_PYTHON, if set, is the interpreter the venv is made from (it must be one
# every user can run, since the student's code runs as nobody when this runs as root);
# DRY_RUN_KEEP, if set, is an empty folder to work in and keep (learnres's tests reuse it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
zip="$("$python" -c 'import os, sys; print(os.path.abspath(sys.argv[1]))' "${1:?usage: dry_run.sh autograder.zip}")"

if [ -n "${DRY_RUN_KEEP:-}" ]; then
    tmp="$DRY_RUN_KEEP"
    mkdir -p "$tmp"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
fi
chmod 755 "$tmp"
root="$tmp/autograder"
mkdir -p "$root/source" "$root/submission" "$root/results"
"$python" -m zipfile -e "$zip" "$root/source"
chmod +x "$root/source/setup.sh" "$root/source/run_autograder"
chmod -R a+rX "$tmp"

clean_env=(env -u PYTHONPATH -u VIRTUAL_ENV AUTOGRADER_ROOT="$root")
echo "== setup.sh (offline, from the zip's wheelhouse)"
(cd "$root/source" && "${clean_env[@]}" AUTOGRADER_BASE_PYTHON="${AUTOGRADER_BASE_PYTHON:-}" \
    bash setup.sh)

grade() {  # grade LABEL: run_autograder on what is in submission/; prints "score max"
    "${clean_env[@]}" bash "$root/source/run_autograder" >"$tmp/$1.log" 2>&1
    "$python" - "$root/results/results.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
print(results["score"], sum(t["max_score"] for t in results["tests"]))
PY
}

PYTHONPATH="$repo" "$python" -m learnres.grading.exercises "$tmp/stubs" >/dev/null
cp "$tmp"/stubs/ex*.py "$root/submission/"
read -r stub_score total < <(grade stubs)
rm -rf "$root/submission"/*
mkdir -p "$root/submission/my work"
PYTHONPATH="$repo" "$python" -m learnres.grading.exercises --solutions "$root/submission/my work" >/dev/null
read -r reference_score reference_total < <(grade reference)

echo "== $(grep -m1 'your code runs' "$tmp/reference.log" || echo 'grading: (no header)')"
echo "untouched stubs:     $stub_score/$total points"
echo "reference solution:  $reference_score/$reference_total points"
if [ "$stub_score" != 0 ] || [ "$reference_score" != "$reference_total" ] || [ "$total" = 0 ]; then
    echo "dry run FAILED: the stubs must score 0 and the reference full marks; the logs:"
    tail -n 40 "$tmp/stubs.log" "$tmp/reference.log"
    exit 1
fi
echo "dry run passed"
