"""What averaging over views (`model.args.flip_average`, `shift_average`) adds to a trained image classifier,
without retraining: the run's chosen checkpoint on the validation and test splits, plain, averaged with each
mirror image, and averaged over the mirrors and their crops within 1 and 2 pixels (the flags change only
evaluation, so a run trained without them trains exactly as one with them).

    python bench/view_average.py RUN_FOLDER [RUN_FOLDER ...]
"""
from __future__ import annotations

import sys

import torch

from dlpractice.data import load_dataset
from dlpractice.models.ensemble import ViewAverage
from dlpractice.runs.predictor import Predictor

# column → (flip_average, shift_average)
VIEWS = {"plain": (False, 0), "mirror": (True, 0), "mirror, shift 1": (True, 1), "mirror, shift 2": (True, 2)}


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    pred = torch.cat([model(chunk).argmax(1) for chunk in x.split(1000)])
    return float((pred == y).float().mean())


def main(folders: list[str]) -> None:
    print("run | split | " + " | ".join(VIEWS))
    for folder in folders:
        p = Predictor(folder)
        plain = p.model.model if isinstance(p.model, ViewAverage) else p.model
        models = {name: ViewAverage(plain, *v).eval() if any(v) else plain.eval() for name, v in VIEWS.items()}
        data = load_dataset(p.cfg.data, p.meta.get("size"))
        for split in ("val", "test"):
            s = data.splits[split]
            if len(s):
                accs = [f"{accuracy(m, s.x, s.y):.4f}" for m in models.values()]
                print(f"{folder} | {split} | " + " | ".join(accs), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
