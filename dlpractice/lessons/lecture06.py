"""Lecture 6, logistic regression: P(pass | hours) of the course toy and its 0.5 crossing (lecture06.toml)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..runs.folder import Run
from ._tabular import predict_rows
from .hooks import report


@report("logistic")
def logistic_report(folder: str | Path, result: dict | None = None) -> dict:
    """Lecture 6: P(pass | hours) over 0–10 hours with the 0.5 crossing, `probability.png`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    folder = Path(folder)
    hours = np.linspace(0, 10, 201)
    p = torch.sigmoid(predict_rows(folder, {"hours": hours.tolist()}).view(-1)).numpy()
    model = Run(folder).model()
    w, b = float(model.weight.detach().view(-1)[0]), float(model.bias.detach().view(-1)[0])
    crossing = -b / w if w else float("nan")  # sigmoid(w·x + b) = 0.5 ⟺ w·x + b = 0 (no standardisation)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(hours, p, color="tab:blue", label="P(pass | hours)")
    ax.axhline(0.5, color="gray", ls="--", lw=0.8)
    ax.axvline(crossing, color="tab:red", ls=":", lw=1, label=f"0.5 at {crossing:.2f} h")
    ax.scatter([1, 2, 3], [0, 0, 1], color="black", zorder=3, label="course data")
    ax.set_xlabel("hours studied")
    ax.set_ylabel("probability of passing")
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Logistic regression on the course toy")
    fig.tight_layout()
    fig.savefig(folder / "probability.png", dpi=110)
    plt.close(fig)
    print(f"P(pass) = 0.5 at {crossing:.2f} hours (w = {w:.3f}, b = {b:.3f}); curve: {folder / 'probability.png'}")
    return {"w": w, "b": b, "crossing_hours": crossing, "p_pass_2h": float(p[40]), "p_pass_4h": float(p[80])}
