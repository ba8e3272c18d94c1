"""How `lenet_fast` (lessons/fashion_fast.toml) was chosen: a hand-written in-memory loop on Fashion-MNIST's
training split (the lessons' validation split carved off), SGD Nesterov with one-cycle, 2 threads; the
validation and test accuracy after the last epoch and the seconds of training.

    python bench/fashion_fast_sweep.py lenet_bn
    python bench/fashion_fast_sweep.py lenet_fast --channels 8,48 --hidden 256 --cl 1 [--epochs 14 --ls 0.1]
    python bench/fashion_fast_sweep.py lenet_fast --channels 8,32 --hidden 128 --cl 1 --opt adamw --lr 0.004 --wd 0.05
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from dlpractice.config import DataConfig
from dlpractice.data import load_dataset
from dlpractice.models import build_model


def accuracy(model, split, channels_last: bool) -> float:
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(split.y), 1000):
            x = split.x[i:i + 1000]
            x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
            right += int((model(x).argmax(1) == split.y[i:i + 1000]).sum())
    model.train()
    return right / len(split.y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=["lenet_bn", "lenet_fast"])
    ap.add_argument("--channels", default="8,48")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--bs", type=int, default=128)
    ap.add_argument("--opt", choices=["sgd", "adamw"], default="sgd")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--ls", type=float, default=0.0, help="label smoothing")
    ap.add_argument("--cl", type=int, default=0, help="1: channels-last")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(2)
    data = load_dataset(DataConfig(dataset="fashion-mnist"))
    tr, va = data.splits["train"], data.splits["val"]
    args = {} if a.model == "lenet_bn" else {"channels": [int(c) for c in a.channels.split(",")], "hidden": a.hidden}
    torch.manual_seed(a.seed)
    model = build_model(a.model, args)
    if a.cl:
        model = model.to(memory_format=torch.channels_last)
    if a.opt == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=a.wd)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.wd)
    steps = len(tr.y) // a.bs
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.epochs * steps)
    order = torch.Generator().manual_seed(a.seed)
    seconds = 0.0
    for epoch in range(a.epochs):
        start, perm = time.perf_counter(), torch.randperm(len(tr.y), generator=order)
        for i in range(steps):
            idx = perm[i * a.bs:(i + 1) * a.bs]
            x = tr.x[idx].contiguous(memory_format=torch.channels_last) if a.cl else tr.x[idx]
            loss = F.cross_entropy(model(x), tr.y[idx], label_smoothing=a.ls)
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
        seconds += time.perf_counter() - start
        print(f"epoch {epoch + 1}: {seconds:.1f} s, validation {accuracy(model, va, a.cl):.4f}", flush=True)
    print(f"{vars(a)}: validation {accuracy(model, va, a.cl):.4f}, test "
          f"{accuracy(model, data.splits['test'], a.cl):.4f}, {seconds:.1f} s of training")


if __name__ == "__main__":
    main()
