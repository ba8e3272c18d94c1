"""Draw the computational graph behind a scratch Tensor: as indented text or Graphviz DOT."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .engine import Tensor


def _label(t: Tensor) -> str:
    kind = t._op or ("leaf, requires_grad" if t.requires_grad else "leaf")
    name = f"{t.name} " if t.name else ""
    value = f" value={t.data.item():.4g}" if t.data.size == 1 else ""
    return f"{name}{kind} shape={t.shape}{value}"


def graph(t: Tensor) -> str:
    """The graph as an indented tree, output at the top; each node shows its op and shape.

    A tensor used twice is written out once and referred to by its number (#k) afterwards.
    """
    ids = {id(n): k for k, n in enumerate(t._topo())}
    lines: list[str] = []
    shown: set[int] = set()

    def walk(node: Tensor, prefix: str, branch: str, child_prefix: str) -> None:
        tag = f"#{ids[id(node)]} {_label(node)}"
        if id(node) in shown:
            lines.append(f"{prefix}{branch}{tag}  (see above)")
            return
        shown.add(id(node))
        lines.append(f"{prefix}{branch}{tag}")
        for i, child in enumerate(node._prev):
            last = i == len(node._prev) - 1
            walk(child, prefix + child_prefix, "└── " if last else "├── ", "    " if last else "│   ")

    walk(t, "", "", "")
    return "\n".join(lines) + "\n"


def dot(t: Tensor) -> str:
    """Graphviz DOT source: a box per tensor (name, shape, grad if any), an ellipse per op."""
    out = ["digraph G {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    nodes = t._topo()
    num = {id(n): k for k, n in enumerate(nodes)}  # small stable ids, not memory addresses
    for k, node in enumerate(nodes):
        nid = f"t{k}"
        desc = [node.name or f"#{k}", f"shape {node.shape}"]
        if node.data.size == 1:
            desc.append(f"data {node.data.item():.4g}")
        if node.grad is not None and node.grad.size == 1:
            desc.append(f"grad {node.grad.item():.4g}")
        fill = ', style=filled, fillcolor="lightblue"' if not node._prev and node.requires_grad else ""
        out.append(f'  {nid} [shape=box, label="{" | ".join(desc)}"{fill}];')
        if node._prev:
            out.append(f'  {nid}_op [shape=ellipse, label="{node._op}"];')
            out.append(f"  {nid}_op -> {nid};")
            for child in node._prev:
                out.append(f"  t{num[id(child)]} -> {nid}_op;")
    out.append("}")
    return "\n".join(out) + "\n"


def render(t: Tensor, path: Path) -> Path:
    """Write `path`.dot and, if Graphviz's `dot` program is installed, `path`.png.

    Returns the PNG's path when it was made, else the .dot file's (Graphviz is optional).
    """
    path = Path(path)
    dot_file = path.with_suffix(".dot")
    dot_file.write_text(dot(t), encoding="utf-8")
    exe = shutil.which("dot")
    if exe is None:
        return dot_file
    png = path.with_suffix(".png")
    subprocess.run([exe, "-Tpng", str(dot_file), "-o", str(png)], check=True, capture_output=True)
    return png
