"""The request side of `POST /predict`, shared by every input kind's HTTP reader: what one request may hold
(`Limits`), the decoded body (`Payload`), a refusal (`HTTPError`: status and a message naming the fix),
and the JSON helpers (a list of items, rows as a `Table`)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import ServeLimits
from ..data.table import Table


# What one request may hold, in bytes and in work: declared (with ranges and help) in the one place every
# setting is, `config.ServeLimits`. Character counts are taken after the vocabulary's normalisation (NFKD
# expands some characters: U+FDFA is 18), pixel counts from the image headers before decoding.
Limits = ServeLimits


class HTTPError(Exception):
    """A request the server refuses: status code and a message naming the problem and the fix."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Payload:
    """A /predict body, decoded as far as its Content-Type says: uploaded files, or a JSON value."""
    content_type: str
    files: list[tuple[str, bytes]] | None = None
    data: Any = None
    is_json: bool = False
    seconds: float | None = None       # the time budget for preparing it (Limits.max_seconds); None: no budget
    started: float = field(default_factory=time.monotonic)

    def check_time(self, done: str) -> None:
        """A 503 once preparing this request has taken longer than its budget (`done`: how far it got)."""
        if self.seconds is not None and time.monotonic() - self.started > self.seconds:
            raise HTTPError(503, f"preparing the request took over {self.seconds:g} s (stopped after {done}): "
                                 "send fewer or smaller inputs per request")


def need_json(payload: Payload, kind: str, how: str) -> Any:
    """The JSON value of the body, or a 415 saying what this kind of run takes (`how`)."""
    if not payload.is_json:
        raise HTTPError(415, f"this {kind} run takes JSON (Content-Type: application/json): {how}; "
                             f"got {payload.content_type or 'no Content-Type'}")
    return payload.data


def items(value, what: str, limits: Limits, key: str) -> list:
    """A non-empty JSON list of at most `limits.max_items` items (bare, or as {key: [...]})."""
    if isinstance(value, dict) and set(value) == {key}:
        value = value[key]
    if not isinstance(value, list):
        raise HTTPError(422, f"expected a JSON list of {what} (or {{\"{key}\": [...]}}); got {type(value).__name__}")
    if not value:
        raise HTTPError(422, f"the list of {what} is empty: give at least one")
    if len(value) > limits.max_items:
        raise HTTPError(413, f"{len(value)} {what} in one request; at most {limits.max_items}: split the request")
    return value


def _cell(v, i: int, col) -> str:
    """A JSON cell → the text a CSV cell would hold (null → empty, i.e. missing)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float, str)):
        return str(v)
    raise HTTPError(422, f"row {i + 1}, column {col!r}: expected a number, a string or null; "
                         f"got {type(v).__name__}")


def rows_table(rows: list, header: bool, source: str = "the request") -> Table:
    """JSON rows (objects by column name, or lists by position) → a `Table` as `read_csv` would give."""
    if all(isinstance(r, dict) for r in rows):
        columns = list(dict.fromkeys(c for r in rows for c in r))
        data = {c: np.array([_cell(r.get(c), i, c) for i, r in enumerate(rows)], dtype=object) for c in columns}
        return Table(columns, data, None, source, header=True)
    if all(isinstance(r, list) for r in rows):
        width = len(rows[0])
        for i, r in enumerate(rows):
            if len(r) != width:
                raise HTTPError(422, f"row {i + 1} has {len(r)} values but row 1 has {width}: every row needs the same")
        if header:
            raise HTTPError(422, "this run was trained on a CSV with a header: give each row as an object "
                                 "{column: value}")
        data = {f"c{j}": np.array([_cell(r[j], i, j) for i, r in enumerate(rows)], dtype=object)
                for j in range(width)}
        return Table(list(data), data, None, source, header=False)
    raise HTTPError(422, "each row must be a JSON object {column: value} (or, for runs trained without a header, "
                         "a list of values); do not mix the two")


def items_schema(item: dict, limits: Limits, key: str) -> dict:
    """The OpenAPI schema of what `items` accepts: 1 … max_items of `item`, bare or as {key: [...]}."""
    array = {"type": "array", "items": item, "minItems": 1, "maxItems": limits.max_items}
    return {"oneOf": [array, {"type": "object", "properties": {key: array}, "required": [key],
                              "additionalProperties": False}]}
