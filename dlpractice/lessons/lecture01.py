"""Lecture 1 on the scratch engine: a tour of the graph (build, print, backward)."""
from __future__ import annotations

from pathlib import Path

from ..scratch.engine import Tensor
from ..scratch.graph import dot, graph, render
from .hooks import entry


@entry("lesson1")
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
    view = ("open it in an image viewer" if drawn.suffix == ".png" else
            "draw it with Graphviz (`dot -Tpng graph.dot -o graph.png`; `apt-get install graphviz`) or paste it "
            "into an online Graphviz viewer")
    print(f"wrote {out / 'graph.txt'} (the tree above) and {out / drawn.name}: {view}")
    return {
        "loss": loss.item(),
        "w_grad": w.grad.item(), "b_grad": b.grad.item(),
        "w_grad_by_hand": 2 * residual * x, "b_grad_by_hand": 2 * residual,
        "graph_nodes": len(loss._topo()),
        "graph_file": drawn.name,
        "dot_chars": len(dot(loss)),
    }
