"""Lecture 9, softmax classifier (多分类问题): cross-entropy is softmax + NLL, checked on this run's logits;
the Otto Group competition's held-out log-loss and submission (otto.toml)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..runs.predictor import Predictor
from ._kaggle import submission
from .hooks import report


@report("softmax")
def softmax_report(folder: str | Path, result: dict | None = None) -> dict:
    """Lecture 9: softmax + negative log-likelihood is cross-entropy, numerically. On the course's worked
    example (z = [0.2, 0.1, -0.1], true class 0 → loss 0.9729) and on a batch of this run's own logits
    (the first 64 test examples): the loss by hand (softmax, then -log of the true class's probability),
    F.nll_loss(F.log_softmax(z)), and nn.CrossEntropyLoss()(z) — printed with their differences."""
    import torch.nn.functional as F
    z = np.array([0.2, 0.1, -0.1])
    p = np.exp(z) / np.exp(z).sum()
    course = float(-np.log(p[0]))
    course_torch = float(torch.nn.CrossEntropyLoss()(torch.tensor([[0.2, 0.1, -0.1]]), torch.tensor([0])))
    print(f"course example: z = {z.tolist()}, softmax = {np.round(p, 4).tolist()}, -log p[0] = {course:.4f}; "
          f"CrossEntropyLoss = {course_torch:.4f}")
    pred = Predictor(folder)
    test = pred.split("test", str(folder))
    x, y = test.x[:64], test.y[:64]
    with torch.no_grad():
        logits = pred.model(x).double()
    probs = torch.exp(logits - logits.max(1, keepdim=True).values)
    probs = probs / probs.sum(1, keepdim=True)                                 # softmax by hand
    by_hand = float(-torch.log(probs[torch.arange(len(y)), y]).mean())        # NLL of the true class
    nll = float(F.nll_loss(F.log_softmax(logits, dim=1), y))
    ce = float(torch.nn.CrossEntropyLoss()(logits, y))
    diff = max(abs(ce - nll), abs(ce - by_hand))
    print(f"a batch of {len(y)} test logits from this run: softmax + NLL by hand {by_hand:.10f}, "
          f"nll_loss(log_softmax) {nll:.10f}, CrossEntropyLoss {ce:.10f}; largest difference {diff:.2e}")
    return {"course_example_loss": course, "batch_softmax_nll": by_hand, "batch_nll_log_softmax": nll,
            "batch_cross_entropy": ce, "cross_entropy_minus_nll": diff}


@report("otto")
def otto_report(folder: str | Path, result: dict | None = None) -> dict:
    """After `otto`: the held-out multi-class log-loss (the cross-entropy loss of the best-by-validation
    checkpoint on the test split, never used to choose) and accuracy, and `submission.csv` with the 9 class
    probabilities for every id of test.csv."""
    metrics = (result or {}).get("metrics", {})
    out = {}
    if "loss" in metrics:
        out = {"test_log_loss": metrics["loss"], "test_accuracy": metrics["accuracy"]}
        print(f"held-out test split: multi-class log-loss {metrics['loss']:.4f}, accuracy {metrics['accuracy']:.4f} "
              "(Kaggle's winning private score ≈ 0.38)")
    return {**out, **submission(Path(folder), "otto", result)}
