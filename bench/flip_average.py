"""What mirror averaging (`model.args.flip_average`) adds to a trained image classifier, without retraining:
the run's chosen checkpoint on the validation and test splits, plain and averaged with each mirror image
(the flag changes only evaluation, so a run trained without it trains exactly as one with it).

    python bench/flip_average.py RUN_FOLDER [RUN_FOLDER ...]
"""
from __future__ import annotations

import sys

import torch

from dlpractice.data import load_dataset
from dlpractice.models.ensemble import FlipAverage
from dlpractice.runs.predictor import Predictor


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    pred = torch.cat([model(chunk).argmax(1) for chunk in x.split(1000)])
    return float((pred == y).float().mean())


def main(folders: list[str]) -> None:
    torch.set_num_threads(1)
    print("run | split | plain | mirror-averaged")
    for folder in folders:
        p = Predictor(folder)
        plain = p.model.model if isinstance(p.model, FlipAverage) else p.model
        both = FlipAverage(plain).eval()
        data = load_dataset(p.cfg.data, p.meta.get("size"))
        for split in ("val", "test"):
            s = data.splits[split]
            if len(s):
                print(f"{folder} | {split} | {accuracy(plain, s.x, s.y):.4f} | {accuracy(both, s.x, s.y):.4f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
