"""Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks"): one number T that
divides a trained classifier's logits, fitted after training to the validation split's log-loss.

Networks trained to a low loss are often overconfident: their top class is right, but its probability is
too close to 1, which a log-loss score (Otto's, Kaggle's) punishes. Dividing the logits by T > 1 softens
every prediction alike; the predicted class (the argmax) and so the accuracy never change.
`train.calibrate = "temperature"` builds the model inside `Tempered` (T = 1 while it trains) and fits T
once the best epoch is chosen; T is a buffer of the weights, so evaluation, prediction, serving and export
all apply it.
"""
from __future__ import annotations

import torch
from torch import nn


class Tempered(nn.Module):
    """A classifier whose eval-mode logits are divided by `temperature`; training mode is the plain model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out if self.training else out / self.temperature.to(out.dtype)


def tempered(model: nn.Module) -> Tempered | None:
    """The Tempered module of `model` (itself or inside a wrapper such as an EMA copy), or None."""
    return next((m for m in model.modules() if isinstance(m, Tempered)), None)


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The T > 0 that minimises the cross-entropy of logits / T against labels y. The loss is convex in
    b = 1 / T: Newton's method on b from 1, each step halved until the loss does not rise; T in [0.05, 20]."""
    z = logits.detach().double()
    picked = z.gather(1, y.view(-1, 1).long()).squeeze(1)

    def loss(b: float) -> float:
        return float((torch.logsumexp(z * b, 1) - b * picked).mean())

    b, now = 1.0, loss(1.0)
    for _ in range(50):
        p = (z * b).softmax(1)
        mean_z = (p * z).sum(1)                                        # E_p[z] per example
        grad = float((mean_z - picked).mean())                         # d loss / d b
        hess = float(((p * z * z).sum(1) - mean_z ** 2).mean())        # Var_p[z] ≥ 0
        if hess <= 1e-12:
            break
        step = grad / hess
        while abs(step) > 1e-12:
            new = min(max(b - step, 1 / 20), 20.0)
            if (after := loss(new)) <= now:
                break
            step /= 2
        if abs(step) <= 1e-12 or abs(new - b) < 1e-9:
            break
        b, now = new, after
    return 1 / b
