"""Loggers plug into the one training loop through `start`, `epoch` and `end`; CSV and console here."""
from __future__ import annotations

import csv
from pathlib import Path

from ..registry import Registry


class Logger:
    """The logger interface. `epoch` receives {split: {metric: value}} for one finished epoch."""

    def start(self, folder: Path, info: dict, first_epoch: int) -> None: ...

    def epoch(self, epoch: int, metrics: dict[str, dict], lr: float, seconds: float) -> None: ...

    def end(self, summary: dict) -> None: ...


class CsvLogger(Logger):
    """`metrics.csv`: one row per epoch and split (epoch, split, lr, every metric). Deterministic
    values only, so a resumed run's file equals an uninterrupted one's; timings go to `timing.csv`."""

    def start(self, folder, info, first_epoch):
        self.path, self.timing = folder / "metrics.csv", folder / "timing.csv"
        for p in (self.path, self.timing):  # a resume drops rows of epochs it will redo
            if p.exists():
                rows = list(csv.reader(p.open()))
                keep = [rows[0]] + [r for r in rows[1:] if int(r[0]) < first_epoch] if rows else []
                with p.open("w", newline="") as f:
                    csv.writer(f).writerows(keep)

    def epoch(self, epoch, metrics, lr, seconds):
        names = sorted({k for m in metrics.values() for k in m})
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["epoch", "split", "lr", *names])
            for split, m in metrics.items():
                w.writerow([epoch, split, repr(lr), *(repr(float(m[k])) if k in m else "" for k in names)])
        new = not self.timing.exists() or self.timing.stat().st_size == 0
        with self.timing.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["epoch", "seconds"])
            w.writerow([epoch, f"{seconds:.3f}"])


class ConsoleLogger(Logger):
    """One clear line per epoch."""

    def start(self, folder, info, first_epoch):
        print(f"{info['model']} ({info['params']:,} params) on {info['dataset']} "
              f"[{info['device']}] → {folder}", flush=True)

    def epoch(self, epoch, metrics, lr, seconds):
        parts = [f"epoch {epoch:>3}"]
        for split, m in metrics.items():
            parts.append(split + " " + " ".join(f"{k} {v:.4f}" for k, v in m.items()))
        parts.append(f"lr {lr:.3g}  {seconds:.1f}s")
        print(" | ".join(parts), flush=True)


def _lazy(module: str, cls: str):
    """A logger factory that imports its module only when a run asks for it (tensorboard and visdom are
    heavy imports that a CSV-only run should not pay for)."""
    def make():
        import importlib
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)()
    return make


LOGGERS: Registry = Registry("logger")
LOGGERS.add("csv", CsvLogger)
LOGGERS.add("console", ConsoleLogger)
LOGGERS.add("tensorboard", _lazy("tensorboard_logger", "TensorBoardLogger"))
LOGGERS.add("visdom", _lazy("visdom_logger", "VisdomLogger"))
