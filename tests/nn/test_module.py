"""Module, Parameter and Sequential: registration, naming, modes, devices, dtypes,
state_dict / load_state_dict and repr, checked against torch.nn where torch has the same
structure."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from learnres import nn
from learnres.autograd import Tensor
from learnres.backend import asnumpy, device_of


def small_net(lib):
    """The same structure in learnres.nn and torch.nn: nested Sequentials and named parts."""
    return lib.Sequential(
        lib.Conv2d(3, 4, 3, padding=1, bias=False),
        lib.BatchNorm2d(4),
        lib.ReLU(),
        lib.Sequential(lib.Conv2d(4, 4, 1), lib.BatchNorm2d(4, affine=False)),
        lib.AdaptiveAvgPool2d(1),
        lib.Flatten(),
        lib.Linear(4, 2),
    )


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(2)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.register_buffer("steps", np.zeros((), dtype=np.int64))
        self.shortcut = nn.Identity()

    def forward(self, x):
        return self.bn1(self.conv1(x)) * self.scale + self.shortcut(x)


# ---- registration and names -------------------------------------------------------------


def test_parameter_is_a_tensor_that_requires_grad_and_says_so():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    assert isinstance(p, Tensor) and p.requires_grad
    assert repr(p).startswith("Parameter containing:\nTensor(")
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad
    assert nn.Parameter(Tensor(np.ones(2))).data.shape == (2,)  # a Tensor's array is taken


def test_registration_order_and_kinds():
    block = Block()
    assert [n for n, _ in block.named_parameters()] == [
        "scale",
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
    ]
    assert [n for n, _ in block.named_buffers()] == [
        "steps",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
    ]
    assert [n for n, _ in block.named_children()] == ["conv1", "bn1", "shortcut"]
    assert list(block.children()) == [block.conv1, block.bn1, block.shortcut]
    assert [n for n, _ in block.named_modules()] == ["", "conv1", "bn1", "shortcut"]
    assert next(iter(block.modules())) is block
    assert [n for n, _ in block.named_parameters(recurse=False)] == ["scale"]


def test_reassigning_keeps_the_place_and_moves_between_kinds():
    block = Block()
    block.conv1 = nn.Conv2d(2, 2, 1)  # a new module under an old name keeps its position
    assert [n for n, _ in block.named_children()] == ["conv1", "bn1", "shortcut"]
    assert block.conv1.kernel_size == 1
    block.scale = nn.Parameter(np.full(1, 2.0, dtype=np.float32))
    assert next(block.named_parameters())[0] == "scale"
    block.register_buffer("steps", np.ones((), dtype=np.int64))
    assert int(block.steps) == 1 and next(block.named_buffers())[0] == "steps"
    block.steps = np.full((), 5, dtype=np.int64)  # plain assignment to a buffer name updates it
    assert int(dict(block.named_buffers())["steps"]) == 5
    block.shortcut = nn.Parameter(np.zeros(1, dtype=np.float32))  # module -> parameter
    assert "shortcut" not in dict(block.named_children())
    assert "shortcut" in dict(block.named_parameters())
    del block.scale
    assert "scale" not in dict(block.named_parameters())


def test_registration_errors():
    class Early(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)  # before super().__init__()

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Early()
    block = Block()
    with pytest.raises(TypeError, match="cannot assign ndarray to parameter 'scale'"):
        block.scale = np.ones(1)
    with pytest.raises(TypeError, match="cannot assign int to submodule 'bn1'"):
        block.bn1 = 3
    with pytest.raises(TypeError, match="buffer 'steps' .* must be a NumPy/CuPy array"):
        block.steps = 3
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'conv9'"):
        _ = block.conv9


def test_shared_parameters_come_once_but_keep_both_state_dict_keys():
    lin = nn.Linear(3, 3)
    net = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]
    assert net.num_parameters() == 12
    t_lin = torch.nn.Linear(3, 3)
    t_net = torch.nn.Sequential(t_lin, torch.nn.ReLU(), t_lin)
    assert list(net.state_dict()) == list(t_net.state_dict())


def test_sequential_indexing_len_iteration_and_append():
    net = small_net(nn)
    assert len(net) == 7
    assert isinstance(net[0], nn.Conv2d) and isinstance(net[-1], nn.Linear)
    assert list(net) == list(net.children())
    tail = net[4:]
    assert isinstance(tail, nn.Sequential) and [n for n, _ in tail.named_children()] == [
        "4",
        "5",
        "6",
    ]
    with pytest.raises(IndexError, match="index 7 is out of range for a Sequential of length 7"):
        net[7]
    net.append(nn.ReLU())
    assert [n for n, _ in net.named_children()][-1] == "7"
    named = nn.Sequential({"conv": nn.Conv2d(1, 1, 1), "act": nn.ReLU()})
    assert [n for n, _ in named.named_parameters()] == ["conv.weight", "conv.bias"]
    with pytest.raises(TypeError, match="entry 1 is a int, expected a Module"):
        nn.Sequential(nn.ReLU(), 3)


def test_parameter_and_buffer_names_equal_torchs():
    ours, theirs = small_net(nn), small_net(torch.nn)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


# ---- modes, devices, dtypes, gradients ------------------------------------------------------


def test_train_and_eval_propagate_to_every_submodule():
    net = small_net(nn)
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net[3].train(False)
    assert [m.training for m in net[3].modules()] == [False, False, False] and net.training
    with pytest.raises(TypeError, match="expects a bool"):
        net.train("eval")


def test_double_and_float_cast_floating_parameters_buffers_and_grads():
    net = small_net(nn)
    net[0].weight.grad = np.ones(net[0].weight.shape, dtype=np.float32)
    weight = net[0].weight
    assert net.dtype == np.float32
    assert net.double() is net
    assert net.dtype == np.float64 and nn.ReLU().dtype is None  # no parameters, no dtype
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net[0].weight is weight and weight.grad.dtype == np.float64  # same Parameter object
    dtypes = {name: a.dtype for name, a in net.named_buffers()}
    assert dtypes["1.running_mean"] == np.float64 and dtypes["1.num_batches_tracked"] == np.int64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert all(a.dtype in (np.float32, np.int64) for a in net.buffers())
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    assert net.double()(Tensor(x)).dtype == np.float64


def test_to_moves_parameters_grads_and_buffers_in_place(device):
    net = small_net(nn)
    net[0].weight.grad = np.ones(net[0].weight.shape, dtype=np.float32)
    weight = net[0].weight
    assert net.to(device) is net
    assert net.device == device and nn.ReLU().device == "cpu"
    assert net[0].weight is weight
    assert all(device_of(p.data) == device for p in net.parameters())
    assert device_of(weight.grad) == device
    assert all(device_of(a) == device for a in net.buffers())
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)).to(device)
    assert net(x).device == device
    net.to("cpu")
    assert all(isinstance(p.data, np.ndarray) for p in net.parameters())
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        net.to("tpu")


def test_zero_grad_sets_every_grad_to_none():
    net = small_net(nn)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32))
    net(x).backward(np.ones((2, 2), dtype=np.float32))
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_apply_visits_children_before_parents_and_deepcopy_works():
    net = small_net(nn)
    order = []
    net.apply(lambda m: order.append(type(m).__name__))
    assert order[-1] == "Sequential" and order.index("BatchNorm2d") < order.index("Sequential")
    clone = copy.deepcopy(net)
    clone[0].weight.data[...] = 0
    assert np.abs(net[0].weight.data).sum() > 0
    assert list(clone.state_dict()) == list(net.state_dict())


# ---- state_dict and load_state_dict ------------------------------------------------------


def test_state_dict_keys_and_order_equal_torchs():
    ours, theirs = small_net(nn), small_net(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (key, ours_value), theirs_value in zip(
        ours.state_dict().items(), theirs.state_dict().values()
    ):
        assert ours_value.shape == tuple(theirs_value.shape), key
        assert ours_value.dtype == theirs_value.numpy().dtype, key  # num_batches_tracked: int64


def test_state_dict_holds_the_modules_own_arrays():
    net = small_net(nn)
    state = net.state_dict()
    assert state["0.weight"] is net[0].weight.data
    assert state["1.running_mean"] is net[1].running_mean


def test_load_state_dict_round_trip_with_torch():
    ours, theirs = small_net(nn), small_net(torch.nn)
    theirs.train()(torch.randn(4, 3, 5, 5))  # move the running statistics off their defaults
    theirs_state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert ours.load_state_dict(theirs_state) == nn.IncompatibleKeys([], [])
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, theirs_state[key].astype(value.dtype), err_msg=key)
    assert int(ours[1].num_batches_tracked) == 1
    # and back: a fresh torch model loads learnres's state_dict strictly
    fresh = small_net(torch.nn)
    fresh.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 5)).astype(np.float32)
    expected = fresh.eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours.eval()(Tensor(x)).data, expected, rtol=1e-5, atol=1e-6)


def test_load_state_dict_keeps_dtype_device_and_parameter_objects(device):
    net = small_net(nn).double().to(device)
    weight = net[0].weight
    state = {k: np.asarray(asnumpy(v), dtype=np.float32) + 1 for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    assert net[0].weight is weight and weight.dtype == np.float64 and weight.device == device
    assert net[1].running_mean.dtype == np.float64 and device_of(net[1].running_mean) == device
    assert net[1].num_batches_tracked.dtype == np.int64
    np.testing.assert_allclose(asnumpy(weight.data), state["0.weight"], rtol=1e-7)


def test_load_state_dict_lists_every_problem_at_once_and_changes_nothing():
    net = small_net(nn)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    state = {k: np.zeros_like(v) for k, v in before.items()}
    del state["6.bias"], state["1.running_var"]
    state["6.weight"] = np.zeros((3, 4), dtype=np.float32)
    state["0.weight"] = np.zeros((4, 3, 5, 5), dtype=np.float32)
    state["fc.weight"] = np.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "Error(s) in loading state_dict for Sequential" in message
    assert "missing key(s): 1.running_var, 6.bias" in message
    assert "unexpected key(s): fc.weight" in message
    assert "size mismatch for 0.weight: expected shape (4, 3, 3, 3), got (4, 3, 5, 5)" in message
    assert "size mismatch for 6.weight: expected shape (2, 4), got (3, 4)" in message
    for key, value in net.state_dict().items():  # validated first: nothing was copied
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_state_dict_problems_are_load_state_dicts_checks_without_the_copy():
    """What the model families' converters check a checkpoint with (one check, two users):
    the same lines ``load_state_dict`` raises with, [] when the dict fits, long key lists
    cut to ten with the count."""
    net = small_net(nn)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    assert net.state_dict_problems(before) == []
    state = {f"extra{i}": np.zeros(1) for i in range(12)}
    problems = net.state_dict_problems(state)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    assert problems and str(info.value).endswith("\n  ".join(problems))
    listed = ", ".join(f"extra{i}" for i in range(10))
    assert problems[1] == f"unexpected key(s): {listed}, ... (12 in all)"
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    with pytest.raises(TypeError, match="mapping"):
        net.state_dict_problems(list(before.items()))


def test_load_state_dict_not_strict_reports_keys_but_still_rejects_shapes():
    net = small_net(nn)
    state = {k: v.copy() for k, v in net.state_dict().items()}
    del state["6.bias"]
    state["extra"] = np.zeros(1)
    state["6.weight"] = np.full_like(state["6.weight"], 7.0)
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["6.bias"] and result.unexpected_keys == ["extra"]
    assert (net[6].weight.data == 7).all()
    state["6.weight"] = np.zeros((1, 1))
    with pytest.raises(RuntimeError, match=re.escape("size mismatch for 6.weight")):
        net.load_state_dict(state, strict=False)


# ---- repr -------------------------------------------------------------------------------


def test_repr_nests_like_torchs():
    # (BatchNorm is left out: recent torch versions add "bias=True" to its repr, learnres prints
    # the older, shorter form; test_repr_of_a_custom_module checks it.)
    ours = nn.Sequential(nn.Linear(4, 3), nn.Sequential(nn.Identity(), nn.ReLU()), nn.Flatten())
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 3),
        torch.nn.Sequential(torch.nn.Identity(), torch.nn.ReLU()),
        torch.nn.Flatten(),
    )
    assert repr(ours) == repr(theirs)
    assert repr(nn.AdaptiveAvgPool2d(1)) == repr(torch.nn.AdaptiveAvgPool2d(1))


def test_repr_of_a_custom_module():
    assert repr(Block()) == (
        "Block(\n"
        "  (conv1): Conv2d(2, 2, kernel_size=3, stride=1, padding=1, bias=False)\n"
        "  (bn1): BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (shortcut): Identity()\n"
        ")"
    )
    assert repr(nn.Conv2d(3, 16, 7, stride=2)) == "Conv2d(3, 16, kernel_size=7, stride=2)"
    assert repr(nn.MaxPool2d(3, 2, 1)) == "MaxPool2d(kernel_size=3, stride=2, padding=1)"


def test_forward_must_be_written():
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(1)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([None] * 10, dtype=object), "expected a numeric array, got dtype object"),
        (np.array(["x"] * 10), "expected a numeric array, got dtype <U1"),
        (np.zeros(10, dtype=np.complex64), "expected a numeric array, got dtype complex64"),
    ],
)
def test_load_state_dict_is_all_or_nothing_for_bad_values(bad, message):
    """Issue 15, item 5: a bad value in the *last* entry (the shapes all fit) leaves every
    earlier one untouched; main copied them first, and loaded the Nones as NaN."""
    net = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 10))
    before = {k: v.copy() for k, v in net.state_dict().items()}
    state = {k: np.full_like(v, 7) for k, v in before.items()}
    assert list(state)[-1] == "2.bias"
    state["2.bias"] = bad
    with pytest.raises(RuntimeError, match=re.escape(f"2.bias: {message}")):
        net.load_state_dict(state)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_load_state_dict_refuses_fractions_in_integer_buffers_and_non_mappings():
    bn = nn.BatchNorm2d(3)
    state = {k: v.copy() for k, v in bn.state_dict().items()}
    state["num_batches_tracked"] = np.array(2.5)
    with pytest.raises(RuntimeError, match="not whole numbers"):
        bn.load_state_dict(state)
    state["num_batches_tracked"] = np.array(2.0)  # a whole number, as torch copies it
    bn.load_state_dict(state)
    assert bn.num_batches_tracked == 2
    with pytest.raises(
        TypeError,
        match=re.escape(
            "BatchNorm2d.load_state_dict expects a mapping of name -> array (such as "
            "model.state_dict()), got list"
        ),
    ):
        bn.load_state_dict([1, 2])


# ---- forward hooks (torch's semantics) ---------------------------------------------------------
def _hook_log(lib, net):
    """Register the same pre- and post-hooks on every module of ``net``; log each call."""
    log, handles = [], []
    for name, module in net.named_modules():
        handles.append(
            module.register_forward_pre_hook(
                lambda m, args, name=name: log.append(("pre", name, tuple(args[0].shape)))
            )
        )
        handles.append(
            module.register_forward_hook(
                lambda m, args, out, name=name: log.append(("post", name, tuple(out.shape)))
            )
        )
    return log, handles


def test_forward_hooks_are_called_in_torchs_order():
    ours, theirs = small_net(nn), small_net(torch.nn)
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    log, handles = _hook_log(nn, ours)
    torch_log, torch_handles = _hook_log(torch.nn, theirs)
    ours(Tensor(x))
    theirs(torch.from_numpy(x))
    assert log == torch_log and len(log) == 2 * len(list(ours.modules()))
    for handle in handles:
        handle.remove()
    ours(Tensor(x))
    assert len(log) == len(torch_log)  # removed: nothing more is logged


def test_hooks_may_replace_inputs_and_outputs_and_removing_twice_is_harmless():
    layer = nn.ReLU()
    x = Tensor(np.array([-1.0, 2.0]))
    with layer.register_forward_pre_hook(lambda m, args: (args[0] * -1.0,)):
        np.testing.assert_array_equal(layer(x).data, [1.0, 0.0])  # relu(-x)
    handle = layer.register_forward_hook(lambda m, args, out: out * 10.0)
    np.testing.assert_array_equal(layer(x).data, [0.0, 20.0])
    handle.remove()
    handle.remove()
    np.testing.assert_array_equal(layer(x).data, [0.0, 2.0])


def test_no_forward_is_patched_on_an_instance_anywhere_in_learnres():
    """Probes, the summary and the reference check use hooks, never a patched forward."""
    import pathlib

    import learnres

    root = pathlib.Path(learnres.__file__).parent
    patched = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if re.search(r"setattr\([^)]*[\"']forward[\"']", p.read_text())
    ]
    assert patched == []
