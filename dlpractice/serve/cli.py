"""CLI commands that use a finished run folder: evaluate and predict."""
from __future__ import annotations

import argparse
import json


def cmd_evaluate(args) -> int:
    from .predictor import Predictor
    pred = Predictor(args.run, args.checkpoint)
    metrics = pred.evaluate(args.split)
    print(json.dumps(metrics, indent=2) if args.json else
          " ".join(f"{k} {v:.4f}" for k, v in metrics.items()) + f"  ({args.split} split, {args.checkpoint} checkpoint)")
    return 0


def add_commands(sub) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = sub.add_parser("evaluate", help="recompute a run's test metrics from its checkpoint", formatter_class=fmt)
    p.add_argument("run", help="run folder")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="which split")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_evaluate)
