"""Loggers plug into the one training loop through `start`, `epoch` and `end`; CSV and console here."""
from __future__ import annotations

import csv
from pathlib import Path

from ..registry import Registry


class Logger:
    """The logger interface. `epoch` receives {split: {metric: value}} for one finished epoch."""

    def start(self, folder: Path, info: dict, first_epoch: int) -> None: ...

    def epoch(self, epoch: int, metrics: dict[str, dict], lr: float, seconds: float, timing=None) -> None:
        """`seconds`: the epoch's training steps; `timing`: seconds per evaluated split ({"val": ..., "test": ...})."""

    def end(self, summary: dict) -> None: ...


class CsvLogger(Logger):
    """`metrics.csv`: one row per epoch and split (epoch, split, lr, every metric). Deterministic
    values only, so a resumed run's file equals an uninterrupted one's; timings go to `timing.csv`."""

    def start(self, folder, info, first_epoch):
        self.path, self.timing = folder / "metrics.csv", folder / "timing.csv"
        for p in (self.path, self.timing):  # a resume drops rows of epochs it will redo
            if p.exists():
                _rewrite(p, _kept_rows(p, first_epoch))

    def epoch(self, epoch, metrics, lr, seconds, timing=None):
        names = sorted({k for m in metrics.values() for k in m})
        rows = [[epoch, split, repr(lr), *(repr(float(m[k])) if k in m else "" for k in names)]
                for split, m in metrics.items()]
        _append(self.path, ["epoch", "split", "lr", *names], rows)
        ev = timing or {}
        share = sum(ev.values()) / (seconds + sum(ev.values())) if seconds + sum(ev.values()) > 0 else 0.0
        _append(self.timing, ["epoch", "seconds", "val_seconds", "test_seconds", "eval_share"],
                [[epoch, f"{seconds:.3f}", *(f"{ev[k]:.3f}" if k in ev else "" for k in ("val", "test")),
                  f"{share:.3f}"]])


def _kept_rows(p: Path, first_epoch: int) -> list[list[str]]:
    """The header and the complete rows of epochs before `first_epoch` (a row a kill cut short is dropped)."""
    with p.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    keep = [rows[0]]
    for r in rows[1:]:
        try:
            if len(r) == len(rows[0]) and int(r[0]) < first_epoch:
                keep.append(r)
        except ValueError:
            pass
    return keep


def _rewrite(p: Path, rows: list[list[str]]) -> None:
    """Replace `p` atomically (temp file, fsync, rename): a kill at any moment leaves the old or the new file."""
    from ..runs.folder import write_atomically
    write_atomically(p, lambda f: csv.writer(f).writerows(rows),
                     "it was left as it was; free space or fix the folder, then resume the run", crash="csv-rewrite")


def _append(p: Path, header: list[str], rows: list[list]) -> None:
    from ..runs.folder import disk_error
    try:
        new = not p.exists() or p.stat().st_size == 0
        with p.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(header)
            w.writerows(rows)
    except OSError as e:
        again = (f"`dlp train --resume {p.parent}`" if (p.parent / "checkpoints" / "last.pt").is_file()
                 else "the same command again")
        raise disk_error(e, p, "the run stopped and its checkpoints are untouched; free space or fix the folder, "
                         f"then {again}") from None


class ConsoleLogger(Logger):
    """One line per epoch under a header line: the splits' metrics in columns (short names, see SHORT), the
    learning rate and the epoch's seconds, so that a run with gradient norms still fits 100 columns."""
    SHORT = {"accuracy": "acc", "balanced_accuracy": "bal_acc", "grad_norm_mean": "|g|", "grad_norm_max": "|g|max",
             "grad_norm_d_mean": "D|g|", "grad_norm_d_max": "D|g|max", "grad_norm_g_mean": "G|g|",
             "grad_norm_g_max": "G|g|max", "inception_score": "IS", "loss_calibrated": "loss@T"}
    NOTE = "|g|: gradient 2-norm before clipping (mean, largest step)"

    def start(self, folder, info, first_epoch):
        resumed = info.get("resumed")
        where = f", resuming from epoch {resumed[0]}, step {resumed[1]}" if resumed else ""
        print(f"{info['model']} ({info['params']:,} params) on {info['dataset']} "
              f"[{info['device']}] → {folder}{where}", flush=True)
        self.widths = None

    @staticmethod
    def _value(key: str, v: float) -> str:
        return f"{v:.4g}" if key.startswith("grad_norm_") else f"{v:.4f}"

    def epoch(self, epoch, metrics, lr, seconds, timing=None):
        heads, values = ["epoch"], [str(epoch)]
        for split, m in metrics.items():
            for i, (k, v) in enumerate(m.items()):
                heads.append((f"{split} " if i == 0 else "") + self.SHORT.get(k, k))
                values.append(self._value(k, v))
        heads += ["lr", "s"]
        values += [f"{lr:.3g}", f"{seconds:.1f}"]
        if getattr(self, "widths", None) is None or len(self.widths) != len(heads):
            self.widths = [max(len(h), len(v), 7 if i else 5) for i, (h, v) in enumerate(zip(heads, values))]
            if any("|g|" in h for h in heads):
                print(f"({self.NOTE})", flush=True)
            print(self._row(heads, metrics), flush=True)
        print(self._row(values, metrics), flush=True)

    def _row(self, cells: list[str], metrics: dict) -> str:
        """The cells right-aligned in their columns, ' | ' between the epoch, each split, and lr with seconds."""
        cells = [c.rjust(w) for c, w in zip(cells, self.widths)]
        groups, at = [cells[0]], 1
        for m in metrics.values():
            groups.append(" ".join(cells[at:at + len(m)]))
            at += len(m)
        groups.append(" ".join(cells[at:]))
        return " | ".join(groups)


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
