"""Rebuild a model from a run folder alone and evaluate or predict with it."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import from_dict
from ..errors import UserError
from ..models import build_model
from ..train.rundir import Run
from ..train.tasks import TASKS


class Predictor:
    """The model of a run folder (best checkpoint by default), its task, data meta and config."""

    def __init__(self, folder: str | Path, which: str = "best"):
        self.run = Run(folder)
        ck = self.run.checkpoint(which)
        self.cfg = from_dict(ck["config"])
        self.meta = ck["data_meta"]
        self.task = TASKS.get(self.meta["task"])
        self.model = build_model(ck["model_name"], ck["model_args"])
        self.model.load_state_dict(ck["model"])
        self.model.eval()

    def evaluate(self, split: str = "test") -> dict:
        from ..data import load_dataset
        from ..train.loop import evaluate
        data = load_dataset(self.cfg.data, self.meta.get("size"))
        s = data.splits[split]
        if not len(s):
            raise UserError(f"the {split} split of this run is empty")
        return evaluate(self.model, self.task, s.x, s.y, self.cfg, torch.device("cpu"))

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.task.probabilities(self.model(x))
