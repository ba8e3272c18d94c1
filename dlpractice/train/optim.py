"""Optimizers and learning-rate schedules, built from the config by name (registries, no if-chains)."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..config import OptimConfig, ScheduleConfig
from ..errors import UserError
from ..registry import Registry

OPTIMIZERS: Registry[Callable] = Registry("optimizer")
for _name, _cls in [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                    ("adagrad", torch.optim.Adagrad), ("adamax", torch.optim.Adamax),
                    ("asgd", torch.optim.ASGD), ("lbfgs", torch.optim.LBFGS),
                    ("rmsprop", torch.optim.RMSprop), ("rprop", torch.optim.Rprop)]:
    OPTIMIZERS.add(_name, _cls)
_USES_MOMENTUM = {"sgd", "rmsprop"}
_NO_WEIGHT_DECAY = {"lbfgs", "rprop"}


def build_optimizer(cfg: OptimConfig, params) -> torch.optim.Optimizer:
    cls = OPTIMIZERS.get(cfg.name)
    kw = {"lr": cfg.lr, **({"momentum": cfg.momentum} if cfg.name in _USES_MOMENTUM else {}),
          **({"weight_decay": cfg.weight_decay} if cfg.name not in _NO_WEIGHT_DECAY else {}), **cfg.args}
    try:
        return cls(params, **kw)
    except (TypeError, ValueError) as e:
        raise UserError(f"optimizer '{cfg.name}' rejects its settings {kw}: {e}") from None


def _none(cfg, total, per_epoch):
    return lambda step: 1.0


def _step(cfg, total, per_epoch):
    return lambda step: cfg.gamma ** (step // (cfg.step_size * per_epoch))


def _cosine(cfg, total, per_epoch):
    return lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


def _onecycle(cfg, total, per_epoch):
    # Smith & Topin 2017: warm up from lr/25 to lr, then cosine down to lr/(25·1e4), per step.
    warm = max(1, int(cfg.pct_start * total))

    def f(step):
        if step < warm:
            return 1 / 25 + (1 - 1 / 25) * (1 - math.cos(math.pi * step / warm)) / 2
        t = min(1.0, (step - warm) / max(1, total - warm))
        return 1 / 25e4 + (1 - 1 / 25e4) * (1 + math.cos(math.pi * t)) / 2
    return f


SCHEDULES: Registry[Callable] = Registry("schedule")
for _name, _fn in [("none", _none), ("step", _step), ("cosine", _cosine), ("onecycle", _onecycle)]:
    SCHEDULES.add(_name, _fn)


def build_schedule(cfg: ScheduleConfig, opt: torch.optim.Optimizer, epochs: int, steps_per_epoch: int):
    """A per-step LambdaLR: the multiplier is a pure function of the step, so resume is exact."""
    fn = SCHEDULES.get(cfg.name)(cfg, max(1, epochs * steps_per_epoch), max(1, steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(opt, fn)
