"""Losses for the scratch engine, built only from engine ops so their gradients come for free."""
from __future__ import annotations

import numpy as np

from .engine import Tensor


def _as_tensor(x, like: Tensor) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x, dtype=like.data.dtype)


def mse_loss(input: Tensor, target) -> Tensor:
    """Mean of (input - target)^2 over all elements (torch.nn.functional.mse_loss)."""
    diff = input - _as_tensor(target, input)
    return (diff ** 2).mean()


def binary_cross_entropy_with_logits(input: Tensor, target) -> Tensor:
    """Mean BCE of sigmoid(input) against 0/1 `target`, computed from logits.

    -[y log s(x) + (1-y) log(1-s(x))] simplifies to max(x,0) - x y + log(1 + e^-|x|), which
    never takes exp of a large positive number nor log of 0 (torch uses the same form).
    """
    y = _as_tensor(target, input)
    return (input.relu() - input * y + (1.0 + (-input.abs()).exp()).log()).mean()


def cross_entropy(input: Tensor, target) -> Tensor:
    """Mean of -log softmax(input)[target] for logits (N, C) and integer class targets (N,).

    log softmax(x) = z - log sum e^z with z = x - max(x): the shift stops exp overflowing and
    cancels out exactly, so it is taken as a constant (no gradient flows through the max).
    """
    target = np.asarray(target.data if isinstance(target, Tensor) else target).astype(np.intp)
    z = input - input.data.max(axis=1, keepdims=True)
    log_probs = z - z.exp().sum(axis=1, keepdims=True).log()  # (N, C)
    return -log_probs[np.arange(len(target)), target].mean()
