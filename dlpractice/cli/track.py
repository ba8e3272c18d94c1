"""CLI commands for watching and reading runs: `dlp board`, `dlp report`, `dlp compare`."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import UserError
from .help import Help


def cmd_board(args) -> int:
    """Start the server, hold it until Ctrl-C, SIGTERM or SIGHUP, and stop it (and only then return)."""
    import atexit

    from ..track.board import start_tensorboard, start_visdom, stop, stop_on_signals
    runs = Path(args.runs_dir)
    if args.tensorboard and not runs.is_dir():
        raise UserError(f"runs folder {runs} does not exist; train a run first or pass --runs-dir")
    proc = None
    with stop_on_signals():   # SIGTERM / SIGHUP are a KeyboardInterrupt here, as Ctrl-C is
        try:
            if args.visdom:   # start_* stop their server themselves if interrupted before it answers
                proc, url = start_visdom(_port(args, 8097), runs / ".visdom", args.host, quiet=False)
                what = (f"visdom (offline, scripts served locally) at {url}\ntrain with `dlp train --log visdom` "
                        f"(or set $DLP_VISDOM={url}); one environment per run")
            else:
                proc, url = start_tensorboard(runs, _port(args, 6006), args.host, quiet=False)
                what = f"TensorBoard on {runs}/ at {url}\ntrain with `dlp train --log tensorboard`"
            atexit.register(stop, proc)   # any other way out of this process
            print(f"{what}\nCtrl-C stops the server", flush=True)
            code = proc.wait()
        except KeyboardInterrupt as e:
            if proc is None:
                raise
            print(f"stopping the server ({str(e) or 'SIGINT'})", flush=True)
            return 0
        finally:
            if proc is not None:
                stop(proc)
    if code != 0:
        raise UserError(f"the server at {url} exited with code {code} (its messages are above)")
    return 0


def _port(args, default: int) -> int:
    from ..track.board import free_port
    if args.port is None:
        return default
    return free_port(args.host) if args.port == 0 else args.port


def _finished(folder: str) -> Path:
    p = Path(folder)
    if not (p / "config.toml").is_file():
        raise UserError(f"{p} is not a run folder (no config.toml); list runs with `dlp runs`")
    if not (p / "summary.json").is_file():
        raise UserError(f"{p} has not finished (no summary.json); finish it with `dlp train --resume {p}`")
    return p


def cmd_report(args) -> int:
    from ..track.report import write_report
    folder = _finished(args.run)
    from ..track.notice import slow_step
    with slow_step("drawing the figures the folder lacks (confusion matrix, misclassified images) and the page"):
        path = write_report(folder, figures=not args.no_figures)
    print(f"report: {path}")
    return 0


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) >= 1e4 or (v and abs(v) < 1e-3) else f"{v:.4f}"
    return "" if v is None else str(v)


def _table(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def cmd_compare(args) -> int:
    from ..track.compare import compare_runs, config_differences
    if len(args.runs) < 2:
        raise UserError("give at least two run folders to compare, e.g. `dlp compare runs/a runs/b`")
    folders = [_finished(r) for r in args.runs]
    out = Path(args.out) if args.out else \
        folders[0].parent / f"comparison-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.png"
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = compare_runs(folders, out, title=" vs ".join(f.name for f in folders))
    diffs = config_differences(folders)
    if args.json:
        print(json.dumps({"figure": str(out), "runs": rows, "config_differences": diffs}, indent=2))
        return 0
    print("best metrics (test split, best checkpoint; val_: the validation value that chose it)")
    print(_table(rows))
    print("\nconfig differences" + ("" if diffs else ": none besides logging"))
    if diffs:
        print(_table(diffs))
    print(f"\nfigure: {out}")
    return 0


def add_commands(sub) -> None:
    fmt = Help
    p = sub.add_parser("board", help="start a dashboard on the runs folder: visdom (offline) or TensorBoard",
                       formatter_class=fmt)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--visdom", action="store_true",
                       help="visdom server with locally installed scripts (live curves of `--log visdom` runs)")
    which.add_argument("--tensorboard", action="store_true", help="TensorBoard on the runs folder")
    p.add_argument("--runs-dir", default="runs", help="folder holding run folders (visdom keeps its envs in .visdom/)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=None,
                   help="port (default: 8097 visdom, 6006 TensorBoard; 0: a free one, printed)")
    p.set_defaults(func=cmd_board)

    p = sub.add_parser("report", help="rebuild a run's self-contained report.html", formatter_class=fmt)
    p.add_argument("run", help="run folder")
    p.add_argument("--no-figures", action="store_true",
                   help="do not draw a missing confusion matrix / misclassified grid first")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="overlay runs' curves in one PNG; table of best metrics, config "
                       "differences and wall time", formatter_class=fmt)
    p.add_argument("runs", nargs="+", help="two or more run folders")
    p.add_argument("--out", default=None,
                   help="PNG to write (default: comparison-<UTC time>.png beside the first run)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_compare)
