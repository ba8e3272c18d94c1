"""Issue 21's baseline for Otto: scikit-learn's HistGradientBoostingClassifier on the very split and features
of `dlp lesson otto` (its 20% stratified test split, log1p counts), early-stopped on a share of the training
rows equal to the lesson's validation split; the held-out multi-class log-loss and accuracy, and seconds.

    python bench/otto_boosting.py [--set KEY=VALUE ...]     (overrides of lessons/otto.toml, e.g. data.split_seed=1)
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from dlpractice.config import load_config
from dlpractice.data import load_dataset

LESSON = Path(__file__).resolve().parents[1] / "lessons" / "otto.toml"


def main() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    bundle = load_dataset(load_config(LESSON, args.set).data)
    tr, va, te = (bundle.splits[s] for s in ("train", "val", "test"))
    x, y = torch.cat([tr.x, va.x]).numpy(), torch.cat([tr.y, va.y]).numpy()
    start = time.perf_counter()
    model = HistGradientBoostingClassifier(learning_rate=0.1, max_iter=1000, max_leaf_nodes=31, l2_regularization=1.0,
                                           early_stopping=True, validation_fraction=len(va.y) / len(y),
                                           n_iter_no_change=20, random_state=0).fit(x, y)
    seconds = time.perf_counter() - start
    p = model.predict_proba(te.x.numpy())
    print(f"HistGradientBoosting: {model.n_iter_} rounds, {seconds:.0f} s; held-out log-loss "
          f"{log_loss(te.y.numpy(), p, labels=list(range(p.shape[1]))):.4f}, "
          f"accuracy {(p.argmax(1) == te.y.numpy()).mean():.4f} on {len(te.y)} rows")


if __name__ == "__main__":
    main()
