"""The course's toy data set of lectures 2–4 and the figure helper their lessons share."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches pyplot's global state

from ..scratch import losses
from ..scratch.engine import Tensor, no_grad

# The course's toy data set (lectures 2-4): hours studied -> points, exactly y = 2x.
COURSE_X = np.array([1.0, 2.0, 3.0])
COURSE_Y = np.array([2.0, 4.0, 6.0])


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _mse(w, b, x=COURSE_X, y=COURSE_Y) -> float:
    """Cost of y_hat = w x + b on the data, computed by the engine's forward pass."""
    with no_grad():
        return losses.mse_loss(Tensor(w) * x + b, y).item()
