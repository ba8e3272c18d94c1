"""The lesson hooks a lesson TOML may name: `entry = "NAME"` (code that is not the loop, lectures 1–4, 8, 12)
and `report = "NAME"` (printed figures after the runs). Each lecture's module registers its own; a TOML
names them and never a module, so no lesson file can make `dlp` import or call anything else."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..registry import Registry

Entry = Callable[..., dict]                  # fn(out: Path, quick: bool = False) -> result
Report = Callable[[Path, dict | None], dict]  # fn(run_or_lesson_folder, result) -> figures merged into the result

ENTRIES: Registry[Entry] = Registry("lesson entry")
REPORTS: Registry[Report] = Registry("lesson report")


def entry(name: str):
    """Register a lesson entry under `name` (refused twice)."""
    def deco(fn: Entry) -> Entry:
        ENTRIES.add(name, fn)
        return fn
    return deco


def report(name: str):
    """Register a lesson report under `name` (refused twice)."""
    def deco(fn: Report) -> Report:
        REPORTS.add(name, fn)
        return fn
    return deco
