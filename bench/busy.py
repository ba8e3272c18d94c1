"""`dlp demo` on a quiet machine and beside CPU-bound jobs: the thread policy's goal (issue 20) is at most 2×.

Each measurement is the whole command's wall time (`python -m dlpractice demo`, imports included), in a
fresh process. "Busy" runs it beside `--burners` processes that spin on one core each until it ends. The
policies compared:
  shipped    nothing set: OpenMP threads spin 10,000 times, then sleep (dlpractice sets
             OMP_WAIT_POLICY=PASSIVE and GOMP_SPINCOUNT=10000 before torch loads) and train.threads = 0
             takes the cores free at the start;
  passive    what dlpractice shipped until 2026-12-03: the same, but sleeping at once (GOMP_SPINCOUNT=0);
  old        what dlpractice did before: OpenMP's default (spinning) wait and torch's default threads
             (OMP_WAIT_POLICY set empty, which OpenMP ignores, and GOMP_SPINCOUNT at its default of
             300,000; train.threads = all cores);
  one        one thread (train.threads = 1).
Rounds interleave policies and quiet/busy; medians.

    python bench/busy.py                 # 3 rounds, 2 burners
    python bench/busy.py --rounds 1      # smoke run
    python bench/busy.py --policies shipped,passive
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time

POLICIES = {
    "shipped": ({}, []),
    "old": ({"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "300000"}, ["--set", f"train.threads={os.cpu_count()}"]),
    "one": ({}, ["--set", "train.threads=1"]),
    "passive": ({"GOMP_SPINCOUNT": "0"}, []),
}


def _burn(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def demo(env: dict, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        e = {**os.environ, **env}
        e.pop("OMP_NUM_THREADS", None)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dlpractice", "demo", *extra, "--out", f"{tmp}/run"],
                       check=True, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--policies", default=",".join(POLICIES), help="comma-separated, from: " + ", ".join(POLICIES))
    a = ap.parse_args()
    chosen = {p: POLICIES[p] for p in a.policies.split(",")}
    times = {(p, b): [] for p in chosen for b in ("quiet", "busy")}
    for r in range(a.rounds):
        for p, (env, extra) in chosen.items():
            times[(p, "quiet")].append(demo(env, extra))
            stop = mp.Event()
            burners = [mp.Process(target=_burn, args=(stop,)) for _ in range(a.burners)]
            for b in burners:
                b.start()
            try:
                times[(p, "busy")].append(demo(env, extra))
            finally:
                stop.set()
                for b in burners:
                    b.join()
    print(f"# {os.cpu_count()} cores, {a.burners} burners, {a.rounds} round(s), whole `dlp demo` wall (s)")
    print("| policy | quiet (median) | busy (median) | busy ÷ quiet | busy ÷ first policy's quiet |")
    print("|---|---:|---:|---:|---:|")
    base = statistics.median(times[(next(iter(chosen)), "quiet")])
    for p in chosen:
        q, b = statistics.median(times[(p, "quiet")]), statistics.median(times[(p, "busy")])
        print(f"| {p} | {q:.1f} | {b:.1f} | {b / q:.2f}× | {b / base:.2f}× |")


if __name__ == "__main__":
    main()
