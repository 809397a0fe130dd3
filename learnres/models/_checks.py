"""Input checks shared by the models: errors that name the model, what it expected and what
came, with a hint for the usual mistakes (no batch axis, channels-last images)."""

from __future__ import annotations

from learnres.autograd.function import OpError

__all__ = ["check_images"]


def check_images(name: str, x, channels: int, min_size: int = 1) -> None:
    """Raise unless ``x`` is a batch of images (N, channels, H, W) with H, W >= min_size."""
    if x.ndim != 4 or x.shape[1] != channels:
        hint = ""
        if x.ndim == 3:
            hint = "; add the batch axis: x[None] or x.reshape(1, *x.shape)"
        elif x.ndim == 4 and x.shape[-1] == channels:
            hint = "; the images look channels-last (N, H, W, C): transpose to (N, C, H, W)"
        raise OpError(
            f"{name} expects images (N, {channels}, H, W), got shape {tuple(x.shape)}{hint}"
        )
    if min(x.shape[2:]) < min_size:
        raise OpError(
            f"{name} expects images of at least {min_size}x{min_size} (it halves them five "
            f"times; the paper uses 224x224), got shape {tuple(x.shape)}"
        )
