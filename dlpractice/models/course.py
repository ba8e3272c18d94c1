"""The networks of lecture 11 (《PyTorch深度学习实践》, 卷积神经网络（高级篇）), layer for layer as in the
course: a small net built around one Inception-style module (GoogLeNet's idea, Szegedy et al. 2014), and
one built around a residual block (He et al. 2015). Both take 28×28 gray images (the course used MNIST).

The course's point: the residual net, with less than half of the Inception net's parameters (41,514
vs 97,298), learns as well, because the shortcut passes features and gradients through unchanged.
`dlp lesson 11` trains both on Fashion-MNIST (dlpractice/lessons/lecture11.toml).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._registry import check_image, register_model

__all__ = ["InceptionA", "ResidualBlock", "CourseInception", "CourseResNet", "course_inception", "course_resnet"]


# -- blocks ----------------------------------------------------------------------------------------
class InceptionA(nn.Module):
    """Four branches, concatenated to 16 + 24 + 24 + 24 = 88 channels at the input's size:
    1×1 (16); 1×1 (16) → 5×5 (24); 1×1 (16) → 3×3 (24) → 3×3 (24); 3×3/1 average pool → 1×1 (24).
    As in the course, the branches have no activation of their own."""

    out_channels = 88

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)
        self.branch3x3_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)
        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3_3(self.branch3x3_2(self.branch3x3_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], dim=1)


class ResidualBlock(nn.Module):
    """relu(x + conv2(relu(conv1(x)))) with 3×3 same-padding convolutions: input and output shapes match,
    so the shortcut is the identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(x + y)


# -- models ----------------------------------------------------------------------------------------
class CourseInception(nn.Module):
    """conv 1→10 k5, pool, ReLU, InceptionA, conv 88→20 k5, pool, ReLU, InceptionA, linear 1408→classes."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 10, kernel_size=5)          # 28 → 24, pool → 12
        self.incep1 = InceptionA(10)
        self.conv2 = nn.Conv2d(InceptionA.out_channels, 20, kernel_size=5)  # 12 → 8, pool → 4
        self.incep2 = InceptionA(20)
        self.mp = nn.MaxPool2d(2)
        self.fc = nn.Linear(InceptionA.out_channels * 4 * 4, num_classes)   # 88 × 4 × 4 = 1408

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.mp(self.conv1(x)))
        x = self.incep1(x)
        x = F.relu(self.mp(self.conv2(x)))
        x = self.incep2(x)
        return self.fc(torch.flatten(x, 1))


class CourseResNet(nn.Module):
    """conv 1→16 k5, ReLU, pool, ResidualBlock(16), conv 16→32 k5, ReLU, pool, ResidualBlock(32),
    linear 512→classes."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, kernel_size=5)   # 28 → 24, pool → 12
        self.rblock1 = ResidualBlock(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)            # 12 → 8, pool → 4
        self.rblock2 = ResidualBlock(32)
        self.mp = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * 4 * 4, num_classes)             # 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mp(F.relu(self.conv1(x)))
        x = self.rblock1(x)
        x = self.mp(F.relu(self.conv2(x)))
        x = self.rblock2(x)
        return self.fc(torch.flatten(x, 1))


# -- builders --------------------------------------------------------------------------------------
@register_model("course_inception", "classification", "image",
                "lecture 11's Inception net: conv 1→10 k5, pool, InceptionA (88 ch), conv 88→20 k5, pool, "
                "InceptionA, linear 1408→10", input_size=28)
def course_inception(num_classes: int = 10, in_channels: int = 1) -> CourseInception:
    check_image(num_classes, in_channels)
    return CourseInception(num_classes, in_channels)


@register_model("course_resnet", "classification", "image",
                "lecture 11's residual net: conv 1→16 k5, pool, ResidualBlock(16), conv 16→32 k5, pool, "
                "ResidualBlock(32), linear 512→10", input_size=28)
def course_resnet(num_classes: int = 10, in_channels: int = 1) -> CourseResNet:
    check_image(num_classes, in_channels)
    return CourseResNet(num_classes, in_channels)
