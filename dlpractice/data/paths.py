"""Where data sets are looked up: --data-dir, then $DLP_DATA_DIR, then the per-user cache."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

# Set by the CLI's --data-dir; a Python user may set it too (dlpractice.data.paths.DATA_DIR = ...).
DATA_DIR: Path | None = None


def cache_dir() -> Path:
    """The per-user cache, the only place dlpractice writes downloads to."""
    base = os.environ.get("DLP_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "dlpractice"
    )
    return Path(base)


def search_dirs(extra: list[Path] | None = None) -> list[Path]:
    """Folders searched for data, in order; read-only except the cache."""
    dirs: list[Path] = []
    if DATA_DIR is not None:
        dirs.append(Path(DATA_DIR))
    if os.environ.get("DLP_DATA_DIR"):
        dirs.append(Path(os.environ["DLP_DATA_DIR"]))
    dirs.append(cache_dir())
    dirs.extend(extra or [])
    return dirs


def find_data(subdir: str, files: list[str], extra: list[Path] | None = None,
              how_to_get: str = "") -> Path:
    """Return the first folder `<dir>/<subdir>` (or an `extra` folder itself) holding all `files`.

    Raises UserError naming every place looked in and how to get the data.
    """
    candidates = [d / subdir for d in search_dirs()] + list(extra or [])
    for folder in candidates:
        if all((folder / f).is_file() for f in files):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    how = " ".join(str(how_to_get or "Put the files there, or pass --data-dir DIR / set DLP_DATA_DIR.").split())
    raise UserError(f"data set '{subdir}' not found: need {', '.join(files)} in one of: {looked}. {how}")
