"""Lectures 1-4 on the scratch engine: graph tour, exhaustive search, gradient descent, back-propagation."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches pyplot's global state

from . import losses, optim
from .engine import Tensor, no_grad
from .graph import dot, graph, render

# The course's toy data set (lectures 2-4): hours studied -> points, exactly y = 2x.
COURSE_X = np.array([1.0, 2.0, 3.0])
COURSE_Y = np.array([2.0, 4.0, 6.0])


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---- lecture 1 -------------------------------------------------------------------------------
def lesson1(out: Path, quick: bool = False) -> dict:
    """A tour of the engine: build y = w*x + b and its squared error, draw the graph, run backward.

    Writes graph.txt (indented tree), graph.dot (Graphviz; graph.png too if `dot` is installed)
    and returns the engine's gradients next to the ones worked out by hand.
    """
    x, target = 2.0, 5.0
    w = Tensor(1.0, requires_grad=True, name="w")
    b = Tensor(0.5, requires_grad=True, name="b")
    y = w * Tensor(x, name="x") + b
    y.name = "y_hat"
    loss = (y - Tensor(target, name="y")) ** 2
    loss.name = "loss"
    loss.backward()
    # By hand: loss = (w x + b - t)^2, so dloss/dw = 2 (w x + b - t) x and dloss/db = 2 (w x + b - t).
    residual = w.item() * x + b.item() - target
    text = (f"loss = (w*x + b - y)^2 with w={w.item()}, b={b.item()}, x={x}, y={target}\n"
            f"forward: y_hat = {y.item()}, loss = {loss.item()}\n"
            f"backward: dloss/dw = {w.grad.item()} (by hand {2 * residual * x}), "
            f"dloss/db = {b.grad.item()} (by hand {2 * residual})\n\n" + graph(loss))
    (out / "graph.txt").write_text(text, encoding="utf-8")
    drawn = render(loss, out / "graph")  # graph.dot always, graph.png only with Graphviz
    print(text)
    return {
        "loss": loss.item(),
        "w_grad": w.grad.item(), "b_grad": b.grad.item(),
        "w_grad_by_hand": 2 * residual * x, "b_grad_by_hand": 2 * residual,
        "graph_nodes": len(loss._topo()),
        "graph_file": drawn.name,
        "dot_chars": len(dot(loss)),
    }


# ---- lecture 2 -------------------------------------------------------------------------------
def _mse(w, b, x=COURSE_X, y=COURSE_Y) -> float:
    """Cost of y_hat = w x + b on the data, computed by the engine's forward pass."""
    with no_grad():
        return losses.mse_loss(Tensor(w) * x + b, y).item()


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
    return {"best_w": float(ws[best]), "best_cost": float(costs[best]),
            "surface_best_w": float(W[i, j]), "surface_best_b": float(B[i, j]),
            "surface_best_cost": float(C[i, j])}


# ---- lecture 3 -------------------------------------------------------------------------------
def _fit_course(batch_size: int, epochs: int, lr: float, rng: np.random.Generator) -> tuple[float, list[float]]:
    """Fit y_hat = w x to the course data from w = 1 (the lecture's start); cost after each epoch."""
    w = Tensor(1.0, requires_grad=True, name="w")
    opt = optim.SGD([w], lr=lr)
    n, curve = len(COURSE_X), []
    for _ in range(epochs):
        order = rng.permutation(n) if batch_size < n else np.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            losses.mse_loss(w * COURSE_X[idx], COURSE_Y[idx]).backward()
            opt.step()
        curve.append(_mse(w.item(), 0.0))
    return w.item(), curve


def _race(x, y, batch_size: int, lr: float, budget_s: float, rng: np.random.Generator) -> dict:
    """Train y_hat = w x + b with `batch_size` samples per update for `budget_s` seconds of training.

    The clock runs only around forward/backward/step; the cost on all the data is measured
    about 100 times with the clock stopped, so measuring does not eat into the budget.
    """
    w, b = Tensor(0.0, requires_grad=True), Tensor(0.0, requires_grad=True)
    opt = optim.SGD([w, b], lr=lr)
    n = len(x)
    order, pos, updates, spent = rng.permutation(n), 0, 0, 0.0
    times, costs, next_mark = [0.0], [float(np.mean(y ** 2))], budget_s / 100
    while spent < budget_s:
        t0 = time.perf_counter()
        if batch_size >= n:
            xb, yb = x, y
        else:
            if pos + batch_size > n:  # new epoch: reshuffle
                order, pos = rng.permutation(n), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            xb, yb = x[idx], y[idx]
        opt.zero_grad()
        losses.mse_loss(w * xb + b, yb).backward()
        opt.step()
        spent += time.perf_counter() - t0
        updates += 1
        if spent >= next_mark:
            times.append(spent)
            costs.append(float(np.mean((w.item() * x + b.item() - y) ** 2)))
            next_mark += budget_s / 100
    return {"updates": updates, "seconds": spent, "times": times, "costs": costs,
            "w": w.item(), "b": b.item()}


def lesson3(out: Path, quick: bool = False) -> dict:
    """Batch GD vs SGD vs mini-batch SGD: on the course data, then racing on 10,000 noisy points.

    Writes gd_curves.png (cost per epoch on the course data) and gd_tradeoff.png (cost against
    training time, updates/s, samples/s on the synthetic set) and returns the numbers.
    """
    rng = np.random.default_rng(0)
    # Part 1: the lecture's setting (w = 1, lr = 0.01, 100 epochs), three batch sizes.
    epochs = 100  # ~300 tiny updates: cheap enough for quick runs too
    course = {"gd": 3, "minibatch": 2, "sgd": 1}  # samples per update on a 3-sample data set
    fits = {name: _fit_course(bs, epochs, 0.01, rng) for name, bs in course.items()}
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, (w, curve) in fits.items():
        ax.plot(range(1, epochs + 1), curve, label=f"{name} ({course[name]}/update): w = {w:.4f}")
    ax.set(yscale="log", title="Lecture 3: y_hat = w·x on x=1,2,3 (lr 0.01)", xlabel="epoch", ylabel="cost (MSE, log scale)")
    ax.legend()
    _save(fig, out / "gd_curves.png")
    result = {f"{name}_w": w for name, (w, _) in fits.items()}

    # Part 2: 10,000 points y = 3x + 2 + N(0, 1), x ~ U(0, 10), the same lr for all three
    # (0.005 keeps single-sample steps stable: lr * max 2(x^2+1) ~ 1 < 2).
    # Wall-time numbers are noisy (other processes, CPU frequency): compare orders of magnitude.
    # What this engine shows: each update costs ~65 us of Python overhead whatever its size, so
    # SGD and mini-batch reach the same updates/s and mini-batch gets 64x the data for free (the
    # compromise: it leads early on); numpy vectorises the full batch, so a GD update costs only
    # ~2-5x more and, with the whole budget, exact gradients win on this 2-parameter model.
    # With per-sample compute that dominates (big models), GD's updates/s fall in proportion to N.
    n = 2_000 if quick else 10_000
    x = rng.uniform(0.0, 10.0, n)
    y = 3.0 * x + 2.0 + rng.normal(0.0, 1.0, n)
    best_cost = float(np.mean((np.polyval(np.polyfit(x, y, 1), x) - y) ** 2))  # least squares optimum
    budget = 0.25 if quick else 1.5
    methods = {"gd": n, "minibatch": 64, "sgd": 1}
    races = {name: _race(x, y, bs, 0.005, budget, rng) for name, bs in methods.items()}

    fig = Figure(figsize=(11, 4))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, r in races.items():
        excess = np.maximum(np.array(r["costs"]) / best_cost - 1.0, 1e-10)  # float64 rounding floor
        ax1.plot(r["times"], excess, label=f"{name} ({methods[name]}/update)")
    ax1.set(yscale="log", title=f"{n:,} points, {budget} s each, lr 0.005",
            xlabel="training time (s)", ylabel="cost / optimal cost - 1 (log, floor 1e-10)")
    ax1.legend()
    names = list(races)
    ups = [races[k]["updates"] / races[k]["seconds"] for k in names]
    sps = [u * methods[k] for u, k in zip(ups, names)]
    pos = np.arange(len(names))
    ax2.bar(pos - 0.2, ups, width=0.4, label="updates / s")
    ax2.bar(pos + 0.2, sps, width=0.4, label="samples / s")
    ax2.set(yscale="log", xticks=pos, xticklabels=names, title="throughput (engine, this machine)", ylabel="per second (log)")
    ax2.legend()
    _save(fig, out / "gd_tradeoff.png")

    result.update({"synthetic_points": n, "budget_s": budget, "optimal_cost": best_cost})
    for name, r, u in zip(names, races.values(), ups):
        result[f"{name}_updates_per_s"] = u
        result[f"{name}_samples_per_s"] = u * methods[name]
        result[f"{name}_final_cost"] = r["costs"][-1]
        # Cost at a tenth of the budget: where fast updates pay off before GD has caught up.
        early = next(c for t, c in zip(r["times"], r["costs"]) if t >= budget / 10)
        result[f"{name}_cost_at_tenth_budget"] = early
    return result


# ---- lecture 4 -------------------------------------------------------------------------------
def _quadratic_losses_torch(w0: tuple, lr: float, momentum: float, epochs: int) -> list[float]:
    """The same training as lesson4's, by torch.autograd in float64 (torch imported only here)."""
    import torch

    x, y = torch.from_numpy(COURSE_X), torch.from_numpy(COURSE_Y)
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in w0]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    trajectory = []
    for _ in range(epochs):
        w1, w2, b = params
        loss = torch.nn.functional.mse_loss(w1 * x ** 2 + w2 * x + b, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        trajectory.append(loss.item())
    return trajectory


def lesson4(out: Path, quick: bool = False) -> dict:
    """Back-propagation on the homework model y_hat = w1 x^2 + w2 x + b, checked against torch.

    Full-batch SGD with momentum: the three features (x^2, x, 1) make the cost ill-conditioned
    (Hessian eigenvalues ~0.015 to ~76), and momentum crosses the flat valley ~10x faster than
    plain GD. Writes loss.png; returns the weights, y_hat(4) and the largest gap between the
    engine's and torch's loss trajectories.
    """
    w0, lr, momentum = (1.0, 1.0, 1.0), 0.05, 0.9
    epochs = 1000 if quick else 3000
    w1, w2, b = (Tensor(v, requires_grad=True, name=n) for v, n in zip(w0, ("w1", "w2", "b")))
    opt = optim.SGD([w1, w2, b], lr=lr, momentum=momentum)
    trajectory = []
    for _ in range(epochs):
        loss = losses.mse_loss(w1 * COURSE_X ** 2 + w2 * COURSE_X + b, COURSE_Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        trajectory.append(loss.item())
    reference = _quadratic_losses_torch(w0, lr, momentum, epochs)
    gap = float(np.max(np.abs(np.array(trajectory) - np.array(reference))))
    y4 = w1.item() * 16 + w2.item() * 4 + b.item()

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(range(1, epochs + 1), trajectory, label="scratch engine")
    ax.plot(range(1, epochs + 1), reference, linestyle="--", label=f"torch.autograd (max gap {gap:.1e})")
    ax.set(yscale="log", title="Lecture 4: y_hat = w1·x² + w2·x + b by back-propagation",
           xlabel="epoch (full batch, lr 0.05, momentum 0.9)", ylabel="loss (MSE, log scale)")
    ax.legend()
    _save(fig, out / "loss.png")
    return {"w1": w1.item(), "w2": w2.item(), "b": b.item(), "y4": y4,
            "final_loss": trajectory[-1], "epochs": epochs, "torch_max_abs_diff": gap}
