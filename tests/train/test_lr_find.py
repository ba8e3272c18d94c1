"""`dlp lr-find`: the learning-rate range test on digits suggests a rate that trains the demo to ≥ 97%; it writes
a figure and its numbers but no run (unless --train), leaves the random streams as they were, follows the
stated rule, and bad input is one error line."""
from __future__ import annotations

import csv
import json
import math
import tomllib

import numpy as np
import pytest
import torch

from dlpractice.cli import main
from dlpractice.config import load_config
from dlpractice.train.lr_find import DIVERGED, range_test

from conftest import one_line

FAST = ["train.threads=1", "train.compile=off", "train.precision=fp32", "train.channels_last=false"]


def test_the_suggested_rate_trains_the_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["lr-find", "demo", *sum((["--set", s] for s in FAST), []), "--figure", "demo.png",
                 "--train", "--out", "run"]) == 0
    out = capsys.readouterr().out
    lr = float(out.split("suggested optim.lr = ")[1].split()[0])
    assert 1e-3 < lr < 1.0, out   # SGD with momentum on lenet_bn: the demo's own rate is 0.1
    rows = list(csv.DictReader(open("demo.csv")))
    assert (tmp_path / "demo.png").stat().st_size > 10_000 and 20 <= len(rows) <= 200
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] == pytest.approx(1e-6) and all(b > a for a, b in zip(lrs, lrs[1:]))
    smoothed = [float(r["smoothed"]) for r in rows]
    assert lr == pytest.approx(lrs[int(np.argmin(smoothed))] / 10, rel=1e-2)   # the stated rule
    config = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert config["optim"]["lr"] == pytest.approx(lr, rel=1e-2)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.97


def test_no_run_is_written_and_the_random_streams_are_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(123)
    np.random.seed(7)
    want_t, want_n = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(7)
    threads = torch.get_num_threads()
    cfg = load_config(overrides=["data.dataset=digits", "model.name=softmax", "optim.name=sgd", *FAST])
    before = cfg.to_dict()
    test = range_test(cfg, 1e-4, 100.0, 60)
    assert torch.equal(torch.rand(3), want_t) and np.array_equal(np.random.rand(3), want_n)
    assert torch.get_num_threads() == threads and cfg.to_dict() == before
    assert list(tmp_path.iterdir()) == []   # no runs/, no checkpoint
    # up to 100 the rate diverges: the test stops there, past DIVERGED × the lowest smoothed loss
    assert len(test.lrs) < 60 and ("passed" in test.stopped or "became" in test.stopped)
    if "passed" in test.stopped:
        assert test.smoothed[-1] > DIVERGED * min(test.smoothed)
    assert test.suggested == pytest.approx(test.at_min / 10) and math.isfinite(test.losses[0])


@pytest.mark.parametrize("args, part", [
    (["--start", "1", "--end", "0.1"], "0 < start < end"),
    (["--start", "0"], "0 < start < end"),
    (["--steps", "3"], "--steps must be between 10"),
    (["--figure", "x.jpg"], ".png"),
    (["--figure", "nowhere/x.png"], "does not exist"),
    (["--out", "r"], "add --train"),
    (["--set", "optim.lr=fast"], "optim.lr"),
])
def test_bad_input_is_one_line(tmp_path, monkeypatch, capsys, args, part):
    monkeypatch.chdir(tmp_path)
    one_line(capsys, main(["lr-find", "demo", *args]), part)
    assert list(tmp_path.iterdir()) == []


def test_a_gan_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    one_line(capsys, main(["lr-find", "gan"]), "supervised models")
