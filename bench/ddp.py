"""Training examples/s on several ranks against one process, through the real `dlp train`.

For each model, one epoch on Fashion-MNIST images as (processes × threads each) layouts, interleaved over
rounds (every layout once per round, so a busy spell on a shared machine hits each alike); the median of
each layout's `examples_per_second` (summary.json: training steps only, not evaluation or start-up) and
the whole command's wall time are printed and written to JSON.

    DLP_DATA_DIR=../shared/data python bench/ddp.py                     # 1×2 against 2×1 on this machine
    python bench/ddp.py --layouts 1x16,2x8,4x4,8x2,16x1 --rounds 3      # a 16-core machine
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(model: str, procs: int, threads: int, limit: int, out: Path) -> dict:
    sets = [f"data.dataset=fashion-mnist", f"model.name={model}", f"data.limit_train={limit}", "train.epochs=1",
            "data.val_fraction=0.01", "train.eval_test=false", f"train.threads={threads}", "log.progress=false",
            "log.loggers=['csv']"]
    cmd = [sys.executable, "-m", "dlpractice", "train", *[a for s in sets for a in ("--set", s)],
           "--nproc", str(procs), "--out", str(out)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    summary = json.loads((out / "summary.json").read_text())
    return {"examples_per_second": summary["examples_per_second"], "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="course_cnn,lenet_bn")
    ap.add_argument("--layouts", default="1x2,2x1", help="PROCESSESxTHREADS, comma-separated")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=20000, help="training images per epoch")
    ap.add_argument("--json", default=None, help="write the results here")
    a = ap.parse_args()
    layouts = [tuple(int(v) for v in lay.split("x")) for lay in a.layouts.split(",")]
    got: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for model in a.models.split(","):
                for procs, threads in layouts:
                    res = run(model, procs, threads, a.limit, Path(tmp) / f"{model}-{procs}x{threads}-{r}")
                    got.setdefault(model, {}).setdefault(f"{procs}x{threads}", []).append(res)
                    print(f"round {r + 1} {model} {procs} proc × {threads} thr: {res['examples_per_second']:.0f} "
                          f"examples/s, {res['wall']:.1f} s", flush=True)
    table = {}
    for model, by in got.items():
        base = None
        for lay, rows in by.items():
            eps = statistics.median(x["examples_per_second"] for x in rows)
            wall = statistics.median(x["wall"] for x in rows)
            base = base or eps
            table.setdefault(model, {})[lay] = {"examples_per_second": eps, "wall_s": wall, "vs_first": eps / base}
            print(f"{model:12s} {lay:>6s}: median {eps:8.0f} examples/s ({eps / base:.2f}× the first layout), "
                  f"median wall {wall:.1f} s")
    info = {"cores": os.cpu_count(), "rounds": a.rounds, "limit": a.limit, "results": table}
    if a.json:
        Path(a.json).write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
