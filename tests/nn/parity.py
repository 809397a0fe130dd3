"""The layer parity harness: a learnres layer and its torch.nn twin, loaded with the same
weights (through ``load_state_dict`` from the torch layer's state_dict), run side by side
for a few steps; outputs, input gradients, parameter gradients (under a random upstream
gradient) and, at the end, every buffer must agree."""

from __future__ import annotations

import numpy as np
import torch

from learnres.autograd import Tensor
from learnres.backend import asnumpy, to_device
from learnres.testing import default_rtol, relative_error

TORCH_DTYPES = {np.float64: torch.float64, np.float32: torch.float32}


def check_layer(
    ours,
    theirs,
    input_shape,
    *,
    device="cpu",
    dtype=np.float64,
    training=True,
    steps=3,
    seed=0,
    rtol=None,
):
    """Assert that ``ours`` (learnres) and ``theirs`` (torch) agree; returns the errors."""
    rng = np.random.default_rng(seed)
    rtol = default_rtol(dtype) if rtol is None else rtol
    theirs = theirs.to(TORCH_DTYPES[dtype])
    with torch.no_grad():  # move parameters and running statistics off their defaults
        for p in theirs.parameters():
            p.add_(torch.from_numpy(0.3 * rng.standard_normal(tuple(p.shape))).to(p.dtype))
        if list(theirs.buffers()):  # one training step in torch: running stats move
            theirs.train()(torch.from_numpy(rng.standard_normal(input_shape).astype(dtype)))
    theirs.train(training)
    ours = ours.double() if dtype == np.float64 else ours.float()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.to(device).train(training)
    errors = {}
    for step in range(steps):
        x = rng.standard_normal(input_shape).astype(dtype)
        xs = Tensor(to_device(x, device), requires_grad=True)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        ours.zero_grad()
        theirs.zero_grad()
        y, yt = ours(xs), theirs(xt)
        assert y.shape == tuple(yt.shape), f"output shape {y.shape}, torch {tuple(yt.shape)}"
        assert y.dtype == dtype, f"output dtype {y.dtype} from {np.dtype(dtype)} input"
        errors[f"step {step} output"] = relative_error(y.data, yt.detach().numpy())
        g = rng.standard_normal(y.shape).astype(dtype)
        y.backward(to_device(g, device))
        yt.backward(torch.from_numpy(g))
        errors[f"step {step} grad of input"] = relative_error(xs.grad, xt.grad.numpy())
        theirs_params = dict(theirs.named_parameters())
        assert [n for n, _ in ours.named_parameters()] == list(theirs_params)
        for name, p in ours.named_parameters():
            assert p.grad is not None and p.grad.dtype == dtype, f"grad of {name}"
            errors[f"step {step} grad of {name}"] = relative_error(
                p.grad, theirs_params[name].grad.numpy()
            )
    theirs_state = theirs.state_dict()
    assert list(ours.state_dict()) == list(theirs_state)
    for name, array in ours.state_dict().items():
        errors[f"final {name}"] = relative_error(asnumpy(array), theirs_state[name].numpy())
    bad = {k: e for k, e in errors.items() if not e <= rtol}
    assert not bad, (
        f"{ours!r} vs torch [{np.dtype(dtype).name}, {device}, "
        f"{'train' if training else 'eval'}], rtol {rtol:g}: {bad}"
    )
    return errors
