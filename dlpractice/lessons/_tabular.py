"""What the tabular lessons share: a run's model on raw rows, through its saved preprocessing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.table import Table
from ..data.tabular import TabularPrep
from ..runs.predictor import Predictor


def predict_rows(folder: Path, rows: dict[str, list]) -> torch.Tensor:
    """Model outputs for raw rows (column → values), through the run's saved preprocessing."""
    pred = Predictor(folder)
    table = Table(list(rows), {k: np.array([str(v) for v in vs], dtype=object) for k, vs in rows.items()},
                  source="report", header=True)
    x = TabularPrep.from_meta(pred.meta["tabular"]).transform(table)
    with torch.no_grad():
        return pred.model(x)
