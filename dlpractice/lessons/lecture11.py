"""Lecture 11, advanced CNN (and the classic families, fashion_best): per run, the per-class report and what
the network learned (its most confident mistakes, its first-layer filters)."""
from __future__ import annotations

from pathlib import Path

from ..track.learned import predict_test, what_it_learned
from ..track.perclass import format_report, per_class_report
from .hooks import report


@report("learned")
def learned_report(folder: str | Path, result: dict | None = None) -> dict:
    """Lesson report hook: the per-class report (confusion.png, per_class.json) and the two figures for
    the run (train lesson) or for every variant (compare lesson, child run folders); returns the lowest
    test accuracy of the variants for a compare lesson, the balanced accuracy for a train lesson."""
    folder = Path(folder)
    runs = [folder] if (folder / "checkpoints").is_dir() else sorted(
        p for p in folder.iterdir() if (p / "checkpoints" / "best.pt").exists())
    balanced = {}
    for run in runs:
        got = predict_test(run)         # one pass over the test split (and one load of it) for both
        report = per_class_report(run, predicted=(got[0], got[2], got[3]))  # confusion.png, per_class.json
        print(format_report(report))
        balanced[run.name] = report["balanced_accuracy"]
        out = what_it_learned(run, predicted=got)
        print(f"{run.name}: {out['wrong']} of {out['n']} test images misclassified; figures "
              f"{run / 'confusion.png'}, {run / 'misclassified.png'}, {run / 'filters.png'}")
    accs = [v for key, v in (result or {}).items() if key.endswith(".accuracy") and isinstance(v, (int, float))]
    if len(runs) > 1:
        return {"lowest_variant_accuracy": min(accs)} if accs else {}
    return {"balanced_accuracy": balanced[runs[0].name]} if runs else {}
