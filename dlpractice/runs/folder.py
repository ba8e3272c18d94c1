"""Run folders: creation, summary.json, and `Run` / `load_run` for reading one back."""
from __future__ import annotations

import json
import os
import platform
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


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def plan_run_dir(cfg: RunConfig, out: str | Path | None = None) -> Path:
    """The folder a new run will use; refuses one that already holds a run. Creates nothing."""
    if out is None:
        name = cfg.log.name or f"{cfg.model.name}-{cfg.data.dataset}"
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        out = Path(cfg.log.runs_dir) / f"{name}-{stamp}"
        n = 1
        while out.exists():
            n += 1
            out = Path(cfg.log.runs_dir) / f"{name}-{stamp}-{n}"
    folder = Path(out)
    if (folder / "config.toml").exists() or (folder / "checkpoints").exists():
        raise UserError(f"{folder} already holds a run; choose another --out, or continue it with "
                        f"`dlp train --resume {folder}`")
    return folder


def make_run_dir(folder: Path, cfg: RunConfig) -> Path:
    """Create the run folder with the resolved config (after data and model were checked)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text(cfg.to_toml(), encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot create run folder {folder}: {e.strerror}") from None
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
        from .checkpoint import load_checkpoint
        path = self.folder / "checkpoints" / f"{which}.pt"
        if not path.exists():
            raise UserError(f"run {self.folder} has no {which} checkpoint ({path}); train it first "
                            f"or resume it with `dlp train --resume {self.folder}`")
        return load_checkpoint(path)

    def model(self, which: str = "best"):
        """The model rebuilt from the run folder alone, weights loaded, in eval mode."""
        from ..models import build_model
        ck = self.checkpoint(which)
        m = build_model(ck["model_name"], ck["model_args"])
        m.load_state_dict(ck["model"])
        return m.eval()

    def __repr__(self) -> str:
        return f"Run({str(self.folder)!r})"


def load_run(folder: str | Path) -> Run:
    """Open a run folder for reading (summary, metrics, model)."""
    return Run(folder)
