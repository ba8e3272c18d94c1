"""A run's metrics file read back: `metrics.csv` (written by the CSV logger) as rows of numbers."""
from __future__ import annotations

import csv
from pathlib import Path


def read_metrics(folder: Path) -> list[dict]:
    """metrics.csv as a list of dicts with numbers parsed."""
    path = Path(folder) / "metrics.csv"
    if not path.exists():
        return []
    out = []
    for row in csv.DictReader(path.open()):
        out.append({k: (v if k == "split" else (float(v) if v != "" else None)) for k, v in row.items()})
        out[-1]["epoch"] = int(out[-1]["epoch"])
    return out
