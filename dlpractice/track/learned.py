"""What an image classifier learned, from its run folder alone: its most confident mistakes and its
first-layer filters.

`what_it_learned(run_folder)` rebuilds the best model (`dlpractice.runs.predictor.Predictor`), predicts
the run's test split and writes into the folder
- `misclassified.png`: the test images the model got wrong with the highest confidence, each titled with
  its true and predicted class and the predicted probability (the mistakes a model is surest of show
  what it confuses: shirts and T-shirts, pullovers and coats, ambiguous or mislabeled images);
- `filters.png`: the weights of the first convolution, one tile per output channel (gray data: a
  diverging colour map, red positive, blue negative, centred on 0; RGB data: each filter's three channels
  as a colour image). For a model without convolutions (softmax regression, MLP) the rows of the first
  linear layer, reshaped to the image, are drawn instead: one template per unit.
Lessons use it through the report `learned` (`lessons/lecture11.py`; for a compare lesson, one pair of
figures per variant). The per-class report is `dlpractice.track.perclass`.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches pyplot's state
from torch import nn

from ..errors import UserError
from ..runs.predictor import Predictor, predict_split


# -- predictions -----------------------------------------------------------------------------------
def predict_test(folder: str | Path, split: str = "test", which: str = "best"):
    """(predictor, x, y, probabilities) for a split of an image classification run."""
    pred = Predictor(folder, which)
    if pred.task.probabilities is None or pred.meta.get("input") != "image":
        raise UserError(f"{folder} is a {pred.meta.get('task')} run on {pred.meta.get('input')} data: "
                        "misclassified images and filters need an image classification run")
    x, y, probs = predict_split(pred, split, str(folder), run_layout=True)
    if probs.dim() == 1 or probs.shape[1] == 1:   # a binary run: probability of class 1 → two columns
        p1 = probs.view(-1, 1)
        probs = torch.cat([1 - p1, p1], 1)
    return pred, x, y, probs


def most_confident_mistakes(probs: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of up to `k` misclassified examples, highest predicted probability first."""
    conf, guess = probs.max(1)
    wrong = (guess != y).nonzero().view(-1)
    order = conf[wrong].argsort(descending=True, stable=True)
    return wrong[order[:k]]


def _to_image(x: torch.Tensor, meta: dict) -> torch.Tensor:
    """A normalized (C, H, W) input back to [0, 1] pixels, (H, W) or (H, W, 3) for imshow."""
    img = (x.float() * meta.get("std", 1.0) + meta.get("mean", 0.0)).clamp(0, 1)
    return img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)


def plot_misclassified(x: torch.Tensor, y: torch.Tensor, probs: torch.Tensor, idx: torch.Tensor,
                       classes: list[str], meta: dict, path: Path, title: str = "") -> Path:
    n = len(idx)
    cols = max(1, min(8, math.ceil(math.sqrt(max(n, 1)))))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(1.7 * cols, 1.9 * rows + 0.6))
    if n == 0:
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified images in this split", ha="center", va="center")
    for j, i in enumerate(idx.tolist()):
        ax = fig.add_subplot(rows, cols, j + 1)
        ax.imshow(_to_image(x[i], meta).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        p, g = probs[i].max(0)
        ax.set_title(f"true: {classes[int(y[i])]}\npred: {classes[int(g)]} ({float(p):.2f})", fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


# -- filters ---------------------------------------------------------------------------------------
def first_layer(model: nn.Module, meta: dict) -> tuple[torch.Tensor, str]:
    """(weights (K, C, kh, kw), description) of the first convolution, or of the first linear layer
    reshaped to the input image when the model has no convolution."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            w = m.weight.detach().float()
            return w, f"{_label(name)}: {w.shape[0]} filters of {w.shape[2]}×{w.shape[3]}"
    c, s = int(meta.get("in_channels", 1)), int(meta.get("size", 0))
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            if s and m.in_features == c * s * s:
                w = m.weight.detach().float()[:64].reshape(-1, c, s, s)
                return w, f"{_label(name)}: {w.shape[0]} of {m.out_features} units as {s}×{s} templates"
            break
    raise UserError("this model has no first convolution or image-sized linear layer to draw")


def _label(module_name: str) -> str:
    """`features.0` → "features.0"; a bare Sequential index `0` → "layer 0"."""
    return f"layer {module_name}" if module_name.isdigit() else module_name or "layer"


def plot_filters(w: torch.Tensor, path: Path, title: str = "", limit: int = 64) -> Path:
    w = w[:limit]
    k = w.shape[0]
    cols = min(8, k)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(1.1 * cols + 0.4, 1.1 * rows + 0.6))
    for j in range(k):
        ax = fig.add_subplot(rows, cols, j + 1)
        f = w[j]
        if f.shape[0] == 3:   # a colour filter: each one scaled to [0, 1] on its own
            f = (f - f.min()) / (f.max() - f.min()).clamp(min=1e-12)
            ax.imshow(f.permute(1, 2, 0).numpy(), interpolation="nearest")
        else:                 # gray (or averaged) weights, 0 in the middle of the colour map
            f = f.mean(0)
            lim = float(f.abs().max()) or 1.0
            ax.imshow(f.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


# -- entry points ----------------------------------------------------------------------------------
def what_it_learned(run_folder: str | Path, n: int = 24, split: str = "test", which: str = "best",
                    predicted=None) -> dict:
    """Write `misclassified.png` and `filters.png` into the run folder; return what they show. `predicted`:
    what `predict_test` returns for that split, when already computed."""
    folder = Path(run_folder)
    pred, x, y, probs = predicted or predict_test(folder, split, which)
    k = probs.shape[1]
    classes = list(pred.meta.get("classes") or [str(i) for i in range(k)])
    idx = most_confident_mistakes(probs, y, n)
    wrong = int((probs.argmax(1) != y).sum())
    name = f"{pred.run.summary.get('model', '')} on {pred.meta.get('dataset', '')}".strip()
    plot_misclassified(x, y, probs, idx, classes, pred.meta, folder / "misclassified.png",
                       f"{name}: the {len(idx)} most confident of {wrong} mistakes on {len(y)} {split} images")
    w, what = first_layer(pred.model, pred.meta)
    plot_filters(w, folder / "filters.png", f"{name}, first layer — {what}")
    return {"misclassified": str(folder / "misclassified.png"), "filters": str(folder / "filters.png"),
            "wrong": wrong, "n": len(y), "shown": [int(i) for i in idx],
            "confidence_of_shown": [round(float(probs[i].max()), 4) for i in idx]}
