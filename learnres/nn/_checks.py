"""Input checks shared by the layers, so every layer's error says the same things the same
way: the layer (as it prints), what it expected, and what came."""

from __future__ import annotations

from learnres.autograd.function import OpError

__all__ = ["check_ndim", "check_channels", "check_spatial_size", "check_dtype"]

_LAYOUTS = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}


def check_ndim(layer: str, x, ndims: tuple[int, ...]) -> None:
    """``Conv2d expects (N, C, H, W), got shape (3, 32, 32)``."""
    if x.ndim not in ndims:
        expected = " or ".join(_LAYOUTS[n] for n in ndims)
        raise OpError(f"{layer} expects {expected}, got shape {tuple(x.shape)}")


def check_channels(layer: str, x, expected: int, what: str = "channels", axis: int = 1) -> None:
    """``Conv2d(3→16) got input with 4 channels (shape (8, 4, 32, 32))``."""
    if x.shape[axis] != expected:
        raise OpError(
            f"{layer} got input with {x.shape[axis]} {what} (shape {tuple(x.shape)}); "
            f"expected {expected} {what}"
        )


def check_spatial_size(layer: str, x, kernel_size, padding) -> None:
    """The padded input must be at least as large as the kernel."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    H, W = x.shape[-2:]
    if H + 2 * ph < kh or W + 2 * pw < kw:
        raise OpError(
            f"{layer} got input of size {H}x{W} (shape {tuple(x.shape)}), which is smaller "
            f"than its {kh}x{kw} kernel even after padding {padding} (padded size "
            f"{H + 2 * ph}x{W + 2 * pw})"
        )


def check_dtype(layer: str, x, state) -> None:
    """The input's dtype must be the layer's (its parameters' or buffers')."""
    if state is not None and x.dtype != state.dtype:
        cast = ".double()" if x.dtype == "float64" else ".float()"
        raise OpError(
            f"{layer} has {state.dtype} parameters but got {x.dtype} input (shape "
            f"{tuple(x.shape)}); convert the input with .astype(np.{state.dtype}) or the "
            f"model with {cast}"
        )
