"""Input checks shared by the models: errors that name the model, what it expected and what
came, with a hint for the usual mistakes (no batch axis, channels-last images); and the
check that a converted checkpoint fits a model."""

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
    """Raise ValueError unless ``state`` (name -> array) has exactly ``model``'s state-dict
    keys and shapes; the message lists what is missing, unexpected and mismatched (five of
    each) and names ``source`` (e.g. "a torchvision ResNet of the same depth")."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k}: model {own[k].shape}, checkpoint {state[k].shape}"
        for k in own
        if k in state and own[k].shape != state[k].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing from the checkpoint: {', '.join(missing[:5])}")
        if unexpected:
            parts.append(f"not in the model: {', '.join(unexpected[:5])}")
        if wrong:
            parts.append(f"shape mismatches: {'; '.join(wrong[:5])}")
        raise ValueError(
            f"the torchvision state dict does not fit {model.name} (is it {source}?): "
            + " | ".join(parts)
        )
