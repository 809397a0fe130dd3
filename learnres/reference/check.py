"""``compare(model, x, target)``: one training step's forward and backward in learnres and in
its PyTorch twin, module by module, and the first module where they part.

Both models run in float64, in the same mode, on the same input; the loss is the mean
cross-entropy against ``target``; both backpropagate. Two kinds of errors are measured:

* **end to end**: each model fed by itself. Every module call's output, every parameter's
  gradient, the input's gradient, the loss and every BN running statistic after the step.
  This is what training sees.
* **same input** (``trace=True``, the default): each learnres module call is replayed on
  its PyTorch twin module with *the learnres module's own input* (and, for the backward,
  the learnres dL/dy and the running statistics it had before the call). A layer
  (Conv2d, BatchNorm2d, ...) is replayed whole: its output, dL/dx, parameter gradients and
  running statistics after the call. A composite (a block, a stage, the model) is
  replayed with its children stubbed out by what the learnres children returned (and sent
  back), so only its own code is checked: the inputs it hands each child, its output, the
  gradients it sends each child's output and its own dL/dx. An error here belongs to that
  module alone.

Why both: rounding differences (a few ulps, from summation order) grow as they travel.
In a ResNet they stay near 1e-14; a deep *plain* net in train mode multiplies them by
about 1.4 per block (batch statistics make its input-output map chaotic), so plain-110's
end-to-end errors reach ~1e-7 although every layer agrees to 1e-15. The culprit is
therefore found with the same-input errors:

1. **forward**: the first module call (in the order calls finished: a layer before the
   block that holds it) whose output differs given the same input; if the learnres
   forward raised before any did, the module that was running;
2. **backward**: among the calls whose dL/dx or parameter gradients differ given the same
   dL/dy, the innermost one that the backward pass reaches first (the last to finish in
   forward order);
3. **running statistics**: the first call whose buffers differ after the same update;
4. **loss**: the logits agree but the loss or its gradient does not.

With ``trace=False`` (less memory and time) only end-to-end errors are measured and the
culprit is the first module whose output exceeds ``rtol``, else the owner of the first
wrong parameter gradient in backward order (from the output towards the input), else the
first BN layer whose running statistics differ. On a network that amplifies rounding
(a deep plain net, or BN over very few values, e.g. ResNet-18's last stage at 32x32 input
with batch 2) this can raise a false alarm that the traced check would not.

A model on the GPU is compared the same way: its results are brought to the CPU, where
the twin runs.

Errors are relative: max |learnres - torch| / max |torch| per tensor
(``learnres.testing.relative_error``; inf for a shape mismatch), judged against ``rtol``
(default ``learnres.testing.FLOAT64_RTOL``). A parameter's gradient is measured against the
largest gradient of its module's parameters (``layer_relative_error``): the bias of a
convolution followed by batch norm (VGG-BN, as torchvision builds it) has a gradient that is
zero in exact arithmetic, and its rounding noise, ~1e-17 in both frameworks, would otherwise
read as a 100% error.

Side effects, as a training step: ``compare`` sets the model's ``.grad``, moves its BN
running statistics (train mode) and leaves it in the mode asked for. A float32 model is
deep-copied to float64 first and left alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from learnres.autograd.tensor import Tensor
from learnres.backend import asnumpy, to_device
from learnres.functions.loss import cross_entropy
from learnres.functions.shape import reshape
from learnres.nn.module import Module
from learnres.testing.parity import FLOAT64_RTOL, relative_error

__all__ = ["compare", "Report", "ModuleError", "TensorError", "layer_relative_error"]

MODES = ("train", "eval")
INF = float("inf")


@dataclass
class ModuleError:
    """One module call. ``forward`` is end to end; ``local_*`` compare with the twin module
    fed the same input (None when not measured)."""

    name: str  # dotted name; "" is the model itself
    kind: str  # the learnres class name
    call: int  # 0 for the module's first call, 1 for its second, ...
    shape: tuple  # learnres output shape
    torch_shape: tuple | None  # the twin's, end to end
    forward: float  # end to end
    local_forward: float | None = None
    local_grad_input: float | None = None  # dL/dx given the same dL/dy
    local_grad_params: float | None = None  # the module's own parameters (layers only)
    local_buffers: float | None = None  # running statistics after the call

    @property
    def label(self) -> str:
        name = self.name or "(model)"
        return name if self.call == 0 else f"{name} (call {self.call + 1})"


@dataclass
class TensorError:
    """A parameter gradient, a buffer, the loss or the input gradient (end to end)."""

    name: str
    shape: tuple
    error: float


@dataclass
class Report:
    """What ``compare`` found: ``str(report)`` prints it; ``report.ok``; ``report.culprit``."""

    model: str
    mode: str
    input_shape: tuple
    rtol: float
    traced: bool = True
    modules: list = field(default_factory=list)  # ModuleError, in the order calls finished
    gradients: list = field(default_factory=list)  # TensorError per parameter, forward order
    running_stats: list = field(default_factory=list)  # TensorError per buffer
    loss: TensorError | None = None  # end to end
    loss_local: TensorError | None = None  # the loss and dL/dlogits from the same logits
    input_grad: TensorError | None = None
    exception: str | None = None  # what the learnres forward raised, if it did
    skipped: list = field(default_factory=list)  # modules the twin called and learnres did not
    culprit: str | None = None  # dotted module name, "" for the model itself
    culprit_kind: str | None = None  # "forward", "backward", "running statistics", "loss"
    culprit_detail: str = ""

    @property
    def ok(self) -> bool:
        return self.culprit is None and self.exception is None

    @property
    def worst_forward_error(self) -> float:
        return max((m.forward for m in self.modules), default=0.0)

    @property
    def worst_gradient_error(self) -> float:
        """The worst end-to-end parameter-gradient error."""
        return max((g.error for g in self.gradients), default=0.0)

    @property
    def worst_running_stats_error(self) -> float:
        return max((b.error for b in self.running_stats), default=0.0)

    @property
    def worst_local_error(self) -> float:
        """The worst same-input error of any module (forward, backward or buffers)."""
        return max((e for m in self.modules for e in _local(m) if e is not None), default=0.0)

    def bad(self, error) -> bool:
        return error is not None and not error <= self.rtol  # NaN counts as bad

    def __str__(self) -> str:
        return self.format()

    def format(self, full: bool = False, context: int = 3) -> str:
        """The report as text. Long tables keep their first and last rows, rows that
        disagree (up to 10) and ``context`` rows around the culprit, unless ``full``."""
        lines = [
            (
                f"learnres vs PyTorch: {self.model}, {self.mode} mode, float64, input "
                f"{self.input_shape}, rtol {self.rtol:g}"
            )
        ]
        lines += self._verdict()
        header = (
            "  ok module                        type               output shape         end-to-end"
        )
        if self.traced:
            header += "   same input: output    dL/dx   params  buffers"
        lines += ["", "module calls, in the order they finished (relative errors):", header]
        rows = []
        for m in self.modules:
            shape = (
                str(m.shape) if m.torch_shape in (None, m.shape) else f"{m.shape}≠{m.torch_shape}"
            )
            cells = f"{_fmt(m.forward):>10}"
            if self.traced:
                cells += "   " + " ".join(f"{_fmt(e):>8}" for e in _local(m))
            flag = self._flag(m.name, any(self.bad(e) for e in _local(m)), self.bad(m.forward))
            rows.append(
                (f"  {flag} {m.label[:28]:<28} {m.kind[:18]:<18} {shape:<20} {cells}", flag)
            )
        lines += _window(rows, full, context)

        lines += ["", "parameter gradients, end to end (forward order; backward meets them from "]
        lines[-1] += "the bottom up):"
        lines += _window(self._tensor_rows(self.gradients), full, context)
        if not self.gradients:
            lines.append("     (none: the forward did not finish)")
        if self.running_stats:
            lines += ["", "BN running statistics after the step, end to end:"]
            lines += _window(self._tensor_rows(self.running_stats), full, context)
        for t, mark in ((self.loss, "~ "), (self.loss_local, "! "), (self.input_grad, "~ ")):
            if t is not None:
                lines.append(
                    f"  {mark if self.bad(t.error) else '  '} {t.name:<40} "
                    f"{'':<18} {_fmt(t.error):>8}"
                )
        lines += [
            "",
            "  >> the culprit   ! differs given the same input   ~ differs only end to end",
        ]
        return "\n".join(lines)

    def _verdict(self) -> list:
        if not self.ok:
            where = self.culprit if self.culprit else "(the model itself)"
            lines = [f"MISMATCH in the {self.culprit_kind}: the first wrong module is {where}"]
            lines += [f"  {self.culprit_detail}"] if self.culprit_detail else []
            lines += [f"  the learnres forward raised {self.exception}"] if self.exception else []
            if self.skipped and not self.exception:
                lines.append(f"  the twin calls {', '.join(self.skipped[:5])}; learnres never did")
            return lines
        worst_end = max(self.worst_forward_error, self.worst_gradient_error)
        lines = [
            (
                f"OK: {len(self.modules)} module calls, {len(self.gradients)} parameter "
                f"gradients and {len(self.running_stats)} buffers agree"
            )
        ]
        if self.traced:
            lines[0] += f" (same input: worst {self.worst_local_error:.1e}"
            lines[0] += f"; end to end: worst {worst_end:.1e})"
            if self.bad(worst_end):
                lines.append(
                    "  every module agrees given the same input; the end-to-end errors above "
                    "rtol are rounding differences amplified through the network (train-mode "
                    "batch norm over a small batch makes deep plain nets amplify them; "
                    "ResNets much less)"
                )
        else:
            lines[0] += f" (end to end: worst {worst_end:.1e})"
        return lines

    def _tensor_rows(self, tensors) -> list:
        rows = []
        for t in tensors:
            flag = self._flag(
                t.name.rsplit(".", 1)[0] if "." in t.name else "", False, self.bad(t.error)
            )
            rows.append((f"  {flag} {t.name:<40} {t.shape!s:<18} {_fmt(t.error):>8}", flag))
        return rows

    def _flag(self, module_name: str, bad_local: bool, bad_end: bool) -> str:
        if self.culprit is not None and module_name == self.culprit:
            return ">>"
        if bad_local:
            return "! "
        return "~ " if bad_end else "  "


def _local(m: ModuleError) -> tuple:
    return (m.local_forward, m.local_grad_input, m.local_grad_params, m.local_buffers)


def _fmt(error) -> str:
    if error is None:
        return "-"
    if error == INF:
        return "shape"
    return f"{error:.1e}"


def _window(rows, full: bool, context: int, head: int = 4, max_flagged: int = 10) -> list:
    """Every row when short or ``full``; else the first/last ``head`` rows, ``context`` rows
    around the culprit ('>>') and up to ``max_flagged`` flagged rows, '...' in the gaps."""
    if full or len(rows) <= 2 * head + 2 * context + 8:
        return [text for text, _ in rows]
    keep = set(range(head)) | set(range(len(rows) - head, len(rows)))
    for i, (_, flag) in enumerate(rows):
        if flag == ">>":
            keep |= set(range(max(0, i - context), min(len(rows), i + context + 1)))
    keep |= set([i for i, (_, flag) in enumerate(rows) if flag.strip()][:max_flagged])
    out, last = [], -1
    for i in sorted(keep):
        if i > last + 1:
            out.append(f"     ... {i - last - 1} more rows")
        out.append(rows[i][0])
        last = i
    return out


# ---- recording module calls -------------------------------------------------------------------


@dataclass
class _Call:
    name: str
    module: object
    call: int
    inputs: tuple  # as the module received them (aliases when tracing)
    output: object
    buffers_before: dict
    buffers_after: dict
    children: list  # the _Calls made during this one, of direct children, in order


class _Tracer:
    """Hooks every module (``remove`` takes the hooks off) to record each call. With
    ``trace``, each input gets a private alias (an identity op) whose ``.grad`` is this
    module's own part of dL/dinput, outputs keep their ``.grad``, and the module's own
    buffers are copied before and after the call."""

    def __init__(self, root, trace: bool, on_call=None):
        self.root, self.trace, self.on_call = root, trace, on_call
        self.calls: list[_Call] = []
        self.counts: dict[str, int] = {}
        self.stack: list[str] = []  # the modules running now, outermost first
        self.frames: list[list] = [[]]  # the child calls collected by each running call
        self.before: list[dict] = []  # each running call's buffers as it started
        self.handles = []

    def install(self) -> _Tracer:
        for name, module in self.root.named_modules():
            self.handles.append(module.register_forward_pre_hook(self._enter(name)))
            self.handles.append(module.register_forward_hook(self._leave(name)))
        return self

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def _enter(self, name: str):
        def pre_hook(module, args):
            self.before.append(self._buffers(module))
            self.stack.append(name)
            self.frames.append([])
            return tuple(_alias(a) for a in args) if self.trace else None

        return pre_hook

    def _leave(self, name: str):
        def hook(module, args, out):
            children, before = self.frames.pop(), self.before.pop()
            self.stack.pop()
            if self.trace and isinstance(out, Tensor) and out.requires_grad:
                out.retain_grad()
            index = self.counts.get(name, 0)
            self.counts[name] = index + 1
            call = _Call(name, module, index, args, out, before, self._buffers(module), children)
            self.calls.append(call)
            self.frames[-1].append(call)
            if self.on_call is not None:
                self.on_call(call)

        return hook

    def _buffers(self, module) -> dict:
        if not self.trace or not hasattr(module, "_buffers"):
            return {}
        return {k: asnumpy(v).copy() for k, v in module._buffers.items() if v is not None}


def _alias(a):
    """``a`` through an identity op with its gradient kept: this module's own dL/da."""
    if isinstance(a, Tensor) and a.requires_grad:
        a = reshape(a, a.shape)  # (shape) -> (shape): a node of its own in the graph
        a.retain_grad()
    return a


def _grad_of(t) -> np.ndarray:
    """A learnres tensor's kept gradient (zeros when nothing flowed back)."""
    return np.zeros(t.shape) if t.grad is None else asnumpy(t.grad)


def _torch_outputs(twin, x):
    """Run the twin on ``x`` recording every module call's output: {(name, call): tensor}."""
    outputs, counts = {}, {}

    def recorder(name):
        def hook(module, args, out):
            index = counts.get(name, 0)
            counts[name] = index + 1
            outputs[(name, index)] = out.detach()

        return hook

    handles = [m.register_forward_hook(recorder(name)) for name, m in twin.named_modules()]
    try:
        logits = twin(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, outputs


# ---- the comparison ------------------------------------------------------------------------------


def compare(
    model: Module,
    x,
    target,
    mode: str = "train",
    rtol: float | None = None,
    twin=None,
    trace: bool = True,
) -> Report:
    """Run ``model`` and its PyTorch twin on ``x`` and compare them module by module.

    Arguments:
        model: a learnres model (float64; a float32 one is copied to float64).
        x: the input batch (an array or Tensor), e.g. (N, C, H, W).
        target: integer class labels (N,) for the cross-entropy loss.
        mode: "train" (batch statistics; running statistics updated) or "eval".
        rtol: the tolerance on relative errors (default ``FLOAT64_RTOL``).
        twin: a twin made earlier with ``to_torch`` (default: made now from the model).
            Build it yourself to check a model that was changed after it was built.
        trace: also replay every module on its twin with the same input (see the module
            docstring); costs memory of the order of the activations and a few forwards.

    Returns:
        A ``Report``; ``report.ok`` is True when nothing disagrees.
    """
    from learnres.reference.convert import single_threaded

    with single_threaded():
        return _compare(model, x, target, mode, rtol, twin, trace)


def _compare(model, x, target, mode, rtol, twin, trace) -> Report:
    from learnres.reference.convert import to_torch

    if mode not in MODES:
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    rtol = FLOAT64_RTOL if rtol is None else float(rtol)
    x = np.asarray(asnumpy(x.data if isinstance(x, Tensor) else x), dtype=np.float64)
    target = np.asarray(asnumpy(target.data if isinstance(target, Tensor) else target))
    if target.dtype.kind not in "iu" or target.shape != (x.shape[0],):
        raise ValueError(
            f"target must be integer class labels of shape ({x.shape[0]},) for an input batch "
            f"of shape {x.shape}, got dtype {target.dtype} and shape {target.shape}"
        )
    if any(p.dtype != np.float64 for p in model.parameters()):
        model = copy.deepcopy(model).double()
    model.train(mode == "train")
    twin = to_torch(model, dtype=np.float64) if twin is None else twin
    twin = twin.double().train(mode == "train")
    probe = copy.deepcopy(twin) if trace else None  # replays single modules
    model.zero_grad()
    twin.zero_grad(set_to_none=True)
    report = Report(str(getattr(model, "name", type(model).__name__)), mode, x.shape, rtol, trace)

    # the twin first, so that each learnres call can be checked as it finishes
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    t_logits, t_outputs = _torch_outputs(twin, tx)
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(target.astype(np.int64)))

    def end_to_end(call: _Call) -> None:
        expected = t_outputs.get((call.name, call.call))
        shape = tuple(call.output.shape)
        t_shape = None if expected is None else tuple(expected.shape)
        error = INF if expected is None else relative_error(call.output.data, expected.numpy())
        kind = type(call.module).__name__
        report.modules.append(ModuleError(call.name, kind, call.call, shape, t_shape, error))

    device = model.device
    lx = Tensor(to_device(x.copy(), device), requires_grad=True)
    tracer = _Tracer(model, trace, end_to_end).install()
    logits, running = None, ""
    try:
        logits = model(lx)
    except Exception as e:  # noqa: BLE001 - a broken model: report how far it got
        report.exception = f"{type(e).__name__}: {e}"
        running = tracer.stack[-1] if tracer.stack else ""
    finally:
        tracer.remove()

    called = {(c.name, c.call) for c in tracer.calls}
    report.skipped = [name or "(model)" for name, i in t_outputs if (name, i) not in called]
    if logits is not None:
        loss = cross_entropy(logits, to_device(target, device))
        report.loss = TensorError(
            "loss (cross-entropy), end to end",
            (),
            relative_error(loss.data, t_loss.detach().numpy()),
        )
        logits.retain_grad()
        loss.backward()
        t_loss.backward()
        report.loss_local = _check_loss(loss, logits, target)
        _end_to_end_gradients(report, model, twin, lx, tx)
    if trace:
        _replay(report, tracer, probe, backward_done=logits is not None)
    _locate(report, running)
    return report


def _check_loss(loss, logits, target) -> TensorError:
    """The loss and dL/dlogits in torch from the learnres logits: the worse of the two."""
    t_logits = torch.from_numpy(np.array(asnumpy(logits.data))).requires_grad_(True)
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(target.astype(np.int64)))
    t_loss.backward()
    error = max(
        relative_error(loss.data, t_loss.detach().numpy()),
        relative_error(_grad_of(logits), t_logits.grad.numpy()),
    )
    return TensorError("loss and dL/dlogits, same logits", tuple(logits.shape), error)


def layer_relative_error(actual, expected, siblings=()) -> float:
    """max |actual - expected| / max |e| over ``expected`` and the ``siblings`` (the other
    parameter gradients of the same module, as torch computed them): a gradient that is zero
    in exact arithmetic is judged by the scale of its layer's gradients, not by its own
    rounding noise. Without siblings, ``relative_error``."""
    actual = np.asarray(asnumpy(actual), dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return INF
    diff = float(np.abs(actual - expected).max(initial=0.0))
    scale = max(float(np.abs(np.asarray(e)).max(initial=0.0)) for e in (expected, *siblings))
    return diff / scale if scale > 0 else diff


def _end_to_end_gradients(report: Report, model, twin, lx, tx) -> None:
    t_params = dict(twin.named_parameters())
    expected, actual, layer = {}, {}, {}
    for name, p in model.named_parameters():
        tp = t_params.get(name)
        expected[name] = np.zeros(p.shape) if tp is None or tp.grad is None else tp.grad.numpy()
        actual[name] = np.zeros(p.shape) if p.grad is None else asnumpy(p.grad)
        layer.setdefault(name.rpartition(".")[0], []).append(name)
    for name, e in expected.items():
        siblings = [expected[s] for s in layer[name.rpartition(".")[0]] if s != name]
        error = layer_relative_error(actual[name], e, siblings)
        report.gradients.append(TensorError(name, tuple(e.shape), error))
    t_grad = np.zeros(tx.shape) if tx.grad is None else tx.grad.numpy()
    report.input_grad = TensorError(
        "input gradient dL/dx", tuple(lx.shape), relative_error(_grad_of(lx), t_grad)
    )
    t_buffers = dict(twin.named_buffers())
    for name, array in model.named_buffers():
        expected = t_buffers[name].numpy() if name in t_buffers else np.full(array.shape, np.nan)
        report.running_stats.append(
            TensorError(name, tuple(array.shape), relative_error(asnumpy(array), expected))
        )


class _Stub(torch.autograd.Function):
    """A stubbed child in a composite's replay: returns what the learnres child returned and
    sends back, as dL/dinput, what the learnres child sent back."""

    @staticmethod
    def forward(ctx, value, input_grads, *inputs):
        ctx.input_grads = input_grads
        return value.clone()

    @staticmethod
    def backward(ctx, gy):
        # dL/dinputs = the learnres child's own dL/dinputs (this replay checks its parent)
        # (copies: torch may accumulate into a gradient it is handed, in place)
        grads = [None if g is None else torch.from_numpy(g.copy()) for g in ctx.input_grads]
        return (None, None, *grads)


def _to_torch_inputs(inputs) -> list:
    return [
        torch.from_numpy(np.array(asnumpy(a.data))).requires_grad_(a.requires_grad)
        if isinstance(a, Tensor)
        else a
        for a in inputs
    ]


def _replay(report: Report, tracer: _Tracer, probe, backward_done: bool) -> None:
    """Fill the ``local_*`` errors: every learnres call replayed on its twin module with the
    same input (and the same dL/dy and prior running statistics)."""
    probe_modules = dict(probe.named_modules())
    entries = {(m.name, m.call): m for m in report.modules}
    for call in tracer.calls:
        entry = entries[(call.name, call.call)]
        twin_module = probe_modules[call.name]
        replay = _replay_composite if call.module._modules else _replay_layer
        replay(entry, call, twin_module, backward_done, tracer)


def _replay_layer(
    entry: ModuleError, call: _Call, twin_module, backward_done: bool, tracer
) -> None:
    for key, value in call.buffers_before.items():  # the statistics it started from
        getattr(twin_module, key).copy_(torch.from_numpy(value))
    xs = _to_torch_inputs(call.inputs)
    twin_module.zero_grad(set_to_none=True)
    try:
        y = twin_module(*xs)
    except Exception:  # noqa: BLE001 - the twin cannot take this input: a mismatch
        entry.local_forward = INF
        return
    entry.local_forward = relative_error(call.output.data, y.detach().numpy())
    if call.buffers_after:
        entry.local_buffers = max(
            relative_error(value, getattr(twin_module, key).detach().numpy())
            for key, value in call.buffers_after.items()
        )
    if not backward_done or entry.local_forward == INF or not y.requires_grad:
        return
    y.backward(torch.from_numpy(np.array(_grad_of(call.output))))
    entry.local_grad_input = _max_or_none(
        relative_error(_grad_of(a), _torch_grad(t))
        for a, t in zip(call.inputs, xs)
        if isinstance(a, Tensor) and a.requires_grad
    )
    own = [(k, p) for k, p in call.module._parameters.items() if p is not None]
    if own and tracer.counts[call.name] == 1:  # else its .grad sums several calls
        expected = {k: _torch_grad(getattr(twin_module, k)) for k, _ in own}
        entry.local_grad_params = max(
            layer_relative_error(
                _grad_of(p), expected[k], [e for j, e in expected.items() if j != k]
            )
            for k, p in own
        )


class _StubChild(torch.nn.Module):
    """Stands in for one child of a twin module being replayed: each call hands on
    learnres's output of the matching call (``queue``, in order), wired to the call's inputs
    through ``_Stub`` so the gradient learnres sent back reaches them; when learnres made
    no such call, the twin's own child runs."""

    def __init__(self, real, queue, input_errors: list, stubbed: list):
        super().__init__()
        self.real, self.queue = real, queue or []
        self.input_errors, self.stubbed = input_errors, stubbed

    def forward(self, *args):
        if not self.queue:
            return self.real(*args)
        child_call = self.queue.pop(0)
        for a, b in zip(args, child_call.inputs):  # what the parent hands its child
            if isinstance(b, Tensor):
                self.input_errors.append(relative_error(b.data, a.detach().numpy()))
        grads = [
            _grad_of(b) if isinstance(b, Tensor) and b.requires_grad else None
            for b in child_call.inputs
        ]
        value = torch.from_numpy(np.array(asnumpy(child_call.output.data)))
        out = _Stub.apply(value, grads, *args)
        if out.requires_grad:
            out.retain_grad()
        self.stubbed.append((child_call, out))
        return out


def _replay_composite(
    entry: ModuleError, call: _Call, twin_module, backward_done: bool, tracer
) -> None:
    """Replay a block/stage/model with its children stubbed by their learnres results."""
    prefix = f"{call.name}." if call.name else ""
    pending: dict[str, list] = {}
    for child_call in call.children:
        pending.setdefault(child_call.name[len(prefix) :], []).append(child_call)
    input_errors, stubbed = [], []  # stubbed: (learnres child call, the stub's torch output)

    children = list(twin_module.named_children())
    for short, child in children:  # swap each child for its stub (restored below)
        twin_module._modules[short] = _StubChild(child, pending.get(short), input_errors, stubbed)
    xs = _to_torch_inputs(call.inputs)
    try:
        y = twin_module(*xs)
    except Exception:  # noqa: BLE001 - the twin cannot take this input: a mismatch
        entry.local_forward = INF
        return
    finally:
        for short, child in children:
            twin_module._modules[short] = child
    errors = [relative_error(call.output.data, y.detach().numpy()), *input_errors]
    entry.local_forward = max(errors)
    if not backward_done or entry.local_forward == INF or not y.requires_grad:
        return
    y.backward(torch.from_numpy(np.array(_grad_of(call.output))))
    grad_errors = [  # what it sends back to each child's output ...
        relative_error(_grad_of(c.output), _torch_grad(out)) for c, out in stubbed
    ] + [  # ... and to its own input
        relative_error(_grad_of(a), _torch_grad(t))
        for a, t in zip(call.inputs, xs)
        if isinstance(a, Tensor) and a.requires_grad
    ]
    entry.local_grad_input = _max_or_none(grad_errors)


def _torch_grad(t) -> np.ndarray:
    return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.detach().numpy()


def _max_or_none(errors):
    errors = list(errors)
    return max(errors) if errors else None


def _locate(report: Report, running: str) -> None:
    """Name the culprit: the first suspect in the module docstring's order (a forward error,
    the module that raised, a backward error, running statistics, the loss), found in the
    same-input errors (``trace=True``) or else in the end-to-end ones."""
    suspects = _traced_suspects if report.traced else _end_to_end_suspects
    forward, backward, stats = suspects(report)
    raised = loss = None
    if report.exception is not None:
        raised = running, f"{running or '(model)'} raised while every finished module agreed"
    if report.loss_local is not None and report.bad(report.loss_local.error):
        error = _fmt(report.loss_local.error)
        loss = "", f"given the same logits, the cross-entropy or its gradient differs by {error}"
    found = (
        ("forward", forward),
        ("forward", raised),
        ("backward", backward),
        ("running statistics", stats),
        ("loss", loss),
    )
    for kind, suspect in found:
        if suspect is not None:
            report.culprit, report.culprit_detail = suspect
            report.culprit_kind = kind
            return


def _traced_suspects(report: Report) -> tuple:
    """Steps 1-3 of the module docstring on the same-input errors: the forward, backward and
    running-statistics suspects, each a (module name, detail) pair or None."""
    forward = backward = stats = None
    first = next((m for m in report.modules if report.bad(m.local_forward)), None)
    if first is not None:
        shapes = ""
        if first.local_forward == INF:
            shapes = f" (shape {first.shape}, the twin's {first.torch_shape})"
        detail = (
            f"{first.label} ({first.kind}) given the same input: output error "
            f"{_fmt(first.local_forward)}{shapes}; every module that finished before it agrees"
        )
        forward = first.name, detail
    wrong = [
        m
        for m in report.modules
        if report.bad(m.local_grad_input) or report.bad(m.local_grad_params)
    ]
    innermost = [m for m in wrong if not any(_inside(c.name, m.name) for c in wrong if c is not m)]
    if innermost:
        m = innermost[-1]  # the last to finish: the backward pass reaches it first
        detail = (
            f"{m.label} ({m.kind}) given the same dL/doutput: dL/dinput error "
            f"{_fmt(m.local_grad_input)}, parameter-gradient error {_fmt(m.local_grad_params)}"
        )
        backward = m.name, detail
    m = next((m for m in report.modules if report.bad(m.local_buffers)), None)
    if m is not None:
        detail = (
            f"{m.label} ({m.kind}): buffers differ by {_fmt(m.local_buffers)} after the same update"
        )
        stats = m.name, detail
    return forward, backward, stats


def _end_to_end_suspects(report: Report) -> tuple:
    """The same three suspects from the end-to-end errors only (``trace=False``)."""
    forward = backward = stats = None
    first = next((m for m in report.modules if report.bad(m.forward)), None)
    if first is not None:
        detail = (
            f"{first.label} ({first.kind}): output error {_fmt(first.forward)}; every module "
            "that finished before it agrees"
        )
        forward = first.name, detail
    bad = [g for g in report.gradients if report.bad(g.error)]
    if bad:
        g = bad[-1]  # the last registered parameter: the first the backward pass reaches
        owner = g.name.rsplit(".", 1)[0] if "." in g.name else ""
        detail = (
            f"{g.name} is the first wrong parameter gradient in backward order (error "
            f"{_fmt(g.error)}); the wrong backward is in its module or in one after it"
        )
        backward = owner, detail
    b = next((b for b in report.running_stats if report.bad(b.error)), None)
    if b is not None:
        stats = b.name.rsplit(".", 1)[0], f"{b.name}: error {_fmt(b.error)}"
    return forward, backward, stats


def _inside(name: str, ancestor: str) -> bool:
    """Is module ``name`` inside module ``ancestor`` ("" is the model, holding everything)?"""
    return ancestor == "" and name != "" or name.startswith(ancestor + ".")
