"""Input checks shared by the models: errors that name the model, what it expected and what
came, with a hint for the usual mistakes (no batch axis, channels-last images); and the
check that a converted checkpoint fits a model (``Module.state_dict_problems``, worded for
torchvision's weights)."""

from __future__ import annotations

from learnres.autograd.function import OpError

__all__ = ["check_images", "check_state_fits"]


def check_images(name: str, x, channels: int, min_size: int = 1, why: str = "") -> None:
    """Raise unless ``x`` is a batch of images (N, channels, H, W) with H, W >= min_size
    (``why``: the reason for the minimum, said in the error)."""
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
        reason = f" ({why})" if why else ""
        raise OpError(
            f"{name} expects images of at least {min_size}x{min_size}{reason}, got shape "
            f"{tuple(x.shape)}"
        )


def check_state_fits(state: dict, model, source: str) -> None:
    """Raise ValueError unless ``state`` (name -> array) loads into ``model`` exactly: the
    problems ``Module.state_dict_problems`` finds (missing and unexpected keys, shapes),
    under a message that names ``source`` (e.g. "a torchvision ResNet of the same depth")."""
    problems = model.state_dict_problems(state)
    if problems:
        raise ValueError(
            f"the torchvision state dict does not fit {model.name} (is it {source}?): "
            + " | ".join(problems)
        )
