"""The tabular input kind: a CSV of rows (or JSON rows) → the model's features, by the run's saved preprocessing.

`dlp predict RUN --csv rows.csv`. The file is read like the training file:
- trained with a header: columns are matched by name; the target, the id and any other extra
  columns may be present and are ignored; a missing feature column is an error naming it;
- trained without a header (e.g. `diabetes`): the file has no header either and holds either all
  training columns (target included, e.g. rows copied from the training CSV) or all but the target.
Missing numeric values are imputed with the training fill (median by default), missing categories
with the training mode; a category never seen in training is an error, unless the run was trained
with `data.options.unseen = "zeros"`, which scores it as an all-zero one-hot. Rows are labelled
`row N` (1-based data row), or by the id column when the run has one.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.table import Table, read_csv
from ..data.tabular import TabularPrep
from ..errors import UserError
from . import InputKind, register_input
from .http import Limits, Payload, items, items_schema, need_json, rows_table


def tabular_rows(meta: dict, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
    state = _state(meta)
    if len(inputs) != 1:
        raise UserError(f"give one CSV file of rows to score (--csv rows.csv); got {len(inputs)} inputs")
    return table_features(meta, read_csv(Path(inputs[0]), header=state.get("header", True)))


def _state(meta: dict) -> dict:
    state = meta.get("tabular")
    if not state:
        raise UserError("this run's data has no saved tabular preprocessing (meta['tabular']); retrain it "
                        "with a tabular data set (csv, diabetes, breast-cancer, ...)")
    return state


def table_features(meta: dict, table: Table) -> tuple[torch.Tensor, list[str]]:
    """Rows read like the training file (by name with a header; by position, with or without the
    target, without one) → (features, row labels). Shared by `dlp predict --csv` and `dlp serve`
    (whose JSON rows may name the columns of a run trained without a header: c0, c1, ...)."""
    state = _state(meta)
    columns, target = state["columns"], state.get("target")
    if not state.get("header", True) and not table.header:
        width = len(table.columns)
        without_target = [c for c in columns if c != target]
        if width == len(columns):
            names = columns
        elif width == len(without_target):
            names = without_target
        else:
            raise UserError(f"{table.source or 'the input'} has {width} columns, but this run was trained on a CSV "
                            f"without a header with {len(columns)} columns ({len(without_target)} features and the "
                            f"target '{target}'); give rows of {len(columns)} columns, or {len(without_target)} "
                            "without the target")
        table = Table(list(names), {n: table.data[c] for n, c in zip(names, table.columns)}, table.lines,
                      table.source, header=False)
    x = TabularPrep.from_meta(state).transform(table)
    id_col = state.get("id")
    if id_col and id_col in table.data:
        labels = [str(v) for v in table.data[id_col]]
    else:
        labels = [f"row {i + 1}" for i in range(len(table))]
    return x, labels


HOW = 'JSON {"rows": [{"column": value, ...}, ...]} (lists of values for runs trained on a CSV without a header)'
CELL = {"type": ["number", "string", "boolean", "null"]}   # null and "" are missing values (imputed)


def rows_body(limits: Limits, required: list[str] | None = None, widths: tuple[int, int] | None = None) -> dict:
    """POST /predict's request content for rows: 1 … max_items rows, each an object of cells holding at
    least the `required` columns, or (`widths` = (fewest, most) values) a list of cells by position."""
    row = {"type": "object", "additionalProperties": CELL, "required": required or []}
    if widths:
        row = {"oneOf": [row, {"type": "array", "items": CELL, "minItems": widths[0], "maxItems": widths[1]}]}
    return {"application/json": {"schema": items_schema(row, limits, "rows")}}


def body(meta: dict, limits: Limits) -> dict:
    """Rows by column name holding every feature column (runs trained without a header also take lists of
    all values, target included or not). The schema says the shape; a value the fitted preprocessing
    cannot read (a word in a numeric column, a category never seen) is still a 422."""
    state = meta.get("tabular") or {}
    required = TabularPrep.from_meta(state).required() if state else []
    if state.get("header", True):
        return rows_body(limits, required)
    columns, target = state["columns"], state.get("target")
    return rows_body(limits, required, (len([c for c in columns if c != target]), len(columns)))


def read_rows(meta: dict, payload: Payload, limits: Limits) -> tuple[torch.Tensor, list[str]]:
    rows = items(need_json(payload, "tabular", HOW), "rows", limits, "rows")
    table = rows_table(rows, (meta.get("tabular") or {}).get("header", True))
    payload.check_time(f"reading {len(rows)} rows")
    return table_features(meta, table)


def describe(meta: dict) -> dict:
    """GET /model's input fields of a tabular run: its feature count and columns (name, type, categories)."""
    state = meta.get("tabular") or {}
    return {"input_shape": [int(meta.get("in_features", 0))],
            "columns": ([{"name": c["name"], "type": "numeric"} for c in state.get("numeric", [])]
                        + [{"name": c["name"], "type": "categorical", "categories": c["categories"]}
                           for c in state.get("categorical", [])]),
            "header": state.get("header", True)}


def example(dims: dict, n: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, in_features) noise (8 features when `dims` has none)."""
    return torch.randn(n, int(dims.get("in_features", 8)), generator=generator)


def noun(meta: dict) -> str:
    n = len(describe(meta)["columns"])
    return f"table rows of {n} column{'s' if n != 1 else ''}"


register_input(InputKind("tabular", tabular_rows, example, read_rows, HOW, body=body, describe=describe, noun=noun))
