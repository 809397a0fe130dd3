"""PyTorch twins of learnres's composite modules: the same ``forward``, line for line.

``to_torch`` (in ``learnres.reference.convert``) builds a twin of a learnres model by
walking its modules: layers (Conv2d, BatchNorm2d, ...) become the torch layer of the same
name, and each composite module (a block, a model) becomes the class below that has its
name, with the children attached under the same names in the same order. The twin
therefore has the learnres model's ``state_dict`` keys, and a mismatch between the two
points at the one module whose learnres code differs from these few lines.

The classes are built empty (no arguments): ``to_torch`` attaches their children. Only
``ZeroPadShortcut`` and ``Dropout`` keep settings of their own (they have no weights to
carry them).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ZeroPadShortcut",
    "BasicBlock",
    "Bottleneck",
    "PlainBasicBlock",
    "PlainBottleneck",
    "BasicLinearBlock",
    "PlainLinearBlock",
    "CifarResNet",
    "ImageNetResNet",
    "MLP",
    "Dropout",
    "VGG",
    "CifarVGG",
]


class ZeroPadShortcut(nn.Module):
    """Option A: subsample with ``stride`` and append ``out_planes - in_planes`` zero
    channels after the existing ones (learnres.nn.blocks.subsample_and_zero_pad)."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.in_planes, self.out_planes, self.stride = in_planes, out_planes, stride

    def forward(self, x):
        s = self.stride
        x = x[:, :, ::s, ::s]  # (N, C, H, W) -> (N, C, H/s, W/s)
        # F.pad lists (before, after) pairs from the LAST axis: W, H, then C
        return F.pad(x, (0, 0, 0, 0, 0, self.out_planes - self.in_planes))


class BasicBlock(nn.Module):
    """Fig. 2 / Fig. 5 left: two 3x3 convolutions and a shortcut."""

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class PlainBasicBlock(nn.Module):
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out)


class Bottleneck(nn.Module):
    """Fig. 5 right: 1x1 (reduce), 3x3, 1x1 (restore) and a shortcut."""

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class PlainBottleneck(nn.Module):
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out)


class BasicLinearBlock(nn.Module):
    def forward(self, x):
        out = F.relu(self.bn1(self.fc1(x)))
        out = self.bn2(self.fc2(out))
        return F.relu(out + x)


class PlainLinearBlock(nn.Module):
    def forward(self, x):
        out = F.relu(self.bn1(self.fc1(x)))
        out = self.bn2(self.fc2(out))
        return F.relu(out)


class CifarResNet(nn.Module):
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.conv2_x(out)
        out = self.conv3_x(out)
        out = self.conv4_x(out)
        out = self.avgpool(out)
        out = self.flatten(out)
        return self.fc(out)


class ImageNetResNet(nn.Module):
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.maxpool(out)
        out = self.conv2_x(out)
        out = self.conv3_x(out)
        out = self.conv4_x(out)
        out = self.conv5_x(out)
        out = self.avgpool(out)
        out = self.flatten(out)
        return self.fc(out)


class MLP(nn.Module):
    def forward(self, x):
        out = self.flatten(x)
        out = F.relu(self.bn1(self.fc1(out)))
        out = self.blocks(out)
        return self.fc(out)


class Dropout(nn.Module):
    """learnres's Dropout with the masks learnres draws: a copy of the layer's generator
    (``rng``) draws, call for call, the masks the learnres layer draws from the same state,
    so a training step with dropout is compared exactly. torch's own ``nn.Dropout`` draws
    from torch's generator and could not be compared."""

    def __init__(self, p: float, rng):
        super().__init__()
        self.p, self.rng = p, copy.deepcopy(rng)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = torch.from_numpy(self.rng.random(tuple(x.shape)) >= self.p)
        scale = 1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0
        return x * (keep.to(x.dtype) * scale)


class VGG(nn.Module):
    def forward(self, x):
        out = self.pool1(self.conv1(x))
        out = self.pool2(self.conv2(out))
        out = self.pool3(self.conv3(out))
        out = self.pool4(self.conv4(out))
        out = self.pool5(self.conv5(out))
        out = self.avgpool(out)
        out = self.flatten(out)
        out = self.drop6(F.relu(self.fc6(out)))
        out = self.drop7(F.relu(self.fc7(out)))
        return self.fc8(out)


class CifarVGG(nn.Module):
    def forward(self, x):
        out = self.pool1(self.conv1(x))
        out = self.pool2(self.conv2(out))
        out = self.pool3(self.conv3(out))
        out = self.pool4(self.conv4(out))
        out = self.pool5(self.conv5(out))
        out = self.avgpool(out)
        out = self.flatten(out)
        return self.fc(out)
