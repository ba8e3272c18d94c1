"""Run folders: creation, summary.json, and `Run` / `load_run` for reading one back."""
from __future__ import annotations

import errno
import json
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path

from ..config import RunConfig
from ..errors import UserError


def versions() -> dict:
    import numpy
    import torch

    from .. import __version__
    v = {"dlpractice": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
         "python": platform.python_version()}
    try:
        v["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                  cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        v["git"] = None
    return v


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL at the named point when $DLPRACTICE_CRASH_AT says `name` or
    `name:N` (the N-th time here): how tests put a kill -9 exactly between two writes."""
    want = os.environ.get("DLPRACTICE_CRASH_AT")
    if not want or want.split(":")[0] != name:
        return
    _CRASH_COUNTS[name] = _CRASH_COUNTS.get(name, 0) + 1
    if want == name or want == f"{name}:{_CRASH_COUNTS[name]}":
        import signal
        os.kill(os.getpid(), signal.SIGKILL)


_CRASH_COUNTS: dict[str, int] = {}
_WHY = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied (is the folder read-only?)",
        errno.EPERM: "permission denied (is the folder read-only?)", errno.ENOENT: "a folder on its path is missing",
        errno.ENOTDIR: "a part of its path is a file, not a folder"}


WRITE_ERRNOS = frozenset(_WHY)   # what disk_error explains: an OSError with another errno is not the user's


def disk_error(e: OSError, path: Path, after: str) -> UserError:
    """A failed write as one line: the file, why (full disk, read-only, missing folder) and `after`."""
    return UserError(f"cannot write {path}: {_WHY.get(e.errno, e.strerror or str(e))}; {after}")


def write_atomically(path: Path, write, after: str, crash: str | None = None) -> None:
    """Replace `path` atomically: `write(f)` fills a temp file beside it (text, newline=""), fsync, rename. A
    kill at any moment leaves the old or the new file; a failed write (full disk, read-only folder) leaves
    the old one and is one line ending in `after`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if crash:
            crash_point(crash)
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise disk_error(e, path, after) from None


def write_json(path: Path, obj) -> None:
    """Write `path` atomically (temp file, fsync, rename); a failed write leaves the old file as it was."""
    path = Path(path)
    write_atomically(path, lambda f: f.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n"),
                     f"{path.name} was left as it was; free space or fix the folder, then run again")


# What a run puts in its folder before its first checkpoint and after: a folder holding only these is one of
# ours. Temp files are `.<name>.tmp` or `.<name>.tmp-<pid>`.
RUN_FILES = {"config.toml", "data.json", "metrics.csv", "timing.csv", "summary.json", "curves.png",
             "report.html", "checkpoints", "samples", "samples.png", "classes.png", "confusion.png",
             "filters.png", "misclassified.png", "per_class.json", "lesson.json"}
_TEMP = re.compile(r"^\..+\.tmp(-(\d+))?$")


def _ours(name: str) -> bool:
    return name in RUN_FILES or bool(_TEMP.match(name)) or name.startswith("events.out.tfevents.")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_temps(folder: Path) -> None:
    """Temp files a killed process left in the run folder and its checkpoints/ (never a live one's)."""
    for d in (folder, folder / "checkpoints"):
        if not d.is_dir():
            continue
        for p in d.iterdir():
            m = _TEMP.match(p.name)
            if m and p.is_file() and not (m.group(2) and _alive(int(m.group(2)))):
                try:
                    p.unlink()
                except OSError:
                    pass


def has_checkpoint(folder: Path) -> bool:
    return any((Path(folder) / "checkpoints" / n).is_file() for n in ("last.pt", "best.pt"))


def plan_run_dir(cfg: RunConfig, out: str | Path | None = None) -> Path:
    """The folder a new run will use. Refuses one that holds a run with a checkpoint (resume it) or files
    a run did not make; an empty folder, or a run that died before its first checkpoint, is fine (the
    same command starts it again). Creates nothing."""
    if out is None:
        name = cfg.log.name or f"{cfg.model.name}-{cfg.data.dataset}"
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        out = Path(cfg.log.runs_dir) / f"{name}-{stamp}"
        n = 1
        while out.exists():
            n += 1
            out = Path(cfg.log.runs_dir) / f"{name}-{stamp}-{n}"
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder} is a file, not a folder; choose another --out")
    if not folder.is_dir():
        return folder
    if has_checkpoint(folder):
        raise UserError(f"{folder} already holds a run; choose another --out, or continue it with "
                        f"`dlp train --resume {folder}`")
    entries = sorted(p.name for p in folder.iterdir())
    foreign = [n for n in entries if not _ours(n)]
    if foreign or (entries and not (folder / "config.toml").is_file() and not all(_TEMP.match(n) for n in entries)):
        what = foreign[0] if foreign else entries[0]
        raise UserError(f"{folder} holds files a run did not make ({what}{', ...' if len(entries) > 1 else ''}); "
                        "nothing was written: choose another --out, or an empty folder")
    return folder


def make_run_dir(folder: Path, cfg: RunConfig) -> Path:
    """Create the run folder with the resolved config (after data and model were checked). A run that
    died there before its first checkpoint (what `plan_run_dir` let through) is cleared first."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not has_checkpoint(folder):
            for p in folder.iterdir():
                if _ours(p.name):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        tmp = folder / f".config.toml.tmp-{os.getpid()}"
        tmp.write_text(cfg.to_toml(), encoding="utf-8")
        os.replace(tmp, folder / "config.toml")
    except OSError as e:
        raise UserError(f"cannot create run folder {folder}: {_WHY.get(e.errno, e.strerror)}") from None
    return folder


class Run:
    """A run folder read back: `summary`, `config`, `metrics()`, `model()` (best checkpoint)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not (self.folder / "config.toml").is_file():
            raise UserError(f"{self.folder} is not a run folder (no config.toml); "
                            "list runs with `dlp runs`")

    @property
    def summary(self) -> dict:
        p = self.folder / "summary.json"
        return json.loads(p.read_text()) if p.exists() else {}

    @property
    def config(self) -> RunConfig:
        from ..config import load_config
        return load_config(self.folder / "config.toml")

    def metrics(self) -> list[dict]:
        from .metrics import read_metrics
        return read_metrics(self.folder)

    def checkpoint(self, which: str = "best") -> dict:
        from .checkpoint import PREDICT_KEYS, load_checkpoint
        path = self.folder / "checkpoints" / f"{which}.pt"
        if not path.exists() and not path.is_symlink():
            raise UserError(f"run {self.folder} has no {which} checkpoint ({path}); train it first "
                            f"or resume it with `dlp train --resume {self.folder}`")
        return load_checkpoint(path, PREDICT_KEYS)

    def model(self, which: str = "best"):
        """The model rebuilt from the run folder alone, weights loaded, in eval mode."""
        from ..models import build_model
        from .checkpoint import load_weights
        ck = self.checkpoint(which)
        m = build_model(ck["model_name"], ck["model_args"])
        load_weights(m, ck["model"], self.folder / "checkpoints" / f"{which}.pt")
        return m.eval()

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r})"


def load_run(folder: str | Path) -> Run:
    """Open a run folder for reading (summary, metrics, model)."""
    return Run(folder)
