"""What both families of the paper's nets are built from: stages of blocks (``conv2_x``,
``conv3_x``, ... of Table 1 and section 4.2) and He initialisation of the convolutions.
``learnres.models.cifar`` and ``learnres.models.imagenet`` both import them from here."""

from __future__ import annotations

from learnres.nn import init
from learnres.nn.container import Sequential
from learnres.nn.conv import Conv2d
from learnres.nn.module import Module

__all__ = ["make_stage", "init_he"]


def make_stage(block, in_planes: int, planes: int, n: int, stride: int, **options) -> Sequential:
    """One stage (``conv2_x``, ``conv3_x``, ... of Table 1 and section 4.2): ``n`` blocks of
    ``planes`` filters; the first takes ``stride`` (and the shortcut's change of shape), the
    others keep the size. The stage outputs ``planes * block.expansion`` channels."""
    stage = Sequential()
    for i in range(n):
        stage.append(block(in_planes, planes, stride if i == 0 else 1, **options))
        in_planes = planes * block.expansion
    return stage


def init_he(model: Module) -> Module:
    """He initialisation (He et al., 2015, used by the paper) of every convolution:
    weight ~ N(0, 2 / fan_out), fan_out = out_channels * kh * kw. BN layers are built with
    gamma = 1, beta = 0 (or gamma = 0 for ``zero_init_residual``) and are left alone;
    Linear layers keep their default initialisation."""
    for module in model.modules():
        if isinstance(module, Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return model
