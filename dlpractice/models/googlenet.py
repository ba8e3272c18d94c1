"""GoogLeNet / Inception v1 (Szegedy et al. 2014, "Going Deeper with Convolutions", arXiv:1409.4842).

Nine Inception modules, each four parallel branches concatenated along the channels: 1×1; 1×1 → 3×3;
1×1 → 5×5; 3×3 max-pool → 1×1 (Fig. 2b; the 1×1 "reduce" convolutions keep the 3×3 and 5×5 cheap).
The variant is data: `INCEPTIONS`, the rows of the paper's Table 1. As torchvision does, every
convolution is conv → BatchNorm → ReLU (BatchNorm: Ioffe & Szegedy 2015, the paper's successor) and the
local response normalization of the paper is left out.

Auxiliary classifiers (§5: after 4a and 4d, weight 0.3 in the training loss) are not part of `forward`,
which always returns the logits (torchvision's GoogLeNet returns a named tuple in training mode, which
breaks every loop that expects a tensor). Build with `aux=True` and call `model.forward_with_aux(x)` for
`(logits, [aux_4a, aux_4d])`; the shared training loop uses `forward` and does not train them.

- paper (`small_input=False`): 224×224 RGB, 1000 classes. Stem 7×7/2 conv, 3×3/2 max-pool, 1×1 and
  3×3 convolutions, 3×3/2 max-pool: 224 → 28 before 3a; 28 → 14 → 7 across the three groups of modules.
  Without the auxiliary heads: 7,005,832 parameters with the paper's 5×5 branch. torchvision's
  reference implementation, whose count 6,624,904 is the one usually quoted, uses 3×3 in that branch
  (a known deviation it keeps for its pretrained weights); `branch3_kernel=3` builds that exactly.
- small input (`small_input=True`, the default): 28×28 gray, 10 classes. All nine modules and the pools
  between the groups are kept; the stem becomes 3×3/1 with a single 3×3/2 max-pool (28 → 14 before 3a,
  then 14 → 7 → 4), because the paper's stem divides the side by 8 and would leave a 28×28 image at 4×4
  for 3a and 1×1 for 4a. `width` scales every branch: the default 0.125 keeps the registry's checks
  fast; the zoo recipe (lessons/zoo_googlenet.toml) trains a wider one.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ._registry import MAX_WIDTH, check_flag, check_fraction, check_image, check_positive, register_model

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "INCEPTIONS", "googlenet"]

SMALL_WIDTH = 0.125

# Table 1: name → (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj); "M" a 3×3/2 max-pool
# (the one before 5a is 2×2/2 in torchvision, same output size for even maps).
INCEPTIONS: list[tuple[str, tuple[int, int, int, int, int, int]] | str] = [
    ("3a", (64, 96, 128, 16, 32, 32)), ("3b", (128, 128, 192, 32, 96, 64)), "M",
    ("4a", (192, 96, 208, 16, 48, 64)), ("4b", (160, 112, 224, 24, 64, 64)), ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)), ("4e", (256, 160, 320, 32, 128, 128)), "M",
    ("5a", (256, 160, 320, 32, 128, 128)), ("5b", (384, 192, 384, 48, 128, 128)),
]
AUX_AFTER = ("4a", "4d")


# -- helpers ---------------------------------------------------------------------------------------
def _scaled(channels: int, width: float) -> int:
    return max(4, int(round(channels * width)))


class BasicConv2d(nn.Sequential):
    """conv (no bias: BatchNorm shifts) → BatchNorm → ReLU."""

    def __init__(self, cin: int, cout: int, **kw):
        super().__init__(nn.Conv2d(cin, cout, bias=False, **kw), nn.BatchNorm2d(cout, eps=0.001),
                         nn.ReLU(inplace=True))


# -- blocks ----------------------------------------------------------------------------------------
class Inception(nn.Module):
    def __init__(self, cin: int, ch1: int, ch3red: int, ch3: int, ch5red: int, ch5: int, pool_proj: int,
                 branch3_kernel: int = 5):
        super().__init__()
        self.branch1 = BasicConv2d(cin, ch1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, ch3red, kernel_size=1),
                                     BasicConv2d(ch3red, ch3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, ch5red, kernel_size=1),
                                     BasicConv2d(ch5red, ch5, kernel_size=branch3_kernel,
                                                 padding=branch3_kernel // 2))
        self.branch4 = BasicConv2d(cin, pool_proj, kernel_size=1)   # after a 3×3/1 max-pool
        self.out_channels = ch1 + ch3 + ch5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(_max_pool3(x))], 1)


def _max_pool3(x: torch.Tensor) -> torch.Tensor:
    """3×3/1 max-pool, same size. On CPU, torch's max-pool is about 4× faster on a channels-last tensor
    (measured with torch 2.13, conversions included), so an NCHW input is pooled in that layout."""
    if x.device.type == "cpu" and not x.is_contiguous(memory_format=torch.channels_last):
        return F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 3, 1, 1).contiguous()
    return F.max_pool2d(x, 3, 1, 1)


class InceptionAux(nn.Module):
    """§5: average pool, 1×1 conv to 128, fully connected 1024, dropout 0.7, linear to the classes."""

    def __init__(self, cin: int, num_classes: int, width: float = 1.0, pooled: int = 4):
        super().__init__()
        c, hidden = _scaled(128, width), _scaled(1024, width)
        self.pool = nn.AdaptiveAvgPool2d(pooled)   # the paper's 5×5/3 average pool turns 14×14 into 4×4
        self.conv = BasicConv2d(cin, c, kernel_size=1)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c * pooled * pooled, hidden), nn.ReLU(inplace=True),
                                nn.Dropout(0.7), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(self.pool(x)))


# -- model -----------------------------------------------------------------------------------------
class GoogLeNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, small_input: bool = True,
                 width: float = SMALL_WIDTH, aux: bool = False, dropout: float = 0.4, branch3_kernel: int = 5):
        super().__init__()
        c1, c2, c3 = _scaled(64, width), _scaled(64, width), _scaled(192, width)
        if small_input:   # 28 → 14: one halving instead of the paper's three
            self.stem = nn.Sequential(BasicConv2d(in_channels, c1, kernel_size=3, padding=1),
                                      nn.MaxPool2d(3, stride=2, ceil_mode=True),
                                      BasicConv2d(c1, c2, kernel_size=1),
                                      BasicConv2d(c2, c3, kernel_size=3, padding=1))
        else:             # 224 → 112 → 56 → 28
            self.stem = nn.Sequential(BasicConv2d(in_channels, c1, kernel_size=7, stride=2, padding=3),
                                      nn.MaxPool2d(3, stride=2, ceil_mode=True),
                                      BasicConv2d(c1, c2, kernel_size=1),
                                      BasicConv2d(c2, c3, kernel_size=3, padding=1),
                                      nn.MaxPool2d(3, stride=2, ceil_mode=True))
        blocks, names, cin, pools = [], [], c3, 0
        aux_in = {}
        for row in INCEPTIONS:
            if row == "M":
                pools += 1   # 3×3/2 before 4a, 2×2/2 before 5a (as torchvision)
                blocks.append(nn.MaxPool2d(3 if pools == 1 else 2, stride=2, ceil_mode=True))
                names.append("pool")
                continue
            name, chans = row
            block = Inception(cin, *(_scaled(c, width) for c in chans), branch3_kernel=branch3_kernel)
            blocks.append(block)
            names.append(name)
            cin = block.out_channels
            if name in AUX_AFTER:
                aux_in[name] = cin
        self.blocks = nn.ModuleList(blocks)
        self.block_names = names
        self.aux = nn.ModuleDict({n: InceptionAux(c, num_classes, width, pooled=2 if small_input else 4)
                                  for n, c in aux_in.items()}) if aux else None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)        # 40% dropout before the classifier (§5)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):   # He et al. 2015 initialization (BatchNorm follows every conv)
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _run(self, x: torch.Tensor, taps: dict | None) -> torch.Tensor:
        x = self.stem(x)
        for name, block in zip(self.block_names, self.blocks):
            x = block(x)
            if taps is not None and name in AUX_AFTER:
                taps[name] = x
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, None)

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits, [logits of the auxiliary head after 4a, after 4d]); needs `aux=True`."""
        if self.aux is None:
            raise UserError("this GoogLeNet was built without auxiliary heads; build it with aux=True")
        taps: dict = {}
        logits = self._run(x, taps)
        return logits, [self.aux[n](taps[n]) for n in AUX_AFTER]


# -- builder ---------------------------------------------------------------------------------------
@register_model("googlenet", "classification", "image",
                "GoogLeNet / Inception v1 (Szegedy et al. 2014) with BatchNorm; small input: 3×3/1 stem, "
                "width 0.125", input_size=28,
                # The published 6,624,904 parameters (torchvision) use 3×3 in the "5×5" branch; pass
                # branch3_kernel=5 for the paper's literal 5×5 (7,005,832).
                paper={"num_classes": 1000, "in_channels": 3, "small_input": False, "input_size": 224,
                       "branch3_kernel": 3})
def googlenet(num_classes: int = 10, in_channels: int = 1, small_input: bool = True, width: float | None = None,
              aux: bool = False, dropout: float = 0.4, branch3_kernel: int = 5,
              input_size: int | None = None) -> GoogLeNet:
    check_flag("model.args.small_input", small_input)
    smallest = 8 if small_input else 32
    check_image(num_classes, in_channels, input_size, smallest,
                f"{'small-input' if small_input else 'paper'} GoogLeNet")
    if type(branch3_kernel) is not int or branch3_kernel not in (3, 5):
        raise UserError(f"model.args.branch3_kernel must be 5 (the paper) or 3 (torchvision's layout), "
                        f"got {branch3_kernel!r}")
    if width is None:
        width = SMALL_WIDTH if small_input else 1.0
    check_positive("model.args.width", width, MAX_WIDTH)
    check_flag("model.args.aux", aux)
    check_fraction("model.args.dropout", dropout)
    return GoogLeNet(num_classes, in_channels, small_input, width, aux, dropout, branch3_kernel)
