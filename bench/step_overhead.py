"""Where `dlp train`'s time goes against a hand-written loop (issue 20): one Trainer's own step
(`Trainer.step_sums`: forward, loss, backward, gradient norm, step, schedule, the epoch's sums) against the
bare four lines of a hand step on the same model, optimizer and batches, interleaved over `--rounds`; then
`run_epoch` against a bare loop over the Trainer's loader. Medians, ms per step.

    DLP_DATA_DIR=../shared/data python bench/step_overhead.py [--model course_cnn] [--precision bf16] [--nhwc]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from dlpractice.config import load_config
from dlpractice.runs.evaluate import autocast
from dlpractice.train.skeleton import StopFlag
from dlpractice.train.supervised import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="course_cnn")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--nhwc", action="store_true", help="channels_last (the probe's choice for course_cnn on bf16 CPUs)")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    cfg = load_config(overrides=[f"model.name={a.model}", f"data.dataset={a.data}", "train.epochs=1", "log.progress=false",
                                 "log.loggers=['csv']", "train.eval_test=false", f"train.precision={a.precision}",
                                 f"train.channels_last={str(a.nhwc).lower()}", "train.compile=off",
                                 f"data.limit_train={a.steps * 128}", "data.batch_size=128"])
    t = Trainer(cfg, Path(tempfile.mkdtemp()) / "run", loggers=[])
    batches = list(t.loader.batches(1, 0))
    model, opt, task = t.model, t.opt, t.task

    def hand(xb, yb):
        xb = xb.contiguous(memory_format=torch.channels_last) if a.nhwc else xb
        opt.zero_grad(set_to_none=True)
        with autocast(cfg, t.device):
            out = model(xb)
        task.loss(out.float(), yb, 0.0).backward()
        opt.step()

    def timed(f) -> float:
        t0 = time.perf_counter()
        f()
        return (time.perf_counter() - t0) / len(batches) * 1000

    def epoch():
        t.epoch, t.batch = 1, 0
        with StopFlag() as stop:
            t.run_epoch(stop)

    def bare():
        t.train_mode()
        for xb, yb in t.loader.batches(1, 0):
            t.step_sums(xb, yb)

    t.train_mode()
    cases = {"hand step": lambda: [hand(x, y) for x, y in batches],
             "Trainer.step_sums": lambda: [t.step_sums(x, y) for x, y in batches],
             "Trainer.run_epoch": epoch, "bare loop over the loader": bare}
    got = {k: [] for k in cases}
    for _ in range(a.rounds):
        for k, f in cases.items():
            got[k].append(timed(f))
    print(f"{a.model} on {a.data}, {a.precision}{' NHWC' if a.nhwc else ''}, {torch.get_num_threads()} threads, "
          f"{len(batches)} batches of 128, {a.rounds} rounds")
    for k, v in got.items():
        print(f"  {k:28s} {statistics.median(v):7.3f} ms/step   ({', '.join(f'{x:.2f}' for x in v)})")


if __name__ == "__main__":
    main()
