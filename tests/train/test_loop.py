"""The one loop: model selection by validation only, schedules, early stopping, run folder contents."""
import json

import pytest
import torch

from dlpractice.config import ScheduleConfig, load_config
from dlpractice.data import DataBundle, Split, register_dataset
from dlpractice.data.registry import DATASETS
from dlpractice.errors import UserError
from dlpractice.runs.tasks import TASKS
from dlpractice.train.loop import train
from dlpractice.train.optim import build_schedule

if "test-disagree" not in DATASETS:
    @register_dataset("test-disagree", "classification", "image", "digits whose test labels are scrambled")
    def _disagree(cfg, size=None):
        """Real digits, but the test split's labels are a fixed random relabelling: the test curve
        moves independently of the validation curve, so choosing by test would pick another epoch."""
        from dlpractice.data.vision import load_digits
        b = load_digits(cfg, size)
        t = b.splits["test"]
        g = torch.Generator().manual_seed(1)
        b.splits["test"] = Split(t.x, torch.randint(0, 10, t.y.shape, generator=g))
        return DataBundle("test-disagree", b.splits, b.meta)


def _rows(folder, split, metric):
    from dlpractice.runs.metrics import read_metrics
    return {r["epoch"]: (r[metric], r["loss"]) for r in read_metrics(folder) if r["split"] == split}


def test_best_epoch_is_chosen_by_validation_only(tmp_path):
    cfg = load_config(overrides=["data.dataset=test-disagree", "model.name=softmax", "train.epochs=8",
                                 "optim.lr=0.02", "data.batch_size=64", "log.loggers=['csv']"])
    run = train(cfg, out=tmp_path / "r")
    val, test = _rows(run.folder, "val", "accuracy"), _rows(run.folder, "test", "accuracy")
    best_val = max(val, key=lambda e: (val[e][0], -val[e][1]))
    best_test = max(test, key=lambda e: (test[e][0], -test[e][1]))
    s = run.summary
    assert s["best_epoch"] == best_val
    assert best_test != best_val, "the scrambled test split should peak at another epoch"
    # the reported test metrics are those of the validation-chosen checkpoint
    assert s["test_accuracy"] == pytest.approx(test[best_val][0])
    for name in ["config.toml", "metrics.csv", "curves.png", "summary.json", "data.json",
                 "checkpoints/best.pt", "checkpoints/last.pt"]:
        assert (run.folder / name).is_file(), name
    for key in ["task", "model", "dataset", "params", "epochs", "best_epoch", "metrics", "primary_metric",
                "wall_seconds", "examples_per_second", "versions", "test_accuracy"]:
        assert key in s, key
    assert s["primary_metric"]["name"] == "accuracy"


def test_choose_by_loss_picks_the_epoch_of_lowest_validation_loss(tmp_path):
    """train.choose_by = "loss": the validation loss, not accuracy, picks the checkpoint (for a log-loss score)."""
    sets = ["data.dataset=digits", "model.name=softmax", "train.epochs=15", "optim.lr=5.0", "log.loggers=['csv']",
            "data.val_fraction=0.3", "train.channels_last=false", "train.precision=fp32"]
    for choose, pick in (("primary", lambda v: max(v, key=lambda e: (v[e][0], -v[e][1]))),
                         ("loss", lambda v: min(v, key=lambda e: v[e][1]))):
        run = train(load_config(overrides=[*sets, f"train.choose_by={choose}"]), out=tmp_path / choose)
        val = _rows(run.folder, "val", "accuracy")
        assert run.summary["best_epoch"] == pick(val), (choose, val)
        assert run.summary["chosen_on"] == ("loss" if choose == "loss" else "accuracy")
    from dlpractice.train.supervised import Trainer
    t = Trainer.__new__(Trainer)   # the rule alone: higher accuracy but higher loss
    t.task, t.chooses_on, t.best_value = TASKS.get("classification"), "loss", {"accuracy": 0.90, "loss": 0.30}
    assert not t.better({"accuracy": 0.95, "loss": 0.35}) and t.better({"accuracy": 0.85, "loss": 0.25})


def test_early_stopping(tmp_path):
    cfg = load_config(overrides=["data.dataset=digits", "model.name=softmax", "train.epochs=30",
                                 "train.early_stopping=2", "optim.lr=0.5", "log.loggers=['csv']"])
    run = train(cfg, out=tmp_path / "r")
    assert run.summary["epochs"] < 30
    assert run.summary["epochs"] - run.summary["best_epoch"] == 2


@pytest.mark.parametrize("name", ["none", "step", "cosine", "onecycle"])
def test_schedules(name):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_schedule(ScheduleConfig(name=name, step_size=2, gamma=0.5), opt, epochs=4, steps_per_epoch=10)
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    if name == "none":
        assert set(lrs) == {1.0}
    elif name == "step":
        assert lrs[0] == 1.0 and lrs[20] == 0.5
    elif name == "cosine":
        assert lrs[0] == 1.0 and lrs[20] == pytest.approx(0.5) and lrs[-1] < 0.01
    else:
        assert lrs[0] == pytest.approx(0.04) and max(lrs) == pytest.approx(1.0, abs=0.01) and lrs[-1] < 0.01


def test_mismatched_model_and_data(tmp_path):
    with pytest.raises(UserError, match="unknown model 'lenet'"):
        train(load_config(overrides=["model.name=lenet"]), out=tmp_path / "a")
    with pytest.raises(UserError, match="has no argument"):
        train(load_config(overrides=["model.name=lenet_bn", "model.args.depth=3"]), out=tmp_path / "b")


def test_existing_run_folder_is_not_overwritten(tmp_path):
    cfg = load_config(overrides=["model.name=softmax", "train.epochs=1", "log.loggers=['csv']"])
    run = train(cfg, out=tmp_path / "r")
    before = (run.folder / "summary.json").read_bytes()
    with pytest.raises(UserError, match="already holds a run"):
        train(cfg, out=tmp_path / "r")
    assert (run.folder / "summary.json").read_bytes() == before
    assert json.loads(before)["epochs"] == 1


def test_progress_without_a_terminal_is_a_line_per_tenth_of_an_epoch(tmp_path, capsys, monkeypatch):
    """stderr not a terminal (a log file, a notebook): plain lines at 10%, 20%, … 90% of each epoch with
    examples/s and the time left — once the epoch has run QUIET_SECONDS (set to 0 here); no bar's escapes."""
    from dlpractice.config import load_config
    from dlpractice.train import progress
    from dlpractice.train.loop import train
    monkeypatch.setattr(progress, "QUIET_SECONDS", 0.0)
    cfg = load_config(overrides=["data.dataset=digits", "model.name=softmax", "model.args={input_size=8}",
                                 "data.batch_size=16", "train.epochs=1", "log.loggers=['csv']", "train.threads=1"])
    train(cfg, out=tmp_path / "run")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch 1:")]
    shares = [int(line.split(":")[1].split("%")[0]) for line in lines]
    assert len(shares) == 9 and all(10 * k <= p < 10 * k + 10 for k, p in enumerate(shares, 1)), lines
    steps = {line.split("/")[1].split(" ")[0] for line in lines}
    assert len(steps) == 1 and all("examples/s, about " in line and line.endswith(" s left") for line in lines), lines
    assert "\r" not in capsys.readouterr().err
