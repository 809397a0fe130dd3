"""backend.py: the one switch between NumPy and CuPy."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import numpy as np
import pytest

from learnres import backend
from tests.conftest import requires_real_gpu

PACKAGE = Path(backend.__file__).parent


def test_numpy_arrays_use_numpy():
    assert backend.get_array_module(np.ones(2)) is np
    assert backend.get_array_module(1.0, [1, 2]) is np
    assert backend.device_of(np.ones(1)) == "cpu"


def test_gpu_availability_is_a_bool_with_a_reason():
    available = backend.is_gpu_available()
    assert isinstance(available, bool)
    assert (backend.gpu_problem() is None) == available


def _cupy_without_gpu(get_device_count):
    """What ``import cupy`` gives on a machine whose driver or devices it cannot use."""
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)

    class ndarray:  # noqa: N801 - CuPy's name
        pass

    return types.SimpleNamespace(ndarray=ndarray, cuda=types.SimpleNamespace(runtime=runtime))


def _no_driver():
    # cupy_backends.cuda.api.runtime.CUDARuntimeError on a machine without a (recent) driver
    raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")


@pytest.mark.parametrize(
    "count, why",
    [
        (_no_driver, "cannot use a GPU: RuntimeError: cudaErrorInsufficientDriver"),
        (lambda: 0, "sees no CUDA device"),
    ],
    ids=["no-driver", "no-device"],
)
def test_cupy_installed_without_a_gpu_is_no_gpu(count, why):
    """CuPy installed where no GPU is usable: learnres runs on NumPy as without CuPy, and
    asking for "cuda" says why it cannot be had."""
    from learnres.autograd import Tensor
    from learnres.train.run import check_device

    saved = backend._cupy
    backend.use_cupy(_cupy_without_gpu(count))
    try:
        assert not backend.is_gpu_available()
        assert why in backend.gpu_problem()
        assert backend.get_array_module(np.ones(2)) is np
        assert (Tensor(np.ones(2)) * 2).device == "cpu"
        with pytest.raises(RuntimeError, match=f"'cuda' requested but no GPU is usable: .*{why}"):
            backend.to_device(np.ones(2), "cuda")
        with pytest.raises(ValueError, match=r"device \(--device\) 'cuda:1' is not usable here"):
            check_device("cuda:1")
    finally:
        backend.use_cupy(saved)


def test_to_device_cpu_and_asnumpy():
    a = np.arange(3)
    assert backend.to_device(a, "cpu") is a
    assert backend.asnumpy([1, 2]).tolist() == [1, 2]


def _windows(a):
    """3-wide windows along a's last axis: (4, 5) -> (4, 3, 3), a strided view."""
    s0, s1 = a.strides
    return (4, 3, 3), (s0, s1, s1)


@pytest.mark.parametrize("contiguous", [True, False])
def test_as_strided_is_numpy_s_view(contiguous):
    base = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)
    a = base[:, :5] if not contiguous else np.ascontiguousarray(base[:, :5])
    assert a.flags.c_contiguous == contiguous  # the C path, and as_strided's
    shape, strides = _windows(a)
    view = backend.as_strided(a, shape, strides)
    expected = np.lib.stride_tricks.as_strided(a, shape, strides)
    assert view.shape == shape and view.strides == strides and view.dtype == a.dtype
    np.testing.assert_array_equal(view, expected)
    assert np.shares_memory(view, a)  # a view, not a copy
    a[0, 2] = 7.0
    assert view[0, 0, 2] == view[0, 1, 1] == view[0, 2, 0] == 7.0


def test_as_strided_of_a_contiguous_array_stays_inside_it():
    a = np.zeros((4, 5), dtype=np.float32)
    shape, strides = _windows(a)
    with pytest.raises(ValueError, match="incompatible"):  # one window too many: past the end
        backend.as_strided(a, (4, 4, 3), strides)
    assert backend.as_strided(a, shape, strides).shape == shape


def test_scatter_add_adds_repeated_indices():
    target = np.zeros(3)
    backend.scatter_add(target, (np.array([0, 0, 2]),), np.array([1.0, 2.0, 5.0]))
    assert target.tolist() == [3.0, 0.0, 5.0]


def _cupy_uses(source: str) -> list[str]:
    """Every place in the code (not the prose) that reaches for CuPy."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if func in ("import_module", "__import__"):  # importlib.import_module("cupy")
                names = [str(node.args[0].value)]
        uses += [f"line {node.lineno}: {n}" for n in names if n.split(".")[0] in ("cupy", "cupyx")]
    return uses


def test_the_static_check_finds_cupy():
    assert _cupy_uses("import cupy as cp\nfrom cupyx import scatter_add\n") == [
        "line 1: cupy",
        "line 2: cupyx",
    ]
    assert _cupy_uses('importlib.import_module("cupy")') == ["line 1: cupy"]
    assert _cupy_uses('"""Runs on NumPy or CuPy."""\nreport["cupy"] = None') == []


def test_only_backend_reaches_for_cupy():
    """DESIGN.md: only backend.py imports CuPy; every op asks get_array_module."""
    offenders = {
        str(path.relative_to(PACKAGE)): uses
        for path in PACKAGE.rglob("*.py")
        if path.name != "backend.py" and (uses := _cupy_uses(path.read_text()))
    }
    assert offenders == {}


def test_gpu_pool_bytes_says_why_there_is_no_gpu(no_gpu):
    with pytest.raises(RuntimeError, match="no GPU memory to measure: CuPy is not installed"):
        backend.gpu_pool_bytes()


@pytest.mark.gpu
@requires_real_gpu
def test_gpu_pool_bytes_grows_with_an_allocation_and_keeps_it():
    import cupy

    before = backend.gpu_pool_bytes()
    block = cupy.empty(64 * 2**20, dtype=cupy.uint8)  # 64 MiB, more than any free block
    assert backend.gpu_pool_bytes() >= before + 64 * 2**20
    del block  # freed to the pool, which keeps it
    assert backend.gpu_pool_bytes() >= before + 64 * 2**20
