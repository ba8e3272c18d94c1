"""Lecture 8, Dataset and DataLoader (加载数据集), made explicit on the Kaggle Titanic rows.

The course's way: a `torch.utils.data.Dataset` subclass that holds the rows and answers `__getitem__(i)`
(one example) and `__len__()` (how many), and a `DataLoader` that draws shuffled indices, fetches the
examples one by one and stacks (`collate`s) them into mini-batches. Vocabulary:
- **epoch**: one pass over every training example;
- **batch size**: examples per forward / backward / update;
- **iteration**: one such update; an epoch has ceil(N / batch size) iterations (the last batch is
  smaller unless `drop_last`).

dlpractice's shared loop uses `dlpractice.data.loader.TensorLoader` instead: the whole split is one tensor,
so a batch is one indexing operation rather than N `__getitem__` calls and a collate. Both are the same
thing: given the same order of indices they yield the very same batches. This lesson gives the
DataLoader a sampler that follows `TensorLoader.order(epoch)`, checks batch for batch that they agree,
trains the same network once through each (identical weights at the end), and times an epoch of each.
"""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.kaggle import competition_file
from ..data.loader import TensorLoader
from ._kaggle import child_bundles, submission
from .hooks import entry, report


class TitanicDataset(Dataset):
    """The course's Dataset pattern over the Titanic passengers' feature rows: everything is loaded in
    `__init__`, `__getitem__` returns one (features, label) pair, `__len__` the number of rows."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x_data, self.y_data = x, y
        self.len = x.shape[0]

    def __getitem__(self, index):
        return self.x_data[index], self.y_data[index]

    def __len__(self):
        return self.len


class EpochOrderSampler(Sampler):
    """A DataLoader sampler that yields `TensorLoader.order(epoch)`: the shared loop's shuffle (a
    permutation seeded by (seed, epoch), so a resumed run sees the same batches). Call `set_epoch`
    before each epoch, as with torch's DistributedSampler."""

    def __init__(self, loader: TensorLoader):
        self.loader, self.epoch = loader, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(self.loader.order(self.epoch).tolist())

    def __len__(self) -> int:
        return len(self.loader.x)


def make_loaders(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int = 0):
    """(DataLoader over a TitanicDataset, its sampler, the TensorLoader) sharing one order per epoch."""
    tensor_loader = TensorLoader(x, y, batch_size, shuffle=True, seed=seed)
    sampler = EpochOrderSampler(tensor_loader)
    # num_workers=0: the rows are already in memory; worker processes would cost more than they save
    # (the course's num_workers=2 needs `if __name__ == "__main__":` on Windows).
    data_loader = DataLoader(TitanicDataset(x, y), batch_size=batch_size, sampler=sampler, num_workers=0)
    return data_loader, sampler, tensor_loader


def same_batches(data_loader: DataLoader, sampler: EpochOrderSampler, tensor_loader: TensorLoader,
                 epochs: int) -> bool:
    """Do both loaders yield identical (x, y) batches, in the same order, for epochs 1..epochs?"""
    for epoch in range(1, epochs + 1):
        sampler.set_epoch(epoch)
        a, b = list(data_loader), list(tensor_loader.batches(epoch))
        if len(a) != len(b) or not all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b)):
            return False
    return True


def _train(batches_of_epoch, in_features: int, epochs: int, lr: float, seed: int) -> torch.nn.Module:
    """The course's explicit loop: for epoch: for i, (inputs, labels) in enumerate(loader): forward,
    loss, zero_grad, backward, step."""
    from ..models import build_model
    torch.manual_seed(seed)
    model = build_model("tabular_mlp", {"in_features": in_features, "hidden": [16], "activation": "relu"})
    criterion = torch.nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        for i, (inputs, labels) in enumerate(batches_of_epoch(epoch), 0):
            y_pred = model(inputs)
            loss = criterion(y_pred, labels.float().view(-1, 1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def _epoch_seconds(iterate, repeats: int) -> float:
    best = math.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        for _ in iterate(r + 1):
            pass
        best = min(best, time.perf_counter() - t0)
    return best


@entry("lesson8")
def lesson8(out: Path, quick: bool = False) -> dict:
    """Dataset / DataLoader next to TensorLoader on Titanic: sizes, iterations, same batches, same
    training, speed, test accuracy. Returns the figures (written to result.json by the lesson runner)."""
    from ..config import DataConfig
    from ..data import load_dataset
    out = Path(out)
    batch_size, epochs, seed = 32, (5 if quick else 30), 0
    data = load_dataset(DataConfig(dataset="titanic", val_fraction=0.0))  # fixed stratified 20% test split
    tr, te = data.splits["train"], data.splits["test"]
    n = len(tr)
    iterations_per_epoch = math.ceil(n / batch_size)
    print(f"Titanic training split: N = {n} passengers, {tr.x.shape[1]} features each "
          f"(test split: {len(te)})")
    print(f"batch size {batch_size} → iterations per epoch = ceil({n} / {batch_size}) = {iterations_per_epoch} "
          f"(the last batch holds {n - (iterations_per_epoch - 1) * batch_size}); {epochs} epochs = "
          f"{epochs * iterations_per_epoch} iterations (updates)")

    data_loader, sampler, tensor_loader = make_loaders(tr.x, tr.y, batch_size, seed)
    dataset = data_loader.dataset
    x0, y0 = dataset[0]
    print(f"TitanicDataset: len(dataset) = {len(dataset)}; dataset[0] = (features of shape {tuple(x0.shape)}, "
          f"label {int(y0)}); len(DataLoader) = {len(data_loader)} batches")
    same = same_batches(data_loader, sampler, tensor_loader, epochs)
    print(f"DataLoader(TitanicDataset, sampler = TensorLoader.order(epoch)) and TensorLoader yield the same "
          f"batches in all {epochs} epochs: {same}")

    def dl_epoch(epoch):
        sampler.set_epoch(epoch)
        return iter(data_loader)

    m_dl = _train(dl_epoch, tr.x.shape[1], epochs, 0.005, seed)
    m_tl = _train(tensor_loader.batches, tr.x.shape[1], epochs, 0.005, seed)
    same_weights = all(torch.equal(a, b) for a, b in zip(m_dl.state_dict().values(), m_tl.state_dict().values()))
    print(f"the same network trained through each loader ends with identical weights: {same_weights}")

    with torch.no_grad():
        accuracy = float(((m_dl(te.x).view(-1) > 0).long() == te.y).float().mean())
    print(f"test accuracy (the {len(te)} held-out passengers, after {epochs} epochs): {accuracy:.4f}")

    repeats = 2 if quick else 5
    t_dl = _epoch_seconds(dl_epoch, repeats)
    t_tl = _epoch_seconds(tensor_loader.batches, repeats)
    print(f"one epoch of batches: DataLoader {t_dl * 1e3:.2f} ms ({n} __getitem__ calls + {iterations_per_epoch} "
          f"collates), TensorLoader {t_tl * 1e3:.2f} ms ({iterations_per_epoch} index operations): "
          f"{t_dl / max(t_tl, 1e-9):.0f}× faster")
    result = {"rows": n, "features": int(tr.x.shape[1]), "batch_size": batch_size,
              "iterations_per_epoch": iterations_per_epoch, "epochs": epochs,
              "iterations": epochs * iterations_per_epoch, "same_batches": int(same),
              "same_weights": int(same_weights), "test_accuracy": accuracy,
              "dataloader_ms_per_epoch": t_dl * 1e3, "tensorloader_ms_per_epoch": t_tl * 1e3}
    lines = ["| | value |", "|---|---:|"] + [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                                              for k, v in result.items()]
    (out / "lesson8.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return result


# -- the lecture's Kaggle exercise (titanic.toml, titanic_submit.toml) --------------------------------------
@report("titanic_cv")
def titanic_cv_report(folder: str | Path, result: dict | None = None) -> dict:
    """Beside the network's k-fold accuracy: scikit-learn logistic regression and gradient boosting on the
    same features and the same test folds (fitted on each fold's train + validation rows), and the
    'women survive' rule of gender_submission.csv (and, on the woman-child-group features, that rule
    itself). Printed and written to `baselines.md`."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    folder = Path(folder)
    scores: dict[str, list[float]] = {"network": [], "logistic regression": [], "gradient boosting": [],
                                      "women survive": []}
    for child, b in child_bundles(folder):
        net = json.loads((child / "summary.json").read_text())["metrics"]["accuracy"]
        tr_x = torch.cat([b.splits["train"].x, b.splits["val"].x]).numpy()
        tr_y = torch.cat([b.splits["train"].y, b.splits["val"].y]).numpy()
        te = b.splits["test"]
        lr = LogisticRegression(C=0.5, max_iter=2000).fit(tr_x, tr_y)
        gb = GradientBoostingClassifier(n_estimators=200, max_depth=3, learning_rate=0.05, subsample=0.8,
                                        random_state=0).fit(tr_x, tr_y)
        female = te.x[:, b.meta["features"].index("Sex=female")] > 0
        scores["network"].append(net)
        scores["logistic regression"].append(float((lr.predict(te.x.numpy()) == te.y.numpy()).mean()))
        scores["gradient boosting"].append(float((gb.predict(te.x.numpy()) == te.y.numpy()).mean()))
        scores["women survive"].append(float((female.long() == te.y).float().mean()))
        if "BoyInLivingGroup" in b.meta["features"]:
            column = {f: te.x[:, b.meta["features"].index(f)] > 0 for f in ("BoyInLivingGroup", "FemaleInDeadGroup")}
            rule = (female & ~column["FemaleInDeadGroup"]) | column["BoyInLivingGroup"]
            scores.setdefault("woman-child-group rule", []).append(float((rule.long() == te.y).float().mean()))
    lines = ["| model (same folds, same features) | mean accuracy | std |", "|---|---:|---:|"]
    out = {}
    for name, vals in scores.items():
        if not vals:
            continue
        mean, std = float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        lines.append(f"| {name} | {mean:.4f} | {std:.4f} |")
        key = name.replace(" ", "_").replace("-", "_")
        out[f"{key}_mean_accuracy"], out[f"{key}_std_accuracy"] = mean, std
    table = "\n".join(lines)
    (folder / "baselines.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return out


@report("titanic_submission")
def titanic_submission(folder: str | Path, result: dict | None = None) -> dict:
    """After `titanic_submit`: `submission.csv` (PassengerId, Survived) for the 418 rows of test.csv, and how
    many of its answers differ from gender_submission.csv ('women survive') when that file is there."""
    out = submission(Path(folder), "titanic", result)
    with open(out["submission"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out["predicted_survival_rate"] = sum(r["Survived"] == "1" for r in rows) / max(1, len(rows))
    gender = competition_file("titanic", "gender_submission")
    if gender is not None:
        with open(gender, encoding="utf-8-sig") as f:
            women = {r["PassengerId"]: r["Survived"] for r in csv.DictReader(f)}
        out["differ_from_women_survive"] = sum(women.get(r["PassengerId"]) != r["Survived"] for r in rows)
        print(f"{out['differ_from_women_survive']} of {len(rows)} answers differ from gender_submission.csv")
    return out
