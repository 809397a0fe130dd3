"""learnres.memory: freed blocks are reused instead of coming back as fresh, faulting pages."""

import os
import subprocess
import sys

import pytest

from learnres.memory import keep_freed_memory, malloc_status

linux_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="mallopt is glibc's",
)

# a small training-like step (4 convolutions + ReLUs of a (64, 16, 32, 32) batch, forward
# and backward) run 4 times; print the page faults per step of steps 2-4
PROBE = """
import resource, sys
import numpy as np
from learnres.autograd import Tensor
from learnres.parallel import conv2d  # as the layers run it: chunks of a few images
from learnres.functions.elementwise import relu
from learnres.memory import keep_freed_memory
print(keep_freed_memory(), file=sys.stderr)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 16, 32, 32), dtype=np.float32)  # 4 MiB = 1,024 pages
w = Tensor(rng.standard_normal((16, 16, 3, 3), dtype=np.float32), requires_grad=True)
gy = rng.standard_normal(x.shape, dtype=np.float32)
def step():
    h = Tensor(x)
    for _ in range(4):
        h = relu(conv2d(h, w, padding=1))
    h.backward(gy)
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3)
"""


def _faults(malloc: str) -> tuple[int, str]:
    env = dict(os.environ, LEARNRES_MALLOC=malloc)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return int(done.stdout), done.stderr.strip()


@linux_glibc
def test_tuned_allocator_reuses_freed_blocks():
    tuned, said_tuned = _faults("")
    system, said_system = _faults("system")
    assert (said_tuned, said_system) == ("True", "False")
    # untuned: glibc returns the step's freed blocks to the kernel (munmap, heap trims), so
    # each step faults thousands of fresh pages in again (measured ~5,900); tuned: ~170
    assert system > 2 * 1024, f"expected fresh pages without tuning, got {system} per step"
    assert tuned * 5 < system, f"expected reuse: {tuned} faults per step tuned, {system} not"


@linux_glibc
def test_status_says_what_was_done():
    assert keep_freed_memory() is (os.environ.get("LEARNRES_MALLOC") != "system")
    assert malloc_status().startswith("tuned") or "LEARNRES_MALLOC" in malloc_status()
