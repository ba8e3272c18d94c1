"""train.grad_clip: one SGD step moves the weights by lr × the clipped gradient, 0 is off, an ensemble's members
and a GAN's players are clipped each on their own; the total norm before clipping is logged per epoch
(grad_norm_mean / _max in metrics.csv, a panel of curves.png), resumes exactly, and bad values are one error line."""
from __future__ import annotations

import copy
import json

import pytest
from matplotlib.image import imread
import torch

from dlpractice.cli import main
from dlpractice.config import load_config
from dlpractice.runs.metrics import read_metrics
from dlpractice.train.grad_norms import settle_grad_norms

from conftest import CtrlCAfterEpoch1, one_line

QUIET = ["data.dataset=digits", "log.progress=false", "log.loggers=['csv']", "train.threads=1",
         "train.compile=off", "train.precision=fp32", "train.channels_last=false"]
SGD = ["optim.name=sgd", "optim.lr=1.0", "optim.momentum=0.0", "optim.weight_decay=0.0"]


def _trainer(tmp_path, sets):
    from dlpractice.train.supervised import Trainer
    return Trainer(load_config(overrides=[*QUIET, *SGD, *sets]), tmp_path / "r", loggers=[])


def _by_hand(t, xb, yb) -> list[torch.Tensor]:
    """The gradient of the first step's loss, on a copy of the model (the trainer's own stays untouched)."""
    model = copy.deepcopy(t.model)
    t.task.loss(model(xb), yb, 0.0).backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("clip, members", [(1e-3, 1), (0.0, 1), (1e-3, 2)])
def test_one_sgd_step_is_lr_times_the_clipped_gradient(tmp_path, clip, members):
    t = _trainer(tmp_path, ["model.name=softmax", f"train.grad_clip={clip}", f"model.args.members={members}"])
    xb, yb = next(iter(t.loader.batches(1, 0)))
    grads = _by_hand(t, xb, yb)
    before = [p.detach().clone() for p in t.model.parameters()]
    t.step_sums(xb, yb)
    settle_grad_norms(t)   # the step keeps its norm as tensors until then
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    assert t.grad_norms[""] == [pytest.approx(float(total), rel=1e-5)] * 2 + [1]   # sum, max, steps
    per = len(grads) // members   # each member's parameters in turn, clipped to grad_clip / members
    for i, (g, b, p) in enumerate(zip(grads, before, t.model.parameters())):
        own = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(h) for h in
                                                    grads[i // per * per:(i // per + 1) * per]]))
        scale = min(1.0, clip / members / (float(own) + 1e-6)) if clip else 1.0
        assert scale < 0.01 if clip else scale == 1.0
        torch.testing.assert_close(b - p.detach(), g * scale, rtol=1e-3, atol=3e-8)   # lr 1: a few ulps of w


def test_metrics_hold_the_grad_norm_and_resume_inside_an_epoch_is_exact(tmp_path):
    from dlpractice.track.loggers import CsvLogger
    from dlpractice.train.loop import TrainingInterrupted, resume, train
    sets = [*QUIET, "model.name=mlp", "data.limit_train=256", "data.batch_size=32", "train.epochs=2",
            "train.grad_clip=0.5", "train.eval_test=false", "optim.lr=0.2"]
    ref = train(load_config(overrides=sets), out=tmp_path / "ref")
    rows = {(r["epoch"], r["split"]): r for r in read_metrics(ref.folder)}
    for e in (1, 2):
        mean, most = rows[e, "train"]["grad_norm_mean"], rows[e, "train"]["grad_norm_max"]
        assert 0 < mean <= most and rows[e, "val"]["grad_norm_mean"] is None
    assert rows[1, "train"]["grad_norm_max"] > 0.5                  # the bound was reached: clipping happened
    out = tmp_path / "stopped"
    with pytest.raises(TrainingInterrupted):
        train(load_config(overrides=sets), out=out, loggers=[CsvLogger(), CtrlCAfterEpoch1()])
    run = resume(out)
    assert run.summary["steps_this_process"] == 8 - 1
    assert (out / "metrics.csv").read_text() == (ref.folder / "metrics.csv").read_text()


def test_curves_panel_with_and_without_the_columns(tmp_path):
    from dlpractice.track.plots import plot_curves
    widths = {}
    for name, csv in [("new", "epoch,split,lr,grad_norm_max,grad_norm_mean,loss\n1,train,0.1,3.0,2.0,0.5\n"
                               "1,val,0.1,,,0.6\n2,train,0.1,2.5,1.5,0.4\n2,val,0.1,,,0.5\n"),
                      ("old", "epoch,split,lr,loss\n1,train,0.1,0.5\n1,val,0.1,0.6\n")]:   # a run from before
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.csv").write_text(csv)
        (folder / "config.toml").write_text("[train]\ngrad_clip = 1.0\n")
        widths[name] = imread(plot_curves(folder, name, 1)).shape[1]
    assert widths["new"] > 1.8 * widths["old"]   # loss and the gradient norm, against the loss alone


def test_gan_curves_have_both_players_gradient_norms(tmp_path):
    from dlpractice.track.gan_score import plot_gan_curves
    widths = {}
    for name, extra in [("new", ("grad_norm_d_max,grad_norm_d_mean,grad_norm_g_max,grad_norm_g_mean,", "4,3,2,1,")),
                        ("old", ("", ""))]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.csv").write_text(f"epoch,split,lr,{extra[0]}loss_d,loss_g,fid\n1,train,0.1,{extra[1]}1.0,"
                                            f"2.0,\n1,test,0.1,{',' * extra[0].count(',')},,50\n")
        widths[name] = imread(plot_gan_curves(folder, name, 1)).shape[1]
    assert widths["new"] > 1.25 * widths["old"]   # a fourth panel beside losses, FID and the score


def _gan(clip: float):
    """A GAN trainer's step parts without its data or scorer: tiny players, plain SGD each."""
    from dlpractice.models import build_model
    from dlpractice.runs.ranks import current
    from dlpractice.train.adversarial import GanTrainer
    from dlpractice.train.ema import averaged_copy
    from dlpractice.train.skeleton import start_progress
    t = GanTrainer.__new__(GanTrainer)
    t.cfg = load_config(overrides=[f"train.grad_clip={clip}", "gan.ema=0.0"])
    t.ranks, t.device, t.loader = current(), torch.device("cpu"), None
    torch.manual_seed(0)
    t.g, t.d = build_model("dcgan_g", {"width": 8, "latent_dim": 8}), build_model("dcgan_d", {"width": 8})
    t.g_net, t.d_net, t.g_ema, t.latent = t.g, t.d, averaged_copy(t.g), 8
    t.g_opt, t.d_opt = (torch.optim.SGD(m.parameters(), lr=0.1) for m in (t.g, t.d))
    t.g_sched = t.d_sched = type("Constant", (), {"step": lambda self: None})()
    start_progress(t)
    return t


def test_gan_players_are_clipped_each_on_its_own():
    t = _gan(1e-3)
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in (("g", t.g), ("d", t.d))}
    t.train_step(torch.rand(16, 1, 28, 28) * 2 - 1)
    settle_grad_norms(t)
    for n, m in (("g", t.g), ("d", t.d)):
        step = torch.linalg.vector_norm(torch.cat([(b - p.detach()).flatten() for b, p in zip(before[n], m.parameters())]))
        assert float(step) == pytest.approx(0.1 * 1e-3, rel=1e-3)   # lr × grad_clip: each player's own bound
        assert t.grad_norms[n][2] == 1 and t.grad_norms[n][0] > 1e-3   # its norm before clipping, logged
    t.train_sums = {"n": 16.0, "loss_d": 1.0, "loss_g": 1.0, "d_real": 8.0, "d_fake": 8.0}   # the skeleton's part
    m = t.train_metrics()
    assert m["grad_norm_d_mean"] == m["grad_norm_d_max"] == t.grad_norms["d"][0] and "grad_norm_g_max" in m


@pytest.mark.parametrize("value, message", [
    ("-1", "setting 'train.grad_clip' must be ≥ 0 (range [0, ∞)); got -1.0"),
    ('"big"', "setting 'train.grad_clip' must be a number, got 'big'"),
    ("nan", "setting 'train.grad_clip' must be a finite number in [0, ∞); got nan"),
])
def test_bad_grad_clip_is_one_line_and_exit_2(value, message, tmp_path, capsys):
    assert main(["train", "--set", f"train.grad_clip={value}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o").exists()


def test_one_epoch_is_ticked_at_whole_epochs_only():
    import matplotlib.pyplot as plt
    from dlpractice.track.plots import epoch_axis
    for epochs in ([1], [1, 2, 3], list(range(1, 41))):
        fig, ax = plt.subplots()
        ax.plot(epochs, [1.0] * len(epochs), marker="o")
        epoch_axis(ax)
        fig.canvas.draw()
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), (epochs, ticks)
        plt.close(fig)


@pytest.mark.parametrize("config, label", [("[train]\nlabel_smoothing = 0.1\n", "train (label smoothing 0.1)"),
                                           ("[train]\nlabel_smoothing = 0.0\n", "train"), ("", "train")])
def test_curves_say_when_the_training_loss_is_smoothed(config, label, tmp_path, monkeypatch):
    """With label smoothing the training loss sits far above validation's without any overfitting (0.58
    against 0.26 in fashion_3min): the loss panel's legend says which curve carries it."""
    from dlpractice.track import plots
    seen = {}
    monkeypatch.setattr(plots, "save_curves", lambda fig, folder, title: seen.setdefault("fig", fig))
    (tmp_path / "metrics.csv").write_text("epoch,split,lr,loss,accuracy\n1,train,0.1,0.6,0.9\n1,val,0.1,0.3,0.9\n")
    (tmp_path / "config.toml").write_text(config)
    plots.plot_curves(tmp_path, "t", 1)
    loss, accuracy = seen["fig"].axes[:2]
    assert [t.get_text() for t in loss.get_legend().get_texts()][:2] == [label, "val"]
    assert [t.get_text() for t in accuracy.get_legend().get_texts()][:2] == ["train", "val"]


def test_a_rate_that_diverges_without_clipping_trains_with_it(tmp_path, capsys):
    """Lecture 11's exploding steps: SGD at lr 2 with momentum 0.9 blows an MLP's loss up to NaN within two
    epochs (one error line, exit 2); clipping the gradient's norm to 0.05 tames the same rate to ≥ 90%."""
    sets = [*QUIET, "model.name=mlp", "train.epochs=5", "optim.name=sgd", "optim.lr=2", "optim.momentum=0.9"]
    args = ["train", *[a for s in sets for a in ("--set", s)]]
    one_line(capsys, main([*args, "--out", str(tmp_path / "free")]), "loss became nan", "lower optim.lr")
    assert main([*args, "--set", "train.grad_clip=0.05", "--out", str(tmp_path / "clipped")]) == 0
    summary = json.loads((tmp_path / "clipped" / "summary.json").read_text())
    assert summary["test_accuracy"] >= 0.9, summary["test_accuracy"]
