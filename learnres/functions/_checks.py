"""The checks of an op's input, each written once, for the op and for the layer around it.

An op's wrapper (``conv2d``, ``batch_norm``, ...) runs its checks once, on the whole input,
before the Function computes: the Functions' ``forward`` is the math only, and the schedule
(``learnres.parallel``) checks the whole batch once before it splits it into pieces. The
layers (``learnres.nn``) check nothing the op checks: they pass their name as ``layer=``.

Every check takes ``name``, the name its message starts with: the op's for a function call,
``conv2d got input with 4 channels ...``, and the layer's as it prints when a layer called,
``Conv2d(3→16) got input with 4 channels ...``. A message says what was expected and what
came, with the shape, and how to fix it where that is not plain.
"""

from __future__ import annotations

from learnres.autograd.function import OpError

__all__ = ["check_channels", "check_dtype", "check_images", "check_layout", "check_window"]

_LAYOUTS = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}
_MODEL_CASTS = {"float64": ".double()", "float32": ".float()"}  # Module's dtype conversions


def check_layout(name: str, x, ndims: tuple[int, ...]) -> None:
    """``conv2d expects input of shape (N, C, H, W), got shape (3, 32, 32)``."""
    if x.ndim not in ndims:
        expected = " or ".join(_LAYOUTS[n] for n in ndims)
        hint = ""
        if ndims == (4,) and x.ndim == 3:  # one image without its batch axis
            hint = "; for a single image, x.reshape(1, *x.shape) is a batch of one"
        raise OpError(f"{name} expects input of shape {expected}, got shape {tuple(x.shape)}{hint}")


def check_channels(name: str, x, expected: int, source: str, what="channels", axis=1) -> None:
    """``Conv2d(3→16) got input with 4 channels (shape (8, 4, 32, 32)); expected 3 channels
    (weight shape (16, 3, 3, 3))``: ``source`` says where the expected number comes from."""
    if x.shape[axis] != expected:
        raise OpError(
            f"{name} got input with {x.shape[axis]} {what} (shape {tuple(x.shape)}); "
            f"expected {expected} {what} ({source})"
        )


def check_dtype(name: str, x, arrays: dict, layer: bool, kind: str = "parameters") -> None:
    """The input's dtype is that of every array in ``arrays`` (name -> array or None).

    A layer's message (``layer=True``) speaks of its ``kind`` (parameters, buffers) and of
    the model's ``.double()``/``.float()``; an op's names the arrays and ``.astype()``."""
    wrong = {k: a for k, a in arrays.items() if a is not None and a.dtype != x.dtype}
    if not wrong:
        return
    dtypes = {str(a.dtype) for a in wrong.values()}
    came = f"{x.dtype} input (shape {tuple(x.shape)})"
    if layer:
        dtype = next(iter(wrong.values())).dtype  # a layer's arrays share one dtype
        model = _MODEL_CASTS.get(str(x.dtype))
        fix = f"convert the input with .astype(np.{dtype})" + (
            f" or the model with {model}" if model else ""
        )
        raise OpError(f"{name} has {dtype} {kind} but got {came}; {fix}")
    names = " and ".join(wrong)
    fix = f"the {names} with .astype(np.{x.dtype})"
    if len(dtypes) == 1:  # the input could go the other way
        fix = f"the input with .astype(np.{dtypes.pop()}) or {fix}"
    *others, last = ["input", *arrays]
    raise OpError(
        f"{name} got {came} but "
        + " and ".join(f"{a.dtype} {k}" for k, a in wrong.items())
        + f"; the {', '.join(others)} and {last} must share a dtype: convert {fix}"
    )


def check_window(name: str, x, kernel: tuple[int, int], padding: tuple[int, int]) -> None:
    """The padded input (N, C, H, W) is at least as large as the kh x kw kernel."""
    (kh, kw), (ph, pw), (H, W) = kernel, padding, x.shape[-2:]
    if H + 2 * ph < kh or W + 2 * pw < kw:
        pad = ph if ph == pw else (ph, pw)
        raise OpError(
            f"{name} got input of size {H}x{W} (shape {tuple(x.shape)}), which is smaller "
            f"than its {kh}x{kw} kernel even after padding {pad} (padded size "
            f"{H + 2 * ph}x{W + 2 * pw})"
        )


def check_images(name: str, x) -> None:
    """x is (N, C, H, W) with H, W >= 1: global and adaptive pools average over H and W."""
    check_layout(name, x, (4,))
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise OpError(f"{name} got an empty image (shape {tuple(x.shape)}); H and W must be >= 1")
