"""`dlp train`, `dlp lesson` and `dlp demo`: runs through the one loop and the lesson runner."""
from __future__ import annotations

from ..errors import UserError


def cmd_train(args) -> int:
    from ..config import load_config
    from ..train.loop import resume, train
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


def cmd_lesson(args) -> int:
    from ..lessons import run_lesson
    result, folder, ok = run_lesson(args.lesson, args.set, args.out, quick=args.quick)
    if "primary_metric" in result:
        _print_result(result)
    print(f"run: {folder}")
    return 0


def cmd_demo(args) -> int:
    from ..lessons import run_lesson
    result, folder, ok = run_lesson("demo", args.set, args.out)
    print(f"demo: lenet_bn on digits — test accuracy {result['test_accuracy']:.4f}, "
          f"wall time {result['wall_seconds']:.1f} s")
    print(f"run: {folder}")
    return 0
