"""Optimizers and learning-rate schedules, built from the config by name (registries, no if-chains)."""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import torch

from ..config import OptimConfig, ScheduleConfig
from ..errors import UserError, did_you_mean
from ..registry import Registry

OPTIMIZERS: Registry[Callable] = Registry("optimizer")
for _name, _cls in [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                    ("adagrad", torch.optim.Adagrad), ("adamax", torch.optim.Adamax),
                    ("asgd", torch.optim.ASGD), ("lbfgs", torch.optim.LBFGS),
                    ("rmsprop", torch.optim.RMSprop), ("rprop", torch.optim.Rprop)]:
    OPTIMIZERS.add(_name, _cls)
_USES_MOMENTUM = {"sgd", "rmsprop"}
RE_EVALUATES = {"lbfgs"}   # optimizers whose step calls the loss again (a closure); the others step after backward
_NO_WEIGHT_DECAY = {"lbfgs", "rprop"}


# optim.args the loop cannot honour: torch accepts them, then fails inside the first step
_NOT_FOR_THIS_LOOP = {"capturable": "is for CUDA graphs, which the loop does not capture",
                      "differentiable": "is for differentiating through the optimizer's step, which the loop "
                                        "does not do"}
_CHOICES = {"line_search_fn": ("strong_wolfe",)}


def _number(where: str, v: Any, whole: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
            or (whole and (not float(v).is_integer() or v < 1)):
        kind = "a whole number ≥ 1" if whole else "a finite number ≥ 0"
        raise UserError(f"{where} must be {kind}, got {v!r}")
    return int(v) if whole else v


def check_optim_args(name: str, cls: type, args: dict) -> dict:
    """`optim.args` checked against the optimizer's own signature before anything trains: each key one it
    takes (not `params`, and not lr / momentum / weight_decay, which are settings with their ranges), each
    value of its default's kind — true/false for flags, finite numbers ≥ 0, pairs as lists of two."""
    sig = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k not in ("self",)}
    out = {}
    for key, v in args.items():
        where = f"optim.args.{key}"
        if key == "params":
            raise UserError(f"{where}: the loop gives the optimizer the model's parameters itself; remove it")
        if key in ("lr", "momentum", "weight_decay"):
            raise UserError(f"{where}: use the setting optim.{key} instead (--set optim.{key}=...), which checks "
                            "its range")
        if key not in sig:
            known = sorted(k for k in sig if k not in ("params", "lr", "momentum", "weight_decay"))
            raise UserError(f"optimizer '{name}' has no argument {where}{did_you_mean(key, known)}; it takes: "
                            f"{', '.join(known)}")
        default = sig[key]
        if key in _NOT_FOR_THIS_LOOP and v is not False:
            raise UserError(f"{where} {_NOT_FOR_THIS_LOOP[key]}; remove it")
        if key in _CHOICES:
            if v not in _CHOICES[key]:
                raise UserError(f"{where} must be one of {', '.join(_CHOICES[key])}, got {v!r}")
        elif isinstance(default, bool) or default is None and key in ("foreach", "fused"):
            if not isinstance(v, bool):
                raise UserError(f"{where} must be true or false, got {v!r}")
        elif isinstance(default, tuple):
            if not isinstance(v, (list, tuple)) or len(v) != len(default):
                raise UserError(f"{where} must be a list of {len(default)} numbers, e.g. {list(default)}, got {v!r}")
            v = tuple(_number(f"{where}[{i}]", x) for i, x in enumerate(v))
        else:   # numbers; an int default above 0 (max_iter, history_size) or None (max_eval) is a count
            v = _number(where, v, whole=default is None or (isinstance(default, int) and default > 0))
        out[key] = v
    return out


# Devices whose fused optimizer kernels (one pass over every parameter) the loop uses unless optim.args says
# otherwise: on a 2-core CPU a fused SGD step takes 30 µs against the per-parameter loop's 57 µs (course_cnn), a
# fused Adam 0.2 ms against 3.8 ms (Otto's 1024-512 MLP): bench/optim_step.py, docs/BENCHMARKS.md.
_FUSED_DEVICES = ("cpu", "cuda")


def _fused(cls: type, params: list, args: dict) -> dict:
    """{"fused": True} where the optimizer has a fused kernel for every parameter's device and the user's
    optim.args choose no implementation (foreach, fused) of their own; else nothing."""
    chosen = {"fused", "foreach", "differentiable"} & args.keys()
    if chosen or "fused" not in inspect.signature(cls.__init__).parameters:
        return {}
    tensors = [p for p in params if isinstance(p, torch.Tensor)]
    ok = tensors and len(tensors) == len(params) and all(p.is_floating_point() and p.device.type in _FUSED_DEVICES
                                                         for p in tensors)
    return {"fused": True} if ok and len({p.device for p in tensors}) == 1 else {}


def build_optimizer(cfg: OptimConfig, params) -> torch.optim.Optimizer:
    cls = OPTIMIZERS.get(cfg.name)
    params, args = list(params), check_optim_args(cfg.name, cls, dict(cfg.args))
    kw = {"lr": cfg.lr, **({"momentum": cfg.momentum} if cfg.name in _USES_MOMENTUM else {}),
          **({"weight_decay": cfg.weight_decay} if cfg.name not in _NO_WEIGHT_DECAY else {}),
          **_fused(cls, params, args), **args}
    try:
        return cls(params, **kw)
    except (TypeError, ValueError, RuntimeError) as e:   # RuntimeError: fused and foreach both true
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


def fp16_scaler(cfg, device: torch.device) -> torch.amp.GradScaler | None:
    """The gradient scaler an fp16 run steps through (None otherwise): fp16's smallest normal number is 6e-5, so
    the loss is multiplied before backward, the gradients divided back before clipping and the update, and a step
    whose scaled gradients overflowed is skipped while the scale halves (it doubles after 2,000 clean steps)."""
    if cfg.train.precision != "fp16":
        return None
    if cfg.optim.name in RE_EVALUATES:
        raise UserError(f"train.precision = fp16 cannot step optim.name = {cfg.optim.name}: its line search "
                        "re-evaluates the loss, which the gradient scaler cannot follow; use train.precision = fp32 "
                        "or bf16, or another optimizer")
    return torch.amp.GradScaler(device.type)
