"""Lecture 4 on the scratch engine: back-propagation, checked against torch.autograd."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..scratch import losses, optim
from ..scratch.engine import Tensor
from ._course import COURSE_X, COURSE_Y, _save
from .hooks import entry


def _quadratic_losses_torch(w0: tuple, lr: float, momentum: float, epochs: int) -> list[float]:
    """The same training as lesson4's, by torch.autograd in float64 (torch imported only here)."""
    import torch

    x, y = torch.from_numpy(COURSE_X), torch.from_numpy(COURSE_Y)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in w0]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    trajectory = []
    for _ in range(epochs):
        w1, w2, b = params
        loss = torch.nn.functional.mse_loss(w1 * x ** 2 + w2 * x + b, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        trajectory.append(loss.item())
    return trajectory


@entry("lesson4")
def lesson4(out: Path, quick: bool = False) -> dict:
    """Back-propagation on the homework model y_hat = w1 x^2 + w2 x + b, checked against torch.

    Full-batch SGD with momentum: the three features (x^2, x, 1) make the cost ill-conditioned
    (Hessian eigenvalues ~0.015 to ~76), and momentum crosses the flat valley ~10x faster than
    plain GD. Writes loss.png; returns the weights, y_hat(4) and the largest gap between the
    engine's and torch's loss trajectories.
    """
    w0, lr, momentum = (1.0, 1.0, 1.0), 0.05, 0.9
    epochs = 1000 if quick else 3000
    w1, w2, b = (Tensor(v, requires_grad=True, name=n) for v, n in zip(w0, ("w1", "w2", "b")))
    opt = optim.SGD([w1, w2, b], lr=lr, momentum=momentum)
    trajectory = []
    for _ in range(epochs):
        loss = losses.mse_loss(w1 * COURSE_X ** 2 + w2 * COURSE_X + b, COURSE_Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        trajectory.append(loss.item())
    reference = _quadratic_losses_torch(w0, lr, momentum, epochs)
    gap = float(np.max(np.abs(np.array(trajectory) - np.array(reference))))
    y4 = w1.item() * 16 + w2.item() * 4 + b.item()

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(range(1, epochs + 1), trajectory, label="scratch engine")
    ax.plot(range(1, epochs + 1), reference, linestyle="--", label=f"torch.autograd (max gap {gap:.1e})")
    ax.set(yscale="log", title="Lecture 4: y_hat = w1·x² + w2·x + b by back-propagation",
           xlabel="epoch (full batch, lr 0.05, momentum 0.9)", ylabel="loss (MSE, log scale)")
    ax.legend()
    _save(fig, out / "loss.png")
    return {"w1": w1.item(), "w2": w2.item(), "b": b.item(), "y4": y4,
            "final_loss": trajectory[-1], "epochs": epochs, "torch_max_abs_diff": gap}
