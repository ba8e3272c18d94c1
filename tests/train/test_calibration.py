"""train.calibrate = "temperature": one temperature fitted on validation after training (models/calibration.py):
it recovers the temperature that made the labels, never changes the predicted classes, lowers validation's
log-loss, lives in best.pt so evaluation and prediction apply it, and a run it cannot serve is one line."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from dlpractice.cli import main
from dlpractice.models.calibration import fit_temperature, tempered
from dlpractice.runs.predictor import Predictor

from conftest import one_line

QUIET = ["data.dataset=digits", "model.name=mlp", "train.epochs=6", "log.progress=false", "log.loggers=['csv']",
         "train.threads=1", "train.compile=off", "train.precision=fp32", "train.channels_last=false"]


@pytest.mark.parametrize("true_t", [0.5, 2.0, 5.0])
def test_the_fitted_temperature_is_the_one_that_drew_the_labels(true_t):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20_000, 9, generator=g) * 3
    y = torch.multinomial((z / true_t).softmax(1), 1, generator=g).view(-1)
    t = fit_temperature(z, y)
    assert t == pytest.approx(true_t, rel=0.05)
    nll = [float(F.cross_entropy(z / s, y)) for s in (t / 1.02, t, t * 1.02)]
    assert nll[1] <= min(nll[0], nll[2])          # the minimum, not merely close to it


def _train(tmp_path, name, *sets) -> dict:
    args = ["train", *[a for s in [*QUIET, *sets] for a in ("--set", s)], "--out", str(tmp_path / name)]
    assert main(args) == 0
    return json.loads((tmp_path / name / "summary.json").read_text())


def test_a_calibrated_run_predicts_the_same_classes_with_a_lower_validation_loss(tmp_path, capsys):
    plain = _train(tmp_path, "plain")
    cal = _train(tmp_path, "cal", "train.calibrate=temperature")
    assert "calibration: temperature" in capsys.readouterr().out
    c = cal["calibration"]
    assert c["val_loss_after"] <= c["val_loss_before"] and 0.05 <= c["temperature"] <= 20
    # training is the same run (the wrapper is the plain model while it trains): same epoch, same classes
    assert cal["best_epoch"] == plain["best_epoch"]
    assert cal["test_accuracy"] == pytest.approx(plain["test_accuracy"], abs=1 / 360)
    report = (tmp_path / "cal" / "report.html").read_text()
    assert f'<p id="calibration">The test figures divide the logits by the temperature {c["temperature"]:.3f}' in report
    # best.pt holds the temperature: evaluation and prediction from the folder apply it
    pred = Predictor(tmp_path / "cal")
    assert float(tempered(pred.model).temperature) == pytest.approx(c["temperature"], abs=1e-4)
    assert pred.evaluate("test")["loss"] == pytest.approx(cal["metrics"]["loss"], rel=1e-4)
    s = pred.split("test")
    with torch.no_grad():
        raw = pred.model.model(s.x[:64])
    torch.testing.assert_close(pred.probabilities(s.x[:64]), (raw / float(tempered(pred.model).temperature)).softmax(1))


@pytest.mark.parametrize("sets, message", [
    (["data.dataset=breast-cancer", "model.name=logistic"], "model 'logistic' is for binary"),
    (["data.val_fraction=0"], "the validation split, which is empty here"),
])
def test_a_run_calibration_cannot_serve_is_one_line(tmp_path, capsys, sets, message):
    args = ["train", *[a for s in [*QUIET, *sets, "train.calibrate=temperature"] for a in ("--set", s)],
            "--out", str(tmp_path / "o")]
    one_line(capsys, main(args), message, "train.calibrate = off")
    assert not (tmp_path / "o").exists()


def test_the_loss_that_chooses_is_validation_after_its_temperature(tmp_path):
    """With choose_by = loss the epoch is picked by validation's calibrated loss (each epoch's own T), the
    figure the run then scores with; it is never above the raw loss (T = 1 is one of the candidates)."""
    from dlpractice.runs.metrics import read_metrics
    cal = _train(tmp_path, "cal", "train.calibrate=temperature", "train.choose_by=loss", "train.epochs=5")
    val = {r["epoch"]: r for r in read_metrics(tmp_path / "cal") if r["split"] == "val"}
    assert all(r["loss_calibrated"] <= r["loss"] * (1 + 1e-6) for r in val.values())   # summation order aside
    assert cal["best_epoch"] == min(val, key=lambda e: val[e]["loss_calibrated"])
    assert cal["chosen_on"] == "loss_calibrated"
    assert cal["calibration"]["val_loss_after"] == pytest.approx(val[cal["best_epoch"]]["loss_calibrated"], abs=1e-4)
