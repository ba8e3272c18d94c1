"""Train GAN recipe variants side by side and tabulate their scores per epoch (docs/RESULTS.md, issue 10).

Each variant is `dlp lesson gan` with some `--set` overrides, run as its own process into OUT/<name>;
the table gives the Inception-style score (and FID) of every variant after each epoch, read from the
run folders' metrics.csv, so a sweep stopped at its time limit still reports what it reached.

    python bench/gan_sweep.py OUT --jobs 2 --limit 3600 [--only NAME,...] [--set KEY=VALUE ...]

`--set` applies to every variant (e.g. --set train.epochs=6 --set train.threads=1 for a CPU proxy).
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

SN = 'gan.d_args={spectral_norm=true}'
# The variants whose figures are in docs/RESULTS.md (overrides on top of `lessons/gan.toml`).
VARIANTS: dict[str, list[str]] = {
    "base": [],                                   # the lesson as it is (batch 32 since the sweep chose it)
    "b64": ["data.batch_size=64"],
    "b32": ["data.batch_size=32"],
    "b16": ["data.batch_size=16"],
    "b8": ["data.batch_size=8"],
    "cosine": ["schedule.name=cosine"],
    "ema9995": ["gan.ema=0.9995"],
    "cos_ema": ["schedule.name=cosine", "gan.ema=0.9995"],
    "b16_ema9998": ["data.batch_size=16", "gan.ema=0.9998"],
    "lr4_cos_ema": ["optim.lr=4e-4", "schedule.name=cosine", "gan.ema=0.9995"],
    "b32_cos_ema": ["data.batch_size=32", "schedule.name=cosine", "gan.ema=0.9995"],
    "sn": [SN],
    "sn_ttur": [SN, "gan.d_lr=4e-4", "optim.lr=1e-4", "optim.args={betas=[0.0, 0.9]}"],
    "sn_cos_ema": [SN, "schedule.name=cosine", "gan.ema=0.9995"],
    "deep1": ["model.args={refine=32, deep=1}"],
    "deep1_cos_ema": ["model.args={refine=32, deep=1}", "schedule.name=cosine", "gan.ema=0.9995"],
    "d64": ["gan.d_args={width=64}"],
}


def read_scores(folder: Path) -> list[tuple[int, float, float]]:
    """(epoch, Inception-style score, FID) per finished epoch of a run folder."""
    path = folder / "metrics.csv"
    if not path.is_file():
        return []
    with path.open() as f:
        return [(int(r["epoch"]), float(r["inception_score"]), float(r["fid"]))
                for r in csv.DictReader(f) if r["split"] == "test" and r.get("inception_score")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--jobs", type=int, default=2, help="variants trained at once")
    ap.add_argument("--limit", type=float, default=3600, help="seconds before unfinished variants are stopped")
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    ap.add_argument("--set", action="append", default=[], help="override applied to every variant")
    a = ap.parse_args()
    names = [n for n in (a.only.split(",") if a.only else VARIANTS) if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    a.out.mkdir(parents=True, exist_ok=True)
    t0, queue, running = time.time(), list(names), {}
    while queue or running:
        while queue and len(running) < a.jobs:
            n = queue.pop(0)
            sets = [x for s in [*VARIANTS[n], *a.set] for x in ("--set", s)]
            log = (a.out / f"{n}.log").open("w")
            running[n] = subprocess.Popen([sys.executable, "-m", "dlpractice", "lesson", "gan", "--out",
                                           str(a.out / n), "--log", "csv", *sets], stdout=log, stderr=subprocess.STDOUT,
                                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
        time.sleep(2)
        for n, p in list(running.items()):
            if p.poll() is not None:
                del running[n]
            elif time.time() - t0 > a.limit:
                p.terminate()
                p.wait()
                del running[n]
    print(f"{'variant':<16} {'epochs':>6} {'best IS':>8} {'at':>3} {'last IS':>8} {'last FID':>9}  IS per epoch")
    for n in names:
        rows = read_scores(a.out / n)
        if not rows:
            print(f"{n:<16} no finished epoch (see {a.out / n}.log)")
            continue
        best = max(rows, key=lambda r: r[1])
        per = " ".join(f"{r[1]:.2f}" for r in rows)
        print(f"{n:<16} {len(rows):>6} {best[1]:>8.3f} {best[0]:>3} {rows[-1][1]:>8.3f} {rows[-1][2]:>9.3f}  {per}")
    print(f"wall {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
