"""AlexNet (Krizhevsky, Sutskever, Hinton 2012, "ImageNet Classification with Deep Convolutional Neural
Networks"), in its one-tower form (Krizhevsky 2014, "One weird trick for parallelizing convolutional neural
networks", arXiv:1404.5997): five convolutions with 64-192-384-256-256 channels, three max-pools, three
fully connected layers with dropout 0.5. The 2012 paper split the network over two GPUs (grouped
convolutions, 48+48 … channels) and used local response normalization, which later work dropped.

- paper (`small_input=False`): 224×224 RGB, 1000 classes; 11×11/4 stem, 6×6×256 map into the
  9216 → 4096 → 4096 → 1000 classifier: 61,100,840 parameters.
- small input (`small_input=True`, the default): 28×28 gray, 10 classes. The five convolutions, the three
  3×3/2 max-pools and the three-layer classifier are kept; the 11×11/4 stem, meant to cut 224 pixels to
  55 at once, becomes a 3×3/1 convolution (an 11×11/4 stem leaves 28×28 inputs at 6×6, nothing for the
  later pools), so the map goes 28 → 13 → 6 → 2, and the classifier reads the 2×2 map. `width` scales
  the channels and the hidden layers: the default 0.125 (8-24-48-32-32 channels, 512 hidden units) keeps
  the registry's checks fast; the zoo recipe (lessons/zoo_alexnet.toml) trains width 0.25. Dropout is
  0.5 at the paper configuration and off by default at small input (pass `dropout=0.5`): with it the
  classifier cannot memorise the registry's 64-image check within its 160 steps.
"""
from __future__ import annotations

import torch
from torch import nn

from ._registry import MAX_WIDTH, check_flag, check_fraction, check_image, check_positive, register_model

__all__ = ["AlexNet", "alexnet"]

SMALL_WIDTH = 0.125
CHANNELS = [64, 192, 384, 256, 256]   # conv1..conv5 of the one-tower network


def _scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, small_input: bool = True,
                 width: float = SMALL_WIDTH, dropout: float = 0.5):
        super().__init__()
        c1, c2, c3, c4, c5 = (_scaled(c, width) for c in CHANNELS)
        stem = (nn.Conv2d(in_channels, c1, kernel_size=3, stride=1, padding=1) if small_input
                else nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=2))
        self.features = nn.Sequential(
            stem, nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),                  # overlapping pools (§3.4)
            nn.Conv2d(c1, c2, kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )
        pooled = 2 if small_input else 6
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        hidden = _scaled(4096, width)
        self.classifier = nn.Sequential(  # dropout before the first two fully connected layers (§4.2)
            nn.Dropout(dropout), nn.Linear(c5 * pooled * pooled, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _alexnet(num_classes: int, in_channels: int, small_input: bool, width: float | None, dropout: float | None,
             input_size: int | None) -> AlexNet:
    check_flag("model.args.small_input", small_input)
    smallest = 15 if small_input else 63   # the third pool needs a 3×3 map
    check_image(num_classes, in_channels, input_size, smallest,
                f"{'small-input' if small_input else 'paper'} AlexNet")
    if width is None:
        width = SMALL_WIDTH if small_input else 1.0
    check_positive("model.args.width", width, MAX_WIDTH)
    if dropout is None:
        dropout = 0.0 if small_input else 0.5
    check_fraction("model.args.dropout", dropout)
    return AlexNet(num_classes, in_channels, small_input, width, dropout)


@register_model("alexnet", "classification", "image",
                "AlexNet (Krizhevsky et al. 2012, one-tower form of 2014); small input: 3×3/1 stem, width 0.125",
                input_size=28, paper={"num_classes": 1000, "in_channels": 3, "small_input": False,
                                      "input_size": 224})
def alexnet(num_classes: int = 10, in_channels: int = 1, small_input: bool = True, width: float | None = None,
            dropout: float | None = None, input_size: int | None = None) -> AlexNet:
    return _alexnet(num_classes, in_channels, small_input, width, dropout, input_size)
