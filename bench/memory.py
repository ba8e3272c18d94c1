"""Peak resident memory of `dlp demo` and of a Fashion-MNIST run, each in a fresh process.

Usage: python bench/memory.py [--epochs N]   (prints a markdown table for docs/BENCHMARKS.md)
Goals (issue 2): demo ≤ 1.5 GiB, Fashion-MNIST run ≤ 3 GiB.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def peak_rss_mib(args: list[str]) -> tuple[float, float]:
    """Run `python -m dlpractice ARGS` in a child; its peak RSS (MiB) and wall seconds.
    A fresh child per measurement: RUSAGE_CHILDREN reports the maximum over waited-for children."""
    code = ("import resource, runpy, sys; sys.argv = ['dlp'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('dlpractice', run_name='__main__')\n"
            "except SystemExit as e:\n    rc = e.code\n"
            "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(rc)")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"dlp {' '.join(args)} failed:\n{p.stderr}")
    kib = next(int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("PEAK_KIB"))
    return kib / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the Fashion-MNIST run")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [("dlp demo", 1536, *peak_rss_mib(["demo", "--out", os.path.join(tmp, "demo")])),
                (f"dlp lesson 10 --set train.epochs={a.epochs}", 3072,
                 *peak_rss_mib(["lesson", "10", "--set", f"train.epochs={a.epochs}", "--out", os.path.join(tmp, "f")]))]
    print("| command | peak RSS (MiB) | goal (MiB) | wall (s) |\n|---|---:|---:|---:|")
    for cmd, goal, mib, wall in rows:
        print(f"| `{cmd}` | {mib:.0f} | ≤ {goal} | {wall:.1f} |")


if __name__ == "__main__":
    main()
