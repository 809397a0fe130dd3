"""``to_torch`` (learnres/reference/convert.py): the twin has the learnres model's structure,
keys, values, dtype and mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learnres import Tensor
from learnres.models import get_model, mlp, resnet
from learnres.nn import Linear, Module, ReLU, Sequential, init
from learnres.reference import register_twin, to_torch
from learnres.reference.convert import COMPOSITES


@pytest.mark.parametrize("name", ["resnet20", "plain20", "resnet18", "resnet50", "resmlp20"])
def test_twin_has_the_same_state_dict(name):
    init.manual_seed(0)
    model = get_model(name)
    twin = to_torch(model)
    ours, theirs = model.state_dict(), twin.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key].numpy(), err_msg=key)
        assert theirs[key].dtype == (
            torch.int64 if key.endswith("num_batches_tracked") else torch.float32
        )
    assert [n for n, _ in model.named_modules()] == [n for n, _ in twin.named_modules()]


def test_twin_is_a_copy_in_the_dtype_asked_for():
    model = resnet(8)
    twin = to_torch(model, dtype=np.float64)
    assert all(p.dtype == torch.float64 for p in twin.parameters())
    twin.conv1.weight.data.zero_()
    assert model.conv1.weight.data.any()  # the learnres model is not shared


def test_twin_takes_the_models_mode_per_module():
    model = resnet(8)
    model.eval()
    model.conv2_x.train()
    twin = to_torch(model)
    assert not twin.training and twin.conv2_x.training and twin.conv2_x[0].bn1.training
    assert not twin.conv3_x[0].bn1.training


def test_twin_computes_the_same_outputs():
    init.manual_seed(1)
    model = mlp(6, 16, residual=True).double().eval()
    x = np.random.default_rng(0).standard_normal((5, 3, 32, 32))
    ours = model(Tensor(x)).data
    theirs = to_torch(model)(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


class TwoLayers(Module):
    def __init__(self):
        super().__init__()
        self.fc1 = Linear(4, 3)
        self.act = ReLU()
        self.fc2 = Linear(3, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_unknown_composite_says_how_to_register_it():
    with pytest.raises(TypeError, match="no PyTorch twin for TwoLayers.*register_twin"):
        to_torch(Sequential(TwoLayers()))


def test_register_twin_for_a_chain_of_children():
    register_twin(TwoLayers, torch.nn.Sequential)
    try:
        model = TwoLayers().double()
        x = np.random.default_rng(0).standard_normal((3, 4))
        theirs = to_torch(model)(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(model(Tensor(x)).data, theirs, rtol=1e-13)
    finally:
        del COMPOSITES[TwoLayers]
