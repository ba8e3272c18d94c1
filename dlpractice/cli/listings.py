"""`dlp models`, `dlp datasets`, `dlp runs` and `dlp lessons`: tables (or JSON) from the registries and run folders."""
from __future__ import annotations

import json
from pathlib import Path


def _print_table(rows: list[dict], cols: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols))


def _listing(args, rows: list[dict], cols: list[str]) -> None:
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        _print_table(rows, cols)


def cmd_models(args) -> int:
    from ..models import MODELS
    from ..models._counts import paper_param_count, small_param_count
    rows = [{"name": name, "task": spec.task, "input": spec.input, "input_size": spec.input_size,
             "params": small_param_count(name), "paper_params": paper_param_count(name),
             "description": spec.description} for name, spec in MODELS.items()]
    _listing(args, rows, ["name", "task", "input", "params", "paper_params", "description"])
    return 0


def cmd_datasets(args) -> int:
    from ..data import DATASETS
    rows = [{"name": n, "task": s.task, "input": s.input, "description": s.description, "source": s.source}
            for n, s in DATASETS.items()]
    _listing(args, rows, ["name", "task", "input", "description"])
    return 0


def cmd_runs(args) -> int:
    root = Path(args.runs_dir)
    if root.exists() and not root.is_dir():
        from ..errors import UserError
        raise UserError(f"--runs-dir {root} is a file, not a folder of runs")
    rows = []
    for cfg in sorted(root.glob("**/config.toml")) if root.is_dir() else []:
        s = cfg.parent / "summary.json"
        summary = json.loads(s.read_text()) if s.exists() else {}
        pm = summary.get("primary_metric") or {}
        rows.append({"run": str(cfg.parent), "model": summary.get("model", "?"),
                     "dataset": summary.get("dataset", "?"), "epochs": summary.get("epochs", "unfinished"),
                     "metric": pm.get("name", ""), "value": round(pm["value"], 4) if pm.get("value") is not None else ""})
    if not rows and not args.json:
        print(f"no runs under {root}/ yet; start one with `dlp demo` or `dlp train`")
        return 0
    _listing(args, rows, ["run", "model", "dataset", "epochs", "metric", "value"])
    return 0


def cmd_lessons(args) -> int:
    from ..lessons import lectures
    rows = [{"lecture": lec["number"], "zh": lec["zh"], "en": lec["en"], "runs": lec["runs"],
             "implemented": "yes" if lec["implemented"] else "not yet"} for lec in lectures()]
    _listing(args, rows, ["lecture", "implemented", "zh", "en", "runs"])
    return 0
