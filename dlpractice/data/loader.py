"""The in-memory tensor loader: a whole split as one tensor, shuffled index batches, batched augmentation."""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def random_crop(x: torch.Tensor, gen: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random crop with zero padding, one offset per example, done for the batch at once."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    # Gather rows then columns with per-example offsets: (N, 1, H, 1) and (N, 1, 1, W) index grids.
    ys, xs = torch.arange(h, device=x.device).view(1, 1, h, 1), torch.arange(w, device=x.device).view(1, 1, 1, w)
    rows = (dy.view(n, 1, 1, 1) + ys).expand(n, x.shape[1], h, w + 2 * pad)
    out = padded.gather(2, rows)
    cols = (dx.view(n, 1, 1, 1) + xs).expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Horizontal flip of a random half of the batch."""
    mask = (torch.rand(x.shape[0], generator=gen) < 0.5).to(x.device)
    return torch.where(mask.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


def random_erase(x: torch.Tensor, gen: torch.Generator, p: float = 0.5, area: tuple = (0.02, 0.4),
                 ratio: float = 0.3) -> torch.Tensor:
    """Random erasing (Zhong et al. 2017, their Fashion-MNIST setting): each image, with probability `p`, gets one
    rectangle of `area` × its pixels (drawn uniformly) and aspect ratio between `ratio` and 1 / `ratio` (drawn
    log-uniformly) replaced by noise — standard normal, the scale of the standardized images. The paper draws
    again until the rectangle fits; here a side longer than the image is cut to it (the batch at once)."""
    n, _, h, w = x.shape
    size = torch.empty(n).uniform_(*area, generator=gen) * (h * w)                  # (N,) pixels
    aspect = torch.empty(n).uniform_(math.log(ratio), -math.log(ratio), generator=gen).exp()
    eh = (size * aspect).sqrt().round().clamp(1, h)                                   # (N,) rows erased
    ew = (size / aspect).sqrt().round().clamp(1, w)                                   # (N,) columns erased
    top = (torch.rand(n, generator=gen) * (h - eh + 1)).floor()
    left = (torch.rand(n, generator=gen) * (w - ew + 1)).floor()
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
              & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)))     # (N, H, W)
    chosen = torch.rand(n, generator=gen) < p
    noise = torch.randn(x.shape, generator=gen).to(x.device, x.dtype)
    return torch.where((inside & chosen.view(n, 1, 1)).unsqueeze(1).to(x.device), noise, x)   # (N, C, H, W)


AUGMENTS: dict[str, Augment] = {"crop": random_crop, "flip": random_flip, "erase": random_erase}
# Each draws its randomness on the CPU from the loader's generator, then works on the batch's own device: a run
# whose split is held on a GPU (data.on_device) augments there, with the same draws as on the CPU.


def on_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, setting: bool | str) -> tuple:
    """(x, y) moved to `device` once, for `data.on_device`: True moves them, "auto" only to a CUDA device whose free
    memory is at least four times their size; otherwise (and always on the CPU) they stay where they are."""
    if device.type == "cpu" or setting is False:
        return x, y
    if setting == "auto":
        if device.type != "cuda" or 4 * (x.nbytes + y.nbytes) > torch.cuda.mem_get_info(device)[0]:
            return x, y
    return x.to(device), y.to(device)


class TensorLoader:
    """Yields (x, y) batches of a split held as tensors.

    The order of epoch `e` is a permutation drawn from a generator seeded with (seed, e), so a
    resumed run sees the same batches as an uninterrupted one; `augment_gen` carries the
    augmentation randomness and is saved in checkpoints.

    With `share` (a function of the global batch's size giving this rank's slice), every rank draws the same
    global batch in the same order, augments it whole with the same generator, and yields its slice: what
    each example sees does not depend on the number of ranks.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False,
                 seed: int = 0, augments: list[Augment] | None = None, drop_last: bool = False,
                 share: Callable[[int], slice] | None = None):
        self.x, self.y, self.batch_size, self.share = x, y, batch_size, share
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.augments = augments or []
        self.augment_gen = torch.Generator().manual_seed(seed + 7919)
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def batch_len(self, b: int) -> int:
        """Examples in global batch `b` (the last one may hold fewer)."""
        return min(self.batch_size, len(self.x) - b * self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(len(self.x))
        gen = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        return torch.randperm(len(self.x), generator=gen)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of `epoch`, skipping the first `start` (for a resume inside an epoch)."""
        idx = self.order(epoch).to(self.x.device)   # a split held on a GPU (on_device) is gathered there
        for b in range(start, len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            part = self.share(len(sel)) if self.share is not None else None
            if part is not None and not self.augments:   # only this rank's examples are gathered
                sel, part = sel[part], None
            # index_select: the same rows as x[sel] in less than half the time (40 against 110 µs a batch of 128
            # Fashion-MNIST images: bench/step_costs.py gather), which a small CNN's step notices
            xb, yb = self.x.index_select(0, sel), self.y.index_select(0, sel)
            for aug in self.augments:
                xb = aug(xb, self.augment_gen)
            yield (xb, yb) if part is None else (xb[part], yb[part])

    def __iter__(self):
        return self.batches(self.epoch)
