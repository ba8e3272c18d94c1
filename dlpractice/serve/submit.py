"""`dlp submit RUN --test test.csv`: a Kaggle-style submission file from any tabular classification run.

The test CSV is turned into features by the run's own saved preprocessing (the `tabular` input kind, or
`tabular-derived` for competitions with a feature pipeline such as Titanic and Otto), then:
- binary runs → one column named like the training target (e.g. `Survived`) holding the predicted class
  (probability of the second class > 0.5), as Kaggle's Titanic asks;
- multi-class runs → one probability column per class, named by the class (e.g. `Class_1` … `Class_9`),
  in the run's class order, as Kaggle's multi-class log-loss competitions (Otto) ask.
The first column is the row id: the run's id column (data.options.id) when the test CSV has it, else the
test CSV's first column when it is not a feature, else `row` = 1, 2, …
"""
from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from ..errors import UserError


def _rows(path: Path, first_only: bool):
    from ..data.table import open_text   # numpy with it: not for building `dlp --help`
    with open_text(path) as f:
        for row in csv.reader(f):
            if row and any(c.strip() for c in row):
                yield [c.strip() for c in row]
                if first_only:
                    return


def _ids(meta: dict, test: Path, labels: list[str], n: int) -> tuple[str, list[str]]:
    """The id column: the run's id column (the input kind labelled the rows by it), else the test CSV's
    first column when it is not a feature or the target, else row numbers."""
    state = meta.get("tabular") or {}
    if not state.get("header", True):
        return "row", [str(i + 1) for i in range(n)]
    header = next(_rows(test, True), [])
    id_col = state.get("id")
    if id_col and id_col in header:
        return id_col, labels
    features = {c["name"] for c in state.get("numeric", []) + state.get("categorical", [])}
    if header and header[0] not in features and header[0] != state.get("target"):
        values = [r[0] for r in list(_rows(test, False))[1:]]
        if len(values) == n:
            return header[0], values
    return "row", [str(i + 1) for i in range(n)]


def _fmt(p: float) -> str:
    return f"{p:.6g}"


def write_submission(run: str | Path, test: str | Path, out: str | Path, checkpoint: str = "best",
                     batch: int = 8192) -> dict:
    """Score every row of `test` with the run's model and write `out` (atomically); returns
    {path, rows, columns}."""
    import torch

    from ..runs.predictor import Predictor
    pred = Predictor(run, checkpoint)
    meta = pred.meta
    if meta.get("input") not in ("tabular", "tabular-derived"):
        raise UserError(f"dlp submit needs a run trained on table rows (csv, titanic, otto, ...); {run} was "
                        f"trained on {meta.get('input')} input — use `dlp predict` instead")
    if meta.get("task") not in ("binary", "classification"):
        raise UserError(f"dlp submit writes class predictions; {run} is a {meta.get('task')} run "
                        "(use `dlp predict RUN --csv rows.csv` for its values)")
    test = Path(test)
    x, labels = pred.prepare([str(test)])
    with torch.no_grad():
        probs = torch.cat([pred.probabilities(x[i:i + batch]) for i in range(0, len(x), batch)]) if len(x) else \
            torch.zeros(0, len(meta["classes"]))
    id_name, ids = _ids(meta, test, labels, len(x))
    classes = list(meta["classes"])
    if meta["task"] == "binary":
        target = (meta.get("tabular") or {}).get("target") or meta.get("target") or "prediction"
        columns = [id_name, str(target)]
        body = ([i, classes[int(p[1] > 0.5)]] for i, p in zip(ids, probs.tolist()))
    else:
        columns = [id_name, *classes]
        body = ([i, *map(_fmt, p)] for i, p in zip(ids, probs.tolist()))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".submission-", suffix=".csv", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(columns)
            w.writerows(body)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"path": str(out), "rows": len(ids), "columns": columns}
