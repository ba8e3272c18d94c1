"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", §3.3;
fastai's `lr_find`): train the run's own model from its first weights for a few hundred steps while the rate
rises exponentially from `start` to `end`, record the training loss of each step, and suggest a rate.

The rule: smooth the losses (an exponential moving average, β = 0.9, bias-corrected), stop once the smoothed
loss is more than 4 × its lowest (the steps have become too large), and suggest **the rate at the lowest
smoothed loss ÷ 10** — a rate still well inside the region where loss falls. The steepest fall of the smoothed
loss (against log rate) is reported beside it.

Nothing of the run survives: the model, its optimizer and the data live in a temporary folder that is deleted,
the random streams of torch, numpy and `random` are put back as they were, and torch's thread count too.
"""
from __future__ import annotations

import copy
import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig
from ..errors import UserError
from ..runs.evaluate import to_device
from .loop import loop_of
from .supervised import Trainer

BETA = 0.9         # the smoothing of the losses (0.98 lags ~50 steps: a third of the range)
DIVERGED = 4.0     # stop once the smoothed loss is this many times its lowest
SKIP = 0.1         # the first steps' share not looked at for the steepest fall (the average is still settling)


@dataclass
class RangeTest:
    """The steps of one range test and what they suggest."""
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    smoothed: list[float] = field(default_factory=list)
    stopped: str = "the last step"
    suggested: float | None = None
    at_min: float | None = None
    steepest: float | None = None

    def to_dict(self) -> dict:
        return {"suggested_lr": self.suggested, "lr_at_min_loss": self.at_min, "steepest_lr": self.steepest,
                "rule": "the rate at the lowest smoothed loss ÷ 10", "stopped": self.stopped,
                "steps": len(self.lrs)}


def check_range(start: float, end: float, steps: int) -> None:
    if not (math.isfinite(start) and math.isfinite(end) and 0 < start < end):
        raise UserError(f"lr-find: --start ({start:g}) and --end ({end:g}) must be rates with 0 < start < end, "
                        "e.g. --start 1e-6 --end 10")
    if not 10 <= steps <= 100_000:
        raise UserError(f"lr-find: --steps must be between 10 and 100000; got {steps}")


def range_test(cfg: RunConfig, start: float = 1e-6, end: float = 10.0, steps: int = 200) -> RangeTest:
    """Run the range test on `cfg`'s model and data (one process); `cfg` itself is not changed."""
    check_range(start, end, steps)
    if loop_of(cfg) is not Trainer:
        raise UserError(f"lr-find is for supervised models; '{cfg.model.name}' trains two players with their "
                        "own rates (gan.*): choose them with a short run of each")
    cfg = copy.deepcopy(cfg)
    cfg.optim.lr, cfg.schedule.name = start, "none"
    cfg.train.nproc, cfg.train.ema, cfg.log.progress = 1, 0.0, False
    with _kept_as_it_was(), tempfile.TemporaryDirectory(prefix="dlp-lr-find-") as tmp:
        t = Trainer(cfg, Path(tmp), loggers=[])
        grow = (end / start) ** (1 / (steps - 1))
        t.sched = torch.optim.lr_scheduler.LambdaLR(t.opt, lambda step: grow ** step)
        return _steps(t, steps, start, grow)


def _steps(t: Trainer, steps: int, start: float, grow: float) -> RangeTest:
    result, avg, lowest = RangeTest(), 0.0, math.inf
    t.train_mode()
    epoch = 1
    while len(result.lrs) < steps:
        for xb, yb in t.loader.batches(epoch, 0):
            i = len(result.lrs)
            xb, yb = to_device(xb, yb, t.device, t.cfg)
            _, loss = t.train_step(xb, yb)
            value = loss.item()
            if not math.isfinite(value):
                result.stopped = f"step {i + 1}: the loss became {value}"
                return _suggest(result)
            avg = BETA * avg + (1 - BETA) * value
            smooth = avg / (1 - BETA ** (i + 1))
            result.lrs.append(start * grow ** i)
            result.losses.append(value)
            result.smoothed.append(smooth)
            lowest = min(lowest, smooth)
            if i > steps // 10 and smooth > DIVERGED * lowest:
                result.stopped = f"step {i + 1}: the smoothed loss passed {DIVERGED:g} × its lowest"
                return _suggest(result)
            if len(result.lrs) == steps:
                break
        epoch += 1
    return _suggest(result)


def _suggest(r: RangeTest) -> RangeTest:
    if len(r.smoothed) < 3:
        raise UserError(f"lr-find: the loss diverged after {len(r.smoothed)} steps ({r.stopped}); "
                        "lower --start (e.g. 1e-8)")
    best = int(np.argmin(r.smoothed))
    r.at_min = r.lrs[best]
    r.suggested = r.at_min / 10
    s, logs = np.asarray(r.smoothed), np.log(np.asarray(r.lrs))
    lo = int(len(s) * SKIP)
    if best - lo >= 2:
        slope = np.gradient(s[lo:best + 1], logs[lo:best + 1])
        r.steepest = r.lrs[lo + int(np.argmin(slope))]
    return r


class _kept_as_it_was:
    """The random streams (torch, numpy, random) and torch's threads, put back after the test."""

    def __enter__(self):
        self.state = (torch.random.get_rng_state(), np.random.get_state(), random.getstate(),
                      torch.get_num_threads())
        return self

    def __exit__(self, *exc):
        rng, nps, pys, threads = self.state
        torch.random.set_rng_state(rng)
        np.random.set_state(nps)
        random.setstate(pys)
        torch.set_num_threads(threads)
        return False
