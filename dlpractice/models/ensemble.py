"""Prediction averaging for classifiers: ensembles of copies (`model.args.members`) and averaging over
mirrored and shifted views (`model.args.flip_average`, `shift_average`), both averaging class probabilities in
eval mode only.

An ensemble of independently initialised copies of one classifier, trained side by side in the one loop.

`model.args.members = N` (N ≥ 2) on any classifier builds N copies (each drawn from the seeded RNG in
turn, so each starts elsewhere and sees its own dropout) behind one module; `members` = a list of tables
builds one member per table, each with the model's arguments updated by its table (members of different
widths and depths disagree more than copies do, which is what averaging feeds on):
- training mode: the members' logits stacked, (members, B, classes); the task's loss is then the mean of
  the members' own losses, so each member learns as if alone (no member fits the others' errors);
- eval mode: log of the members' mean class probabilities, (B, classes) — valid logits whose softmax is
  the averaged probability, so evaluation, prediction, serving and export see one ordinary classifier.
Averaging independently trained networks cuts the variance part of their error (Hansen & Salamon 1990;
Lakshminarayanan et al. 2017); the price is N× the training and prediction time.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def mean_probability_logits(logits: torch.Tensor) -> torch.Tensor:
    """(views, B, classes) logits → (B, classes) log of the views' mean class probability: valid logits
    whose softmax is that mean."""
    return torch.logsumexp(logits.float().log_softmax(-1), 0) - math.log(len(logits))


class Ensemble(nn.Module):
    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([m(x) for m in self.members])           # (members, B, classes)
        if self.training:
            return logits
        return mean_probability_logits(logits)                         # (B, classes)


class ViewAverage(nn.Module):
    """An image classifier whose eval-mode prediction is the mean class probability over views of each image
    (test-time augmentation; Krizhevsky et al. 2012 averaged crops and their mirrors): with `flip`, the image
    and its left-right mirror (`model.args.flip_average`); with `shift` = s > 0, each of those moved by every
    offset of up to s pixels down or up and right or left — the (2s + 1)² crops of the image zero-padded by s,
    as `data.augment = 'crop'` draws them within 2 pixels (`model.args.shift_average`). Mirrors and s = 1: 18
    forward passes a prediction. Training mode is the plain model: the views a network sees in training come
    from `data.augment`. Mirrors only for data whose labels survive a horizontal flip (clothes, most photos;
    not digits or text)."""

    def __init__(self, model: nn.Module, flip: bool = True, shift: int = 0):
        super().__init__()
        self.model, self.flip, self.shift = model, flip, shift

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        bases = [x, x.flip(-1)] if self.flip else [x]
        s = self.shift
        if not s:
            return bases
        h, w = x.shape[-2:]
        crops = [(dy, dx) for dy in range(2 * s + 1) for dx in range(2 * s + 1)]   # (s, s): the image itself
        return [p[..., dy:dy + h, dx:dx + w] for p in (F.pad(b, (s, s, s, s)) for b in bases) for dy, dx in crops]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.model(x)
        return mean_probability_logits(torch.stack([self.model(v) for v in self.views(x)]))
