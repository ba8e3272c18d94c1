"""The `dlp` command line: a thin layer over the Python API. User errors exit with code 2."""
from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from ..errors import UserError, one_line
from .help import Help
from .listings import add_show, cmd_datasets, cmd_lessons, cmd_models, cmd_runs
from .train import add_lr_find, cmd_demo, cmd_lesson, cmd_train

HELP = Help


# -- parser ---------------------------------------------------------------------------------------
def _add_common_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set optim.lr=0.05 --set train.epochs=3 (repeatable)")
    p.add_argument("--out", default=None, help="run folder to create (default: runs/<name>-<UTC time>)")
    p.add_argument("--log", action=_LogAction, metavar="LIST",
                   help="loggers besides the console line, e.g. csv,tensorboard,visdom (CSV is always on); "
                        "same as --set log.loggers=[...] (default: log.loggers)")


def _add_ranks(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train on N processes of this machine, one rank each (DistributedDataParallel); "
                        "same as --set train.nproc=N; with --resume, continue on N (default: 1, or as the run had)")


class _LogAction(argparse.Action):
    """`--log a,b` becomes the override `log.loggers=["console", "a", "b"]`, in order among the --set."""

    def __call__(self, parser, namespace, values, option_string=None):
        names = ["console", *(n.strip() for n in values.split(",") if n.strip())]
        items = list(getattr(namespace, "set", None) or [])  # a copy: never append to the shared default
        items.append("log.loggers=" + repr(list(dict.fromkeys(names))).replace("'", '"'))
        setattr(namespace, "set", items)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line `error: ...` naming the fix (`--help`), exit code 2, like
    every other error a user can cause (argparse prints the whole usage first). Subcommands inherit it."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from .help import describe_defaults
    parser = OneLineParser(prog="dlp", formatter_class=HELP,
                                     description="dlpractice: the course 《PyTorch深度学习实践》 as runnable lessons.")
    parser.add_argument("--data-dir", default=None,
                        help="folder searched first for data sets (then $DLP_DATA_DIR, then the user cache)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model on a data set with the one loop", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train with a TOML config (or the defaults) plus --set overrides.\n\nSettings and defaults:\n"
                       + describe_defaults())
    p.add_argument("config", nargs="?", default=None, help="a TOML config file, or a lesson by name or lecture number (lenet, 10); default: built-in defaults")
    _add_common_run(p)
    p.add_argument("--resume", default=None, metavar="RUN", help="continue RUN from its last checkpoint")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"],
                   help="force a device (default: train.device, 'auto')")
    _add_ranks(p)
    g = p.add_argument_group("several machines (the same command on each; README: More than one process or machine)")
    g.add_argument("--nnodes", type=int, default=1, metavar="M", help="machines that train the run together")
    g.add_argument("--node-rank", type=int, default=0, metavar="R",
                   help="this machine's number, 0–M−1; 0 hosts the rendezvous")
    g.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT",
                   help="where the machines meet (c10d rendezvous): machine 0's address and a free port")
    g.add_argument("--max-restarts", type=int, default=0, metavar="K",
                   help="restart a failed job up to K times, from its last checkpoint")
    p.set_defaults(func=cmd_train)

    for name, func, text in [("models", cmd_models, "list registered models"),
                             ("datasets", cmd_datasets, "list registered data sets"),
                             ("lessons", cmd_lessons, "list lectures 1–13 and what each runs")]:
        p = sub.add_parser(name, help=text, formatter_class=HELP)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=func)
        if name == "models":
            add_show(p)   # `dlp models show NAME`: one model's layers
        if name == "lessons":
            p.add_argument("--all", action="store_true", help="also the named lessons (lenet, fashion_best, ...)")

    p = sub.add_parser("runs", help="list run folders and their results", formatter_class=HELP)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--runs-dir", default="runs", help="folder holding run folders")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("lesson", help="run one lecture's lesson (e.g. dlp lesson 10)", formatter_class=HELP)
    p.add_argument("lesson", help="lecture number 1–13, lesson name, or lesson TOML path")
    _add_common_run(p)
    p.add_argument("--quick", action="store_true", help="the lesson's short version (fewer epochs, a subset)")
    _add_ranks(p)
    p.set_defaults(func=cmd_lesson)

    p = sub.add_parser("demo", help="train lenet_bn on the embedded digits (about 10 s on 2 cores)",
                       formatter_class=HELP)
    _add_common_run(p)
    p.set_defaults(func=cmd_demo)
    add_lr_find(sub)

    from .data import add_commands as add_fetch
    from .predict import add_commands
    from .sample import add_commands as add_sample
    from .serve import add_commands as add_serve
    from .submit import add_commands as add_submit
    from .track import add_commands as add_track
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
    from ..data import paths
    try:
        if args.data_dir:
            if "\0" in args.data_dir:
                raise UserError("--data-dir must not hold a NUL character")
            paths.DATA_DIR = Path(args.data_dir)
        return args.func(args)
    except UserError as e:   # one line, always: a message that lists things is folded onto it
        print("error: " + one_line(e), file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except OSError as e:   # a full disk, a read-only folder, ... met by a command's own writes
        from ..runs.folder import WRITE_ERRNOS, disk_error
        if e.errno not in WRITE_ERRNOS or not e.filename:
            raise
        again = "free space, or choose a folder that exists and can be written, then run the command again"
        print(f"error: {disk_error(e, e.filename, again)}", file=sys.stderr)
        return 2
    except Exception as e:  # Ctrl-C inside training: a checkpoint was saved, say how to resume
        if type(e).__name__ != "TrainingInterrupted":
            raise
        print(str(e), file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130


def entry() -> int:
    """The `dlp` console script: `main()`, then the heap frozen, so the interpreter's garbage collection at
    exit skips it: a process that imported torch spent 1–2 s there after the command had finished."""
    try:
        code = main()
    except BrokenPipeError:   # `dlp runs | head`: the reader has gone, and that is not an error
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error as Python flushes
        return 0
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(entry())
