"""Lecture 5, linear regression with PyTorch: w, b and y(4) of the trained nn.Linear (lecture05.toml), and the
homework's table of eight optimizers (lecture05_optimizers.toml)."""
from __future__ import annotations

from pathlib import Path

from ..runs.folder import Run
from ..runs.metrics import read_metrics
from ._tabular import predict_rows
from .hooks import report


@report("linear")
def linear_report(folder: str | Path, result: dict | None = None) -> dict:
    """Lecture 5: print w, b and the prediction for x = 4 of the trained nn.Linear(1, 1)."""
    folder = Path(folder)
    model = Run(folder).model()
    w, b = float(model.weight.detach().view(-1)[0]), float(model.bias.detach().view(-1)[0])
    y4 = float(predict_rows(folder, {"x": [4.0]}).view(-1)[0])
    print(f"w = {w:.4f}, b = {b:.4f}, y(4) = {y4:.4f}  (the course: w → 2, b → 0, y(4) → 8)")
    return {"w": w, "b": b, "prediction_x4": y4}


@report("optimizers")
def optimizer_report(folder: str | Path, result: dict | None = None) -> dict:
    """Lecture 5 homework: the final training loss and the prediction for x = 4 of each optimizer's run,
    as a table (printed and written to `final_loss.md`)."""
    folder = Path(folder)
    out, lines = {}, ["| optimizer | final train loss | y(4) | epochs |", "|---|---:|---:|---:|"]
    for run in sorted((p.parent for p in folder.glob("*/summary.json")), key=lambda p: p.stat().st_mtime):
        train_rows = [r for r in read_metrics(run) if r["split"] == "train"]
        final = train_rows[-1]["loss"] if train_rows else float("nan")
        y4 = float(predict_rows(run, {"x": [4.0]}).view(-1)[0])
        out[f"{run.name}.final_train_loss"] = final
        out[f"{run.name}.prediction_x4"] = y4
        lines.append(f"| {run.name} | {final:.3g} | {y4:.4f} | {len(train_rows)} |")
    table = "\n".join(lines)
    (folder / "final_loss.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return out
