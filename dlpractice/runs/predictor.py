"""Rebuild a model from a run folder alone and evaluate or predict with it."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import from_dict
from ..errors import UserError
from ..inputs import prepare
from ..models import build_model
from .checkpoint import load_weights
from .evaluate import autocast, evaluate
from .folder import Run
from .tasks import TASKS


class Predictor:
    """The model of a run folder (best checkpoint by default), its task, data meta and config."""

    def __init__(self, folder: str | Path, which: str = "best"):
        self.run = Run(folder)
        ck = self.run.checkpoint(which)
        self.cfg = from_dict(ck["config"])
        self.meta = ck["data_meta"]
        self.task = TASKS.get(self.meta["task"])
        if self.task.loop == "adversarial":
            raise UserError(f"{folder} is a GAN run: it generates images rather than predicting; "
                            f"use `dlp sample {folder} -n 64` (its score is in summary.json and report.html)")
        self.model = build_model(ck["model_name"], ck["model_args"])
        # other shapes, or NaN weights of a diverged run: one line, rather than "nan" probabilities
        load_weights(self.model, ck["model"], self.run.folder / "checkpoints" / f"{which}.pt")
        self.model.eval()

    def split(self, split: str = "test", what: str = "this run"):
        """The run's data split `split` (train / val / test), re-read as training read it."""
        from ..data import load_dataset
        data = load_dataset(self.cfg.data, self.meta.get("size"))
        s = data.splits[split]
        if not len(s):
            raise UserError(f"the {split} split of {what} is empty")
        return s

    def evaluate(self, split: str = "test") -> dict:
        s = self.split(split)
        return evaluate(self.model, self.task, s.x, s.y, self.cfg, torch.device("cpu"))

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.task.probabilities(self.model(x))

    def prepare(self, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
        """User inputs → (batch, labels), by the reader of this run's input kind."""
        return prepare(self.meta, inputs)

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


@torch.no_grad()
def predict_split(pred: Predictor, split: str = "test", what: str = "this run", run_layout: bool = False):
    """(x, y, probabilities) of a classifier's predictor on one split of its run's data, batch by batch, in
    the run's precision (`train.precision`, as its evaluation and `dlp evaluate` ran: a report's accuracy is
    the run's figure, not fp32's a few examples away; an fp16 run on a CPU without fp16 runs in fp32).

    `run_layout` puts model and images in the run's own memory layout (`train.channels_last`): faster on
    CPU, the same numbers within float rounding."""
    s = pred.split(split, what)
    bs = pred.cfg.data.eval_batch_size
    x = s.x
    if run_layout and pred.cfg.train.channels_last is True and x.dim() == 4:
        pred.model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    probs = torch.cat([pred.task.probabilities(_run_outputs(pred, x[i:i + bs])) for i in range(0, len(s), bs)])
    return s.x, s.y.view(-1).long(), probs


def _run_outputs(pred: Predictor, xb: torch.Tensor) -> torch.Tensor:
    """The model's float outputs for a batch, computed in the run's precision."""
    with autocast(pred.cfg, torch.device("cpu"), inference=True):
        return pred.model(xb).float()
