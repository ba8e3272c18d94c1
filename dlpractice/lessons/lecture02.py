"""Lecture 2 on the scratch engine: the linear model by exhaustive search of w (and b)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ._course import _mse, _save
from .hooks import entry


@entry("lesson2")
def lesson2(out: Path, quick: bool = False) -> dict:
    """Linear model y = w x by exhaustive search of w; then the homework surface over (w, b).

    Writes cost_vs_w.png and cost_surface.png; returns the best w on the grid and its cost.
    """
    # w = 0.0, 0.1, ..., 4.0; rounding keeps the grid point 2.0 exactly 2.0.
    ws = np.round(np.linspace(0.0, 4.0, 41), 10)
    costs = np.array([_mse(w, 0.0) for w in ws])
    best = int(np.argmin(costs))

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(ws, costs, marker=".")
    ax.axvline(ws[best], color="grey", linestyle="--", label=f"best w = {ws[best]:.1f}")
    ax.set(title="Lecture 2: exhaustive search, y_hat = w·x", xlabel="w", ylabel="cost (MSE)")
    ax.legend()
    _save(fig, out / "cost_vs_w.png")

    # Homework: y_hat = w x + b, cost over a (w, b) grid.
    n = 21 if quick else 41
    W, B = np.meshgrid(np.linspace(0.0, 4.0, n), np.linspace(-2.0, 2.0, n))
    C = np.vectorize(_mse)(W, B)
    i, j = np.unravel_index(np.argmin(C), C.shape)
    fig = Figure(figsize=(7, 5.5))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(W, B, C, cmap="viridis", linewidth=0, alpha=0.9)
    ax.scatter([W[i, j]], [B[i, j]], [C[i, j]], color="red", s=40, label=f"min at w={W[i, j]:.1f}, b={B[i, j]:.1f}")
    ax.set(title="Lecture 2 homework: cost surface of y_hat = w·x + b", xlabel="w", ylabel="b", zlabel="cost (MSE)")
    ax.legend()
    _save(fig, out / "cost_surface.png")
    print(f"best w on the grid: {ws[best]:.1f} (cost {costs[best]:.4g}); the homework's surface is lowest at "
          f"w = {W[i, j]:.1f}, b = {B[i, j]:.1f}\nwrote {out / 'cost_vs_w.png'} (cost against w) and "
          f"{out / 'cost_surface.png'} (cost over w and b)")
    return {"best_w": float(ws[best]), "best_cost": float(costs[best]),
            "surface_best_w": float(W[i, j]), "surface_best_b": float(B[i, j]),
            "surface_best_cost": float(C[i, j])}
