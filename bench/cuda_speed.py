"""Epoch times on a GPU before and after the auto speed settings (issue 20's CUDA part), for `bench/device_check.sh`.

Each case trains a lesson for a few epochs through `dlp lesson`, in turn:
  before    fp32, NCHW, uncompiled, the training split copied to the GPU batch by batch (data.on_device = false):
            the loop as it ran on CUDA before the probe;
  auto      every speed setting left at its default: the probe's precision (fp32 / bf16 / fp16; the GAN: fp32 /
            bf16) and layout, the split held on the GPU (data.on_device = auto);
  graphs    auto plus train.compile = on, which on CUDA compiles with mode "reduce-overhead" (CUDA graphs); not
            for the GAN, whose loop is not compiled.
and reports the median seconds of an epoch's training (timing.csv, the first epoch left out: it holds the probe,
the compile and cuDNN's first calls), validation's seconds, what the probe chose and the test accuracy.

    python bench/cuda_speed.py [--cases fashion_best gan] [--epochs 3] [--out DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {   # lesson → its settings for a short timed run, and the ways that apply (the GAN loop is not compiled)
    "fashion_best": (["data.limit_train=20000"], ("before", "auto", "graphs")),
    "gan": (["data.limit_train=20000", "gan.eval_samples=2000"], ("before", "auto")),
    "fashion_fast": ([], ("before", "auto", "graphs")),
}
WAYS = {
    "before": ["train.precision=fp32", "train.channels_last=false", "train.compile=off", "data.on_device=false"],
    "auto": [],
    "graphs": ["train.compile=on"],
}


def _run(lesson: str, sets: list[str], out: Path) -> dict:
    cmd = [sys.executable, "-m", "dlpractice", "lesson", lesson, "--out", str(out), "--set", "log.progress=false"]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:300], "wall": wall}
    rows = list(csv.DictReader((out / "timing.csv").open()))
    summary = json.loads((out / "summary.json").read_text())
    later = rows[1:] or rows[:1]   # one epoch only: its own figures
    train_s = [float(r["seconds"]) for r in later]
    val_s = [float(r["val_seconds"]) for r in later if r.get("val_seconds")]
    sp = summary.get("speed", {})
    return {"epoch_s": statistics.median(train_s), "val_s": statistics.median(val_s) if val_s else None,
            "first_s": float(rows[0]["seconds"]), "wall": wall, "metric": summary.get("primary_metric", {}),
            "chose": f"{sp.get('precision')} {'NHWC' if sp.get('channels_last') else 'NCHW'} compile "
                     f"{sp.get('compile')}", "step_ms": sp.get("step_ms")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["fashion_best", "gan"], choices=list(CASES))
    ap.add_argument("--ways", nargs="+", default=list(WAYS), choices=list(WAYS))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    a = ap.parse_args()
    root = a.out or Path(tempfile.mkdtemp())
    for case in a.cases:
        sets, ways = CASES[case]
        print(f"\n{case}, {a.epochs} epochs ({' '.join(sets) or 'whole'}):", flush=True)
        print("| way | s an epoch (median, after the first) | first epoch s | validation s | chose | metric | "
              "whole s |\n|---|---:|---:|---:|---|---|---:|", flush=True)
        for way in (w for w in a.ways if w in ways):
            got = _run(case, [f"train.epochs={a.epochs}", *sets, *WAYS[way]], root / f"{case}-{way}")
            if "error" in got:
                print(f"| {way} | failed: {got['error']} | | | | | {got['wall']:.0f} |", flush=True)
                continue
            m = got["metric"]
            val = f"{got['val_s']:.2f}" if got["val_s"] is not None else "–"
            print(f"| {way} | {got['epoch_s']:.2f} | {got['first_s']:.2f} | {val} | {got['chose']} | "
                  f"{m.get('name')} {m.get('value') or 0:.4f} | {got['wall']:.0f} |", flush=True)
            if got["step_ms"]:
                print(f"  probe, ms a step: {got['step_ms']}", flush=True)


if __name__ == "__main__":
    main()
