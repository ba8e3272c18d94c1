"""How the otto_ensemble recipe was chosen: one MLP in a plain PyTorch loop (AdamW one-cycle, batch norm,
input and hidden dropout, the epoch of lowest validation loss) on the very split and features of
`dlp lesson otto`, its validation and held-out probabilities saved; `--average` then scores the mean
probability of saved runs. The validation figures choose; the held-out ones only report.

    python bench/otto_sweep.py --name wide --hidden 1024,512 --dropout 0.5 [--tfidf] [--seed S] [--set KEY=VALUE]
    python bench/otto_sweep.py --average 'wide_s*' 'deep_s*'
"""
from __future__ import annotations

import argparse
import glob
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dlpractice.config import load_config
from dlpractice.data import load_dataset

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "otto.toml"
SAVED = Path("/tmp/otto_sweep")


def train_one(a) -> None:
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    sets = [f"data.options.tfidf={'true' if a.tfidf else 'false'}", *a.set]
    b = load_dataset(load_config(LESSON, sets).data)
    tr, va, te = (b.splits[s] for s in ("train", "val", "test"))
    layers: list[nn.Module] = [nn.Dropout(a.input_dropout)] if a.input_dropout else []
    width = tr.x.shape[1]
    for h in map(int, a.hidden.split(",")):
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(a.dropout)]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 9))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=a.epochs * math.ceil(len(tr.y) / a.batch))
    best, start = {"val": math.inf}, time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        model.train()
        for j in torch.randperm(len(tr.y)).split(a.batch):
            loss = F.cross_entropy(model(tr.x[j]), tr.y[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            pv, pt = model(va.x).softmax(-1), model(te.x).softmax(-1)
        v = F.nll_loss(pv.log(), va.y).item()
        if v < best["val"]:
            best = {"val": v, "test": F.nll_loss(pt.log(), te.y).item(), "epoch": epoch, "pv": pv, "pt": pt,
                    "yv": va.y, "yt": te.y}
    print(f"{a.name} seed {a.seed}: best epoch {best['epoch']}/{a.epochs}, validation {best['val']:.4f}, "
          f"held-out {best['test']:.4f}, {time.perf_counter() - start:.0f} s")
    SAVED.mkdir(exist_ok=True)
    torch.save(best, SAVED / f"{a.name}_s{a.seed}.pt")


def average(patterns: list[str]) -> None:
    runs = [torch.load(f) for p in patterns for f in sorted(glob.glob(str(SAVED / f"{p}.pt")))]
    if not runs:
        raise SystemExit(f"no saved runs match {patterns} in {SAVED}")
    score = lambda key, y: F.nll_loss(torch.stack([r[key] for r in runs]).mean(0).log(), runs[0][y]).item()
    print(f"mean probability of {len(runs)} runs: validation {score('pv', 'yv'):.4f}, "
          f"held-out {score('pt', 'yt'):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--average", nargs="+", metavar="PATTERN", help="score the mean of saved runs instead")
    ap.add_argument("--name", default="mlp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", default="512,256")
    ap.add_argument("--dropout", type=float, default=0.4)
    ap.add_argument("--input-dropout", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--weight-decay", type=float, default=0.3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tfidf", action="store_true", help="add the rows' tf-idf profile (data.options.tfidf)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="overrides of lessons/otto.toml")
    a = ap.parse_args()
    average(a.average) if a.average else train_one(a)


if __name__ == "__main__":
    main()
