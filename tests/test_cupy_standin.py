"""The CuPy stand-in (tests/cupy_standin) refuses what CuPy refuses and counts what a GPU does.

Each refusal is checked against the exception CuPy 14 raises for the same code; on a machine
with a real GPU, the same checks run on real CuPy (``cupy_like``), so the stand-in cannot
drift into refusing what CuPy allows or allowing what it refuses.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.autograd import Function, Tensor
from learnres.backend import get_array_module, to_device
from learnres.optim import SGD
from tests import cupy_standin
from tests.conftest import REAL_GPU, requires_real_gpu
from tests.cupy_standin import cupy as standin_cupy
from tests.functions.harness import check_op, random_inputs

torch = pytest.importorskip("torch")


@pytest.fixture(
    params=["standin", pytest.param("real", marks=[requires_real_gpu, pytest.mark.gpu])]
)
def cp(request):
    """The stand-in, and real CuPy where a GPU is usable: the same behaviour is asked of both."""
    if request.param == "standin":
        return standin_cupy
    import learnres.backend as backend

    return backend._cupy


def test_numpy_cannot_look_inside_a_device_array(cp):
    x = cp.arange(6.0).reshape(2, 3)
    for implicit in (np.asarray, np.array, lambda a: np.lib.stride_tricks.as_strided(a, (2,))):
        with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
            implicit(x)
    assert isinstance(x.get(), np.ndarray) and cp.asnumpy(x).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert not isinstance(x, np.ndarray)


def test_host_arrays_never_enter_a_kernel(cp):
    x = cp.ones(3)
    for host in (np.ones(3), np.asarray(2.0)):  # a 0-d host array too
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            x + host
        with pytest.raises(TypeError, match="Unsupported type"):
            cp.multiply(host, x)
    with pytest.raises(TypeError):
        host + x  # NumPy hands the ufunc to the device array, which refuses
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        x[...] = np.zeros(3)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        x[1:] = np.zeros(2)


def test_scalars_are_fine_and_promote_as_numpy_2(cp):
    x = cp.ones(2, dtype=np.float32)
    assert (x * 0.5).dtype == np.float32 and (x * np.float32(0.5)).dtype == np.float32
    assert (x * np.float64(0.5)).dtype == np.float64  # NEP 50, as CuPy 14
    x[...] = 3.0
    x[0] = np.float32(2.0)
    assert x.get().tolist() == [2.0, 3.0]


def test_reductions_stay_on_the_device(cp):
    x = cp.arange(4.0)
    total = x.sum()
    assert isinstance(total, cp.ndarray) and total.shape == ()
    assert isinstance(x.max(), cp.ndarray) and float(x.mean()) == 1.5


def test_the_standin_is_cuda_available_and_exports_only_cupy_names():
    assert standin_cupy.cuda.is_available() and standin_cupy.is_available()
    assert standin_cupy.cuda.runtime.getDeviceCount() == 1
    assert set(standin_cupy.__all__) == set(standin_cupy.EXPORTED)
    assert {"ndarray", "asarray", "asnumpy", "get_array_module", "fuse", "cuda"} <= set(
        standin_cupy.EXPORTED
    )
    assert "ElementwiseKernel" not in standin_cupy.EXPORTED  # it cannot run CUDA C


@requires_real_gpu
@pytest.mark.gpu
def test_every_name_the_standin_exports_is_cupys():
    import learnres.backend as backend

    real = backend._cupy
    missing = [n for n in standin_cupy.EXPORTED if not hasattr(real, n)]
    assert missing == [], f"the stand-in exports names CuPy {real.__version__} lacks: {missing}"


def test_counting_syncs_copies_and_launches():
    with cupy_standin.counting() as counts:
        x = standin_cupy.asarray(np.arange(6.0))  # a host->device copy
        y = (x * 2 + 1).sum()  # three launches
        x[x > 2] = 0.0  # a boolean mask: its size is read back
        value = float(y)  # a synchronisation
    assert value == 36.0
    assert counts.h2d == 1 and counts.launches == 5 and counts.syncs == 2
    assert "test_cupy_standin.py" in counts.sync_sites[1] and "ndarray.get" in counts.sync_sites[1]


def test_fuse_is_one_launch_and_refuses_what_cupy_fusion_refuses():
    x = standin_cupy.arange(4.0)

    @standin_cupy.fuse
    def axpy(a, y):
        y += 2.0 * a

    with cupy_standin.counting() as counts:
        axpy(x, x)
    assert counts.launches == 1 and x.get().tolist() == [0.0, 3.0, 6.0, 9.0]

    @standin_cupy.fuse()
    def branches(a):
        return a if a > 0 else -a  # a value read as a Python bool

    with pytest.raises(TypeError, match="Cannot convert to Python scalar in cupy.fuse"):
        branches(x)
    assert axpy(np.ones(2), np.ones(2)) is None  # NumPy arrays: plain NumPy, as CuPy's fuse


def test_devices_are_per_thread_and_arrays_stay_on_theirs():
    cupy_standin.set_device_count(2)
    try:
        with standin_cupy.cuda.Device(1):
            a = standin_cupy.zeros(2)
        assert a.device.id == 1 and standin_cupy.cuda.runtime.getDevice() == 0
        with pytest.raises(ValueError, match="different from the current device"):
            a + 1
        with standin_cupy.cuda.Device(1):
            assert (a + 1).device.id == 1
    finally:
        cupy_standin.set_device_count(1)
    with pytest.raises(standin_cupy.cuda.runtime.CUDARuntimeError, match="invalid device"):
        standin_cupy.cuda.Device(3).use()


def test_the_suite_says_which_cupy_ran(pytestconfig):
    from tests.conftest import CUPY_LEG, _which_cupy

    assert CUPY_LEG in ("cuda", "cuda-standin", None)
    assert ("stand-in" in _which_cupy()) == (CUPY_LEG == "cuda-standin")
    assert REAL_GPU == (CUPY_LEG == "cuda")


# ---- planted GPU-only bugs: the CPU leg passes, the stand-in leg fails ------------------------
#
# Each is a copy of a learnres op or of SGD's update with one line a GPU cannot run: it gives
# the right numbers on NumPy, so only the CuPy leg can catch it.


class PadWithHostZeros(Function):
    """Zero padding of (N, C, H, W), as conv2d's: the output made with np.zeros (the bug)."""

    def __init__(self, p: int):
        self.p = p

    def forward(self, x):
        p, (N, C, H, W) = self.p, x.shape
        out = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=x.dtype)  # should be xp.zeros
        out[:, :, p : p + H, p : p + W] = x
        return out

    def backward(self, gy):
        # dL/dx = the middle of gy
        p = self.p
        return (gy[:, :, p:-p, p:-p],)


class ReLUWithHostBackward(Function):
    """ReLU whose backward passes gy through np.asarray (the bug)."""

    def forward(self, x):
        self.y = get_array_module(x).maximum(x, 0)
        return self.y

    def backward(self, gy):
        # dL/dx = gy * [x > 0]
        return (np.asarray(gy) * (self.y > 0),)


class SGDWithHostBuffer(SGD):
    """SGD whose momentum buffer starts as a NumPy copy of d_p (the bug)."""

    def _update(self, i, group, p):
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        d_p = p.grad + wd * p.data
        state = self.state.setdefault(i, {})
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = np.array(d_p)  # should be d_p.copy()
        else:
            buf *= mu
            buf += d_p
        p.data -= lr * buf


def _pad_check(device):
    pad = lambda t: torch.nn.functional.pad(t, (2, 2, 2, 2))  # noqa: E731
    check_op(
        lambda x: PadWithHostZeros(2)(x),
        pad,
        random_inputs([(2, 3, 4, 5)]),
        device=device,
        dtype=np.float64,
        name="pad",
    )


def _relu_check(device):
    check_op(
        lambda x: ReLUWithHostBackward()(x),
        torch.relu,
        random_inputs([(3, 4)]),
        device=device,
        dtype=np.float64,
        name="relu",
    )


def _sgd_check(device):
    rng = np.random.default_rng(0)
    init, grads = rng.standard_normal((4, 3)), [rng.standard_normal((4, 3)) for _ in range(3)]
    ours = Tensor(to_device(init.copy(), device), requires_grad=True)
    theirs = torch.tensor(init.copy(), requires_grad=True)
    opt = SGDWithHostBuffer([ours], lr=0.1, momentum=0.9, weight_decay=1e-4)
    ref = torch.optim.SGD([theirs], lr=0.1, momentum=0.9, weight_decay=1e-4)
    for g in grads:
        ours.grad, theirs.grad = to_device(g.copy(), device), torch.tensor(g)
        opt.step()
        ref.step()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)


PLANTED = {
    "np.zeros in padding": _pad_check,
    "np.asarray in a backward": _relu_check,
    "a host momentum buffer in SGD": _sgd_check,
}


@pytest.mark.parametrize("bug", PLANTED)
def test_a_planted_gpu_only_bug_passes_on_the_cpu_and_fails_on_the_standin(bug, standin):
    check = PLANTED[bug]
    check("cpu")  # right numbers on NumPy: the CPU leg cannot see the bug
    with pytest.raises((TypeError, ValueError), match="Implicit conversion to a NumPy array"):
        check("cuda")  # an op wraps the TypeError in an OpError (a ValueError) naming itself
