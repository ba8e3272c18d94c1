"""Comparing runs: their curves overlaid in one figure and a table of their best metrics."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .loggers import read_metrics  # noqa: E402


def compare_runs(folders: list[Path], png: Path, title: str = "") -> list[dict]:
    """Overlay train/validation loss and the primary metric of each run; return one row per run."""
    rows = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, folder in enumerate(folders):
        folder = Path(folder)
        summary = json.loads((folder / "summary.json").read_text())
        primary = summary["primary_metric"]["name"]
        metrics = read_metrics(folder)
        color = colors[i % len(colors)]
        for split, ls in (("train", "-"), ("val", "--")):
            pts = [(r["epoch"], r["loss"]) for r in metrics if r["split"] == split]
            if pts:
                axes[0].plot(*zip(*pts), color=color, ls=ls, label=f"{folder.name} {split}")
            pts = [(r["epoch"], r.get(primary)) for r in metrics if r["split"] == split and r.get(primary) is not None]
            if pts:
                axes[1].plot(*zip(*pts), color=color, ls=ls, label=f"{folder.name} {split}")
        rows.append({"run": folder.name, "model": summary["model"], "best_epoch": summary["best_epoch"],
                     **{f"test_{k}": v for k, v in summary["metrics"].items()},
                     "wall_seconds": summary["wall_seconds"]})
    for ax, name in zip(axes, ("loss", primary if folders else "")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(f"{name} (solid: train, dashed: validation)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")  # losses of different runs span decades
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return rows
