"""`dlp submit RUN --test test.csv`: a Kaggle submission from a tabular run (`serve/submit.py`)."""
from __future__ import annotations

from pathlib import Path

from ..serve import submit as submission
from .help import Help


def cmd_submit(args) -> int:
    out = args.out or str(Path(args.run) / "submission.csv")
    info = submission.write_submission(args.run, args.test, out, args.checkpoint)
    print(f"wrote {info['rows']} rows to {info['path']} (columns: {', '.join(info['columns'])})")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("submit", help="write a Kaggle-style submission CSV from a tabular classification run",
                       formatter_class=Help,
                       description=submission.__doc__.split("\n\n", 1)[1])
    p.add_argument("run", help="run folder (trained on titanic, otto, or your own csv)")
    p.add_argument("--test", required=True, help="the competition's test CSV (plain or .gz)")
    p.add_argument("--out", default=None, help="submission file (default: RUN/submission.csv)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint")
    p.set_defaults(func=cmd_submit)
