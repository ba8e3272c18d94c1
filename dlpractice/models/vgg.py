"""VGG (Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
arXiv:1409.1556): stacks of 3×3 convolutions, five 2×2 max-pools, three fully connected layers.

The variants are data: the configurations A, B, D, E of Table 1 (VGG-11, -13, -16, -19), numbers are
3×3 convolutions of that many channels, "M" a 2×2/2 max-pool. `_bn` variants add BatchNorm after every
convolution (Ioffe & Szegedy 2015; not in the paper, which trained the deeper nets starting from VGG-11's
weights instead).

- paper (`small_input=False`): 224×224 RGB, 1000 classes; the last feature map is 7×7×512 and the
  classifier is 25088 → 4096 → 4096 → 1000 with dropout 0.5. VGG-11 has 132,863,336 parameters,
  VGG-16 138,357,544 (the paper's Table 2 rounds them to 133 and 138 million).
- small input (`small_input=True`, the default): 28×28 gray, 10 classes. The same five stages and
  pools; the pools round up (`ceil_mode`) so 28 → 14 → 7 → 4 → 2 → 1 instead of vanishing at 3 → 1 → 0
  (five halvings need 32 pixels), and one linear layer reads the 1×1×C map, as CIFAR versions of VGG
  do (`hidden=512` restores the paper's two hidden layers with dropout; with them the small nets cannot
  memorise the registry's 64-image check within its 160 steps). `width` scales every convolution: the
  default 0.125 (8 … 64 channels) keeps the registry's checks fast; the zoo recipe
  (lessons/zoo_vgg.toml) trains width 0.25 (Dive into Deep Learning's Fashion-MNIST VGG uses the same
  1/4 ratio at 224×224).

Convolutions start from He et al.'s (2015) fan-in initialisation, which trains plain VGG-16/19 from
scratch (the paper initialised its deeper nets from VGG-11's weights instead).
"""
from __future__ import annotations

import torch
from torch import nn

from ._registry import (MAX_UNITS, MAX_WIDTH, check_count, check_flag, check_fraction, check_image, check_positive,
                        register_model)

__all__ = ["VGG", "CONFIGS", "make_layers", "vgg11", "vgg13", "vgg16", "vgg19",
           "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]

SMALL_WIDTH = 0.125

# Table 1 of the paper: configuration → layers.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],                          # VGG-11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],                 # VGG-13
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],  # VGG-16
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],                                                                 # VGG-19
}


# -- helpers ---------------------------------------------------------------------------------------
def _scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


def make_layers(config: list[int | str], batch_norm: bool, in_channels: int = 3, width: float = 1.0,
                ceil_pools: bool = False) -> nn.Sequential:
    """The convolutional part from a configuration list (3×3 convolutions, padding 1, ReLU; "M" pools)."""
    layers: list[nn.Module] = []
    cin = in_channels
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_pools))
            continue
        cout = _scaled(int(v), width)
        layers.append(nn.Conv2d(cin, cout, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
        cin = cout
    return nn.Sequential(*layers)


# -- model -----------------------------------------------------------------------------------------
class VGG(nn.Module):
    def __init__(self, features: nn.Sequential, out_channels: int, num_classes: int = 10, pooled: int = 1,
                 hidden: int = 0, dropout: float = 0.5):
        super().__init__()
        self.features = features
        # The paper's classifier reads a 7×7 map at 224×224; the adaptive pool makes other sizes fit.
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        n_in = out_channels * pooled * pooled
        if hidden:   # the paper's: two hidden layers with dropout 0.5, then the class scores
            self.classifier = nn.Sequential(
                nn.Linear(n_in, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        else:        # small input: one linear layer over the 1×1×C map, as CIFAR versions of VGG do
            self.classifier = nn.Sequential(nn.Linear(n_in, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He et al. 2015 ("Delving deep into rectifiers", §2.2): fan-in scaling keeps the signal's
                # variance through a deep plain ReLU stack, so VGG-16/19 train from scratch (the VGG
                # paper had to initialise its deeper nets from VGG-11's weights).
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):  # the paper's N(0, 0.01²) for the fully connected layers
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# -- builder ---------------------------------------------------------------------------------------
def _vgg(config: str, batch_norm: bool, num_classes: int, in_channels: int, small_input: bool,
         width: float | None, hidden: int | None, dropout: float, input_size: int | None) -> VGG:
    check_flag("model.args.small_input", small_input)
    smallest = 17 if small_input else 32   # five pools: ceil-mode halvings reach 1×1 from 17, floor from 32
    check_image(num_classes, in_channels, input_size, smallest, f"{'small-input' if small_input else 'paper'} VGG")
    if width is None:
        width = SMALL_WIDTH if small_input else 1.0
    check_positive("model.args.width", width, MAX_WIDTH)
    if hidden is not None:
        check_count("model.args.hidden", hidden, 0, "units of each of the two hidden layers; 0: none", most=MAX_UNITS)
    check_fraction("model.args.dropout", dropout)
    cfg = CONFIGS[config]
    features = make_layers(cfg, batch_norm, in_channels, width, ceil_pools=small_input)
    out_channels = _scaled(int(cfg[-2]), width)
    if hidden is None:
        hidden = 0 if small_input else _scaled(4096, width)
    return VGG(features, out_channels, num_classes, pooled=1 if small_input else 7, hidden=hidden,
               dropout=dropout)


_PAPER = {"num_classes": 1000, "in_channels": 3, "small_input": False, "input_size": 224}


def _variant(name: str, config: str, depth: int, batch_norm: bool):
    """Register one configuration as a public builder `name(num_classes, in_channels, ...)`."""
    bn = " with BatchNorm" if batch_norm else ""

    def build(num_classes: int = 10, in_channels: int = 1, small_input: bool = True, width: float | None = None,
              hidden: int | None = None, dropout: float = 0.5, input_size: int | None = None) -> VGG:
        return _vgg(config, batch_norm, num_classes, in_channels, small_input, width, hidden, dropout, input_size)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"VGG-{depth} (configuration {config}){bn}."
    return register_model(name, "classification", "image",
                          f"VGG-{depth}{bn} (Simonyan & Zisserman 2014, config {config}); small input: "
                          "ceil-mode pools, linear head, width 0.125", input_size=28, paper=_PAPER)(build)


vgg11 = _variant("vgg11", "A", 11, False)
vgg13 = _variant("vgg13", "B", 13, False)
vgg16 = _variant("vgg16", "D", 16, False)
vgg19 = _variant("vgg19", "E", 19, False)
vgg11_bn = _variant("vgg11_bn", "A", 11, True)
vgg13_bn = _variant("vgg13_bn", "B", 13, True)
vgg16_bn = _variant("vgg16_bn", "D", 16, True)
vgg19_bn = _variant("vgg19_bn", "E", 19, True)
