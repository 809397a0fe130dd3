"""SGD over flat buffers: the same numbers as one parameter at a time, and torch's."""

from __future__ import annotations

import numpy as np
import pytest

from learnres import nn
from learnres.autograd import Tensor
from learnres.backend import asnumpy, to_device
from learnres.optim import SGD
from learnres.optim.flat import update_kernel
from tests.conftest import REAL_GPU, requires_real_gpu
from tests.optim.test_sgd import CONFIGS, SHAPES

torch = pytest.importorskip("torch")
CONFIG_IDS = [",".join(f"{k}={v}" for k, v in c.items()) for c in CONFIGS]


def _params(device, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [
        Tensor(to_device(rng.standard_normal(s).astype(dtype), device), requires_grad=True)
        for s in SHAPES
    ]


def _backward(params, grads, device):
    """Gradients through backward (so they land in the flat buffers): d/dp sum(p * g) = g."""
    loss = sum((p * Tensor(to_device(g, device))).sum() for p, g in zip(params, grads))
    loss.backward()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_flat_steps_equal_one_parameter_at_a_time_bit_for_bit(config, dtype, device):
    """Gradients from backward take the flat path; gradients assigned by hand (new arrays)
    take ``SGD._update`` one parameter at a time. Both give the same bits, step after step
    (the first step, which lays out the buffers and starts the momentum, included).

    On a real GPU the flat path is one ``cupy.fuse`` kernel, which may contract a * b + c
    into a fused multiply-add (one rounding instead of two; see the kernel-vs-twin test
    below), while ``_update`` rounds after each operation: there the two agree to a few
    units in the last place, which is what is checked (seen on an H200: 4 ulp after 5 steps).
    """
    same = np.testing.assert_array_equal
    if device == "cuda" and REAL_GPU:
        eps = np.finfo(dtype).eps

        def same(a, b, err_msg=""):
            np.testing.assert_allclose(
                a, b, rtol=0, atol=32 * eps * max(1.0, np.abs(b).max()), err_msg=err_msg
            )

    flat, single = _params(device, dtype), _params(device, dtype)
    opt_flat, opt_single = SGD(flat, **config), SGD(single, **config)
    rng = np.random.default_rng(1)
    for step in range(5):
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        opt_flat.zero_grad()
        _backward(flat, grads, device)
        for p, g in zip(single, grads):
            p.grad = to_device(g.copy(), device)
        opt_flat.step()
        opt_single.step()
        if step == 0:  # laid out: one buffer, every parameter a view of it, grads in it
            (layout,) = opt_flat.layouts[0]
            assert all(p.data is v for p, v in zip(flat, layout.views))
            assert all(p.grad is g for p, g in zip(flat, layout.grad_views))
        for k, (a, b) in enumerate(zip(flat, single)):
            same(a.numpy(), b.numpy(), err_msg=f"step {step} param {k}")
            assert a.dtype == dtype
        for i in opt_single.state:
            same(
                asnumpy(opt_flat.state[i]["momentum_buffer"]),
                asnumpy(opt_single.state[i]["momentum_buffer"]),
            )


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_flat_sgd_follows_torch_with_skipped_parameters(config, device):
    """torch.optim.SGD with the same gradients; a parameter without a gradient is skipped by
    both, on the very first step (no momentum buffers yet: learnres goes one by one until
    all have one, then gathers them into the flat buffer) and later."""
    ours = _params(device, np.float64)
    theirs = [torch.tensor(p.numpy().copy(), requires_grad=True) for p in ours]
    opt, ref = SGD(ours, **config), torch.optim.SGD(theirs, **config)
    rng = np.random.default_rng(2)
    worst = 0.0
    for step in range(12):
        grads = [rng.standard_normal(s) for s in SHAPES]
        opt.zero_grad()
        _backward(ours, grads, device)
        for t, g in zip(theirs, grads):
            t.grad = torch.tensor(g)
        if step in (0, 6):
            ours[1].grad, theirs[1].grad = None, None
        opt.step()
        ref.step()
        for p, t in zip(ours, theirs):
            expected = t.detach().numpy()
            worst = max(worst, np.abs(p.numpy() - expected).max() / np.abs(expected).max())
    assert worst < 1e-12
    assert all(p.data is v for p, v in zip(ours, opt.layouts[0][0].views))  # still flat


def test_state_dict_round_trip_continues_the_flat_run_bit_for_bit(device):
    """A fresh optimiser loading the state of a flat run gathers the momentum buffers back
    into a flat buffer and continues exactly as the run that never stopped."""
    rng = np.random.default_rng(3)
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(6)]
    config = {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}

    def run(split):
        params = _params(device, np.float64)
        opt = SGD(params, **config)
        for k, g in enumerate(grads):
            if k == split:
                saved = opt.state_dict()
                opt = SGD(params, lr=5.0)
                opt.load_state_dict(saved)
            opt.zero_grad()
            _backward(params, g, device)
            opt.step()
        return [p.numpy() for p in params], opt

    straight, _ = run(-1)
    resumed, opt = run(3)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    (layout,) = opt.layouts[0]
    assert all(opt.state[i]["momentum_buffer"].base is not None for i in layout.indices)


def test_moving_the_model_lays_it_out_again(device):
    """After ``model.double()`` the parameters have left their views: the next step lays
    them out again (float64 now), keeping values and momentum."""
    nn.init.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).to(device)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = Tensor(to_device(np.random.default_rng(0).standard_normal((5, 4)), device))

    def step():
        opt.zero_grad()
        model(x.astype(model[0].weight.dtype)).sum().backward()
        opt.step()

    step()
    first = opt.layouts[0][0]
    model.double()
    before = [p.numpy() for p in model.parameters()]
    momentum = [asnumpy(opt.state[i]["momentum_buffer"]).copy() for i in range(4)]
    step()
    (again,) = opt.layouts[0]
    assert again is not first and again.data.dtype == np.float64
    assert all(p.data is v for p, v in zip(model.parameters(), again.views))
    for p, b, m, i in zip(model.parameters(), before, momentum, range(4)):
        expected_buf = 0.9 * m + asnumpy(p.grad)
        np.testing.assert_allclose(
            asnumpy(opt.state[i]["momentum_buffer"]), expected_buf, rtol=1e-6
        )
        np.testing.assert_allclose(p.numpy(), b - 0.1 * expected_buf, rtol=1e-6)


def test_a_group_of_one_parameter_is_not_laid_out():
    p = Tensor(np.ones(3), requires_grad=True)
    data = p.data
    opt = SGD([p], lr=0.1, momentum=0.9)
    (p * 2.0).sum().backward()
    opt.step()
    assert opt.layouts == [[]] and p.data is data


def test_sgd_is_one_fused_kernel_a_step(standin):
    params = _params("cuda", np.float32)
    opt = SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    rng = np.random.default_rng(4)
    for step in range(3):
        opt.zero_grad()
        _backward(params, [rng.standard_normal(s).astype(np.float32) for s in SHAPES], "cuda")
        with standin.counting() as counts:
            opt.step()
        if step == 0:
            continue  # the first step lays out the buffers
        assert counts.launches == 1 and counts.launch_names["fuse:sgd_update"] == 1, counts
        assert counts.syncs == counts.h2d == 0


FLAGS = [
    (decay, momentum, nesterov, first)
    for decay in (False, True)
    for momentum in (False, True)
    for nesterov in (False, True)
    for first in (False, True)
    if momentum or not (nesterov or first)
]


@requires_real_gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_matches_its_numpy_twin_on_a_real_gpu(dtype):
    """``cupy.fuse`` compiles each variant of the update into one kernel; NVCC may contract
    a * b + c into a fused multiply-add (one rounding instead of two), so kernel and twin
    agree to a few units in the last place of the terms' sizes, not bit for bit."""
    import learnres.backend as backend

    cupy = backend._cupy
    rng = np.random.default_rng(5)
    eps = np.finfo(dtype).eps
    for flags in FLAGS:
        p, grad, buf = (rng.standard_normal(10_001).astype(dtype) for _ in range(3))
        scalars = [dtype(v) for v in (0.1, 0.9, 0.7, 1e-2)]
        twin = [a.copy() for a in (p, grad, buf)]
        update_kernel(np, *flags)(*twin, *scalars)
        on_gpu = [cupy.asarray(a) for a in (p, grad, buf)]
        update_kernel(cupy, *flags)(*on_gpu, *scalars)
        scale = np.abs(p) + np.abs(grad) + np.abs(buf) + np.abs(twin[0]) + np.abs(twin[2])
        for name, a, b in (("p", on_gpu[0], twin[0]), ("buf", on_gpu[2], twin[2])):
            err = np.abs(cupy.asnumpy(a) - b)
            assert (err <= 8 * eps * scale).all(), f"{name}: worst {err.max()}, flags {flags}"
