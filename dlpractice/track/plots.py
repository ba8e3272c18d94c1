"""Figures of a run: train / validation / test curves (the seed's way to see overfitting)."""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..runs.metrics import read_metrics  # noqa: E402
from .style import SPLIT_COLOUR, mpl_style  # noqa: E402


def plot_curves(folder: Path, title: str = "", best_epoch: int | None = None) -> Path:
    """`curves.png`: loss and every other metric against epoch, one line per split; the training gradient norm's
    mean and maximum in one panel of their own when metrics.csv has them (runs from before it had not)."""
    rows = read_metrics(folder)
    metrics = [k for k in (rows[0] if rows else ()) if k not in ("epoch", "split", "lr")
               and not k.startswith("grad_norm_")]
    metrics = ["loss"] + [m for m in metrics if m != "loss"]
    norms = any(r.get("grad_norm_mean") is not None for r in rows)
    train = train_settings(folder)   # label smoothing and the clipping bound, read once
    # Label smoothing is in the training loss only: its curve then sits above validation's without overfitting
    smooth = train.get("label_smoothing", 0)
    panels = len(metrics) + norms
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8), squeeze=False)
    if norms:
        grad_norm_panel(axes[0][-1], rows, train.get("grad_clip", 0), best_epoch)
    for ax, metric in zip(axes[0], metrics):
        for split in SPLIT_COLOUR:
            color, ls = mpl_style(split)
            pts = [(r["epoch"], r[metric]) for r in rows if r["split"] == split and r.get(metric) is not None]
            if pts:
                ax.plot(*zip(*pts), color=color, ls=ls, marker="o", ms=3,
                        label=f"{split} (label smoothing {smooth:g})" if metric == "loss" and split == "train"
                        and smooth > 0 else split)
        if best_epoch:
            ax.axvline(best_epoch, color="gray", lw=0.8, ls="-.", label=f"best (val) epoch {best_epoch}")
        epoch_axis(ax)
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_curves(fig, folder, title)


def train_settings(folder: Path) -> dict:
    """The numbers of the run's config.toml [train] table, {} where it has none: the figure never fails for want
    of its config (a run folder put together by hand)."""
    try:
        table = tomllib.loads((Path(folder) / "config.toml").read_text(encoding="utf-8"))["train"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return {}
    return {k: v for k, v in table.items() if isinstance(v, (int, float)) and not isinstance(v, bool)} \
        if isinstance(table, dict) else {}


def epoch_axis(ax) -> None:
    """An epoch axis ticked at whole epochs only: no 1.25 or 1.5, and no 0.945 … 1.055 around a single epoch
    (where matplotlib's integer locator gives up). Call it after the lines are drawn."""
    ax.set_xlabel("epoch")
    lo, hi = ax.get_xlim()
    whole = list(range(math.ceil(lo), math.floor(hi) + 1))
    if len(whole) <= 10:
        ax.set_xticks(whole)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def grad_norm_panel(ax, rows: list[dict], clip: float, best_epoch: int | None,
                    players: tuple = (("", "", SPLIT_COLOUR["train"]),)) -> None:
    """The total gradient norm before clipping per epoch (mean and largest step), where an exploding gradient
    shows as a spike (lecture 11); `clip` (train.grad_clip) as a line when clipping is on. `players` are (key, label,
    colour): ("", "", blue) reads grad_norm_mean / _max, a GAN's ("d", "D", red) grad_norm_d_mean / _max. A linear
    axis: a log one's tick labels take longer to draw than the rest of the panel."""
    for key, who, color in players:
        for stat, label, ls in (("mean", "mean over the steps", "-"), ("max", "largest step", "--")):
            name = f"grad_norm_{key}_{stat}" if key else f"grad_norm_{stat}"
            pts = [(r["epoch"], r[name]) for r in rows if r["split"] == "train" and r.get(name) is not None]
            if pts:
                ax.plot(*zip(*pts), color=color, ls=ls, marker="o", ms=3, label=f"{who} {label}".strip())
    if clip > 0:
        ax.axhline(clip, color="black", lw=0.8, ls=":", label=f"train.grad_clip = {clip:g}")
    if best_epoch:
        ax.axvline(best_epoch, color="gray", lw=0.8, ls="-.", label=f"best (val) epoch {best_epoch}")
    epoch_axis(ax)
    ax.set_ylabel("total gradient 2-norm (train)")
    ax.set_title("gradient norm before clipping")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


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


def plot_lr_range(test: dict, path: str | Path, title: str = "") -> Path:
    """The learning-rate range test's figure: each step's training loss and its smoothed curve against the
    rate (log axis), the lowest smoothed loss and the suggested rate marked. `test` holds `lrs`, `losses`,
    `smoothed`, `lr_at_min_loss`, `suggested_lr` and optionally `steepest_lr`."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(test["lrs"], test["losses"], color="tab:blue", alpha=0.3, lw=0.8, label="loss of each step")
    ax.plot(test["lrs"], test["smoothed"], color="tab:blue", lw=1.8, label="smoothed (moving average)")
    ax.axvline(test["lr_at_min_loss"], color="gray", ls=":", lw=1,
               label=f"lowest smoothed loss at {test['lr_at_min_loss']:.3g}")
    if test.get("steepest_lr"):
        ax.axvline(test["steepest_lr"], color="tab:purple", ls="--", lw=0.8,
                   label=f"steepest fall at {test['steepest_lr']:.3g}")
    ax.axvline(test["suggested_lr"], color="tab:red", lw=1.5,
               label=f"suggested optim.lr = {test['suggested_lr']:.3g} (lowest ÷ 10)")
    ax.set_xscale("log")
    low, high = min(min(test["losses"]), min(test["smoothed"])), test["smoothed"][0]
    ax.set_ylim(max(0.0, low - 0.05 * (high - low)) if high > low else None, high + 0.5 * (high - low) if high > low else None)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title or "learning-rate range test")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
