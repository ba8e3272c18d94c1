"""The `dlp` command line: a thin layer over the Python API. User errors exit with code 2."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import UserError

HELP = argparse.ArgumentDefaultsHelpFormatter


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


# -- commands -------------------------------------------------------------------------------------
def cmd_train(args) -> int:
    from .config import load_config
    from .train.loop import resume, train
    if args.resume:
        if args.config or args.set:
            raise UserError("--resume continues a run exactly as configured; drop the config file and --set")
        run = resume(args.resume)
    else:
        overrides = list(args.set) + ([f'train.device="{args.device}"'] if args.device else [])
        run = train(load_config(args.config, overrides), out=args.out)
    _print_result(run.summary)
    print(f"run: {run.folder}")
    return 0


def _print_result(summary: dict) -> None:
    pm = summary.get("primary_metric", {})
    if pm.get("value") is not None:
        by = "validation" if summary.get("chosen_by", "val") == "val" else "training metrics (no validation split)"
        print(f"test {pm['name']} {pm['value']:.4g} (best epoch {summary['best_epoch']} by {by}) | "
              f"{summary['wall_seconds']:.1f} s | {summary.get('examples_per_second') or 0:.0f} examples/s")


def cmd_models(args) -> int:
    from .models import MODELS
    from .models._counts import paper_param_count, small_param_count
    rows = [{"name": name, "task": spec.task, "input": spec.input, "input_size": spec.input_size,
             "params": small_param_count(name), "paper_params": paper_param_count(name),
             "description": spec.description} for name, spec in MODELS.items()]
    _listing(args, rows, ["name", "task", "input", "params", "paper_params", "description"])
    return 0


def cmd_datasets(args) -> int:
    from .data import DATASETS
    rows = [{"name": n, "task": s.task, "input": s.input, "description": s.description, "source": s.source}
            for n, s in DATASETS.items()]
    _listing(args, rows, ["name", "task", "input", "description"])
    return 0


def cmd_runs(args) -> int:
    root = Path(args.runs_dir)
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
    from .lessons import lectures
    rows = [{"lecture": lec["number"], "zh": lec["zh"], "en": lec["en"], "runs": lec["runs"],
             "implemented": "yes" if lec["implemented"] else "not yet"} for lec in lectures()]
    _listing(args, rows, ["lecture", "implemented", "zh", "en", "runs"])
    return 0


def cmd_lesson(args) -> int:
    from .lessons import run_lesson
    result, folder, ok = run_lesson(args.lesson, args.set, args.out, quick=args.quick)
    if "primary_metric" in result:
        _print_result(result)
    print(f"run: {folder}")
    return 0


def cmd_demo(args) -> int:
    from .lessons import run_lesson
    result, folder, ok = run_lesson("demo", args.set, args.out)
    print(f"demo: lenet_bn on digits — test accuracy {result['test_accuracy']:.4f}, "
          f"wall time {result['wall_seconds']:.1f} s")
    print(f"run: {folder}")
    return 0


# -- parser ---------------------------------------------------------------------------------------
def _add_common_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set optim.lr=0.05 --set train.epochs=3 (repeatable)")
    p.add_argument("--out", default=None, help="run folder to create (default: runs/<name>-<UTC time>)")
    p.add_argument("--log", action=_LogAction, metavar="LIST",
                   help="loggers besides the console line, e.g. csv,tensorboard,visdom (CSV is always on); "
                        "same as --set log.loggers=[...] (default: log.loggers)")


class _LogAction(argparse.Action):
    """`--log a,b` becomes the override `log.loggers=["console", "a", "b"]`, in order among the --set."""

    def __call__(self, parser, namespace, values, option_string=None):
        names = ["console", *(n.strip() for n in values.split(",") if n.strip())]
        items = list(getattr(namespace, "set", None) or [])  # a copy: never append to the shared default
        items.append("log.loggers=" + repr(list(dict.fromkeys(names))).replace("'", '"'))
        setattr(namespace, "set", items)


def build_parser() -> argparse.ArgumentParser:
    from .config import describe_defaults
    parser = argparse.ArgumentParser(prog="dlp", formatter_class=HELP,
                                     description="dlpractice: the course 《PyTorch深度学习实践》 as runnable lessons.")
    parser.add_argument("--data-dir", default=None,
                        help="folder searched first for data sets (then $DLP_DATA_DIR, then the user cache)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model on a data set with the one loop", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train with a TOML config (or the defaults) plus --set overrides.\n\nSettings and defaults:\n"
                       + describe_defaults())
    p.add_argument("config", nargs="?", default=None, help="TOML config or lesson file (default: built-in defaults)")
    _add_common_run(p)
    p.add_argument("--resume", default=None, metavar="RUN", help="continue RUN from its last checkpoint (default: None)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"],
                   help="force a device (default: train.device, 'auto')")
    p.set_defaults(func=cmd_train)

    for name, func, text in [("models", cmd_models, "list registered models"),
                             ("datasets", cmd_datasets, "list registered data sets"),
                             ("lessons", cmd_lessons, "list lectures 1–13 and what each runs")]:
        p = sub.add_parser(name, help=text, formatter_class=HELP)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=func)

    p = sub.add_parser("runs", help="list run folders and their results", formatter_class=HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--runs-dir", default="runs", help="folder holding run folders")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("lesson", help="run one lecture's lesson (e.g. dlp lesson 10)", formatter_class=HELP)
    p.add_argument("lesson", help="lecture number 1–13, lesson name, or lesson TOML path")
    _add_common_run(p)
    p.add_argument("--quick", action="store_true", help="the lesson's short version (fewer epochs, a subset)")
    p.set_defaults(func=cmd_lesson)

    p = sub.add_parser("demo", help="train lenet_bn on the embedded digits (about 10 s on 2 cores)",
                       formatter_class=HELP)
    _add_common_run(p)
    p.set_defaults(func=cmd_demo)

    from .fetch import add_commands as add_fetch
    from .serve.cli import add_commands
    from .serve.sample_cli import add_commands as add_sample
    from .serve.serve_cli import add_commands as add_serve
    from .serve.submit import add_commands as add_submit
    from .track.track_cli import add_commands as add_track
    add_commands(sub)
    add_submit(sub)
    add_sample(sub)
    add_serve(sub)
    add_fetch(sub)
    add_track(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .data import paths
    if args.data_dir:
        paths.DATA_DIR = Path(args.data_dir)
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # Ctrl-C inside training: a checkpoint was saved, say how to resume
        if type(e).__name__ != "TrainingInterrupted":
            raise
        print(str(e), file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
