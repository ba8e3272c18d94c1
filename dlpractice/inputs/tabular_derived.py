"""The tabular-derived input kind: a Kaggle competition's raw rows (Titanic, Otto) → the run's feature
pipeline (`data.kaggle.DERIVES`) → its fitted tabular preprocessing. `dlp predict RUN --csv test.csv`,
`dlp submit`, and `POST /predict` with raw rows as in the competition's test CSV."""
from __future__ import annotations

import torch

from ..data.kaggle import derived_features
from ..data.table import Table, read_csv
from ..errors import UserError
from . import InputKind, register_input
from .http import Limits, Payload, items, need_json, rows_table
from .tabular import rows_body
from .tabular import describe as tabular_describe
from .tabular import example


def _labels(meta: dict, table: Table) -> list[str]:
    """Rows labelled by the run's id column when the rows hold it, else `row N`."""
    id_col = meta["tabular"].get("id")
    return ([str(v) for v in table.data[id_col]] if id_col in table.data
            else [f"row {i + 1}" for i in range(len(table))])


def derived_rows(meta: dict, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
    """`dlp predict RUN --csv test.csv` / `dlp submit`: raw competition rows, labelled by their id."""
    if len(inputs) != 1:
        raise UserError(f"give one CSV file of rows to score (--csv test.csv); got {len(inputs)} inputs")
    table = read_csv(inputs[0])
    x = derived_features(meta, table)
    return x, _labels(meta, table)


HOW = 'JSON {"rows": [{"column": value, ...}, ...]}: raw rows as in the competition\'s test CSV'


def read_raw_rows(meta: dict, payload: Payload, limits: Limits) -> tuple[torch.Tensor, list[str]]:
    rows = items(need_json(payload, "tabular-derived", HOW), "rows", limits, "rows")
    table = rows_table(rows, True)
    payload.check_time(f"reading {len(rows)} rows")
    return derived_features(meta, table), _labels(meta, table)


def body(meta: dict, limits: Limits) -> dict:
    """Raw competition rows: objects of cells (which columns the feature pipeline needs is its own)."""
    return rows_body(limits)


def describe(meta: dict) -> dict:
    # raw competition rows: their columns are the pipeline's, not the model's
    return {**tabular_describe(meta), "columns": None}


register_input(InputKind("tabular-derived", derived_rows, example, read_raw_rows, HOW, body=body,
                         describe=describe, noun=lambda meta: "the competition's raw rows (features derived from them)"))
