"""How exactly a GPU computes learnres's float32 work: each op's error against float64.

    python tools/gpu_fp32_check.py [--device cuda]

For a matrix product, an einsum and learnres's conv2d (forward) and batch norm (forward)
at ResNet sizes, the largest error of the float32 result relative to the largest value,
against the same op in float64 on the CPU, on the device and, for comparison, in NumPy
float32 on the CPU. Full float32 gives ~1e-7..1e-6; TensorFloat-32 (10 mantissa bits)
would give ~1e-3. Used by tools/gpu_check.sh to say why CPU and GPU runs drift apart.
"""

from __future__ import annotations

import argparse

import numpy as np

from learnres.autograd import Tensor
from learnres.backend import asnumpy
from learnres.functions.batchnorm import batch_norm
from learnres.functions.conv import conv2d


def _cases(rng):
    a = rng.standard_normal((128 * 32 * 32 // 8, 144))  # im2col rows of a 16-channel 3x3 conv
    b = rng.standard_normal((144, 16))
    x = rng.standard_normal((128, 16, 32, 32))
    w = rng.standard_normal((16, 16, 3, 3)) / 12
    gamma, beta = rng.standard_normal(16), rng.standard_normal(16)
    return {
        "matmul (16384x144 @ 144x16)": (lambda xp, a, b: xp.matmul(a, b), (a, b)),
        "einsum nchw,nchw->c": (lambda xp, x: xp.einsum("nchw,nchw->c", x, x), (x,)),
        "conv2d 16->16 3x3, batch 128": (
            lambda xp, x, w: conv2d(Tensor(x), Tensor(w), padding=1).data,
            (x, w),
        ),
        "batch_norm (train), 16 channels": (
            lambda xp, x, g, b_: (
                batch_norm(Tensor(x), None, None, Tensor(g), Tensor(b_), training=True).data
            ),
            (x, gamma, beta),
        ),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tools/gpu_fp32_check.py")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    from learnres.backend import get_array_module, to_device

    rng = np.random.default_rng(0)
    print(f"{'op':<34} {'device fp32':>12} {'numpy fp32':>11}  (max |error| / max |exact|)")
    for name, (fn, arrays) in _cases(rng).items():
        exact = asnumpy(fn(np, *arrays))
        on_device = [to_device(a.astype(np.float32), args.device) for a in arrays]
        xp = get_array_module(on_device[0])
        ours = asnumpy(fn(xp, *on_device)).astype(np.float64)
        cpu32 = asnumpy(fn(np, *[a.astype(np.float32) for a in arrays])).astype(np.float64)
        scale = np.abs(exact).max()
        print(
            f"{name:<34} {np.abs(ours - exact).max() / scale:>12.1e} "
            f"{np.abs(cpu32 - exact).max() / scale:>11.1e}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
