"""Pima diabetes ceiling check: the course's 8→6→4→1 network, alone and as a 5-seed ensemble, on two
different stratified 5-fold splits (standardised inside each fold). Plain PyTorch, independent of the
dlpractice loop on purpose, so it cross-checks `dlp lesson diabetes_better`.

Usage: python bench/diabetes_ceiling.py [DATA_DIR]   (default: $DLP_DATA_DIR or ../shared/data)
Measured 2026-11-27 (1 thread, about 1 minute): single net 0.769 / 0.769, 5-seed ensemble 0.771 / 0.768
(mean 5-fold accuracy on fold seeds 0 / 1) — averaging members does not lift the data's ceiling (~0.77).
"""
from __future__ import annotations

import csv
import gzip
import os
import sys

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold


def fit(x: np.ndarray, y: np.ndarray, seed: int, hidden=(6, 4), epochs=60, lr=0.01, batch=32) -> torch.nn.Module:
    """diabetes_better.toml's recipe: sigmoid MLP, Adam, 60 epochs over all training rows."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    layers, width = [], x.shape[1]
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.Sigmoid()]
        width = h
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), batch):
            b = order[i:i + batch]
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(xt[b]).squeeze(1), yt[b]).backward()
            opt.step()
    return model


def main() -> None:
    torch.set_num_threads(1)
    data_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DLP_DATA_DIR") or "../shared/data"
    with gzip.open(os.path.join(data_dir, "diabetes", "diabetes.csv.gz"), "rt") as f:
        data = np.array(list(csv.reader(f)), float)  # the course's file: no header, 8 features + label
    x, y = data[:, :-1], data[:, -1]
    for members in (1, 5):
        for fold_seed in (0, 1):
            accs = []
            for tr, te in StratifiedKFold(5, shuffle=True, random_state=fold_seed).split(x, y):
                mu, sd = x[tr].mean(0), x[tr].std(0)
                xte = torch.tensor((x[te] - mu) / sd, dtype=torch.float32)
                nets = [fit((x[tr] - mu) / sd, y[tr], s) for s in range(members)]
                with torch.no_grad():
                    p = sum(torch.sigmoid(net(xte).squeeze(1)) for net in nets)
                accs.append(float(((p / members > 0.5).numpy() == y[te]).mean()))
            print(f"{members} member(s), fold seed {fold_seed}: accuracy {np.mean(accs):.3f} ± {np.std(accs):.3f}")


if __name__ == "__main__":
    main()
