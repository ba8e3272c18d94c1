"""What the Kaggle lessons (Titanic, lecture 8; Otto, lecture 9) share: each fold's data, the submission file."""
from __future__ import annotations

import csv
from pathlib import Path

from ..config import load_config
from ..data import load_dataset
from ..data.fetch import COMPETITIONS
from ..data.kaggle import competition_file
from ..data.table import open_text
from ..errors import UserError
from ..serve.submit import write_submission


def child_bundles(folder: Path):
    """(child run folder, its data bundle) for each fold of a cv lesson folder."""
    for child in sorted(folder.glob("fold*/config.toml"), key=lambda p: int(p.parent.name[4:])):
        cfg = load_config(child)
        yield child.parent, load_dataset(cfg.data)


def submission(folder: Path, name: str, result: dict | None) -> dict:
    test = competition_file(name, "test")
    info = write_submission(folder, test, folder / "submission.csv")
    sample = competition_file(name, "sampleSubmission" if name == "otto" else "gender_submission")
    if sample is not None:
        with open_text(sample) as f:
            header = next(csv.reader(f))
        if header != info["columns"]:
            raise UserError(f"the submission's columns {info['columns']} differ from {sample.name}'s {header}")
    print(f"submission: {info['path']} ({info['rows']} rows, columns {', '.join(info['columns'][:4])}"
          f"{', ...' if len(info['columns']) > 4 else ''}); upload it at "
          f"https://www.kaggle.com/c/{COMPETITIONS[name]['competition']}/submit")
    return {"submission": info["path"], "submission_rows": info["rows"]}
