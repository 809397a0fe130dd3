"""``from_torch`` (learnres/reference/from_torch.py): a twin's weights come back into learnres,
all or nothing.

Round trip, for every model family (CIFAR ResNets with shortcut options A/B/C, plain nets,
plain and residual MLPs, ImageNet ResNet-18/50 and plain-18 at a small input): to_torch,
perturb every parameter and buffer of the twin (so a value that did not come back shows),
from_torch, then the learnres model holds the twin's values exactly and gives the twin's
logits in train and eval mode (float64, FLOAT64_RTOL). Bad keys, shapes and dtypes raise one
error that names the key, what was expected and what came, and leave the model untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learnres import Tensor
from learnres.models import get_model, mlp, plain, resnet
from learnres.nn import init
from learnres.reference import from_torch, to_torch
from learnres.testing import FLOAT64_RTOL

FAMILIES = {
    "resnet8-A": (lambda: resnet(8, shortcut="A"), 32),
    "resnet8-B": (lambda: resnet(8, shortcut="B"), 32),
    "resnet8-C": (lambda: resnet(8, shortcut="C"), 32),
    "plain8": (lambda: plain(8), 32),
    "mlp6": (lambda: mlp(6, 16), 32),
    "resmlp6": (lambda: mlp(6, 16, residual=True), 32),
    "resnet18": (lambda: get_model("resnet18"), 32),
    "resnet50": (lambda: get_model("resnet50"), 32),
    "resnet50-torchvision-layout": (lambda: get_model("resnet50", stride_in_1x1=False), 32),
    "plain18": (lambda: get_model("plain18"), 32),
}


def perturb(twin: torch.nn.Module, seed: int = 0) -> None:
    """Change every value of the twin: weights and running means by noise (a tenth of
    their spread, or 0.1 where they are all equal), running variances by a positive
    factor, step counters by a few steps."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in twin.state_dict().items():
            if key.endswith("num_batches_tracked"):
                value += 7
            elif key.endswith("running_var"):
                value *= torch.exp(0.3 * torch.randn(value.shape, generator=g, dtype=value.dtype))
            else:
                spread = float(value.std()) if value.numel() > 1 else 0.0
                scale = 0.1 * (spread if spread > 0 else 1.0)
                value += scale * torch.randn(value.shape, generator=g, dtype=value.dtype)


def logits(model, x, train: bool) -> np.ndarray:
    model.train(train)
    return model(Tensor(x)).data.copy()


def snapshot(model) -> dict:
    return {k: np.array(v) for k, v in model.state_dict().items()}


def assert_same_state(model, saved: dict) -> None:
    now = model.state_dict()
    assert list(now) == list(saved)
    for key, value in saved.items():
        np.testing.assert_array_equal(now[key], value, err_msg=key)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_round_trip_gives_the_twins_values_and_logits(name):
    build, size = FAMILIES[name]
    init.manual_seed(0)
    model = build().double()
    x = np.random.default_rng(1).standard_normal((4, 3, size, size))
    before = logits(model, x, train=False)
    twin = to_torch(model)
    perturb(twin)
    from_torch(model, twin)
    theirs = twin.state_dict()
    for key, value in model.state_dict().items():  # exactly the twin's values, same dtype
        assert value.dtype == theirs[key].numpy().dtype, key
        np.testing.assert_array_equal(value, theirs[key].numpy(), err_msg=key)
    for train in (False, True):  # eval uses the running statistics, train the batch's
        ours = logits(model, x, train)
        twin.train(train)
        with torch.no_grad():
            expected = twin(torch.from_numpy(x)).numpy()
        # relative to the largest logit: a logit near 0 carries the others' rounding
        atol = FLOAT64_RTOL * np.abs(expected).max()
        np.testing.assert_allclose(ours, expected, rtol=FLOAT64_RTOL, atol=atol)
    assert np.abs(logits(model, x, train=False) - before).max() > 1e-3  # the change came back


def test_the_copy_shares_no_memory_and_keeps_the_models_mode():
    init.manual_seed(0)
    model = resnet(8).eval()
    twin = to_torch(model)
    twin.train()
    from_torch(model, twin)
    assert not model.training and not model.conv2_x[0].bn1.training
    with torch.no_grad():
        twin.conv1.weight.zero_()
    assert np.abs(model.conv1.weight.data).max() > 0


def test_a_state_dict_of_arrays_or_of_a_ddp_model_comes_back():
    init.manual_seed(0)
    model, other = resnet(8), resnet(8)  # two draws of the weights
    state = {f"module.{k}": v for k, v in to_torch(other).state_dict().items()}  # DDP's keys
    from_torch(model, state)
    assert_same_state(model, snapshot(other))
    init.manual_seed(1)
    third = resnet(8)
    from_torch(model, snapshot(third))  # NumPy arrays
    assert_same_state(model, snapshot(third))


def test_a_ddp_wrapped_twin_is_looked_through():
    class FakeDDP(torch.nn.parallel.DistributedDataParallel):
        def __init__(self, module):  # no process group needed: only .module is used
            torch.nn.Module.__init__(self)
            self.module = module

    init.manual_seed(0)
    model, other = resnet(8), resnet(8)
    from_torch(model, FakeDDP(to_torch(other)))
    assert_same_state(model, snapshot(other))


def renamed(state, old, new):
    return {(new if k == old else k): v for k, v in state.items()}


def test_a_wrong_key_names_both_and_leaves_the_model_untouched():
    init.manual_seed(0)
    model = resnet(8)
    saved = snapshot(model)
    twin = to_torch(model)
    perturb(twin)  # every other value differs: a partial copy would show
    state = renamed(twin.state_dict(), "conv2_x.0.bn1.running_var", "conv2_x.0.bn1.running_vr")
    with pytest.raises(ValueError) as info:
        from_torch(model, state)
    message = str(info.value)
    assert "missing conv2_x.0.bn1.running_var: expected float32 (16,), came nothing" in message
    assert "unexpected conv2_x.0.bn1.running_vr: expected nothing, came float32 (16,)" in message
    assert "nothing was copied" in message
    assert_same_state(model, saved)


def test_a_wrong_shape_names_the_key_and_leaves_the_model_untouched():
    init.manual_seed(0)
    model = resnet(8, num_classes=10)
    saved = snapshot(model)
    twin = to_torch(resnet(8, num_classes=100))  # the last keys differ in shape
    perturb(twin)
    with pytest.raises(ValueError) as info:
        from_torch(model, twin)
    message = str(info.value)
    assert "fc.weight: expected float32 (10, 64), came float32 (100, 64)" in message
    assert "fc.bias: expected float32 (10,), came float32 (100,)" in message
    assert "2 problem(s)" in message
    assert_same_state(model, saved)


def test_a_wrong_dtype_is_refused_not_cast():
    init.manual_seed(0)
    model = resnet(8)  # float32
    saved = snapshot(model)
    twin = to_torch(model, dtype=np.float64)
    perturb(twin)
    with pytest.raises(ValueError) as info:
        from_torch(model, twin)
    assert "conv1.weight: expected float32 (16, 3, 3, 3), came float64 (16, 3, 3, 3)" in str(
        info.value
    )
    assert "num_batches_tracked" not in str(info.value)  # int64 on both sides: fine
    assert_same_state(model, saved)


def test_sources_that_cannot_be_read_are_refused():
    model = resnet(8)
    saved = snapshot(model)
    with pytest.raises(TypeError, match="torch.nn.Module or a state dict"):
        from_torch(model, [1, 2, 3])
    twin = to_torch(model).to(torch.bfloat16)
    with pytest.raises(TypeError, match="conv1.weight: torch dtype torch.bfloat16"):
        from_torch(model, twin)
    assert_same_state(model, saved)
