"""Rebuild a model from a run folder alone and evaluate or predict with it."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import from_dict
from ..data import kaggle  # noqa: F401  (registers the tabular-derived input kind of Titanic / Otto runs)
from ..errors import UserError
from ..models import MODELS, build_model
from ..train.rundir import Run
from ..train.tasks import TASKS
from . import image_input, tabular_input, text_input  # noqa: F401  (register the input kinds)


class Predictor:
    """The model of a run folder (best checkpoint by default), its task, data meta and config."""

    def __init__(self, folder: str | Path, which: str = "best"):
        self.run = Run(folder)
        ck = self.run.checkpoint(which)
        self.cfg = from_dict(ck["config"])
        self.meta = ck["data_meta"]
        if MODELS.get(ck["model_name"]).task == "generation":
            raise UserError(f"{folder} is a GAN run: it generates images rather than predicting; "
                            f"use `dlp sample {folder} -n 64` (its score is in summary.json and report.html)")
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

    def prepare(self, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
        """User inputs → (batch, labels), by the converter of this run's input kind."""
        from .inputs import INPUT_KINDS
        return INPUT_KINDS.get(self.meta["input"])(self.meta, inputs)

    @torch.no_grad()
    def predict(self, inputs: list[str], top: int = 3) -> list[dict]:
        """Top-k classes with probabilities per input (classification), or the value (regression)."""
        x, labels = self.prepare(inputs)
        return self.describe(self.model(x), labels, top)

    def describe(self, out: torch.Tensor, labels: list[str], top: int = 3) -> list[dict]:
        """Model outputs (B, ...) → one result per input: top-k classes, or the regression value."""
        if self.task.probabilities is None:
            return [{"input": lab, "value": v.tolist() if v.numel() > 1 else float(v)} for lab, v in zip(labels, out)]
        probs = self.task.probabilities(out)
        classes = self.meta.get("classes") or [str(i) for i in range(probs.shape[1])]
        k = min(top, probs.shape[1])
        vals, idx = probs.topk(k, dim=1)
        return [{"input": lab, "top": [{"class": classes[int(i)], "probability": float(v)} for v, i in zip(vs, ix)]}
                for lab, vs, ix in zip(labels, vals, idx)]
