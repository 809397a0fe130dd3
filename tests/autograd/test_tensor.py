"""The Tensor interface: construction, dtypes, devices, operators, backward's arguments."""

from __future__ import annotations

import numpy as np
import pytest

from learnres import Tensor
from learnres.autograd import OpError
from learnres.backend import asnumpy, is_gpu_available, to_device


def test_python_floats_default_to_float32():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.array([1.0])).dtype == np.float64  # arrays keep their dtype
    assert Tensor([1, 2]).dtype.kind == "i"


def test_data_is_not_copied():
    a = np.zeros(3)
    assert Tensor(a).data is a


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match=r"only floating-point.*int64.*shape \(3,\)"):
        Tensor(np.arange(3), requires_grad=True)


def test_backward_without_grad_needs_one_element():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\) needs grad"):
        y.backward()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_backward_grad_may_be_a_tensor_and_is_shape_checked():
    x = Tensor(np.ones(3), requires_grad=True)
    (x * 2.0).backward(Tensor(np.array([1.0, 2.0, 3.0])), retain_graph=True)
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    with pytest.raises(OpError, match=r"grad has shape \(2,\), tensor has \(3,\)"):
        (x * 2.0).backward(np.ones(2))


def test_backward_on_a_constant_explains():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor(np.ones(1)) * 2.0).backward()


def test_grad_keeps_the_dtype():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (x * Tensor(np.ones(3, dtype=np.float64))).backward(np.ones(3))
    assert x.grad.dtype == np.float32


def test_mismatched_shapes_name_the_op_and_shapes():
    a, b = Tensor(np.ones((3, 4))), Tensor(np.ones((5,)))
    with pytest.raises(OpError, match=r"add: .*input shapes \(3, 4\), \(5,\)"):
        a + b


def test_item_numpy_len_repr():
    x = Tensor(np.array([[1.5]]), requires_grad=True)
    assert x.item() == 1.5 and len(x) == 1
    assert isinstance(x.numpy(), np.ndarray)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=mul" in repr(x * 2.0)
    with pytest.raises(ValueError, match="one element"):
        Tensor(np.ones(2)).item()


def test_unary_minus_and_slicing():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = -x[:, 1:]
    y.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(x.grad, [[0, -1, -1], [0, -1, -1]])


def test_to_cpu_is_identity_and_unknown_device_is_refused():
    x = Tensor(np.ones(2))
    assert x.to("cpu") is x and x.device == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        x.to("tpu")


def test_cuda_without_gpu_says_why(no_gpu):
    with pytest.raises(RuntimeError, match="no GPU is usable"):
        Tensor(np.ones(2)).to("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not is_gpu_available(), reason="needs the CuPy leg")
def test_mixing_devices_is_refused():
    a = Tensor(np.ones(2), requires_grad=True)
    b = a.to("cuda")
    with pytest.raises(OpError, match="expected all tensors on one device"):
        a + b
    b.sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 1.0])


@pytest.mark.parametrize("scalar", [np.float32(0.5), np.float64(0.5), np.int64(2), 0.5])
def test_numpy_scalars_are_plain_numbers_to_every_op(scalar, device):
    """A NumPy scalar takes the tensor's dtype and device, as a Python number does: on a
    GPU it is not a host array (which the op would refuse), and np.float64 does not promote
    float32 to float64."""
    x = Tensor(to_device(np.array([1.0, 2.0], np.float32), device), requires_grad=True)
    for y in (x * scalar, scalar * x, x + scalar, x - scalar, scalar - x, x / scalar, x**scalar):
        assert y.dtype == np.float32 and y.device == device
    g = np.random.default_rng(0).standard_normal(2).astype(np.float32)  # upstream dL/dy
    (x * scalar).backward(to_device(g, device))
    np.testing.assert_allclose(asnumpy(x.grad), g * float(scalar), rtol=1e-6)


def test_cuda_n_selects_device_n_or_says_which_there_are(standin):
    """``cuda:N`` puts the tensor on GPU N (and makes it current, so ops follow it there);
    a GPU the machine lacks, or a malformed name, is refused with the ones there are."""
    x = Tensor(np.ones(2))
    with pytest.raises(
        ValueError,
        match=r"'cuda:1' requested but this machine has 1 CUDA "
        r"device \(cuda\)",
    ):
        x.to("cuda:1")
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda' or 'cuda:N'"):
        x.to("cuda:one")
    standin.set_device_count(2)
    try:
        y = x.to("cuda:1")
        assert y.device == "cuda:1" and y.data.device.id == 1
        z = (y * 2.0).sum()  # runs on GPU 1, where its input is
        assert z.device == "cuda:1"
        assert x.to("cuda").device == "cuda" and y.to("cuda:1") is y
        with pytest.raises(ValueError, match="expected all tensors on one device"):
            y + x.to("cuda")
    finally:
        standin.set_device_count(1)
        x.to("cuda")  # GPU 0 current again
