"""ResNet (He, Zhang, Ren, Sun 2015, "Deep Residual Learning for Image Recognition", arXiv:1512.03385).

Two configurations of one layout (stem → four stages of residual blocks → global average pool → linear):

- paper (`small_input=False`): 224×224 RGB, 1000 classes. Stem 7×7/2 conv + 3×3/2 max-pool (Table 1),
  stage widths 64-128-256-512, conv3_x to conv5_x start with stride 2. ResNet-18 has 11,689,512 parameters,
  ResNet-34 21,797,672, ResNet-50 25,557,032 (the counts of torchvision's reference implementation).
- small input (`small_input=True`, the default): 28×28 gray, 10 classes. The four stages and their blocks
  are unchanged; the stem's 7×7/2 convolution becomes 3×3/1 (as in the paper's own CIFAR-10 nets, §4.2)
  and its 3×3/2 max-pool stays, so the image is halved once instead of twice before the first stage:
  28 → 14 → 7 → 4 → 2 across the four stages (the paper's stem would leave 7×7 for the first stage and
  1×1 for the last). `width` scales every stage: the default 0.125 (8-16-32-64 channels) keeps the
  registry's checks fast; the zoo recipe (lessons/zoo_resnet18.toml) trains a wider one.
"""
from __future__ import annotations

import torch
from torch import nn

from ._registry import MAX_WIDTH, check_flag, check_image, check_positive, register_model

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50"]

SMALL_WIDTH = 0.125


# -- helpers ---------------------------------------------------------------------------------------
def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    # No bias: the BatchNorm that follows has its own shift (Ioffe & Szegedy 2015).
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


def _scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


# -- blocks ----------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """Two 3×3 convolutions and the shortcut: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)) (Fig. 2)."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, planes, stride), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, planes * self.expansion, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 → 1×1 expand (×4), for the deeper nets (Fig. 5). The stride sits on the 3×3
    convolution (as in torchvision's "ResNet v1.5"; the paper puts it on the first 1×1 — same count)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1, self.bn1 = conv1x1(cin, planes), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv3x3(planes, planes, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = conv1x1(planes, out), nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    # Identity where shapes match; a 1×1 projection where they change (option B of §3.3).
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))


# -- model -----------------------------------------------------------------------------------------
class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int = 10,
                 in_channels: int = 1, small_input: bool = True, width: float = SMALL_WIDTH):
        super().__init__()
        widths = [_scaled(c, width) for c in (64, 128, 256, 512)]
        if small_input:   # 3×3/1 convolution (CIFAR nets, §4.2), then the paper's max-pool: 28 → 14
            self.stem = nn.Sequential(conv3x3(in_channels, widths[0]), nn.BatchNorm2d(widths[0]),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        else:             # Table 1: conv1 7×7/2, then 3×3/2 max-pool: 224 → 56
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        stages, cin = [], widths[0]
        for i, (planes, n) in enumerate(zip(widths, layers)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, stride=2 if (i > 0 and j == 0) else 1))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():  # He et al. 2015b ("Delving deep into rectifiers") initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -- builders --------------------------------------------------------------------------------------
def _resnet(block, layers: list[int], num_classes: int, in_channels: int, small_input: bool,
            width: float | None, input_size: int | None) -> ResNet:
    check_flag("model.args.small_input", small_input)
    smallest = 16 if small_input else 32   # at this size the last stage already works on 1×1 maps
    check_image(num_classes, in_channels, input_size, smallest, f"{'small-input' if small_input else 'paper'} ResNet")
    if width is None:
        width = SMALL_WIDTH if small_input else 1.0
    check_positive("model.args.width", width, MAX_WIDTH)
    return ResNet(block, layers, num_classes, in_channels, small_input, width)


_PAPER = {"num_classes": 1000, "in_channels": 3, "small_input": False, "input_size": 224}


@register_model("resnet18", "classification", "image",
                "ResNet-18 (He et al. 2015), basic blocks [2,2,2,2]; small input: 3×3/1 stem conv, "
                "width 0.125", input_size=28, paper=_PAPER)
def resnet18(num_classes: int = 10, in_channels: int = 1, small_input: bool = True, width: float | None = None,
             input_size: int | None = None) -> ResNet:
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, small_input, width, input_size)


@register_model("resnet34", "classification", "image",
                "ResNet-34 (He et al. 2015), basic blocks [3,4,6,3]; small input: 3×3/1 stem conv, "
                "width 0.125", input_size=28, paper=_PAPER)
def resnet34(num_classes: int = 10, in_channels: int = 1, small_input: bool = True, width: float | None = None,
             input_size: int | None = None) -> ResNet:
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, small_input, width, input_size)


@register_model("resnet50", "classification", "image",
                "ResNet-50 (He et al. 2015), bottleneck blocks [3,4,6,3]; small input: 3×3/1 stem "
                "conv, width 0.125", input_size=28, paper=_PAPER)
def resnet50(num_classes: int = 10, in_channels: int = 1, small_input: bool = True, width: float | None = None,
             input_size: int | None = None) -> ResNet:
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, small_input, width, input_size)
