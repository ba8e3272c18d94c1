"""report.html: written at the end of every run, self-contained, with the lesson's anchor, an overfitting
note that finds the turning epoch, and the figures a run folder holds (confusion, misclassified, GAN
samples); `dlp report RUN` rebuilds it."""
from __future__ import annotations

import csv
import json
import re
import shutil

import pytest

from dlpractice.cli import main
from dlpractice.lessons import run_lesson
from dlpractice.track.report import overfitting, write_report
from dlpractice.track.report_sections import applicable_config, per_class_section


def _rows(train: list[float], held: list[float], split: str = "val") -> list[dict]:
    rows = []
    for e, (t, h) in enumerate(zip(train, held), 1):
        rows += [{"epoch": e, "split": "train", "lr": 0.1, "loss": t}, {"epoch": e, "split": split, "lr": 0.1, "loss": h}]
    return rows


def test_overfitting_note_finds_the_turning_epoch():
    kind, text = overfitting(_rows([1.0, 0.6, 0.4, 0.3, 0.2, 0.1], [1.1, 0.7, 0.5, 0.55, 0.6, 0.8]), {})
    assert kind == "warn" and text.startswith("Overfitting after epoch 3:")
    assert "from 0.5000 (epoch 3) to 0.8000 (epoch 6)" in text and "from 0.4000 to 0.1000" in text
    kind, text = overfitting(_rows([1.0, 0.6, 0.4], [1.1, 0.7, 0.5]), {})
    assert kind == "ok" and "lowest at the last epoch (3" in text
    kind, text = overfitting(_rows([1.0, 0.6, 0.7, 0.8], [1.1, 0.5, 0.7, 0.9], split="test"), {})
    assert kind == "info" and text.startswith("Test loss was lowest at epoch 2") and "not overfitting" in text
    assert overfitting(_rows([1.0, 0.6], [1.1, 0.7]), {})[1].startswith("Only 2 epoch(s)")
    # one rise, in the last epoch of three, is not called overfitting; the note says why, and the rule
    kind, text = overfitting(_rows([1.0, 0.6, 0.4], [1.1, 0.7, 0.75]), {})
    assert kind == "info" and text.startswith("No overfitting called: validation loss rose only in the last epoch")
    assert "stayed above its lowest for at least 2 epochs while training loss kept falling" in text
    kind, text = overfitting(_rows([1.0, 0.6, 0.4, 0.3], [1.1, 0.7, 0.75, 0.8]), {})
    assert kind == "warn" and text.startswith("Overfitting after epoch 2:") and "(The rule:" in text
    gan = [{"epoch": 1, "split": "train", "lr": 2e-4, "loss_g": 2.0, "loss_d": 0.5}]
    assert overfitting(gan, {})[0] == "info"


@pytest.fixture(scope="module")
def demo_lesson(tmp_path_factory):
    """The demo lesson (LeNet-BN on digits), 2 epochs: a real lesson run folder with lesson.json."""
    return run_lesson("demo", ["train.epochs=2", "log.progress=false", "log.loggers=['csv']"],
                      tmp_path_factory.mktemp("lesson") / "demo")


def test_lesson_run_report_shows_anchor_and_expectation(demo_lesson):
    result, folder, ok = demo_lesson
    page = (folder / "report.html").read_text(encoding="utf-8")
    lesson = json.loads((folder / "lesson.json").read_text())
    assert "≥ 97% test accuracy" in lesson["anchor"]
    assert f"Anchor: {lesson['anchor']}" in page
    assert f"test_accuracy = {result['test_accuracy']:.4g}" in page   # the expectation line, met or missed
    assert ("meets the expectation" in page) == bool(ok)
    assert '<td data-metric="accuracy">' + f"{result['test_accuracy']:.4f}</td>" in page
    assert "<script" not in page and re.search(r'(src|href)="(https?:)?//', page) is None
    # every point of the loss chart is a metrics.csv value
    with (folder / "metrics.csv").open() as f:
        want = [(r["split"], int(r["epoch"]), float(r["loss"])) for r in csv.DictReader(f)]
    got = [(s, int(e), float(v)) for s, e, v in
           re.findall(r'class="pt" data-split="(\w+)" data-epoch="(\d+)" data-value="([^"]+)"',
                      page.split('data-metric="loss"', 1)[1].split("</svg>", 1)[0])]
    assert sorted(got) == sorted(want)
    # the layer table of the run's model (lenet_bn) on its input: digits resized to 28×28, one channel
    layers = page.split('<table id="layers">', 1)[1].split("</table>", 1)[0]
    assert "input of shape (1, 1, 28, 28)" in page and "training batches held 64" in page
    assert re.search(r">Conv2d \(0\)</td><td>\(1, 6, 28, 28\)</td><td>150</td>", layers), layers
    assert re.search(r">MaxPool2d \(7\)</td><td>\(1, 16, 5, 5\)</td>", layers)
    assert f"total: {json.loads((folder / 'summary.json').read_text())['params']:,} parameters" in page


def test_dlp_report_rebuilds_with_confusion_and_misclassified(demo_lesson, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(demo_lesson[1], folder)
    for f in ("report.html", "confusion.png", "misclassified.png", "per_class.json"):
        (folder / f).unlink(missing_ok=True)
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out.strip().splitlines()   # a slow machine also hears "drawing the figures … done"
    assert out[-1] == f"report: {folder / 'report.html'}" and all(x.startswith(("drawing", "… done")) for x in out[:-1])
    page = (folder / "report.html").read_text(encoding="utf-8")
    for name in ("confusion.png", "misclassified.png"):
        assert (folder / name).stat().st_size > 10_000
        assert f'alt="{name}" src="data:image/png;base64,' in page
    per_class = json.loads((folder / "per_class.json").read_text())
    assert per_class["n"] == 360 and f"{per_class['balanced_accuracy']:.4f}" in page
    assert "Only 2 epoch(s)" in page and "checkpoints/best.pt from epoch" in page
    assert "Anchor: a first look at the whole pipeline" in page   # the copied lesson.json still names the lesson


def test_gan_like_run_shows_samples_without_accuracy(tmp_path):
    """A generation run's folder (loss_g, loss_d and fid, samples.png, no accuracy) gets a report too."""
    from matplotlib.figure import Figure
    folder = tmp_path / "gan"
    folder.mkdir()
    (folder / "config.toml").write_text('[model]\nname = "dcgan_g"\n')
    (folder / "metrics.csv").write_text("epoch,split,lr,fid,loss_d,loss_g\n1,train,0.0002,,1.2,0.9\n"
                                        "1,test,0.0002,80.5,,\n2,train,0.0002,,1.1,1.3\n2,test,0.0002,60.25,,\n")
    (folder / "summary.json").write_text(json.dumps({
        "task": "generation", "model": "dcgan_g", "dataset": "fashion-mnist", "epochs": 2, "best_epoch": 2,
        "chosen_by": "last epoch", "metrics": {"fid": 60.25, "inception_score": 5.1},
        "primary_metric": {"name": "fid", "value": 60.25}, "wall_seconds": 12.0}))
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().imshow([[0, 1], [1, 0]])
    fig.savefig(folder / "samples.png")
    page = write_report(folder).read_text(encoding="utf-8")
    assert 'alt="samples.png" src="data:image/png;base64,' in page
    assert '<td data-metric="fid">60.2500</td>' in page and "accuracy" not in page
    for metric in ("loss_g", "loss_d", "fid"):
        assert f'data-metric="{metric}"' in page
    assert "No training and held-out loss pair" in page


def test_config_shows_only_the_sections_that_apply():
    text = ('[data]\ndataset = "digits"\n\n[data.options]\n\n[model]\nname = "mlp"\n\n[model.args]\nwidth = 2\n\n'
            '[gan]\nloss = "bce"\n\n[gan.d_args]\n')
    shown, dropped = applicable_config(text, "classification")
    assert "[gan" not in shown and "[data.options]" not in shown and 'width = 2' in shown and "[model.args]" in shown
    assert dropped == ["data.options", "gan", "gan.d_args"]
    shown, _ = applicable_config(text, "generation")
    assert '[gan]\nloss = "bce"' in shown


def test_per_class_table_is_html_weakest_class_first():
    html = per_class_section({"split": "test", "n": 30, "accuracy": 0.6, "balanced_accuracy": 0.55, "per_class": {
        "cat": {"support": 10, "accuracy": 0.9, "precision": 0.5, "most_confused_with": "dog", "confused_count": 1},
        "dog": {"support": 20, "accuracy": 0.2, "precision": 0.8, "most_confused_with": "cat", "confused_count": 16}}})
    rows = re.findall(r'<tr data-class="(\w+)"><td>\w+</td><td>(\d+)</td><td>([\d.]+%)</td>', html)
    assert rows == [("dog", "20", "20.0%"), ("cat", "10", "90.0%")]
    assert "cat (16)" in html and "0.5500" in html
    assert per_class_section({}) == ""
