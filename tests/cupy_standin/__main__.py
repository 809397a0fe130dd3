"""Run a learnres command on the CuPy stand-in, as if this machine had a GPU.

    python -m tests.cupy_standin learnres train --model resnet20 --device cuda ...
    python -m tests.cupy_standin learnres.train.cpu_vs_gpu --steps 2 ...

The first argument is a module run as ``python -m`` would run it; the rest are its
arguments. It rehearses, on a machine without a GPU, what a script will ask of a real one
(``tools/gpu_check.sh --rehearse``): CuPy's boundary between host and device is enforced,
speed, kernels and cuBLAS's numerics are not (see this package's docstring).
"""

from __future__ import annotations

import runpy
import sys

from tests import cupy_standin

if len(sys.argv) < 2:
    sys.exit("usage: python -m tests.cupy_standin MODULE [ARGS...]")
module = sys.argv[1]
from learnres import backend  # noqa: E402  (after the usage check: a bare call imports nothing)

backend.use_cupy(cupy_standin.install())
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
