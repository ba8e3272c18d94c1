"""One optimizer step on the CPU: torch's per-parameter loop (its CPU default) against the fused kernel that
`build_optimizer` now asks for (issue 20), for the parameters of a small CNN and of the Otto lessons' MLP.

    python bench/optim_step.py [--rounds 5]

Prints the median µs per `step()` (gradients fixed, `--rounds` rounds of 200–2,000 steps) and the largest
difference between the two implementations' weights after 100 steps of the same gradients.
"""
from __future__ import annotations

import argparse
import statistics
import time

import dlpractice  # noqa: F401  (its OpenMP wait policy, as for `dlp`)
import torch

from dlpractice.models import MODELS, build_model

OPTIMIZERS = {"sgd": (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}),
              "adam": (torch.optim.Adam, {"lr": 1e-3, "weight_decay": 1e-4}),
              "adamw": (torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.05})}


def _params(name: str) -> list[torch.nn.Parameter]:
    if name == "course_cnn":
        spec = MODELS.get(name)
        return list(build_model(name, spec.resolve_args({"num_classes": 10, "in_channels": 1}, {})).parameters())
    shapes = [(1024, 93), (1024,), (512, 1024), (512,), (9, 512), (9,)]   # Otto: 93 counts → 1024 → 512 → 9
    return [torch.nn.Parameter(torch.randn(s)) for s in shapes]


def _per_step(opt, steps: int, rounds: int) -> float:
    for _ in range(20):
        opt.step()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.step()
        times.append((time.perf_counter() - t0) / steps * 1e6)
    return statistics.median(times)


def _difference(cls, kw) -> float:
    torch.manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(64, 32)) for _ in range(2)]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    oa, ob = cls(a, **kw), cls(b, **kw, fused=True)
    for _ in range(100):
        for p, q in zip(a, b):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        oa.step()
        ob.step()
    return max(float((p - q).detach().abs().max()) for p, q in zip(a, b))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| parameters | optimizer | per-parameter loop (µs) | fused (µs) | ratio | largest weight difference |")
    print("|---|---|---:|---:|---:|---:|")
    for where in ("course_cnn", "otto_mlp"):
        ps = _params(where)
        for g in ps:
            g.grad = torch.randn_like(g)
        for name, (cls, kw) in OPTIMIZERS.items():
            steps = 2000 if where == "course_cnn" else 200
            loop = _per_step(cls(ps, **kw), steps, a.rounds)
            fused = _per_step(cls(ps, **kw, fused=True), steps, a.rounds)
            print(f"| {where} ({sum(p.numel() for p in ps):,}) | {name} | {loop:,.1f} | {fused:,.1f} | "
                  f"{loop / fused:.1f}× | {_difference(cls, kw):.1e} |")


if __name__ == "__main__":
    main()
