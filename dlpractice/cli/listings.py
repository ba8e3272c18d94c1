"""`dlp models`, `dlp datasets`, `dlp runs` and `dlp lessons`: tables (or JSON) from the registries and run folders."""
from __future__ import annotations

import json
from pathlib import Path


WIDTH = 100   # columns a console table fits in: its widest columns wrap onto more lines beyond it


def _width(text: str) -> int:
    """Columns `text` takes on a terminal: a Chinese character takes two (wcwidth), not one as len() says."""
    from wcwidth import wcswidth
    return max(wcswidth(text), 0)


def _wrap(text: str, room: int) -> list[str]:
    """`text` as lines of at most `room` columns, broken between words where it can, inside one where not."""
    from wcwidth import wcwidth
    lines, line = [], ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if _width(candidate) <= room:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:   # a word longer than the column (or Chinese text, which has no spaces)
            if _width(line) + max(wcwidth(ch), 0) > room:
                lines.append(line)
                line = ""
            line += ch
    return lines + [line]


PROSE = {"description", "runs", "zh", "en", "source"}   # the columns that may wrap: names and numbers never do


def _cell(v) -> str:
    """A table cell: whole numbers with thousands separators, nothing known as "–"."""
    if v is None:
        return "–"
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _print_table(rows: list[dict], cols: list[str]) -> None:
    """Columns padded by their display width (wide characters count two); while the table is wider than
    WIDTH, its widest prose column (PROSE) narrows (not below its header or 12), its cells wrapping onto more
    lines; a name, a run folder or a number is never broken, so it can be copied from the table."""
    cells = [[_cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max([_width(c)] + [_width(row[i]) for row in cells]) for i, c in enumerate(cols)]
    floor = [max(_width(c), 12) if c in PROSE else widths[i] for i, c in enumerate(cols)]
    while sum(widths) + 2 * (len(cols) - 1) > WIDTH:
        i = max(range(len(cols)), key=lambda k: widths[k] - floor[k])
        if widths[i] <= floor[i]:
            break
        widths[i] -= 1
    for row in [cols, *cells]:
        parts = [_wrap(t, w) for t, w in zip(row, widths)]
        for n in range(max(len(p) for p in parts)):
            texts = [p[n] if n < len(p) else "" for p in parts]
            print("  ".join(t + " " * (w - _width(t)) for t, w in zip(texts, widths)).rstrip())


def _listing(args, rows: list[dict], cols: list[str]) -> None:
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        _print_table(rows, cols)


def cmd_models(args) -> int:
    from .catalogue import read
    _listing(args, read("models"), ["name", "task", "input", "params", "paper_params", "description"])
    return 0


def cmd_datasets(args) -> int:
    from .catalogue import read
    _listing(args, read("datasets"), ["name", "task", "input", "description"])
    return 0


def _model_and_data(config: Path, summary: dict) -> dict:
    """A run's model and data set: from summary.json, else (an unfinished run) from its config.toml."""
    if "model" in summary:
        return {"model": summary["model"], "dataset": summary.get("dataset", "?")}
    import tomllib
    try:
        d = tomllib.loads(config.read_text(encoding="utf-8"))
        return {"model": str(d["model"]["name"]), "dataset": str(d["data"]["dataset"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {"model": "?", "dataset": "?"}


def cmd_runs(args) -> int:
    """Run folders under --runs-dir, newest first: when each started (UTC), how long it trained, its result."""
    import time
    root = Path(args.runs_dir)
    if root.exists() and not root.is_dir():
        from ..errors import UserError
        raise UserError(f"--runs-dir {root} is a file, not a folder of runs")
    rows = []
    for cfg in root.glob("**/config.toml") if root.is_dir() else []:
        s = cfg.parent / "summary.json"
        try:
            summary = json.loads(s.read_text()) if s.exists() else {}
        except (OSError, ValueError):
            summary = {}
        pm = summary.get("primary_metric") or {}
        started = cfg.stat().st_mtime   # config.toml is written once, when the run starts
        rows.append({"run": str(cfg.parent), "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
                     **_model_and_data(cfg, summary),
                     "epochs": summary.get("epochs", "unfinished"),
                     "seconds": summary.get("wall_seconds", ""),
                     "metric": pm.get("name", ""), "value": round(pm["value"], 4) if pm.get("value") is not None else "",
                     "_t": started})
    rows.sort(key=lambda r: (-r["_t"], r["run"]))
    for r in rows:
        del r["_t"]
    if not rows and not args.json:
        print(f"no runs under {root}/ yet; start one with `dlp demo` or `dlp train`")
        return 0
    if not args.json:   # the table names each run inside --runs-dir; JSON gives the full path
        print(f"runs under {root}/, newest first (started: UTC; seconds: training)")
        rows = [{**r, "run": str(Path(r["run"]).relative_to(root)),   # JSON keeps exact figures, the table rounds
                 "seconds": f"{r['seconds']:.1f}" if isinstance(r["seconds"], (int, float)) else r["seconds"]}
                for r in rows]
    _listing(args, rows, ["started", "run", "model", "dataset", "epochs", "seconds", "metric", "value"])
    return 0


def cmd_lessons(args) -> int:
    """Lectures 1–13 and what each runs; with --all also every named lesson (`dlp lesson NAME`), its title."""
    from ..lessons import lectures, named_lessons
    rows = [{"lecture": lec["number"], "lesson": str(lec["number"]), "zh": lec["zh"], "en": lec["en"], "runs": lec["runs"],
             "implemented": "yes" if lec["implemented"] else "not yet"} for lec in lectures()]
    if not getattr(args, "all", False):
        _listing(args, rows, ["lesson", "implemented", "zh", "en", "runs"])
        return 0
    rows += [{"lecture": None, "lesson": name, "zh": "", "en": "", "runs": title, "implemented": "yes"}
             for name, title in named_lessons()]
    _listing(args, rows, ["lesson", "zh", "en", "runs"])
    if not args.json:
        print("\nrun one with `dlp lesson NAME` (or a lecture's number); `dlp train NAME` trains its recipe alone")
    return 0


# -- dlp models show NAME --------------------------------------------------------------------------
SHOW_DEPTH = 3   # models.summary.DEPTH, torchinfo's default, said here so that building the parser imports no torch


def add_show(models_parser) -> None:
    """`dlp models show NAME [--data SET] [--set ...] [--depth N] [--json]` under `dlp models`, which
    without it still lists the models."""
    import argparse

    def depth(text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= 16:
            raise argparse.ArgumentTypeError(f"must be a whole number 1–16, got {text!r}")
        return int(text)

    sub = models_parser.add_subparsers(dest="models_action", metavar="show", required=False)
    p = sub.add_parser("show", formatter_class=models_parser.formatter_class,
                       help="every layer of one model with its output shape, parameters and multiply-adds",
                       description="The layers of a model with the output shape each gives for one input "
                                   "(a batch of 1), its parameters and multiply-adds, traced by torchinfo.")
    p.add_argument("name", help="registered model (see `dlp models`)")
    p.add_argument("--data", default=None, metavar="DATASET",
                   help="take the input shape from this data set (default: the model's natural input, "
                        "e.g. 1×28×28 for the image classifiers)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set model.args.width=2 (repeatable)")
    p.add_argument("--depth", type=depth, default=SHOW_DEPTH, metavar="N",
                   help="nesting levels to show; deeper layers are summed into the row above them")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="machine-readable output (default: a table)")
    p.set_defaults(func=cmd_models_show)


def _check_pair(spec, meta: dict, dataset: str) -> None:
    """A UserError unless the model `spec` can take data set `dataset`'s input (`meta`)."""
    from ..errors import UserError
    if spec.task == "generation":   # a GAN's players learn from an image set of any task
        if meta["input"] != "image":
            raise UserError(f"model '{spec.name}' belongs to a GAN, which learns images, but data set "
                            f"'{dataset}' holds {meta['input']} data; use an image data set such as fashion-mnist")
        return
    if meta["task"] != spec.task:
        raise UserError(f"model '{spec.name}' is for {spec.task} but data set '{dataset}' is {meta['task']}; "
                        "pick a matching pair (see `dlp models` and `dlp datasets`)")
    flat = "in_features" in meta and "in_features" in spec.accepts()   # feature vectors: tabular models
    if meta["input"] != spec.input and not flat:
        raise UserError(f"model '{spec.name}' takes {spec.input} input but data set '{dataset}' gives "
                        f"{meta['input']} input; pick a matching pair (see `dlp models` and `dlp datasets`)")


def show_input(spec, meta: dict, args: dict) -> tuple[str, dict]:
    """(input kind, dims) of the example batch for model `spec` built with `args`: the data set's (`meta`),
    or without one the model's own defaults (its builder's, then `input_size`)."""
    import inspect
    defaults = {k: p.default for k, p in inspect.signature(spec.build).parameters.items()
                if p.default is not p.empty}
    dims = {**defaults, **meta, **args}
    dims["size"] = meta.get("size") or args.get("input_size") or spec.input_size or defaults.get("input_size")
    kind = spec.input if spec.input == "noise" or not meta else meta["input"]
    return kind, dims


def cmd_models_show(args) -> int:
    """`dlp models show NAME`: the layer table (models/summary.py) of the model on one example input."""
    from ..config import load_config
    from ..inputs import example_batch
    from ..models import MODELS, build_model
    from ..models.summary import format_table, layer_table, shape_text
    spec = MODELS.get(args.name)
    cfg = load_config(None, args.set)
    user, meta = dict(cfg.model.args), {}
    spec.resolve_args({}, user)   # unknown arguments are told before any data set is loaded
    if args.data:
        from ..data import DATASETS, load_dataset
        ds = DATASETS.get(args.data)
        if spec.task not in (ds.task, "generation"):   # told before loading it
            _check_pair(spec, {"task": ds.task, "input": ds.input}, ds.name)
        cfg.data.dataset = ds.name
        meta = load_dataset(cfg.data, user.get("input_size", spec.input_size) if ds.input == "image" else None).meta
        _check_pair(spec, meta, ds.name)
    model_args = spec.resolve_args(meta, user)
    if spec.task == "generation" and meta and "channels" in spec.accepts():   # as the GAN loop builds it
        model_args.setdefault("channels", meta["in_channels"])
    kind, dims = show_input(spec, meta, model_args)
    x = example_batch(kind, dims, n=1)
    table = layer_table(build_model(spec.name, model_args), x, args.depth)
    if getattr(args, "json", False):
        print(json.dumps({"model": spec.name, "dataset": args.data, "input": kind, **table}, indent=2))
        return 0
    where = f"data set {args.data}" if args.data else "its natural input"
    print(f"{spec.name} on {where}: {kind} input of shape {shape_text(table['input_shape'])}, a batch of 1")
    print("\n".join(format_table(table)))
    return 0
