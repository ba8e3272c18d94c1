"""Data: the IDX reader on the real Fashion-MNIST files, splits, the tensor loader, clear errors."""
import gzip

import numpy as np
import pytest
import torch

from dlpractice.config import DataConfig
from dlpractice.data import DATASETS, load_dataset, paths
from dlpractice.data.idx import read_idx
from dlpractice.data.loader import TensorLoader, random_crop, random_erase, random_flip
from dlpractice.data.vision import DEBIAN_FASHION
from dlpractice.errors import UserError

from conftest import require_data


def test_fashion_mnist_real_files(fashion):
    assert fashion.meta["num_classes"] == 10 and fashion.meta["size"] == 28
    s = fashion.splits
    assert len(s["train"]) + len(s["val"]) == 60000 and len(s["test"]) == 10000
    assert len(s["val"]) == 6000
    assert s["train"].x.shape[1:] == (1, 28, 28)
    # stratified validation: every class is 10% ± a few images
    counts = torch.bincount(s["val"].y, minlength=10)
    assert counts.min() >= 590 and counts.max() <= 610
    # normalized with training statistics
    assert abs(float(s["train"].x.mean())) < 1e-3 and abs(float(s["train"].x.std()) - 1) < 1e-3


def test_idx_reader_shapes():
    folder = require_data(lambda: paths.find_data("fashion-mnist", ["t10k-labels-idx1-ubyte.gz"],
                                                  extra=[DEBIAN_FASHION]))
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))


def test_idx_reader_corrupt(tmp_path):
    bad = tmp_path / "x-idx1-ubyte.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x00\x00\x08\x01\x00\x00\x00\x10" + b"\x01" * 5)  # promises 16 labels, holds 5
    with pytest.raises(UserError, match="truncated or corrupt"):
        read_idx(bad)
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match=str(bad)):
        read_idx(bad)
    plain = tmp_path / "x.idx"
    plain.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(UserError, match="not an IDX file"):
        read_idx(plain)


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "DATA_DIR", tmp_path)
    monkeypatch.setenv("DLP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DLP_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(UserError) as e:
        paths.find_data("fashion-mnist", ["train-images-idx3-ubyte.gz"], how_to_get="apt-get install x")
    assert str(tmp_path / "fashion-mnist") in str(e.value) and "apt-get install x" in str(e.value)


def test_digits_split_is_fixed():
    a = load_dataset(DataConfig(dataset="digits"), 28)
    b = load_dataset(DataConfig(dataset="digits"), 28)
    assert len(a.splits["test"]) == 360 and a.splits["train"].x.shape[1:] == (1, 28, 28)
    assert torch.equal(a.splits["val"].y, b.splits["val"].y) and torch.equal(a.splits["test"].x, b.splits["test"].x)


def test_registry_refuses_duplicates_and_unknown():
    from dlpractice.data import register_dataset
    with pytest.raises(ValueError):
        register_dataset("digits", "classification", "image", "dup")(lambda cfg: None)
    with pytest.raises(UserError, match="did you mean 'digits'"):
        DATASETS.get("digit")


def test_tensor_loader_order_and_augment():
    x, y = torch.arange(100.).view(100, 1, 1, 1).expand(100, 1, 4, 4).contiguous(), torch.arange(100)
    a = TensorLoader(x, y, 32, shuffle=True, seed=3)
    b = TensorLoader(x, y, 32, shuffle=True, seed=3)
    assert len(a) == 4
    ya = torch.cat([yb for _, yb in a.batches(2)])
    assert sorted(ya.tolist()) == list(range(100))
    assert torch.equal(ya, torch.cat([yb for _, yb in b.batches(2)]))
    assert not torch.equal(ya, torch.cat([yb for _, yb in a.batches(3)]))
    # resuming inside an epoch yields the remaining batches
    assert torch.equal(torch.cat([yb for _, yb in a.batches(2, start=2)]), ya[64:])
    g = torch.Generator().manual_seed(0)
    img = torch.randn(8, 1, 6, 6)
    assert random_crop(img, g).shape == img.shape and random_flip(img, g).shape == img.shape
    # a crop with zero offset range is the identity
    assert torch.equal(random_crop(img, g, pad=0), img)


def test_random_erase_puts_one_rectangle_of_noise_on_about_half_the_images():
    g = torch.Generator().manual_seed(0)
    x = torch.full((2000, 1, 28, 28), 7.0)                  # no noise value is exactly 7
    out = random_erase(x, g)
    erased = out != 7.0                                      # (N, 1, H, W)
    hit = erased.flatten(1).any(1)
    assert 0.45 < hit.float().mean() < 0.55                  # p = 0.5
    area = erased.flatten(1).float().mean(1)[hit]
    assert area.min() >= 0.015 and area.max() <= 0.42       # 2–40% of the pixels (sides rounded to whole pixels)
    for m in erased[hit][:200, 0]:                           # each erased region is one full rectangle
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert m[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all() and m.sum() == len(rows) * len(cols)
    assert out[hit].std() > 0.5 and torch.equal(out[~hit], x[~hit])    # noise inside, the rest untouched
    again = random_erase(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)                           # drawn from the loader's generator alone
    assert torch.equal(random_erase(x[:50], g, p=0.0), x[:50])


@pytest.mark.parametrize("augment", ["crop", "erase"])
def test_image_augmentations_on_table_rows_are_one_line_before_any_file(tmp_path, capsys, augment):
    from conftest import one_line
    from dlpractice.cli import main
    out = tmp_path / "run"
    code = main(["train", "--set", "data.dataset=breast-cancer", "--set", "model.name=logistic", "--set",
                 "train.epochs=1", "--set", f"data.augment=['{augment}']", "--out", str(out)])
    one_line(capsys, code, f"data.augment = ['{augment}'] works on images", "'breast-cancer' gives 2-D examples",
             "--set data.augment=[]")
    assert not out.exists()
