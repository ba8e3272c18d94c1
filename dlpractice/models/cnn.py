"""The basic CNNs of lecture 10: the course CNN, LeNet-5, LeNet with BatchNorm, and its pool-first variant for speed."""
from __future__ import annotations

from torch import nn

from ..errors import UserError
from ._registry import MAX_UNITS, check_count, check_counts, check_image, register_model


@register_model("course_cnn", "classification", "image",
                "lecture 10's CNN: conv 1→10 k5, pool, conv 10→20 k5, pool, linear 320→10, ReLU", input_size=28)
def course_cnn(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    check_image(num_classes, in_channels)
    return nn.Sequential(
        nn.Conv2d(in_channels, 10, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),   # (B, 10, 12, 12)
        nn.Conv2d(10, 20, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),            # (B, 20, 4, 4)
        nn.Flatten(), nn.Linear(320, num_classes),
    )


@register_model("lenet5", "classification", "image",
                "LeCun et al. 1998 as in Dive into Deep Learning: sigmoid, average pooling (61,706 params)",
                input_size=28)
def lenet5(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    check_image(num_classes, in_channels)
    # d2l.ai §7.6: the first conv pads by 2 so a 28×28 input plays the role of the paper's 32×32.
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),  # (B, 6, 14, 14)
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, 2),                      # (B, 16, 5, 5)
        nn.Flatten(), nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


@register_model("lenet_bn", "classification", "image",
                "LeNet-5 modernised: BatchNorm, ReLU, max pooling (d2l.ai §8.5 layout)", input_size=28)
def lenet_bn(num_classes: int = 10, in_channels: int = 1, width: int = 1) -> nn.Module:
    check_image(num_classes, in_channels)
    check_count("model.args.width", width, 1, "a multiple of 6-16-120-84 units", most=MAX_UNITS // 120)
    c1, c2, h1, h2 = 6 * width, 16 * width, 120 * width, 84 * width
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, kernel_size=5, padding=2, bias=False), nn.BatchNorm2d(c1), nn.ReLU(),
        nn.MaxPool2d(2),                                                                       # (B, c1, 14, 14)
        nn.Conv2d(c1, c2, kernel_size=5, bias=False), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),  # (B, c2, 5, 5)
        nn.Flatten(), nn.Linear(c2 * 25, h1, bias=False), nn.BatchNorm1d(h1), nn.ReLU(),
        nn.Linear(h1, h2, bias=False), nn.BatchNorm1d(h2), nn.ReLU(), nn.Linear(h2, num_classes),
    )


@register_model("lenet_fast", "classification", "image",
                "LeNet-BN reordered for CPU speed: each convolution pools before its BatchNorm and ReLU (a quarter "
                "of the pixels), 8 and 48 channels, 256 hidden units", input_size=28)
def lenet_fast(num_classes: int = 10, in_channels: int = 1, channels: tuple[int, int] = (8, 48),
               hidden: int = 256) -> nn.Module:
    # Measured on a 2-core AVX2 CPU (issue 20): as fast per step as lenet_bn (whose BatchNorm, ReLU and
    # max-pool work on the full-size maps) with 8× its second convolution; 5 epochs: 0.920 against 0.910.
    check_image(num_classes, in_channels)
    check_counts("model.args.channels", channels, 1, most=MAX_UNITS, example="[8, 48]")
    if len(channels) != 2:
        raise UserError(f"model.args.channels must list the two convolutions' channels, e.g. [8, 48]; got {channels!r}")
    check_count("model.args.hidden", hidden, 1, most=MAX_UNITS)
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, kernel_size=5, padding=2, bias=False), nn.MaxPool2d(2),
        nn.BatchNorm2d(c1), nn.ReLU(),                                                     # (B, c1, 14, 14)
        nn.Conv2d(c1, c2, kernel_size=5, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c2), nn.ReLU(),  # (B, c2, 5, 5)
        nn.Flatten(), nn.Linear(c2 * 25, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )
