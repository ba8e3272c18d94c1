"""Lectures 8–9 as lessons: Dataset/DataLoader next to TensorLoader (same batches for the same seed), and the
softmax classifier (CrossEntropyLoss = LogSoftmax + NLLLoss numerically, MLP on Fashion-MNIST). Quick
versions here; the full runs are in docs/RESULTS.md. The Kaggle halves (Titanic, Otto): test_kaggle.py."""
from __future__ import annotations

import json
import math

import torch

import dlpractice.data.kaggle
from dlpractice.lessons.lecture08 import EpochOrderSampler, TitanicDataset, make_loaders, same_batches
from dlpractice.lessons import lectures, lesson_path, run_lesson

from conftest import require_data


def test_lectures_8_and_9_are_indexed():
    lec = {x["number"]: x for x in lectures()}
    assert lec[8]["implemented"] and lec[9]["implemented"]
    assert lesson_path(8).name == "lecture08.toml" and lesson_path(9).name == "lecture09.toml"


def test_dataloader_and_tensorloader_yield_the_same_batches():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(103, 5, generator=g), torch.randint(0, 2, (103,), generator=g)
    dl, sampler, tl = make_loaders(x, y, batch_size=16, seed=3)
    assert isinstance(dl.dataset, TitanicDataset) and len(dl.dataset) == 103
    assert len(dl) == len(tl) == math.ceil(103 / 16) == 7
    assert same_batches(dl, sampler, tl, epochs=3)
    sampler.set_epoch(2)
    assert list(sampler) == tl.order(2).tolist() and list(sampler) != tl.order(1).tolist()
    last = list(dl)[-1][0]
    assert last.shape == (103 - 6 * 16, 5)  # the last batch is the remainder
    # another seed's order gives other batches: the check is not vacuous
    other = EpochOrderSampler(make_loaders(x, y, 16, seed=4)[2])
    sampler.set_epoch(1)
    other.set_epoch(1)
    assert list(other) != list(sampler)


def test_lesson8_quick(tmp_path, capsys):
    require_data(lambda: dlpractice.data.kaggle.competition_dir("titanic"))
    result, folder, ok = run_lesson(8, out=tmp_path / "l8", quick=True)
    out = capsys.readouterr().out
    assert ok and result["same_batches"] == 1 and result["same_weights"] == 1
    n, b = result["rows"], result["batch_size"]
    assert n == 712 and result["iterations_per_epoch"] == math.ceil(n / b) == 23
    assert result["iterations"] == result["epochs"] * 23
    assert f"ceil({n} / {b}) = 23" in out and "len(dataset) = 712" in out
    assert result["test_accuracy"] >= 0.75
    assert result["dataloader_ms_per_epoch"] > result["tensorloader_ms_per_epoch"]
    assert json.loads((folder / "result.json").read_text())["same_batches"] == 1


def test_lesson9_softmax_classifier_quick(tmp_path, capsys, fashion):
    result, folder, ok = run_lesson(9, ["train.threads=1"], out=tmp_path / "l9", quick=True)
    out = capsys.readouterr().out
    assert abs(result["course_example_loss"] - 0.9729) < 1e-4
    assert result["cross_entropy_minus_nll"] < 1e-9  # CrossEntropyLoss = LogSoftmax + NLLLoss (float64 logits)
    assert abs(result["batch_cross_entropy"] - result["batch_softmax_nll"]) < 1e-9
    assert "CrossEntropyLoss" in out and "largest difference" in out
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["model"] == "mlp" and summary["dataset"] == "fashion-mnist"
    assert result["test_accuracy"] >= 0.80  # quick: 2 epochs on 10,000 images, 0.829 (the full lesson: 0.901)
