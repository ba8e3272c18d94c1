"""Figures of a run: train / validation / test curves (the seed's way to see overfitting)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..runs.metrics import read_metrics  # noqa: E402

SPLIT_STYLE = {"train": ("tab:blue", "-"), "val": ("tab:orange", "--"), "test": ("tab:green", ":")}


def plot_curves(folder: Path, title: str = "", best_epoch: int | None = None) -> Path:
    """`curves.png`: loss and every other metric against epoch, one line per split."""
    rows = read_metrics(folder)
    metrics = [k for k in rows[0] if k not in ("epoch", "split", "lr")] if rows else []
    metrics = ["loss"] + [m for m in metrics if m != "loss"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for split, (color, ls) in SPLIT_STYLE.items():
            pts = [(r["epoch"], r[metric]) for r in rows if r["split"] == split and r.get(metric) is not None]
            if pts:
                ax.plot(*zip(*pts), color=color, ls=ls, marker="o", ms=3, label=split)
        if best_epoch:
            ax.axvline(best_epoch, color="gray", lw=0.8, ls="-.", label=f"best (val) epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_curves(fig, folder, title)


def save_curves(fig, folder: str | Path, title: str) -> Path:
    """Title, lay out and write a curves figure as `curves.png` in the run folder; close it."""
    fig.suptitle(title)
    # Fixed margins in inches for a row of panels: what tight_layout finds for these figures, without the
    # half second it takes to measure every tick label (most of a small run's wall time).
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=0.75 / w, right=1 - 0.2 / w, bottom=0.55 / h, top=1 - 0.6 / h, wspace=0.3)
    out = Path(folder) / "curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
