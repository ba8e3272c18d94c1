"""Per-sample Dataset + DataLoader (the course's way) against the in-memory TensorLoader.

The same model (lenet_bn), recipe (SGD momentum 0.9, lr 0.05, weight decay 5e-4, batch 128) and one
epoch on a fixed Fashion-MNIST subset, through
  (a) a `torch.utils.data.Dataset` whose `__getitem__` returns one (x, y), default collate,
  (b) `dlpractice.data.loader.TensorLoader` (index a whole batch out of one tensor),
  (c) TensorLoader + channels_last (NHWC model and inputs).
(a) walks the very permutation TensorLoader draws (a sampler built from `TensorLoader.order(epoch)`),
so (a) and (b) train on identical batches from an identical init: their test accuracies must be
equal, which the script asserts. Variants are interleaved so that drift in machine load hits all of
them alike, and the order rotates each round (a b c, b c a, c a b, ...) so that no variant always runs
first. The table reports the median (and best) examples/s of the training epoch over the rounds, and
the seconds the loader alone takes to walk the epoch without a model (best of 5 per round: a fixed
cost, so the minimum is the estimate least spoilt by other processes), which is what the loaders
differ in.

    python bench/loader_bench.py            # 20,000 images, 3 rounds
    python bench/loader_bench.py --quick    # smoke run: 2,000 images, 1 round
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from dlpractice.config import DataConfig, OptimConfig, RunConfig, TrainConfig
from dlpractice.data import load_dataset
from dlpractice.data.loader import TensorLoader
from dlpractice.models import MODELS, build_model
from dlpractice.train.loop import evaluate, seed_everything
from dlpractice.train.optim import build_optimizer
from dlpractice.runs.tasks import TASKS

MODEL, BATCH, LR, MOMENTUM, SEED, EPOCH = "lenet_bn", 128, 0.05, 0.9, 0, 1


class PerSample(Dataset):
    """The course's data set class: one example per `__getitem__`, batched by the default collate."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


class FixedOrder(Sampler):
    """Yields a given index order, so the DataLoader sees TensorLoader's shuffle of that epoch."""

    def __init__(self, order: torch.Tensor):
        self.order = order.tolist()

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        return iter(self.order)


def batches(variant: str, x, y):
    loader = TensorLoader(x, y, BATCH, shuffle=True, seed=SEED)
    if variant == "a":
        return DataLoader(PerSample(x, y), batch_size=BATCH, sampler=FixedOrder(loader.order(EPOCH)),
                          num_workers=0)
    return loader.batches(EPOCH)


def run(variant: str, data, max_batches: int | None = None) -> tuple[float, float]:
    """Train one epoch with `variant`'s loader; return (examples/s of the epoch, test accuracy)."""
    channels_last = variant == "c"
    cfg = RunConfig(data=DataConfig(dataset="fashion-mnist"),
                    optim=OptimConfig(name="sgd", lr=LR, momentum=MOMENTUM),
                    train=TrainConfig(seed=SEED, channels_last=channels_last, device="cpu"))
    spec, task = MODELS.get(MODEL), TASKS.get("classification")
    seed_everything(SEED)
    model = build_model(MODEL, spec.resolve_args(data.meta, {}))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = build_optimizer(cfg.optim, model.parameters())
    tr, te = data.splits["train"], data.splits["test"]
    model.train()
    seen, t0 = 0, time.perf_counter()
    for b, (xb, yb) in enumerate(batches(variant, tr.x, tr.y)):
        if max_batches is not None and b >= max_batches:
            break
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        loss = task.loss(model(xb), yb, 0.0)
        loss.backward()
        opt.step()
        seen += len(yb)
    seconds = time.perf_counter() - t0
    if max_batches is not None:
        return seen / seconds, float("nan")
    acc = evaluate(model, task, te.x, te.y, cfg, torch.device("cpu"))["accuracy"]
    return seen / seconds, acc


def _load() -> str:
    """1-minute load average: on a shared machine, anything near or above the core count spoils timings."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def loader_only(variant: str, data, repeat: int = 5) -> float:
    """Seconds to walk one epoch of batches without training (best of `repeat`): the loader's own cost."""
    tr, best = data.splits["train"], float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for xb, _ in batches(variant, tr.x, tr.y):
            if variant == "c":
                xb = xb.contiguous(memory_format=torch.channels_last)
        best = min(best, time.perf_counter() - t0)
    return best


NAMES = {"a": "(a) Dataset + DataLoader, per-sample `__getitem__`, default collate",
         "b": "(b) TensorLoader",
         "c": "(c) TensorLoader + channels_last"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 images, 1 round")
    p.add_argument("--limit", type=int, default=20000, help="training images (fixed subset, split_seed 0)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of a, b, c")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.rounds = 2000, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_dataset(DataConfig(dataset="fashion-mnist", limit_train=args.limit), input_size=28)
    n = len(data.splits["train"])
    wd = OptimConfig().weight_decay
    print(f"fashion-mnist: {n} training images, {len(data.splits['test'])} test; {MODEL}, batch {BATCH}, "
          f"SGD lr {LR} momentum {MOMENTUM} wd {wd:g}, 1 epoch; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}", flush=True)
    load0 = _load()
    for v in "bc":  # warm-up (oneDNN primitives, allocator), untimed
        run(v, data, max_batches=5)

    speed: dict[str, list[float]] = {v: [] for v in "abc"}
    accs: dict[str, list[float]] = {v: [] for v in "abc"}
    alone: dict[str, list[float]] = {v: [] for v in "abc"}
    for r in range(args.rounds):
        for v in ("abc" * 2)[r % 3:r % 3 + 3]:  # a b c, b c a, c a b: no variant always runs first
            s, a = run(v, data)
            speed[v].append(s)
            accs[v].append(a)
            alone[v].append(loader_only(v, data))
            print(f"  round {r + 1} {v}: {s:8.0f} examples/s, test accuracy {a:.4f}, "
                  f"loader alone {alone[v][-1]:.3f} s/epoch", flush=True)

    base = statistics.median(speed["a"])
    print(f"\n{args.rounds} round(s), median examples/s of the training epoch (data loading included); "
          f"{datetime.date.today().isoformat()}; load average before/after: {load0} / {_load()}\n")
    print("| loader | examples/s (median) | best | per round | median vs (a) | loader alone, s/epoch "
          "| test accuracy |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for v in "abc":
        med = statistics.median(speed[v])
        rounds = ", ".join(f"{s:.0f}" for s in speed[v])
        acc = ", ".join(sorted({f"{a:.4f}" for a in accs[v]}))
        print(f"| {NAMES[v]} | {med:.0f} | {max(speed[v]):.0f} | {rounds} | {med / base:.2f}× | "
              f"{statistics.median(alone[v]):.3f} | {acc} |")

    # Same init, same batches in the same order: the loaders must not change what is learnt.
    ok = len(set(accs["a"] + accs["b"])) == 1
    print(f"\n(a) and (b) test accuracies identical: {ok}; (c) − (b): "
          f"{statistics.median(accs['c']) - statistics.median(accs['b']):+.4f} (channels_last changes "
          "the summation order of the convolutions, so only equality within noise is expected)")
    if not ok:
        print(f"error: (a) {accs['a']} and (b) {accs['b']} differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
