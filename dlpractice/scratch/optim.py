"""Stochastic gradient descent for the scratch engine, with PyTorch's momentum formula."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .engine import Tensor


class SGD:
    """p <- p - lr * v, where v = g on the first step and v <- momentum * v + g after.

    This is torch.optim.SGD with dampening=0, nesterov=False: the velocity is built from raw
    gradients and the learning rate multiplies it at the update (not the Sutskever form).
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0):
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self._velocity: list[np.ndarray | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (torch's set_to_none=True)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """One update from the current gradients; parameters without a gradient are skipped."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad
            if self.momentum:
                v = self._velocity[i]
                v = g.copy() if v is None else self.momentum * v + g
                self._velocity[i] = g = v
            # A new array, not `-=`: p.data may share memory with the caller's numpy array.
            p.data = p.data - self.lr * g
