"""The gradient norm both loops log each step (and `train.grad_clip` bounds): clipping, and the epoch's mean and
largest step, added up from tensors the steps keep (reading a norm in each step costs more than computing it)."""
from __future__ import annotations

import math

import torch


def clip_grads(groups: list[list], max_norm: float) -> list[torch.Tensor]:
    """Norms whose 2-norm together is the total norm of the groups' gradients before clipping (`norm_of`): each
    gradient's own, or with `max_norm` > 0 (train.grad_clip) each group's, the group scaled down to at most
    max_norm / groups (clip_grad_norm_). Called after backward, where DDP has averaged the ranks' gradients, and
    under fp16 after the gradient scaler has unscaled them (bf16 autocast keeps fp32's exponent range: no scaler)."""
    if max_norm:
        return [torch.nn.utils.clip_grad_norm_(ps, max_norm / len(groups)) for ps in groups]
    grads = [p.grad for ps in groups for p in ps if p.grad is not None]   # off: no multiply by 1
    if len({(g.device, g.dtype) for g in grads}) > 1:   # one foreach call takes one device and dtype
        return [torch.linalg.vector_norm(g).float().cpu() for g in grads]
    return list(torch._foreach_norm(grads)) if grads else [torch.zeros(())]


def norm_of(parts: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of `clip_grads`'s parts: the total norm of the gradients."""
    return torch.linalg.vector_norm(torch.stack(parts)) if len(parts) > 1 else parts[0]


def note_grad_norm(t, key: str, parts: list[torch.Tensor]) -> None:
    """One step's gradient norm (`clip_grads`'s parts) for network `key` ("" for the only one), kept as tensors
    until `settle_grad_norms`: reading it in the step cost ~2% of a small CNN's step (bench/step_costs.py)."""
    t.pending_norms.setdefault(key, []).append(parts)


def settle_grad_norms(t) -> None:
    """The pending gradient norms, step by step, into the epoch's [sum, max, steps] of each network. Under fp16 a
    step whose gradients overflowed is left out: the gradient scaler skipped it, and its norm is inf or nan."""
    skips = getattr(t, "scaler", None) is not None
    for key, steps in t.pending_norms.items():
        s = t.grad_norms.setdefault(key, [0.0, 0.0, 0])
        for v in torch.stack([norm_of(parts).float().cpu() for parts in steps]).tolist():
            if skips and not math.isfinite(v):
                continue
            s[0], s[1], s[2] = s[0] + v, max(s[1], v), s[2] + 1
    t.pending_norms = {}


def grad_norm_metrics(t, keys: tuple = ("",)) -> dict:
    """grad_norm[_KEY]_mean / _max over the epoch's steps (NaN before its first), as training metrics."""
    settle_grad_norms(t)
    stats = {f"grad_norm_{k}_" if k else "grad_norm_": t.grad_norms.get(k, [0.0, float("nan"), 0]) for k in keys}
    return {**{f"{n}mean": s / steps if steps else float("nan") for n, (s, _, steps) in stats.items()},
            **{f"{n}max": most for n, (_, most, _) in stats.items()}}
