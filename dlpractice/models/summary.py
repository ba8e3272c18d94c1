"""The layer table of a model (lecture 10: kernel size, channels and pooling decide each layer's output
shape): every layer with its output shape, parameters and multiply-adds for one example batch, traced by
torchinfo, plus totals. `dlp models show` prints it; a run's report.html shows it for the run's input."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError, one_line

DEPTH = 3   # nesting levels shown (torchinfo's default); deeper layers are summed into the row above them


def _mult_adds(info) -> int:
    """torchinfo's multiply-adds of one leaf layer, less two of its rules that count what is not done
    (torchinfo 1.8, `LayerInfo.calculate_macs`): an embedding looks rows up (charged params × batch), and a
    recurrent layer whose output has two axes (a packed sequence's data: steps × features) was charged
    steps × features × params, while each step uses each weight once: steps × params."""
    if isinstance(info.module, nn.Embedding):
        return 0
    if isinstance(info.module, nn.RNNBase) and len(info.output_size) == 2:
        return int(info.output_size[0]) * info.num_params
    return max(int(info.macs), 0)


def _path(info) -> str:
    """`layer1.0.conv1`: the attribute names from the model down to this layer."""
    names = []
    while info is not None and info.depth > 0:
        names.append(info.var_name)
        info = info.parent_info
    return ".".join(reversed(names))


def _shape(size) -> list:
    """torchinfo's output size as a plain list ([] for a layer whose output it could not size)."""
    return [int(s) if isinstance(s, int) else _shape(s) for s in size] if isinstance(size, (list, tuple)) else []


def layer_table(model: nn.Module, example: torch.Tensor, depth: int = DEPTH) -> dict:
    """The rows of `model` on the batch `example`, down to `depth` nesting levels:
    {"input_shape", "layers": [{"depth", "layer", "name", "output_shape", "params", "mult_adds"}],
    "total_params", "trainable_params", "mult_adds"}.

    A row's `params` are the layer's own (a container's are in its children's rows), or everything inside
    it at the deepest level shown, so the rows add up to `total_params`; a layer used twice counts once.
    `mult_adds` cover the whole batch; the model runs once in eval mode, without gradients. An input the
    model cannot take (an image too small for its pooling, ...) is a UserError naming its shape."""
    import torchinfo   # imported here: only the layer table needs it
    shape = list(example.shape)
    try:
        stats = torchinfo.summary(model, input_data=example, depth=depth, verbose=0, mode="eval",
                                  col_names=("output_size", "num_params", "mult_adds"))
    except (RuntimeError, ValueError) as e:   # torchinfo wraps the forward's error in its own
        cause = e.__cause__ or e
        raise UserError(f"{type(model).__name__} cannot take an input of shape {tuple(shape)}: "
                        f"{one_line(cause)[:300]}") from None
    leaves = [i for i in stats.summary_list if i.is_leaf_layer]
    rows = []
    for info in stats.summary_list:
        if info.depth > depth:
            continue
        deepest = info.depth == depth or info.is_leaf_layer
        if info.is_recursive:
            params = 0
        elif deepest:
            params = info.num_params
        else:
            params = max(info.leftover_params(), 0)
        if info.is_leaf_layer:
            macs = _mult_adds(info)
        elif info.depth == depth:   # the leaves below it, at every depth (torchinfo sums direct children only)
            inside = {id(m) for m in info.module.modules()}
            macs = sum(_mult_adds(leaf) for leaf in leaves if id(leaf.module) in inside
                       and leaf.depth > info.depth)
        else:
            macs = 0
        rows.append({"depth": info.depth, "layer": info.class_name, "name": _path(info),
                     "output_shape": _shape(info.output_size), "params": params, "mult_adds": macs,
                     **({"shared": True} if info.is_recursive and info.num_params else {}),
                     **({"packed": True} if isinstance(info.module, nn.RNNBase)
                        and len(info.output_size) == 2 else {})})
    return {"input_shape": shape, "layers": rows, "total_params": int(stats.total_params),
            "trainable_params": int(stats.trainable_params),
            "mult_adds": sum(_mult_adds(leaf) for leaf in leaves)}


def shape_text(shape: list) -> str:
    """(1, 10, 24, 24); nested shapes (a layer returning several tensors) as they come; -- when unknown."""
    if not shape:
        return "--"
    return "(" + ", ".join(shape_text(s) if isinstance(s, list) else str(s) for s in shape) + ")"


def _count(n: int, shared: bool = False) -> str:
    return "(shared)" if shared else f"{n:,}" if n else "--"


def table_cells(row: dict) -> list[str]:
    """One row as the table's cells: layer (indented by depth, with its attribute path), output shape,
    parameters, multiply-adds."""
    label = row["layer"] + (f" ({row['name']})" if row["name"] else "")
    return ["  " * row["depth"] + label, shape_text(row["output_shape"]),
            _count(row["params"], row.get("shared", False)), _count(row["mult_adds"])]


HEADER = ["layer", "output shape", "params", "mult-adds"]


def format_table(table: dict, width: int = 100) -> list[str]:
    """The layer table as text lines of at most `width` columns (long layer names are cut with …)."""
    cells = [HEADER] + [table_cells(r) for r in table["layers"]]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    widths[0] = max(12, min(widths[0], width - sum(widths[1:]) - 6))

    def line(c):
        name = c[0] if len(c[0]) <= widths[0] else c[0][:widths[0] - 1] + "…"
        return "  ".join([name.ljust(widths[0]), c[1].ljust(widths[1]), c[2].rjust(widths[2]),
                          c[3].rjust(widths[3])]).rstrip()[:width]

    return [line(c) for c in cells] + [total_text(table)] + ([PACKED] if packed(table) else [])


def total_text(table: dict) -> str:
    return (f"total: {table['total_params']:,} parameters ({table['trainable_params']:,} trainable), "
            f"{table['mult_adds']:,} multiply-adds")


# what a recurrent layer's two-axis output is: torchinfo sizes the PackedSequence it returns by its data
PACKED = "a recurrent layer's (steps, features): its packed output, every step of every sequence on one axis"


def packed(table: dict) -> bool:
    return any(r.get("packed") for r in table["layers"])
