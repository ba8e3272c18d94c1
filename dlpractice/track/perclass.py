"""Per-class report of a classification run: accuracy per class, balanced accuracy, confusion matrix.

`per_class_report(run_folder)` rebuilds the run's best model from the folder alone
(`dlpractice.runs.predictor.Predictor`), predicts the test split, and writes
- `per_class.json`: overall accuracy, balanced accuracy (the mean of the per-class accuracies, i.e.
  of the recalls: every class counts the same however rare), and per class its support, accuracy
  (recall), precision and most frequent confusion;
- `confusion.png`: the confusion matrix, rows = true class, columns = predicted class, colour = share
  of the row, numbers = counts.
Works for any classification run (image, tabular, sequence): binary runs count as two classes.
Lessons use it through the report `per_class` (`lessons/lecture13.py`).
"""
from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches pyplot's state

from ..errors import UserError
from ..runs.folder import write_json
from ..runs.predictor import Predictor, predict_split


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts: entry [i, j] = examples of true class i predicted as j."""
    idx = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


def scores(cm: torch.Tensor, classes: list[str]) -> dict:
    """Accuracy, balanced accuracy and per-class figures from a confusion matrix."""
    cm = cm.double()
    support, predicted, correct = cm.sum(1), cm.sum(0), cm.diag()
    present = support > 0
    recall = torch.where(present, correct / support.clamp(min=1), torch.full_like(correct, float("nan")))
    per_class = {}
    for i, name in enumerate(classes):
        off = cm[i].clone()
        off[i] = -1
        j = int(off.argmax())
        per_class[name] = {
            "support": int(support[i]),
            "accuracy": float(recall[i]) if present[i] else None,
            "precision": float(correct[i] / predicted[i]) if predicted[i] > 0 else None,
            "most_confused_with": classes[j] if off[j] > 0 else None,
            "confused_count": int(off[j]) if off[j] > 0 else 0,
        }
    total = float(cm.sum())
    return {"n": int(total), "accuracy": float(correct.sum() / total) if total else float("nan"),
            "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
            "per_class": per_class}


def plot_confusion(cm: torch.Tensor, classes: list[str], path: Path, title: str = "") -> Path:
    k = len(classes)
    rows = cm.double() / cm.sum(1, keepdim=True).clamp(min=1)
    side = max(5.0, 0.42 * k + 2.5)
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.add_subplot()
    im = ax.imshow(rows.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(k), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                n = int(cm[i, j])
                if n:
                    ax.text(j, i, str(n), ha="center", va="center", fontsize=6 if k > 12 else 8,
                            color="white" if rows[i, j] > 0.5 else "black")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _predict_split(folder: str | Path, split: str, which: str):
    """(y_true, y_pred, classes, predictor) for a split of a classification run, by its `which` checkpoint."""
    pred = Predictor(folder, which)
    if pred.task.probabilities is None:
        raise UserError(f"{folder} is a {pred.meta.get('task')} run: a per-class report needs a classifier")
    _, y, probs = predict_split(pred, split, str(folder))
    k = int(pred.meta.get("num_classes") or 2)
    classes = list(pred.meta.get("classes") or [str(i) for i in range(k)])
    return y, probs.argmax(1), classes, pred


def per_class_report(run_folder: str | Path, split: str = "test", which: str = "best", predicted=None) -> dict:
    """Write `confusion.png` and `per_class.json` into the run folder; return the report. `predicted`:
    (predictor, y, probabilities) of that split already computed (one pass for several reports)."""
    folder = Path(run_folder)
    if predicted is None:
        y, p, classes, pred = _predict_split(folder, split, which)
    else:
        pred, y, probs = predicted
        p = probs.argmax(1)
        classes = list(pred.meta.get("classes") or [str(i) for i in range(probs.shape[1])])
    cm = confusion_matrix(y, p, len(classes))
    report = {"split": split, "checkpoint": which, **scores(cm, classes), "classes": classes,
              "confusion": cm.tolist()}
    name = f"{pred.run.summary.get('model', '')} on {pred.meta.get('dataset', '')}".strip()
    plot_confusion(cm, classes, folder / "confusion.png",
                   f"{name}: {split} accuracy {report['accuracy']:.4f}, balanced {report['balanced_accuracy']:.4f}")
    write_json(folder / "per_class.json", report)
    return report


def format_report(report: dict) -> str:
    """A per-class table: support, accuracy, precision, most frequent confusion."""
    width = max(len(c) for c in report["per_class"]) if report["per_class"] else 5
    lines = [f"{'class'.ljust(width)}  support  accuracy  precision  most confused with"]
    for c, r in report["per_class"].items():
        acc = "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}"
        prec = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        conf = f"{r['most_confused_with']} ({r['confused_count']})" if r["most_confused_with"] else ""
        lines.append(f"{c.ljust(width)}  {r['support']:7d}  {acc:>8}  {prec:>9}  {conf}")
    lines.append(f"{report['split']} accuracy {report['accuracy']:.4f} | balanced accuracy "
                 f"{report['balanced_accuracy']:.4f} (mean of per-class accuracies) | n = {report['n']}")
    return "\n".join(lines)
