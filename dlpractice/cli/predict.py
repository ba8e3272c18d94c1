"""CLI commands that use a finished run folder: evaluate and predict."""
from __future__ import annotations

import json
from pathlib import Path

from .help import Help


def cmd_evaluate(args) -> int:
    from ..runs.predictor import Predictor
    pred = Predictor(args.run, args.checkpoint)
    metrics = pred.evaluate(args.split)
    print(json.dumps(metrics, indent=2) if args.json else
          " ".join(f"{k} {v:.4f}" for k, v in metrics.items()) + f"  ({args.split} split, {args.checkpoint} checkpoint)")
    return 0


def cmd_predict(args) -> int:
    from ..errors import UserError
    if args.top < 1:   # checked before the run is read: nothing to load for a command that cannot run
        raise UserError(f"--top must be at least 1 (classes shown per input), got {args.top}")
    from ..runs.predictor import Predictor
    pred = Predictor(args.run, args.checkpoint)
    from ..inputs import INPUT_KINDS
    kind = pred.meta.get("input")
    takes = INPUT_KINDS.get(kind).takes
    wrong = ([f for f, given in (("--text", args.text), ("--interactive", args.interactive)) if given and kind != "sequence"]
             + (["--csv"] if args.csv and "--csv" not in takes else []))
    if wrong:
        raise UserError(f"{args.run} is a{'n' if kind.startswith('image') else ''} {kind} run: {', '.join(wrong)} is not "
                        f"for it; give it {takes}")
    if kind == "sequence" and (files := [i for i in args.inputs if Path(i).is_file()]):
        raise UserError(f"{args.run} is a sequence run: it classifies the strings given, and {files[0]} is a file; "
                        "give names with --text (or one per line on stdin with --interactive)")
    if args.interactive:
        from ..inputs.sequence import interactive
        interactive(pred, top=args.top)
        return 0
    inputs = list(args.inputs) + ([args.csv] if args.csv else []) + list(args.text or [])
    results = pred.predict(inputs, top=args.top)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return 0
    for r in results:
        if "top" in r:
            print(f"{r['input']}: " + ", ".join(f"{c['class']} {c['probability']:.3f}" for c in r["top"]))
        else:
            print(f"{r['input']}: {r['value']}")
    return 0


def add_commands(sub) -> None:
    fmt = Help
    p = sub.add_parser("evaluate", help="recompute a run's test metrics from its checkpoint", formatter_class=fmt)
    p.add_argument("run", help="run folder")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict with a run's model: images, CSV rows or names", formatter_class=fmt)
    p.add_argument("run", help="run folder")
    p.add_argument("inputs", nargs="*", help="image files (PNG/JPEG) for image runs")
    p.add_argument("--csv", default=None, help="CSV of rows to score, for tabular runs")
    p.add_argument("--text", nargs="+", default=None, help="strings to classify, for text runs")
    p.add_argument("--interactive", action="store_true",
                   help="text runs: classify names typed on stdin, one per line, until an empty line")
    p.add_argument("--top", type=int, default=3, help="how many classes to show per input")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_predict)
