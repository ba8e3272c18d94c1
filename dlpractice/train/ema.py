"""A moving average of a model's weights, shared by both loops: the main loop evaluates, chooses and
saves the averaged model when `train.ema` > 0; the GAN loop draws its samples from one (`gan.ema`)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def averaged_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of `model` to hold the average (starts equal to the model)."""
    return copy.deepcopy(model).requires_grad_(False)


@torch.no_grad()
def update_average(avg: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """avg ← keep·avg + (1 − keep)·model for the parameters after optimizer step `step` (0-based).

    keep = min(decay, (1 + step) / (10 + step)): a shorter memory early on (TensorFlow's
    ExponentialMovingAverage with num_updates), so the average is not stuck near the random start in
    short runs, and a pure function of the step, so a resumed run averages exactly as a straight one.
    Floating-point buffers (BatchNorm's running mean and variance) are averaged the same way, so the
    statistics match the averaged weights they normalise (as timm's ModelEmaV2 and torch's AveragedModel
    with use_buffers do); the live model's statistics, copied, belong to other weights. Whole-number buffers
    (batches counted) are copied."""
    keep = min(decay, (1 + step) / (10 + step))
    for a, p in zip(avg.parameters(), model.parameters()):
        a.lerp_(p, 1 - keep)
    for a, b in zip(avg.buffers(), model.buffers()):
        if a.is_floating_point():
            a.lerp_(b, 1 - keep)
        else:
            a.copy_(b)
