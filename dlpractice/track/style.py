"""One look per split, shared by `curves.png` (matplotlib) and report.html's SVG charts, so a learner who has
learnt "validation is the orange dashed line" in one finds it the same in the other."""
from __future__ import annotations

# split: (colour, dash); the colours are matplotlib's tab:blue, tab:orange, tab:green
SPLIT_COLOUR = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
SPLIT_DASH = {"train": "solid", "val": "dashed", "test": "dotted"}
OTHER_COLOUR, OTHER_DASH = "#9467bd", "dashdot"   # a split outside the three (none today)

MPL_DASH = {"solid": "-", "dashed": "--", "dotted": ":", "dashdot": "-."}
SVG_DASH = {"solid": "", "dashed": "6 4", "dotted": "2 3", "dashdot": "6 3 2 3"}


def mpl_style(split: str) -> tuple[str, str]:
    """(color, ls) for matplotlib."""
    return SPLIT_COLOUR.get(split, OTHER_COLOUR), MPL_DASH[SPLIT_DASH.get(split, OTHER_DASH)]


def svg_style(split: str) -> tuple[str, str]:
    """(stroke, stroke-dasharray) for SVG."""
    return SPLIT_COLOUR.get(split, OTHER_COLOUR), SVG_DASH[SPLIT_DASH.get(split, OTHER_DASH)]
