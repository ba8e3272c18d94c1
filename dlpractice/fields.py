"""How a config setting is declared: its default, its reason and its allowed values (`setting`), and the allowed
range in words (`range_text`). config.py declares the run's settings with these; `dlp help` and `dlp serve` show
the ranges."""
from __future__ import annotations

from dataclasses import field


def setting(default, help: str, choices: tuple | None = None, min: float | None = None, max: float | None = None,
            open_min: bool = False, open_max: bool = False, finite: bool | None = None, max_len: int | None = None,
            forbid: tuple = (), or_auto: bool = False, **kw):
    """A config field whose default carries its reason (`help`) and its allowed values: `choices`, or the
    range from `min` to `max` (each bound closed unless `open_min` / `open_max`), `finite` (default: every
    float setting refuses NaN and ±inf); strings: `max_len` characters, none of the `forbid` characters.
    `or_auto`: the default is the string "auto", which the run resolves itself; `default` then only gives the
    type of the other values the setting takes."""
    if finite is None:
        finite = isinstance(default, float)
    meta = {"help": help, "choices": choices, "min": min, "max": max, "open_min": open_min,
            "open_max": open_max, "finite": finite, "max_len": max_len, "forbid": forbid, "or_auto": or_auto}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta, **kw)
    if or_auto:
        meta["type"], default = type(default), "auto"
    return field(default=default, metadata=meta, **kw)


def _num(x: float) -> str:
    """A bound as text: large powers of two as 2**N, whole floats without '.0'."""
    if isinstance(x, int) and x >= 2 ** 16 and x & (x - 1) == 0:
        return f"2**{x.bit_length() - 1}"
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}" if isinstance(x, float) else str(x)


def range_text(meta) -> str:
    """The allowed interval of a numeric setting, e.g. '[0, 1)', '(0, 10]', '[0, ∞)'; '' when it has none."""
    lo, hi = meta.get("min"), meta.get("max")
    if lo is None and hi is None:
        return ""
    left = "(-∞" if lo is None else ("(" if meta.get("open_min") else "[") + _num(lo)
    right = "∞)" if hi is None else _num(hi) + (")" if meta.get("open_max") else "]")
    return f"{left}, {right}"
