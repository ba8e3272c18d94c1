"""`dlp train`, `dlp lesson` and `dlp demo`: runs through the one loop and the lesson runner."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

ROOM = 64   # bytes kept free below the OS's longest path for the files a run writes inside its folder


def check_out(out) -> None:
    """Refuse an --out path no OS call could create (NUL inside, a name or the whole path too long), before
    anything is loaded or trained."""
    if out is None:
        return
    text = str(out)
    if "\0" in text:
        raise UserError("--out must not hold a NUL character")
    try:
        name_max, path_max = os.pathconf(".", "PC_NAME_MAX"), os.pathconf(".", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):   # no pathconf (Windows) or no limit reported
        name_max, path_max = 255, 4096
    full = os.path.abspath(text)
    for part in Path(full).parts:
        if len(os.fsencode(part)) > name_max:
            raise UserError(f"--out: the name '{part[:24]}…' is {len(os.fsencode(part))} bytes long; this system "
                            f"allows at most {name_max} bytes per name")
    if len(os.fsencode(full)) + ROOM > path_max:
        raise UserError(f"--out: the path is {len(os.fsencode(full))} bytes long; this system allows at most "
                        f"{path_max} bytes per path, and the run's files inside need {ROOM} more")


def _ranks(args) -> list[str]:
    """`--nproc N` as the override it stands for (checked with the other settings)."""
    return [f"train.nproc={args.nproc}"] if args.nproc is not None else []


def _launch(args):
    """Where this machine's ranks meet those of the others (`--nnodes` ...), checked before torch loads."""
    for flag, value, low in (("--nnodes", args.nnodes, 1), ("--node-rank", args.node_rank, 0),
                             ("--max-restarts", args.max_restarts, 0)):
        if value < low:
            raise UserError(f"{flag} must be ≥ {low}; got {value}")
    if args.nnodes == 1 and (args.node_rank or args.rdzv_endpoint):
        raise UserError("--node-rank and --rdzv-endpoint are for training on several machines; add --nnodes M")
    from ..train.launch import Launch
    return Launch(args.nnodes, args.node_rank, args.rdzv_endpoint, args.max_restarts)


def config_path(text: str | None) -> str | Path | None:
    """A config file, or a lesson by name or lecture number (`dlp train lenet`, `dlp train 10`, or
    `lessons/lenet.toml` from a folder other than the checkout): the lesson's TOML inside the package."""
    if text is None or Path(text).is_file():
        return text
    from ..lessons import lesson_path
    p = Path(text)
    name = p.stem if p.suffix == ".toml" and len(p.parts) <= 2 else text
    try:
        return lesson_path(name)
    except UserError:
        raise UserError(f"config file not found: {text}; give a TOML file, or a lesson's name or lecture number "
                        "(`dlp lessons --all` lists them)") from None


def cmd_train(args) -> int:
    from ..config import load_config
    check_out(args.out)
    if args.resume:
        if args.config or args.set:
            raise UserError("--resume continues a run exactly as configured; drop the config file and --set")
        if args.nproc is not None:
            load_config(None, _ranks(args))   # --nproc 0 is refused as train.nproc = 0 would be
        from ..train.loop import resume
        run = resume(args.resume, nproc=args.nproc, launch=_launch(args))
    else:
        overrides = list(args.set) + ([f'train.device="{args.device}"'] if args.device else []) + _ranks(args)
        cfg = load_config(config_path(args.config), overrides)   # a bad setting is refused before torch loads
        launch = _launch(args)
        from ..train.loop import train
        run = train(cfg, out=args.out, launch=launch)
    if os.environ.get("RANK", "0") != "0":   # a rank that torchrun started: rank 0 says the result
        return 0
    _print_result(run.summary)
    print(f"run: {run.folder}")
    return 0


def _print_result(summary: dict) -> None:
    pm = summary.get("primary_metric", {})
    if pm.get("value") is not None:
        by = "validation" if summary.get("chosen_by", "val") == "val" else "training metrics (no validation split)"
        print(f"test {pm['name']} {pm['value']:.4g} (best epoch {summary['best_epoch']} by {by}) | "
              f"{summary['wall_seconds']:.1f} s | {summary.get('examples_per_second') or 0:.0f} examples/s")


def cmd_lesson(args) -> int:
    from ..lessons import run_lesson
    check_out(args.out)
    result, folder, ok = run_lesson(args.lesson, list(args.set) + _ranks(args), args.out, quick=args.quick)
    if "primary_metric" in result:
        _print_result(result)
    print(f"run: {folder}")
    return 0


def cmd_demo(args) -> int:
    from ..lessons import run_lesson
    check_out(args.out)
    result, folder, ok = run_lesson("demo", args.set, args.out)
    print(f"demo: lenet_bn on digits — test accuracy {result['test_accuracy']:.4f}, "
          f"wall time {result['wall_seconds']:.1f} s")
    print(f"run: {folder}")
    return 0


def add_lr_find(sub) -> None:
    from .help import Help
    p = sub.add_parser("lr-find", formatter_class=Help,
                       help="the learning-rate range test: loss against an exponentially rising rate, a suggested lr",
                       description="Train the config's model from its first weights for --steps steps while the rate "
                       "rises exponentially from --start to --end; draw the training loss against the rate and "
                       "suggest optim.lr: the rate at the lowest smoothed loss ÷ 10 (Smith 2017; fastai's "
                       "lr_find). Writes the figure and its numbers, never a run (unless --train).")
    p.add_argument("config", nargs="?", default=None,
                   help="a TOML config file, or a lesson by name or lecture number (demo, lenet, 10)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, as for dlp train (repeatable)")
    p.add_argument("--start", type=float, default=1e-6, help="the first step's rate")
    p.add_argument("--end", type=float, default=10.0, help="the last step's rate (the test stops earlier "
                   "once the loss diverges)")
    p.add_argument("--steps", type=int, default=200, help="steps of the test")
    p.add_argument("--figure", default="lr-find.png", metavar="PNG",
                   help="the figure to write; its numbers go beside it as .csv")
    p.add_argument("--train", action="store_true",
                   help="then train the config with optim.lr set to the suggestion (a run, as dlp train)")
    p.add_argument("--out", default=None, help="with --train: the run folder (default: runs/<name>-<UTC time>)")
    p.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args) -> int:
    from ..config import load_config
    figure = Path(args.figure)
    if figure.suffix.lower() != ".png":
        raise UserError(f"--figure must name a .png file; got {args.figure}")
    if not figure.parent.is_dir():
        raise UserError(f"--figure: folder {figure.parent} does not exist; create it or choose another path")
    check_out(args.out)
    if args.out and not args.train:
        raise UserError("--out names the run that --train writes; add --train, or drop --out")
    cfg = load_config(config_path(args.config), list(args.set))
    from ..train.lr_find import check_range, range_test
    check_range(args.start, args.end, args.steps)
    print(f"lr-find: {cfg.model.name} on {cfg.data.dataset}, {args.steps} steps from {args.start:g} to "
          f"{args.end:g} …", flush=True)
    test = range_test(cfg, args.start, args.end, args.steps)
    from ..track.plots import plot_lr_range
    found = {**test.to_dict(), "lrs": test.lrs, "losses": test.losses, "smoothed": test.smoothed}
    plot_lr_range(found, figure, f"lr-find: {cfg.model.name} on {cfg.data.dataset} ({cfg.optim.name})")
    rows = ["lr,loss,smoothed"] + [f"{a:.6g},{b:.6g},{c:.6g}" for a, b, c in
                                     zip(test.lrs, test.losses, test.smoothed)]
    figure.with_suffix(".csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    steep = f"; steepest fall at {test.steepest:.3g}" if test.steepest else ""
    print(f"suggested optim.lr = {test.suggested:.3g} (the rate at the lowest smoothed loss, {test.at_min:.3g}, "
          f"÷ 10{steep}); loss {test.smoothed[0]:.3g} → {min(test.smoothed):.3g}, stopped at {test.stopped}")
    print(f"figure: {figure} (numbers: {figure.with_suffix('.csv')})")
    lr = float(f"{test.suggested:.3g}")
    if not args.train:
        print(f"train with it: dlp train {args.config or ''} --set optim.lr={lr:g}".replace("  ", " "))
        return 0
    cfg = load_config(config_path(args.config), list(args.set) + [f"optim.lr={lr!r}"])
    from ..train.loop import train
    run = train(cfg, out=args.out)
    _print_result(run.summary)
    print(f"run: {run.folder}")
    return 0
