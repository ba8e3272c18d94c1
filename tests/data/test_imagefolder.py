"""The image-folder data set on a real folder of Fashion-MNIST PNGs (plus one corrupt file), a short
training run on it, and the "what it learned" figures of that run."""
import json

import numpy as np
import pytest

import dlpractice.data.imagefolder  # noqa: F401  (register image-folder until data/__init__ imports it)
from dlpractice.config import DataConfig, load_config
from dlpractice.data import load_dataset
from dlpractice.errors import UserError

from conftest import require_data

PER_CLASS = 120   # 1,200 images: enough for a few epochs well above chance, quick to write and read


def _fashion_test_set():
    from dlpractice.data.idx import read_idx
    from dlpractice.data.paths import find_data
    from dlpractice.data.vision import DEBIAN_FASHION
    folder = find_data("fashion-mnist", ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
                       extra=[DEBIAN_FASHION])
    return read_idx(folder / "t10k-images-idx3-ubyte.gz"), read_idx(folder / "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="module")
def fashion_folder(tmp_path_factory):
    """<root>/<class>/<n>.png for the first PER_CLASS test images of each class, one corrupt PNG and
    one file that is not an image by its suffix (ignored)."""
    from PIL import Image

    from dlpractice.data.vision import FASHION_CLASSES
    images, labels = require_data(_fashion_test_set)
    root = tmp_path_factory.mktemp("imgs") / "fashion"
    for c, name in enumerate(FASHION_CLASSES):
        d = root / name.replace("/", "-")      # "T-shirt/top" cannot be a folder name
        d.mkdir(parents=True)
        for i in np.flatnonzero(labels == c)[:PER_CLASS]:
            Image.fromarray(images[i]).save(d / f"{i:05d}.png")
    (root / "Bag" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    (root / "Bag" / "notes.txt").write_text("not an image, ignored")
    return root


def _cfg(root, *extra):
    return load_config(overrides=["data.dataset=image-folder", f"data.options.path='{root}'", *extra])


def test_folder_loads_and_reports_the_corrupt_file(fashion_folder, capsys):
    data = load_dataset(_cfg(fashion_folder).data, 28)
    err = capsys.readouterr().err
    assert "skipped 1 unreadable image file" in err and "broken.png" in err
    meta = data.meta
    assert meta["skipped_files"] == 1 and meta["num_classes"] == 10 and meta["in_channels"] == 1
    assert meta["classes"][:3] == ["Ankle boot", "Bag", "Coat"]          # sorted folder names
    n = sum(len(s) for s in data.splits.values())
    assert n == 10 * PER_CLASS                                           # the corrupt file is not counted
    assert len(data.splits["test"]) == 10 * PER_CLASS // 5               # fixed stratified 20 %
    assert np.bincount(data.splits["test"].y.numpy()).tolist() == [PER_CLASS // 5] * 10
    assert data.splits["train"].x.shape[1:] == (1, 28, 28)


def test_rgb_resize_and_test_path(fashion_folder, tmp_path):
    data = load_dataset(_cfg(fashion_folder, "data.options.channels=3", "data.options.size=32").data)
    assert data.meta["in_channels"] == 3 and data.splits["train"].x.shape[1:] == (3, 32, 32)
    data = load_dataset(_cfg(fashion_folder, f"data.options.test_path='{fashion_folder}'").data, 28)
    assert len(data.splits["test"]) == 10 * PER_CLASS


def test_missing_empty_and_misconfigured_folders(tmp_path):
    with pytest.raises(UserError, match="does not exist.*one subfolder per class"):
        load_dataset(_cfg(tmp_path / "nope").data, 28)
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    with pytest.raises(UserError, match=r"empty.*no class subfolders with image files"):
        load_dataset(_cfg(tmp_path / "empty").data, 28)
    with pytest.raises(UserError, match="needs data.options.path"):
        load_dataset(load_config(overrides=["data.dataset=image-folder"]).data, 28)
    with pytest.raises(UserError, match="channels must be 1"):
        load_dataset(_cfg(tmp_path, "data.options.channels=2").data, 28)
    with pytest.raises(UserError, match="no option"):
        load_dataset(DataConfig(dataset="image-folder", options={"pth": "x"}), 28)


def test_train_on_the_folder_then_what_it_learned(fashion_folder, tmp_path):
    from dlpractice.lessons.lecture11 import learned_report as lesson_report
    from dlpractice.track.learned import what_it_learned
    from dlpractice.train.loop import train
    cfg = _cfg(fashion_folder, "model.name=lenet_bn", "train.epochs=4", "optim.name=adamw", "optim.lr=0.01",
               "schedule.name=onecycle", "data.batch_size=64", "train.threads=1", "log.loggers=['csv']",
               "log.progress=false")
    run = train(cfg, out=tmp_path / "run")
    assert run.summary["test_accuracy"] >= 0.6                           # chance is 0.1
    assert json.loads((run.folder / "data.json").read_text())["skipped_files"] == 1

    out = what_it_learned(run.folder, n=12)
    assert (run.folder / "misclassified.png").stat().st_size > 10_000
    assert (run.folder / "filters.png").stat().st_size > 5_000
    assert 0 < len(out["shown"]) <= 12 and out["wrong"] >= len(out["shown"])
    conf = out["confidence_of_shown"]
    assert conf == sorted(conf, reverse=True)                           # most confident mistakes first
    report = lesson_report(run.folder)                                  # a train lesson: figures + per class
    per_class = json.loads((run.folder / "per_class.json").read_text())
    assert report == {"balanced_accuracy": per_class["balanced_accuracy"]} and 0.5 < per_class["accuracy"] <= 1
    assert (run.folder / "confusion.png").stat().st_size > 10_000


def test_what_it_learned_refuses_a_folder_that_is_not_a_run(tmp_path):
    from dlpractice.track.learned import what_it_learned
    with pytest.raises(UserError):
        what_it_learned(tmp_path)
