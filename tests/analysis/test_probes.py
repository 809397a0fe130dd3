"""learnres.analysis.probes: layer outputs and the gradients that reach them."""

from __future__ import annotations

import numpy as np

from learnres import Tensor
from learnres.analysis.probes import probe, record_outputs
from learnres.functions import batch_norm, softmax
from learnres.nn import BatchNorm1d, Linear, Sequential, init


def test_record_outputs_restores_forward():
    init.manual_seed(0)
    net = Sequential(Linear(4, 3), BatchNorm1d(3))
    with record_outputs(net, BatchNorm1d) as calls:
        net(Tensor(np.ones((5, 4), dtype=np.float32)))
    assert [name for name, _ in calls] == ["1"]
    assert all("forward" not in m.__dict__ for m in net.modules())


def test_probe_measures_outputs_and_their_gradients(rng):
    """The last BN's output is the logits: its std and its gradient are known in closed form
    (dL/dlogits = (softmax - onehot) / N for the mean cross-entropy)."""
    init.manual_seed(0)
    net = Sequential(Linear(6, 5), BatchNorm1d(5)).double()
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 5, 8)
    report = probe(net, x, y, select=BatchNorm1d)
    linear, bn = net[0], net[1]
    logits = batch_norm(linear(Tensor(x)), None, None, bn.weight, bn.bias, training=True).data
    grad = (softmax(Tensor(logits)).data - np.eye(5)[y]) / len(y)
    assert report.names == ["1"]
    np.testing.assert_allclose(report.forward_std, [logits.std()], rtol=1e-10)
    np.testing.assert_allclose(report.grad_norm, [np.sqrt((grad**2).sum())], rtol=1e-10)
    np.testing.assert_allclose(report.grad_rms, [np.sqrt((grad**2).mean())], rtol=1e-10)
    assert net.training  # the mode it had
