"""Prediction from a run folder alone: PNG round trip, evaluate, and clear errors on bad input."""
import json

import numpy as np
import pytest
import torch

from dlpractice.errors import UserError
from dlpractice.runs.predictor import Predictor

from conftest import dlp


def _write_pngs(folder, images):
    from PIL import Image
    paths = []
    for i, img in enumerate(images):
        p = folder / f"test{i:03d}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


def test_png_round_trip_matches_evaluate(fashion_run, tmp_path):
    """Fashion-MNIST test images as PNG files → dlp predict gives the classes the model gives the
    test tensors that dlp evaluate scores."""
    from dlpractice.data.idx import read_idx
    from dlpractice.data.paths import find_data
    from dlpractice.data.vision import DEBIAN_FASHION
    folder = find_data("fashion-mnist", ["t10k-images-idx3-ubyte.gz"], extra=[DEBIAN_FASHION])
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")[:40]
    paths = _write_pngs(tmp_path, images)
    r = dlp("predict", fashion_run, *paths, "--json", check=True)
    got = json.loads(r.stdout)
    pred = Predictor(fashion_run)
    data_test = pred.evaluate("test")  # what `dlp evaluate` prints
    ev = dlp("evaluate", fashion_run, "--json", check=True)
    # another process (maybe other thread counts): the same checkpoint, so within float rounding of a split
    assert json.loads(ev.stdout) == pytest.approx(data_test, abs=2e-3)
    from dlpractice.data import load_dataset
    test = load_dataset(pred.cfg.data, 28).splits["test"]
    with torch.no_grad():
        probs = pred.probabilities(test.x[:40])
    classes = pred.meta["classes"]
    for row, p in zip(got, probs):
        assert row["top"][0]["class"] == classes[int(p.argmax())]
        assert row["top"][0]["probability"] == pytest.approx(float(p.max()), abs=1e-5)
        assert len(row["top"]) == 3
    # A dark-on-light drawing (inverted polarity) is turned into what the model saw.
    inverted = _write_pngs(tmp_path / "inv", [255 - images[0]]) if (tmp_path / "inv").mkdir() is None else None
    x_inv, _ = pred.prepare([str(inverted[0])])
    x_orig, _ = pred.prepare([str(paths[0])])
    assert torch.allclose(x_inv, x_orig, atol=1e-6)


def test_predict_errors(fashion_run, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    png = tmp_path / "cut.png"
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)).save(png)
    png.write_bytes(png.read_bytes()[:300])  # header intact, pixel data cut
    cases = [
        (["predict", fashion_run, tmp_path / "notes.txt"], "not an image"),
        (["predict", fashion_run, png], "damaged or truncated"),
        (["predict", fashion_run, tmp_path / "missing.png"], "image not found"),
        (["predict", tmp_path, tmp_path / "notes.txt"], "is not a run folder"),
        (["evaluate", tmp_path / "nothing"], "is not a run folder"),
    ]
    for args, message in cases:
        r = dlp(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
    # a run folder without checkpoints
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "config.toml").write_text("")
    r = dlp("predict", empty, tmp_path / "notes.txt")
    assert r.returncode == 2 and "no best checkpoint" in r.stderr


def test_predictor_rebuilds_from_folder_alone(fashion_run, tmp_path):
    import shutil
    moved = tmp_path / "moved"
    shutil.copytree(fashion_run, moved)
    a, b = Predictor(fashion_run), Predictor(moved)
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(a.probabilities(x), b.probabilities(x))
    with pytest.raises(UserError):
        Predictor(tmp_path / "nope")


def test_reports_predict_in_the_runs_precision(fashion_run):
    """A split's probabilities for the reports (per-class, learned) come from the model in the run's precision,
    as its evaluation and `dlp evaluate` compute them: a bf16 run's report states the run's accuracy, not
    fp32's a few examples away."""
    from dlpractice.runs.evaluate import evaluate_outputs
    from dlpractice.runs.predictor import predict_split
    pred = Predictor(fashion_run)
    pred.cfg.train.channels_last = False                # one layout for both paths: only the precision differs
    pred.cfg.train.precision = "bf16"
    x, y, probs = predict_split(pred, "val")
    outputs = evaluate_outputs(pred.model, pred.task, x, y, pred.cfg, torch.device("cpu"))[1]
    assert torch.allclose(probs, outputs.softmax(1), atol=1e-6)
    pred.cfg.train.precision = "fp32"
    assert (predict_split(pred, "val")[2] - probs).abs().max() > 1e-4     # bf16 rounds: the two differ
