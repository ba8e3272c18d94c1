"""`dlp data fetch titanic|otto`: a Kaggle competition's files into the user cache (`data/fetch.py`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..data import fetch as fetching
from .help import Help


def cmd_fetch(args) -> int:
    fetching.fetch(args.name, Path(args.dest) if args.dest else None, args.force)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("data", help="data set files: download a Kaggle competition (dlp data fetch titanic)",
                       formatter_class=Help)
    actions = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    f = actions.add_parser("fetch", help="download titanic or otto with the kaggle package (needs an API token)",
                           formatter_class=argparse.RawDescriptionHelpFormatter, description=fetching.__doc__)
    f.add_argument("name", choices=sorted(fetching.COMPETITIONS), help="which competition")
    f.add_argument("--dest", default=None, help="folder to unpack into (default: the user cache, <cache>/<name>)")
    f.add_argument("--force", action="store_true", help="download again even when the files are there")
    f.set_defaults(func=cmd_fetch)
