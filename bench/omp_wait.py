"""Step time of small models at 1 and 2 threads under OpenMP's wait policies (issue 20's thread policy).

Each policy runs in a fresh interpreter (OpenMP reads its variables once, when torch loads it): the Otto
lessons' MLPs (186 inputs, batch 256, BatchNorm, dropout, AdamW) and the demo's lenet_bn on a batch of 64
digits-sized images; per model and thread count the median of `--rounds` interleaved rounds of 30 steps.

    python bench/omp_wait.py              # spin 10,000 (shipped), passive (0), OpenMP's default (300,000)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

POLICIES = {"shipped (spin 10,000, then sleep)": "10000", "passive (sleep at once)": "0",
            "OpenMP default (spin 300,000)": "300000"}

INNER = r"""
import json, statistics, sys, time, torch
from torch import nn
from dlpractice.models import build_model
torch.manual_seed(0)
def mlp(widths, drop):
    layers, i = [], 186
    for w in widths:
        layers += [nn.Linear(i, w), nn.BatchNorm1d(w), nn.ReLU(), nn.Dropout(drop)]; i = w
    return nn.Sequential(*layers, nn.Linear(i, 9))
cases = {"MLP 512-256": (mlp([512, 256], 0.4), torch.randn(256, 186), torch.randint(0, 9, (256,))),
         "MLP 1024-512": (mlp([1024, 512], 0.5), torch.randn(256, 186), torch.randint(0, 9, (256,))),
         "MLP 1024-512-256": (mlp([1024, 512, 256], 0.4), torch.randn(256, 186), torch.randint(0, 9, (256,))),
         "lenet_bn, 64 images": (build_model("lenet_bn", {}), torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,)))}
out = {}
for name, (m, x, y) in cases.items():
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    times = {1: [], 2: []}
    for _ in range(int(sys.argv[1])):
        for th in (1, 2):
            torch.set_num_threads(th)
            for i in range(33):
                if i == 3:
                    t0 = time.perf_counter()
                opt.zero_grad()
                nn.functional.cross_entropy(m(x), y).backward()
                opt.step()
            times[th].append((time.perf_counter() - t0) / 30 * 1000)
    out[name] = {th: statistics.median(v) for th, v in times.items()}
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    print(f"# {os.cpu_count()} cores; ms per training step (1 thread / 2 threads), median of {a.rounds} rounds")
    print("| policy | " + " | ".join(["MLP 512-256", "MLP 1024-512", "MLP 1024-512-256", "lenet_bn, 64 images"]) + " |")
    print("|---|---:|---:|---:|---:|")
    for policy, spin in POLICIES.items():
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": spin}
        env.pop("OMP_NUM_THREADS", None)
        res = json.loads(subprocess.run([sys.executable, "-c", INNER, str(a.rounds)], env=env, check=True,
                                        capture_output=True, text=True).stdout)
        cells = [f"{r['1']:.1f} / {r['2']:.1f}" for r in res.values()]
        print(f"| {policy} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
