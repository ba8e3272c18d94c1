"""`report.html` of a run folder: one self-contained page (no scripts, images inlined) with the config,
train/validation/test curves drawn as SVG, the final metrics beside the lesson's anchor, an overfitting
note, and the figures the run folder holds (confusion matrix, misclassified grid, filters, GAN samples).

The training loop writes it when a run ends; `dlp report RUN` rebuilds it and, for classification runs,
first draws the confusion matrix and misclassified grid if the folder lacks them.
"""
from __future__ import annotations

import base64
import json
import math
import time
from html import escape
from pathlib import Path
from string import Template

from ..runs.metrics import read_metrics
from .report_sections import config_section, layers_section, per_class_section, read_json
from .style import SPLIT_COLOUR, svg_style

SPLIT_NAME = {"train": "train", "val": "validation", "test": "test"}
# the figures other parts of dlpractice leave in a run folder, in the order the page shows them
FIGURES = [("samples.png", "Generated samples (the latest grid, one fixed noise batch)"),
           ("classes.png", "Shares of the classes among generated and real images"),
           ("confusion.png", "Confusion matrix of the best checkpoint on the test split (rows: true class)"),
           ("misclassified.png", "The test images the model got wrong with the highest confidence"),
           ("filters.png", "First-layer weights of the best checkpoint")]


# -- reading the run folder ------------------------------------------------------------------------
def lesson_info(folder: Path) -> dict:
    """The lesson that produced this run (lesson.json in the run folder, or in the parent folder of a
    compare/cv lesson's child run); {} for a plain `dlp train` run."""
    for p in (folder / "lesson.json", folder.parent / "lesson.json"):
        if p.is_file():
            return read_json(p)
    return {}


def series(rows: list[dict], metric: str) -> dict[str, list[tuple[int, float]]]:
    """{split: [(epoch, value), ...]} of one metric, splits in train/val/test order."""
    out: dict[str, list] = {}
    for r in rows:
        v = r.get(metric)
        if v is not None and math.isfinite(v):
            out.setdefault(r["split"], []).append((r["epoch"], v))
    order = [s for s in SPLIT_COLOUR if s in out] + sorted(set(out) - set(SPLIT_COLOUR))
    return {s: out[s] for s in order}


def metric_names(rows: list[dict]) -> list[str]:
    names = {k for r in rows for k, v in r.items() if k not in ("epoch", "split", "lr") and v is not None}
    return sorted(names, key=lambda k: (not k.startswith("loss"), k))   # losses first


RISEN_EPOCHS = 2   # a rise of held-out loss counts once it has lasted this many epochs: one rise is noise as often as not
RULE = (f"(The rule: overfitting is called when {{held}} loss has stayed above its lowest for at least {RISEN_EPOCHS} "
        "epochs while training loss kept falling.)")


def overfitting(rows: list[dict], summary: dict) -> tuple[str, str]:
    """(kind, sentence): the epoch after which held-out loss rises while training loss still falls.

    Held-out is the validation split, or the test split when the run has none. The turning point is the
    epoch of the lowest held-out loss; it counts as overfitting when at least RISEN_EPOCHS epochs follow it
    (held-out loss above that minimum in each of them) and the training loss at the last epoch is below its
    value there. Every sentence ends with the rule."""
    s = series(rows, "loss")
    held = "val" if "val" in s else "test" if "test" in s else None
    if "train" not in s or held is None:
        return "info", "No training and held-out loss pair in metrics.csv, so no overfitting check."
    tr, ho = dict(s["train"]), dict(s[held])
    epochs = sorted(set(tr) & set(ho))
    name = SPLIT_NAME[held]
    rule = RULE.format(held=name)
    if len(epochs) < 3:
        return "info", (f"Only {len(epochs)} epoch(s): too few to tell whether {name} loss turns "
                        f"upward while training loss still falls. {rule}")
    turn, last = min(epochs, key=lambda e: (ho[e], e)), epochs[-1]
    risen = sum(e > turn for e in epochs)
    if turn == last:
        return "ok", (f"No sign of overfitting: {name} loss was lowest at the last epoch ({last}, {ho[last]:.4f}). "
                      f"{rule}")
    if tr[last] >= tr[turn]:
        return "info", (f"{name.capitalize()} loss was lowest at epoch {turn} and rose afterwards, but training loss "
                        f"did not fall either: not overfitting — look at the learning rate. {rule}")
    if risen < RISEN_EPOCHS:
        return "info", (f"No overfitting called: {name} loss rose only in the last epoch ({ho[turn]:.4f} at epoch "
                        f"{turn} → {ho[last]:.4f} at epoch {last}), which is as often noise as a trend; train "
                        f"longer to tell. {rule}")
    return "warn", (f"Overfitting after epoch {turn}: {name} loss rose from {ho[turn]:.4f} (epoch {turn}) to "
                    f"{ho[last]:.4f} (epoch {last}) while training loss still fell from {tr[turn]:.4f} to "
                    f"{tr[last]:.4f}: the model fits the training set better and unseen data worse. "
                    f"Regularization, augmentation or fewer epochs address it. {rule}")


def checkpoint_note(summary: dict) -> str:
    best, epochs = summary.get("best_epoch"), summary.get("epochs")
    if not best:
        return ""
    by = summary.get("chosen_by", "val")
    chooser = summary.get("best_val") or {}
    pm = (summary.get("primary_metric") or {}).get("name")
    value = f" ({pm} {chooser[pm]:.4f})" if pm in chooser and isinstance(chooser[pm], (int, float)) else ""
    how = "on the validation split" if by == "val" else "on training metrics (the run has no validation split)"
    text = f"Best checkpoint: checkpoints/best.pt from epoch {best} of {epochs}, chosen {how}{value}."
    if epochs and best != epochs:
        text += f" checkpoints/last.pt holds epoch {epochs}; predict, evaluate and export use best.pt."
    return text


# -- drawing ---------------------------------------------------------------------------------------
def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def svg_chart(metric: str, data: dict[str, list[tuple[int, float]]], best_epoch: int | None = None,
              w: int = 500, h: int = 280) -> str:
    """A line chart of one metric, one line per split; every point carries its exact value in
    `data-value` (repr of the float in metrics.csv) and a tooltip."""
    left, right, top, bottom = 58, 12, 30, 36
    xs = [e for pts in data.values() for e, _ in pts]
    ys = [v for pts in data.values() for _, v in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.08 or abs(y1) * 0.05 or 1.0
    y0, y1 = y0 - pad, y1 + pad

    def px(e):
        return left + (w - left - right) * ((e - x0) / (x1 - x0) if x1 > x0 else 0.5)

    def py(v):
        return top + (h - top - bottom) * (1 - (v - y0) / (y1 - y0))

    out = [f'<svg class="chart" data-metric="{escape(metric)}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(metric)} per epoch">',
           f'<text x="{left}" y="16" font-weight="bold">{escape(metric)}</text>',
           f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" '
           'fill="none" stroke="#ccc"/>']
    for t in _ticks(y0, y1):
        y = py(t)
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{t:.4g}</text>')
    step = max(1, math.ceil((x1 - x0 + 1) / 10))
    for e in range(x0, x1 + 1, step):
        out.append(f'<text x="{px(e):.1f}" y="{h - bottom + 15}" text-anchor="middle">{e}</text>')
    out.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 4}" text-anchor="middle">epoch</text>')
    if best_epoch and x0 <= best_epoch <= x1:
        out.append(f'<line class="best" x1="{px(best_epoch):.1f}" x2="{px(best_epoch):.1f}" y1="{top}" '
                   f'y2="{h - bottom}" stroke="#999" stroke-dasharray="1 3"><title>best checkpoint: epoch '
                   f'{best_epoch}</title></line>')
    lx = left + 16 + 8 * len(metric)   # the legend starts after the title
    for split, pts in data.items():
        color, dash = svg_style(split)
        d = " ".join(f"{px(e):.1f},{py(v):.1f}" for e, v in pts)
        out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2" '
                   f'stroke-dasharray="{dash}"/>')
        for e, v in pts:
            out.append(f'<circle class="pt" data-split="{split}" data-epoch="{e}" data-value="{v!r}" '
                       f'cx="{px(e):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"><title>{split} epoch {e}: '
                       f'{v:.6g}</title></circle>')
        out.append(f'<line x1="{lx}" x2="{lx + 22}" y1="12" y2="12" stroke="{color}" stroke-width="2" '
                   f'stroke-dasharray="{dash}"/><text x="{lx + 26}" y="16">{SPLIT_NAME.get(split, split)}</text>')
        lx += 40 + 7 * len(SPLIT_NAME.get(split, split))
    out.append("</svg>")
    return "".join(out)


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else escape(str(v))


# -- the page --------------------------------------------------------------------------------------
def render(folder: Path) -> str:
    summary = read_json(folder / "summary.json")
    rows = read_metrics(folder)
    lesson = lesson_info(folder)
    model, dataset = summary.get("model", "?"), summary.get("dataset", "?")
    parts = [f"<h1>{escape(model)} on {escape(dataset)}</h1>",
             f'<div class="sub">run folder <code>{escape(str(folder))}</code> · report written '
             f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}</div>']
    facts = [("parameters", f"{summary['params']:,}" if isinstance(summary.get("params"), int) else None),
             ("epochs", summary.get("epochs")), ("wall time", f"{summary['wall_seconds']:.1f} s"
                                                  if summary.get("wall_seconds") is not None else None),
             ("examples/s", summary.get("examples_per_second")), ("device", summary.get("device")),
             ("code", (summary.get("versions") or {}).get("git"))]
    parts.append('<div class="sub">' + " · ".join(f"{k} {escape(str(v))}" for k, v in facts if v) + "</div>")
    if not summary:
        parts.append('<div class="note warn">This run has not finished (no summary.json); the curves show the '
                     "epochs done so far.</div>")

    if lesson:
        met = lesson.get("met")
        kind = "ok" if met else "bad" if met is False else "info"
        quick = " (quick run)" if lesson.get("quick_overrides") else ""
        parts.append(f"<h2>Lesson{quick}: {escape(lesson.get('title', ''))}</h2>")
        if lesson.get("line"):
            parts.append(f'<div class="note {kind}">{escape(lesson["line"])}</div>')
        if lesson.get("anchor"):
            parts.append(f'<p class="anchor">Anchor: {escape(lesson["anchor"])}</p>')

    metrics = summary.get("metrics") or {}
    if metrics:
        pm = (summary.get("primary_metric") or {}).get("name")
        parts.append("<h2>Final metrics</h2><p>Test split, best checkpoint (epoch "
                     f"{summary.get('best_epoch')}).</p><table id=\"final\"><tr><th>metric</th><th>test</th>"
                     "<th>validation at the best epoch</th></tr>")
        best_val = summary.get("best_val") or {}
        for k, v in metrics.items():
            mark = " <b>(primary)</b>" if k == pm else ""
            parts.append(f"<tr><td>{escape(k)}{mark}</td><td data-metric=\"{escape(k)}\">{_fmt(v)}</td>"
                         f"<td>{_fmt(best_val[k]) if k in best_val else ''}</td></tr>")
        parts.append("</table>")
        if cal := summary.get("calibration"):
            parts.append(f'<p id="calibration">The test figures divide the logits by the temperature '
                         f'{cal["temperature"]:.3f} fitted on validation after training (train.calibrate): '
                         f'validation loss {cal["val_loss_before"]:.4f} → {cal["val_loss_after"]:.4f}; the '
                         "validation column is before it. The predicted classes, and so accuracy, are unchanged.</p>")

    kind, text = overfitting(rows, summary)
    parts.append(f'<h2>Overfitting and the best checkpoint</h2><div class="note {kind}" id="overfitting">'
                 f"{escape(text)}</div>")
    note = checkpoint_note(summary)
    if note:
        parts.append(f'<p id="checkpoint">{escape(note)}</p>')

    if rows:
        parts.append("<h2>Curves</h2><p>Solid: train · dashed: validation (chooses the best checkpoint) · "
                     "dotted: test (never used to choose). The dotted vertical line is the best epoch.</p>"
                     '<div class="charts">')
        parts += [svg_chart(m, series(rows, m), summary.get("best_epoch")) for m in metric_names(rows)
                  if series(rows, m)]
        parts.append("</div>")

    figs = [(f, cap) for f, cap in FIGURES if (folder / f).is_file()]
    if figs:
        parts.append("<h2>Figures</h2>")
        for f, cap in figs:
            parts.append(f'<figure><img alt="{f}" src="{_img(folder / f)}"><figcaption>{escape(cap)} '
                         f"({f})</figcaption></figure>")
    parts.append(per_class_section(read_json(folder / "per_class.json")))
    parts.append(layers_section(folder))

    if rows:
        names = metric_names(rows)
        parts.append("<h2>Every epoch</h2><details><summary>metrics.csv</summary><table><tr><th>epoch</th>"
                     "<th>split</th><th>lr</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>")
        for r in rows:
            parts.append(f"<tr><td>{r['epoch']}</td><td>{r['split']}</td><td>{r['lr']:.3g}</td>"
                         + "".join(f"<td>{_fmt(r.get(n)) if r.get(n) is not None else ''}</td>" for n in names)
                         + "</tr>")
        parts.append("</table></details>")
    parts.append(config_section(folder / "config.toml", summary.get("task")))
    page = Template((Path(__file__).with_name("report_page.html")).read_text(encoding="utf-8"))
    return page.substitute(title=escape(f"{model} on {dataset} — {folder.name}"), body="\n".join(parts))


def make_figures(folder: Path) -> list[str]:
    """Draw the confusion matrix (classification) and misclassified grid (image classification) when
    the folder lacks them; returns what was drawn. Other tasks get nothing."""
    from ..errors import UserError
    summary = read_json(folder / "summary.json")
    if summary.get("task") not in ("classification", "binary") or not (folder / "checkpoints" / "best.pt").exists():
        return []
    made = []
    if not (folder / "confusion.png").exists():
        from .perclass import per_class_report
        per_class_report(folder)
        made.append("confusion.png")
    if not (folder / "misclassified.png").exists() and (read_json(folder / "data.json").get("input") == "image"):
        from .learned import what_it_learned
        try:
            what_it_learned(folder)
            made += ["misclassified.png", "filters.png"]
        except UserError:   # a model without a drawable first layer: the grid alone is not worth failing for
            pass
    return made


def write_report(folder: str | Path, figures: bool = False) -> Path:
    """Write `report.html` into the run folder (after drawing missing figures if `figures`)."""
    folder = Path(folder)
    if figures:
        make_figures(folder)
    path = folder / "report.html"
    tmp = path.with_name(".report.html.tmp")
    tmp.write_text(render(folder), encoding="utf-8")
    tmp.replace(path)
    return path


def report_at_end(folder: str | Path) -> Path | None:
    """The training loop's call: a report that fails must not cost the finished run, so it only warns."""
    try:
        return write_report(folder)
    except Exception as e:  # noqa: BLE001 — any failure here is a report bug, not a training failure
        import warnings
        warnings.warn(f"report.html was not written ({type(e).__name__}: {e}); rebuild it with "
                      f"`dlp report {folder}`", stacklevel=2)
        return None


def refresh_reports(folder: str | Path) -> list[Path]:
    """Rewrite the reports of a lesson's run folder or of its child runs (compare, cv), now that
    lesson.json with the expectation and anchor is there."""
    folder = Path(folder)
    runs = [folder] if (folder / "summary.json").exists() else sorted(
        p for p in folder.iterdir() if (p / "summary.json").exists()) if folder.is_dir() else []
    return [p for p in (report_at_end(r) for r in runs) if p]
