"""Lecture 13, the RNN classifier (names → country, also names_tuned / names_final): the per-country report,
balanced accuracy, and the test accuracy of the last and best epochs (reported, never chosen on)."""
from __future__ import annotations

from pathlib import Path

from ..runs.metrics import read_metrics
from ..track.perclass import format_report, per_class_report
from .hooks import report


@report("per_class")
def per_class_lesson_report(folder: str | Path, result: dict | None = None) -> dict:
    """Lesson report hook: print the per-class table; flat figures merged into the lesson result."""
    report = per_class_report(folder)
    print(format_report(report))
    out = {"balanced_accuracy": report["balanced_accuracy"], "report_accuracy": report["accuracy"]}
    # For comparison with figures that report the test accuracy of every epoch (as the course does):
    # the last epoch's and the highest. Neither chooses anything; the best epoch is chosen on validation.
    test = [r["accuracy"] for r in read_metrics(Path(folder)) if r["split"] == "test" and r.get("accuracy") is not None]
    if test:
        out["last_epoch_test_accuracy"], out["max_epoch_test_accuracy"] = test[-1], max(test)
        print(f"test accuracy at the last epoch {test[-1]:.4f}, highest over epochs {max(test):.4f} "
              "(reported only; the best checkpoint is chosen on validation)")
    for c, r in report["per_class"].items():
        if r["accuracy"] is not None:
            out[f"accuracy.{c}"] = r["accuracy"]
    return out
