#!/usr/bin/env bash
# learnres on a real GPU, in one run of at most BUDGET seconds (default 540):
#
#   1. the machine: nvidia-smi, versions, `learnres doctor`;
#   2. `learnres bench --suite step --device cuda --depths 20 56 110`: learnres (CuPy) vs
#      PyTorch (CUDA, cuDNN, true fp32), alternating, ms/step, images/s, peak GPU memory;
#   3. in the background, with --device cuda on the real CIFAR-10 subset: plain-20, plain-56,
#      ResNet-20, ResNet-56 (the paper's recipe scaled to as many iterations as the minutes
#      left allow, at most the 2,000 of the stored CPU runs) and the ResNet-56
#      learnres-vs-PyTorch pairs (300 iterations, seeds 0 1 2);
#   4. meanwhile: the first 5 steps of a ResNet-56 run on the CPU and on the GPU from the same
#      weights and batches (float32), and 3 of ResNet-20 in float64; each op's float32
#      error on the GPU against float64 (tools/gpu_fp32_check.py);
#   5. meanwhile: the CuPy leg of the test suite on real CuPy (`pytest -m gpu`, 180 s, stopping
#      after 10 failures rather than 1, so that one run shows more of what fails);
#   6. the finished runs stored (`python -m learnres.lectures.store`: metrics, config,
#      Fig. 7 responses, command), then everything packed into $OUT/gpu-check.tar.gz.
#
# Every step has its own time limit and failures do not stop the next step; $OUT/summary.txt
# says what each step returned. Run from anywhere:
#
#   OUT=/tmp/out tools/gpu_check.sh                 # on the GPU machine
#   OUT=/tmp/out tools/gpu_check.sh --rehearse      # here: the CuPy stand-in, tiny sizes
#   OUT=/tmp/out BUDGET=150 tools/gpu_check.sh --smoke   # there, first: every step, small
#
# Environment: OUT (results folder, default ./gpu-check-out), LEARNRES_DATA_DIR (holding
# cifar-10-batches-py; default ../shared/datasets, linked to .gpu/datasets where only that
# copy exists), BUDGET (seconds), PYTHON (default python3), WHEELS (wheels to install first,
# default .gpu/whl). The device tool carries .gpu/ (ignored by git): the wheels of pooch and
# platformdirs, and a copy of the CIFAR-10 subset.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
REHEARSE=0; SMOKE=0
[ "${1:-}" = "--rehearse" ] && REHEARSE=1
[ "${1:-}" = "--smoke" ] && SMOKE=1
OUT=${OUT:-$ROOT/gpu-check-out}
BUDGET=${BUDGET:-540}
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-$ROOT/.gpu/whl}
# The data as the stored CPU runs name it, ../shared/datasets, so that the commands match;
# on the GPU machine that folder is made a link to the copy carried in .gpu/datasets.
if [ ! -d ../shared/datasets ] && [ -d .gpu/datasets ]; then
  mkdir -p ../shared && ln -sfn "$ROOT/.gpu/datasets" ../shared/datasets
fi
DATA=${LEARNRES_DATA_DIR:-../shared/datasets}
export PYTHONUNBUFFERED=1
START=$(date +%s)
R=$OUT/gpu-check          # everything that comes back, packed at the end
mkdir -p "$R/runs" "$R/stored" "$R/logs"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"

left() { echo $((BUDGET - ($(date +%s) - START))); }
say() { echo "[$(($(date +%s) - START))s] $*" | tee -a "$SUMMARY"; }
step() {  # step NAME SECONDS command...: run with a time limit, log, record the exit status
  local name=$1 limit=$2; shift 2
  say "start $name (limit ${limit}s)"
  timeout --signal=INT --kill-after=20 "$limit" "$@" > "$R/logs/$name.txt" 2>&1
  local rc=$?
  say "end $name: exit $rc$([ $rc = 124 ] && echo ' (time limit)')"
  return $rc
}

# --- set-up: wheels missing on the GPU machine (pooch), learnres from this tree ------------
if [ -d "$WHEELS" ] && ls "$WHEELS"/*.whl > /dev/null 2>&1 && [ $REHEARSE = 0 ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    "$WHEELS"/*.whl > "$R/logs/pip.txt" 2>&1 && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
if [ $REHEARSE = 1 ]; then
  LR=("$PY" -m tests.cupy_standin learnres)       # `--device cuda` runs on the stand-in
  LRMOD=("$PY" -m tests.cupy_standin)
  export LEARNRES_TEST_CUPY=standin
  BENCH=(bench --suite step --device cpu --depths 20 --quick --csv "$R/bench-step.csv")
  SMALL=(--subset 256 --batch-size 16)
  ITER_CAP=6; LONG_EXTRA=("${SMALL[@]}" --eval-every 3 --log-every 2 --checkpoint-every 3)
  VS=(--model resnet8 --device cpu --iterations 3 "${SMALL[@]}" --seeds 0)
  PYTEST_ARGS=(tests/train/test_cpu_vs_gpu.py tests/test_backend.py)
  FIRST=(--model resnet8 --steps 2 --batch-size 16)
  FIRST64=(--model resnet8 --steps 2 --batch-size 16)
  RUNS=(resnet56:56 plain56:56 resnet20:20 plain20:20)
  PYTEST_LIMIT=180
elif [ $SMOKE = 1 ]; then  # on the GPU, a first short call: does every step work at all?
  LR=("$PY" -m learnres)
  LRMOD=("$PY" -m)
  BENCH=(bench --suite step --device cuda --depths 20 56 --repeats 5 --csv "$R/bench-step.csv")
  ITER_CAP=60; LONG_EXTRA=(--eval-every 30 --log-every 10 --checkpoint-every 30)
  VS=(--model resnet8 --device cuda --iterations 20 --seeds 0)
  PYTEST_ARGS=(tests/functions/test_conv.py tests/functions/test_batchnorm.py
               tests/optim/test_flat.py tests/test_backend.py tests/train/test_cpu_vs_gpu.py)
  FIRST=(--model resnet20 --steps 3)
  FIRST64=(--model resnet8 --steps 2)
  RUNS=(resnet20:20)
  PYTEST_LIMIT=60
else
  LR=("$PY" -m learnres)
  LRMOD=("$PY" -m)
  BENCH=(bench --suite step --device cuda --depths 20 56 110 --repeats 10
         --csv "$R/bench-step.csv")
  ITER_CAP=2000; LONG_EXTRA=(--eval-every 100 --log-every 20 --checkpoint-every 100)
  VS=(--model resnet56 --device cuda --iterations 300 --seeds 0 1 2)
  PYTEST_ARGS=(tests)
  FIRST=(--model resnet56 --steps 5)
  FIRST64=(--model resnet20 --steps 3)
  RUNS=(resnet56:56 plain56:56 resnet20:20 plain20:20)
  PYTEST_LIMIT=180
fi

# --- 1. the machine --------------------------------------------------------------------------
{
  date -u; uname -a
  nvidia-smi 2>&1 | head -20
  $PY -c "import sys, numpy; print('python', sys.version.split()[0], 'numpy', numpy.__version__)"
  $PY -c "import cupy; print('cupy', cupy.__version__)" 2>&1
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'cudnn', torch.backends.cudnn.version(), torch.cuda.is_available())" 2>&1
  "${LR[@]}" doctor 2>&1
} > "$R/machine.txt" 2>&1
say "machine: $(grep -m1 -o 'NVIDIA [A-Z0-9 ]*' "$R/machine.txt" || echo 'no nvidia-smi')"

# --- 2. the step benchmark (alone on the machine, so its timings are clean) -----------------
step bench 150 "${LR[@]}" "${BENCH[@]}"
cp "$R/logs/bench.txt" "$R/bench-step.txt"
ms() {  # learnres's ms per step for ResNet-$1 from the bench table (empty if absent)
  awk -v m="ResNet-$1" '$1 == m && $2 ~ /^[0-9.]+$/ {print $2; exit}' "$R/bench-step.txt"
}

# --- 3. training runs in the background ------------------------------------------------------
# Iterations: what the minutes left allow at the benchmark's step time, with 5 processes
# sharing the GPU (a factor 2.5 for that, measured roughly in a smoke run) and the evaluations; at most ITER_CAP, in hundreds.
iterations_for() {  # depth, seconds available
  local t; t=$(ms "$1")
  [ -z "$t" ] && { echo $((ITER_CAP < 300 ? ITER_CAP : 300)); return; }
  awk -v t="$t" -v s="$2" -v cap=$ITER_CAP \
    'BEGIN {n = int(s / (2.5 * t / 1000) / 100) * 100; if (n > cap) n = cap;
            if (n < 100) n = 100; if (cap < 100) n = cap; print n}'
}
TRAIN_DEADLINE=$(($(left) - 75))   # seconds the runs may take: leave time to store and pack
PIDS=()
train_bg() {  # name model depth
  local name=$1 model=$2 depth=$3 n
  n=$(iterations_for "$depth" "$TRAIN_DEADLINE")
  local cmd=(learnres train --model "$model" --dataset cifar10 --data-dir "$DATA"
             --iterations "$n" --seed 0 "${LONG_EXTRA[@]}" --device cuda
             --out "$R/runs/$name" --no-progress)
  mkdir -p "$R/runs/$name"
  echo "${cmd[*]}" > "$R/runs/$name.command.txt"
  say "run $name: $n iterations"
  step "$name" "$TRAIN_DEADLINE" "${LR[@]}" "${cmd[@]:1}" &
  PIDS+=($!)
}
for spec in "${RUNS[@]}"; do
  model=${spec%%:*}
  train_bg "$model-cuda-seed0" "$model" "${spec##*:}"
done
step versus-torch-resnet56 "$TRAIN_DEADLINE" "${LRMOD[@]}" learnres.reference.versus_torch \
  --data-dir "$DATA" "${VS[@]}" --out "$R/runs/versus-torch-resnet56-cuda" \
  --no-progress &
PIDS+=($!)

# --- 4. the first steps, CPU vs GPU ------------------------------------------------------------
step cpu-vs-gpu-float32 120 "${LRMOD[@]}" learnres.train.cpu_vs_gpu "${FIRST[@]}" \
  --data-dir "$DATA" --out "$R/cpu-vs-gpu-float32.csv"
step cpu-vs-gpu-float64 90 "${LRMOD[@]}" learnres.train.cpu_vs_gpu "${FIRST64[@]}" \
  --dtype float64 --data-dir "$DATA" --out "$R/cpu-vs-gpu-float64.csv"

step fp32-check 60 "${LRMOD[@]}" tools.gpu_fp32_check   # why float32 CPU and GPU runs drift

# --- 5. the CuPy leg on real CuPy -----------------------------------------------------------
XDIST=()
$PY -c "import xdist" 2> /dev/null && XDIST=(-n 4)
LIMIT=$(( $(left) - 90 < PYTEST_LIMIT ? $(left) - 90 : PYTEST_LIMIT ))
[ "$LIMIT" -lt 30 ] && LIMIT=30
step pytest-gpu "$LIMIT" "$PY" -m pytest -m gpu --maxfail=10 -q \
  -p no:cacheprovider --continue-on-collection-errors "${XDIST[@]}" -o addopts="-ra" \
  --junitxml="$R/pytest-gpu.xml" "${PYTEST_ARGS[@]}"

# --- 6. wait for the runs, store the finished ones, pack ------------------------------------
for pid in "${PIDS[@]}"; do wait "$pid"; done
for run in "$R"/runs/*-cuda-seed0; do
  name=$(basename "$run")
  cp "$R/runs/$name.command.txt" "$run/command.txt" 2> /dev/null
  step "store-$name" 60 "${LRMOD[@]}" learnres.lectures.store "$run" --data-dir "$DATA" \
    --dest "$R/stored" || true
done
find "$R/runs" -name checkpoint.npz -delete
say "done; $(left)s of the budget left"
tar -czf "$OUT/gpu-check.tar.gz" -C "$OUT" gpu-check && rm -rf "$R"  # one file comes back
ls -la "$OUT" >> "$SUMMARY"
