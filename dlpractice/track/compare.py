"""Comparing runs: their curves overlaid in one figure and a table of their best metrics."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..runs.metrics import read_metrics  # noqa: E402
from .plots import epoch_axis  # noqa: E402


MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
LOWER_IS_BETTER = {"loss", "mse", "mae", "perplexity"}


def _positive_floor(values) -> float | None:
    pos = [v for v in values if v is not None and v > 0]
    return min(pos) if pos else None


def compare_runs(folders: list[Path], png: Path, title: str = "") -> list[dict]:
    """Overlay train/validation loss and the primary metric of each run; return one row per run.

    Each run has its own color and marker, and earlier runs are drawn wider, so runs whose curves
    coincide (e.g. SGD and ASGD) stay visible; the legend sits beside the plots. Loss (and any
    lower-is-better metric) is on a log scale, with exact zeros drawn at the smallest positive value."""
    rows = []
    n = max(1, len(folders))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    colors = plt.get_cmap("tab10").colors if n <= 10 else plt.get_cmap("tab20").colors
    primary, has_val, no_val = "", False, False
    for i, folder in enumerate(folders):
        folder = Path(folder)
        summary = json.loads((folder / "summary.json").read_text())
        primary = summary["primary_metric"]["name"]
        metrics = read_metrics(folder)
        style = {"color": colors[i % len(colors)], "marker": MARKERS[i % len(MARKERS)], "ms": 4,
                 "lw": 1.2 + 1.6 * (n - 1 - i) / max(1, n - 1), "alpha": 0.9, "zorder": 2 + i}
        run_has_val = any(r["split"] == "val" for r in metrics)
        has_val |= run_has_val
        no_val |= not run_has_val
        for ax, name in zip(axes, ("loss", primary)):
            # without a validation split, the metric panel shows the test split (dotted) for reference
            other = ("val", "--") if run_has_val or ax is axes[0] else ("test", ":")
            splits = (("train", "-"), other)
            for split, ls in splits:
                pts = [(r["epoch"], r.get(name)) for r in metrics if r["split"] == split and r.get(name) is not None]
                if not pts:
                    continue
                if name in LOWER_IS_BETTER:
                    floor = _positive_floor(v for _, v in pts) or 1e-12
                    pts = [(e, max(v, floor)) for e, v in pts]
                ax.plot(*zip(*pts), ls=ls, markevery=max(1, len(pts) // 12) if len(pts) > 1 else None,
                        label=f"{folder.name} {split}", **style)
        best_val = (summary.get("best_val") or {}).get(primary)
        rows.append({"run": folder.name, "model": summary["model"], "best_epoch": summary["best_epoch"],
                     **({f"val_{primary}": best_val} if best_val is not None else {}),
                     **{f"test_{k}": v for k, v in summary["metrics"].items()},
                     "wall_seconds": summary["wall_seconds"]})
    split_note = ["solid: train"] + (["dashed: validation"] if has_val else [])
    for ax, name in zip(axes, ("loss", primary)):
        note = split_note + (["dotted: test"] if no_val and ax is axes[1] else [])
        epoch_axis(ax)
        ax.set_ylabel(name)
        ax.set_title(f"{name} ({', '.join(note)})", fontsize=10)
        ax.grid(alpha=0.3)
        if name in LOWER_IS_BETTER and ax.lines:
            ax.set_yscale("log")  # losses of different runs span decades
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:  # one entry per run (and split) beside the plots, not over the curves
        axes[1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return rows


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(folders: list[Path], ignore: tuple = ("log.",)) -> list[dict]:
    """The settings whose values differ between the runs' config.toml: one row per setting with a
    column per run (a setting missing in a run shows as None). Logging settings are left out."""
    import tomllib
    configs = [_flat(tomllib.loads((Path(f) / "config.toml").read_text(encoding="utf-8"))) for f in folders]
    keys = sorted({k for c in configs for k in c if not k.startswith(ignore)})
    names = [Path(f).name for f in folders]
    names = names if len(set(names)) == len(names) else [str(f) for f in folders]  # same names, other parents
    return [{"setting": k, **{n: c.get(k) for n, c in zip(names, configs)}}
            for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def bar_chart(rows: list[dict], value: str, png: Path, title: str = "", note: str = "") -> Path:
    """One horizontal bar per row (`row["run"]`) of `row[value]`, the bars' own numbers at their ends and
    `note.format(**row)` beside each name (e.g. feature counts and seconds); the best bar is darker."""
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.4))
    values = [float(r[value]) for r in rows]
    best = max(range(len(values)), key=values.__getitem__) if values else -1
    bars = ax.barh(range(len(rows)), values, color=["#1f4e79" if i == best else "#7fa7d0" for i in range(len(rows))])
    ax.set_yticks(range(len(rows)), [f"{r['run']}\n{note.format(**r)}" if note else r["run"] for r in rows], fontsize=8)
    ax.invert_yaxis()   # the first row on top, in the lesson's order
    lo = min(values, default=0.0)
    ax.set_xlim(max(0.0, lo - 0.1 * (max(values, default=1.0) - lo + 0.1)), max(values, default=1.0) * 1.01)
    ax.bar_label(bars, [f"{v:.4f}" for v in values], padding=3, fontsize=8)
    ax.set_xlabel(value)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
