"""The op parity harness used by every test in tests/functions: one call checks value,
every gradient, dtype preservation and accumulation against torch, on a given backend."""

from __future__ import annotations

import numpy as np

from learnres.testing import compare_with_torch

DTYPES = [np.float64, np.float32]


def random_inputs(shapes, seed=0, positive=False):
    """Standard-normal arrays of the given shapes (|x| + 0.5 when the op needs x > 0)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    return [np.abs(a) + 0.5 for a in arrays] if positive else arrays


def check_op(fn, torch_fn, inputs, *, device, dtype, name="op", **kwargs):
    """Assert that ``fn`` agrees with ``torch_fn`` (value, gradients, dtype, accumulation)."""
    result = compare_with_torch(
        fn, torch_fn, inputs, name=name, device=device, dtype=dtype, **kwargs
    )
    result.assert_ok()
    return result
