"""The sections of report.html that come from files other than metrics.csv and summary.json: the model's layers,
the per-class table (per_class.json) and the config (config.toml, the sections that apply to the run)."""
from __future__ import annotations

import json
import math
import re
from html import escape
from pathlib import Path

# config.toml sections that only one kind of run reads: (section, the summary's task that reads it)
ONLY_FOR_TASK = {"gan": "generation"}


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def layers_section(folder: Path) -> str:
    """"Layers" of an image or sequence run: each layer's output shape for the run's input (data.json),
    its parameters and multiply-adds, from the model the run's config builds (models/summary.py); ""
    for other runs. A table that cannot be made is a note, never a failed report."""
    meta = read_json(folder / "data.json")
    if meta.get("input") not in ("image", "sequence") or not (folder / "config.toml").is_file():
        return ""
    from ..config import load_config
    from ..errors import one_line
    from ..inputs import example_batch
    from ..models import MODELS, build_model
    from ..models.summary import HEADER, PACKED, layer_table, packed, shape_text, table_cells, total_text
    try:
        cfg = load_config(folder / "config.toml")
        spec = MODELS.get(cfg.model.name)
        if spec.input != meta["input"]:   # a GAN's generator takes noise
            return ""
        args = spec.resolve_args(meta, cfg.model.args)
        table = layer_table(build_model(spec.name, args), example_batch(meta["input"], {**args, **meta}, n=1))
    except Exception as e:  # noqa: BLE001 — the rest of the page is still worth having
        return f'<h2>Layers</h2><div class="note info">No layer table: {escape(one_line(e))}</div>'
    same = f"dlp models show {spec.name}" + (f" --data {meta['dataset']}" if meta.get("dataset") else "") + "".join(
        f" --set model.args.{k}={json.dumps(v)}" for k, v in cfg.model.args.items())
    out = [f"<h2>Layers</h2><p>What each layer gives for one input of shape {shape_text(table['input_shape'])} "
           f"(a batch of 1; training batches held {cfg.data.batch_size}), its parameters and multiply-adds "
           f"(<code>{escape(same)}</code> prints the same).</p>",
           '<table id="layers"><tr>' + "".join(f"<th>{h}</th>" for h in HEADER) + "</tr>"]
    for row in table["layers"]:
        cells = table_cells(row)
        out.append(f'<tr data-depth="{row["depth"]}"><td style="padding-left:{0.7 + 1.2 * row["depth"]:.1f}em">'
                   f"{escape(cells[0].strip())}</td>" + "".join(f"<td>{escape(c)}</td>" for c in cells[1:]) + "</tr>")
    out.append(f'</table><p id="layers-total">{escape(total_text(table))}'
               + (f"; {escape(PACKED)}" if packed(table) else "") + ".</p>")
    return "".join(out)


def per_class_section(per_class: dict) -> str:
    """"Per class": each class's test examples, accuracy (recall), precision and most frequent confusion, the
    weakest class first, from per_class.json (written by `dlp report` and the per_class lesson report)."""
    classes = per_class.get("per_class") or {}
    if per_class.get("balanced_accuracy") is None or not classes:
        return ""

    def pct(v):
        return f"{100 * v:.1f}%" if isinstance(v, (int, float)) and math.isfinite(v) else "–"

    order = sorted(classes.items(), key=lambda kv: (kv[1].get("accuracy") is None, kv[1].get("accuracy") or 0))
    out = [f"<h2>Per class</h2><p>The best checkpoint on the {escape(str(per_class.get('split', 'test')))} split "
           f"({per_class.get('n', 0):,} examples), weakest class first. Balanced accuracy (mean of the per-class "
           f"accuracies, every class counting the same): {per_class['balanced_accuracy']:.4f}; overall accuracy "
           f"{per_class.get('accuracy', float('nan')):.4f}.</p>",
           '<table id="per-class"><tr><th>class</th><th>examples</th><th>accuracy (recall)</th><th>precision</th>'
           "<th>most often taken for</th></tr>"]
    for name, c in order:
        confused = (f"{escape(str(c['most_confused_with']))} ({c.get('confused_count', 0)})"
                    if c.get("most_confused_with") else "–")
        out.append(f'<tr data-class="{escape(name)}"><td>{escape(name)}</td><td>{c.get("support", 0):,}</td>'
                   f"<td>{pct(c.get('accuracy'))}</td><td>{pct(c.get('precision'))}</td><td>{confused}</td></tr>")
    out.append("</table>")
    return "".join(out)


def applicable_config(text: str, task: str | None) -> tuple[str, list[str]]:
    """config.toml without the sections this run's kind does not read (a classifier's [gan]) and without empty
    tables; returns (text, the dropped section names). Works on the text, so the file's layout is kept."""
    blocks = re.split(r"(?m)^(?=\[)", text)
    kept, dropped = [], []
    for block in blocks:
        header = re.match(r"\[([^\]]+)\]", block)
        if header:
            section = header.group(1).strip()
            reader = ONLY_FOR_TASK.get(section.split(".")[0])
            empty = not any(line.strip() and not line.lstrip().startswith("#") for line in block.splitlines()[1:])
            if (reader and reader != task) or empty:
                dropped.append(section)
                continue
        kept.append(block)
    return "".join(kept).rstrip() + "\n", dropped


def config_section(path: Path, task: str | None) -> str:
    if not path.is_file():
        return ""
    text, dropped = applicable_config(path.read_text(encoding="utf-8"), task)
    unused = [s for s in dropped if s.split(".")[0] in ONLY_FOR_TASK]
    note = (f" Left out: [{'], ['.join(unused)}], read only by other kinds of run; config.toml holds every "
            "setting." if unused else "")
    return (f"<h2>Config</h2><p>The settings this run used (empty tables left out).{escape(note)}</p>"
            f'<pre id="config">{escape(text)}</pre>')
