"""Bad data files and bad data options: one clear `error:` line naming the file or the option, exit 2,
no traceback, no run folder — and a diverging run says why."""
import gzip
import re

import numpy as np
import pytest
import torch

from dlpractice.config import DataConfig
from dlpractice.data import load_dataset
from dlpractice.data.idx import read_idx, read_idx_pair
from dlpractice.data.registry import DATASETS, input_trouble
from dlpractice.data.table import read_csv
from dlpractice.errors import UserError

from conftest import dlp

CSV = "a,b,y\n" + "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(60))


def refused(tmp_path, *sets, match, env=None, started=False):
    """`dlp train --set ...` exits 2 with exactly one `error:` line matching `match`, and leaves no run folder
    (`started`: the run diverged in training, after its folder was made; what is kept there is the loop's
    business, not checked here)."""
    out = tmp_path / "run"
    p = dlp("train", *[a for s in sets for a in ("--set", s)], "--set", "log.progress=false", "--out", out, env=env)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert "Traceback" not in p.stderr and "Warning" not in p.stderr
    assert re.search(match, lines[0]), lines[0]
    assert started or not out.exists()
    return lines[0]


def damaged(path, how: str):
    """A .gz file of CSV that is cut short, corrupt inside its deflate stream, or not gzip at all."""
    raw = gzip.compress((CSV * 40).encode())
    if how == "truncated":
        path.write_bytes(raw[:len(raw) // 2])
    elif how == "corrupt":      # flip bytes in the middle of the compressed data: zlib.error
        mid = len(raw) // 2
        path.write_bytes(raw[:mid] + bytes(b ^ 0xFF for b in raw[mid:mid + 64]) + raw[mid + 64:])
    else:
        path.write_bytes((CSV * 40).encode())
    return path


# -- damaged gzip streams ------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["truncated", "corrupt", "plain"])
def test_a_damaged_gzip_csv_is_one_user_error(tmp_path, how):
    path = damaged(tmp_path / "rows.csv.gz", how)
    with pytest.raises(UserError, match=r"rows\.csv\.gz is not a complete gzip file.*fetch or compress it again"):
        read_csv(path)


def test_a_damaged_gzip_csv_through_the_cli(tmp_path):
    path = damaged(tmp_path / "rows.csv.gz", "corrupt")
    refused(tmp_path, "data.dataset=csv", f"data.options.path='{path}'", match=r"rows\.csv\.gz is not a complete gzip")


def test_a_damaged_gzip_text_csv_and_names_file(tmp_path):
    path = damaged(tmp_path / "texts.csv.gz", "truncated")
    with pytest.raises(UserError, match=r"texts\.csv\.gz is not a complete gzip"):
        load_dataset(DataConfig(dataset="text-csv", options={"path": str(path)}))
    names = tmp_path / "data" / "names"
    names.mkdir(parents=True)
    damaged(names / "names_train.csv.gz", "corrupt")
    (names / "names_test.csv.gz").write_bytes(gzip.compress(b'"Adam","English"\n'))
    refused(tmp_path, "data.dataset=names", "model.name=rnn_classifier", env={"DLP_DATA_DIR": str(tmp_path / "data")},
            match=r"names_train\.csv\.gz is not a complete gzip")


# -- IDX files -------------------------------------------------------------------------------------------
def idx(path, array: np.ndarray, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(">u1" if type_code == 0x08 else ">i4").tobytes()))
    return path


def test_idx_corrupt_stream_and_wrong_magic(tmp_path):
    good = idx(tmp_path / "l.gz", np.arange(100, dtype=np.uint8) % 10)
    raw = good.read_bytes()
    bad = tmp_path / "bad-labels.gz"
    bad.write_bytes(raw[:12] + bytes(b ^ 0x55 for b in raw[12:30]) + raw[30:])
    with pytest.raises(UserError, match=r"bad-labels\.gz is corrupt or truncated.*fetch it again"):
        read_idx(bad)
    magic = tmp_path / "zip.gz"
    magic.write_bytes(gzip.compress(b"PK\x03\x04" + bytes(100)))
    with pytest.raises(UserError, match=r"not an IDX file \(bad magic number 0x504B0304"):
        read_idx(magic)


def test_idx_pairs_are_checked_against_each_other(tmp_path):
    images = idx(tmp_path / "images.gz", np.zeros((60, 4, 4), dtype=np.uint8))
    with pytest.raises(UserError, match=r"labels\.gz holds 50 labels for the 60 images of images\.gz"):
        read_idx_pair(images, idx(tmp_path / "labels.gz", np.zeros(50, dtype=np.uint8)), 10)
    with pytest.raises(UserError, match=r"holds label 12 .* 10 classes \(0 to 9\)"):
        read_idx_pair(images, idx(tmp_path / "labels.gz", np.full(60, 12, dtype=np.uint8)), 10)
    flat = idx(tmp_path / "flat.gz", np.zeros(60, dtype=np.uint8))     # 1-D "images": a labels file
    with pytest.raises(UserError, match=r"flat\.gz holds a 1-D array .* an images file must be 3-D"):
        read_idx_pair(flat, idx(tmp_path / "labels.gz", np.zeros(60, dtype=np.uint8)), 10)
    with pytest.raises(UserError, match=r"a labels file must be 1-D"):
        read_idx_pair(images, images, 10)
    x, y = read_idx_pair(images, idx(tmp_path / "labels.gz", np.arange(60) % 10), 10)
    assert x.shape == (60, 4, 4) and y.dtype == np.int64


def test_mnist_with_fewer_labels_than_images_is_refused_by_the_cli(tmp_path):
    """50,000 labels for 60,000 images were once silently trained on the first 50,000."""
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    idx(folder / "train-images-idx3-ubyte.gz", np.zeros((60, 28, 28), dtype=np.uint8))
    idx(folder / "train-labels-idx1-ubyte.gz", np.arange(50) % 10)
    idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((20, 28, 28), dtype=np.uint8))
    idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 10)
    refused(tmp_path, "data.dataset=mnist", env={"DLP_DATA_DIR": str(tmp_path / "data")},
            match=r"train-labels-idx1-ubyte\.gz holds 50 labels for the 60 images")


# -- data.options ------------------------------------------------------------------------------------------
def test_every_data_set_refuses_an_unknown_option():
    import dlpractice.data.imagefolder  # noqa: F401  (make sure every module has registered)
    import dlpractice.data.kaggle  # noqa: F401
    names = DATASETS.names()
    assert {"digits", "mnist", "fashion-mnist", "image-folder", "csv", "text-csv", "names"} <= set(names)
    for name in names:
        with pytest.raises(UserError, match=r"data\.options\.bogus"):
            load_dataset(DataConfig(dataset=name, options={"bogus": 1}))


def test_digits_refuses_options_through_the_cli(tmp_path):
    refused(tmp_path, "data.dataset=digits", "data.options.size=8",
            match=r"data set 'digits' has no option data.options.size; it accepts: features, level, magnitudes, "
                  r"wavelet")


@pytest.mark.parametrize("delimiter", ["", ";;", "\n"])
def test_a_bad_delimiter_is_one_line(tmp_path, delimiter):
    path = tmp_path / "rows.csv"
    path.write_text(CSV)
    for name in ("csv", "text-csv"):
        with pytest.raises(UserError, match=r"data\.options\.delimiter"):
            load_dataset(DataConfig(dataset=name, options={"path": str(path), "delimiter": delimiter}))


def test_a_bad_delimiter_through_the_cli(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(CSV)
    refused(tmp_path, "data.dataset=csv", f"data.options.path='{path}'", "data.options.delimiter=''",
            match=r"data\.options\.delimiter must be one character")


@pytest.mark.parametrize("dataset,option,value", [
    ("csv", "test_fraction", 0), ("csv", "test_fraction", 1.5), ("csv", "test_fraction", "a fifth"),
    ("csv", "test_seed", "x"), ("csv", "standardize", "no"), ("csv", "header", "yes"), ("csv", "folds", "x"),
    ("csv", "max_categories", 0), ("csv", "drop", {"a": 1}),
    ("text-csv", "lowercase", "yes"), ("text-csv", "header", 1), ("text-csv", "test_fraction", 1),
    ("text-csv", "max_length", True), ("text-csv", "min_count", 0), ("text-csv", "path", 5),
])
def test_bad_option_values_name_the_option(tmp_path, dataset, option, value):
    path = tmp_path / "rows.csv"
    path.write_text("text,label\n" + "".join(f"name{i},{'ab'[i % 2]}\n" for i in range(40)) if dataset == "text-csv"
                    else CSV)
    opts = {"path": str(path), option: value}
    with pytest.raises(UserError, match=rf"data\.options\.{option}"):
        load_dataset(DataConfig(dataset=dataset, options=opts))


def _folder(root, classes=("cat", "dog"), value=None, n=4):
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a = np.full((12, 12), value, np.uint8) if value is not None else rng.integers(0, 256, (12, 12), np.uint8)
            Image.fromarray(a).save(root / c / f"{i}.png")
    return root


@pytest.mark.parametrize("option,value", [("size", 0), ("size", -3), ("size", "big"), ("size", 100_000),
                                          ("channels", 2), ("channels", True), ("test_fraction", 0),
                                          ("test_fraction", 1), ("test_fraction", "x"), ("path", 3)])
def test_bad_image_folder_options_name_the_option(tmp_path, option, value):
    root = _folder(tmp_path / "imgs")
    with pytest.raises(UserError, match=rf"data\.options\.{option}"):
        load_dataset(DataConfig(dataset="image-folder", options={"path": str(root), option: value}))


def test_a_single_class_image_folder_is_refused(tmp_path):
    root = _folder(tmp_path / "imgs", classes=("cat",), n=10)
    refused(tmp_path, "data.dataset=image-folder", f"data.options.path='{root}'",
            match=r"single class subfolder \(cat\); a classifier needs at least 2 classes")


def test_an_image_folder_of_constant_images_is_refused(tmp_path):
    root = _folder(tmp_path / "imgs", value=0, n=20)
    with pytest.raises(UserError, match=r"same value everywhere \(standard deviation 0"):
        load_dataset(DataConfig(dataset="image-folder", options={"path": str(root)}), 28)


# -- divergence: one line with the likely cause ------------------------------------------------------------
def test_a_huge_weight_decay_is_named(tmp_path):
    """...and the line says the folder holds nothing worth keeping: the same command with a sane value
    trains there."""
    sets = ["data.dataset=digits", "model.name=mlp", "train.epochs=1", "data.limit_train=200"]
    refused(tmp_path, *sets, "optim.weight_decay=1e30",
            match=r"loss became nan at epoch 1 step \d+: optim\.weight_decay = 1e\+30 is huge .*; lower it\. "
                  rf"Nothing was saved: the same command with the new settings starts again in {tmp_path / 'run'}$",
            started=True)
    again = dlp("train", *[a for s in sets + ["optim.weight_decay=1e-4"] for a in ("--set", s)], "--set",
                "log.progress=false", "--out", tmp_path / "run")
    assert again.returncode == 0, again.stderr


def test_unscaled_huge_inputs_are_named(tmp_path):
    path = tmp_path / "big.csv"
    rng = np.random.default_rng(0)
    x = rng.normal(size=80) * 1e18
    path.write_text("a,y\n" + "".join(f"{v},{v * 2}\n" for v in x))
    refused(tmp_path, "data.dataset=csv", f"data.options.path='{path}'", "data.options.standardize=false",
            "data.options.task='regression'", "model.name=linear", "train.epochs=2",
            match=r"loss became (nan|inf).*inputs reach \|x\| = .*\(feature 'a'\).*standardize", started=True)


def test_a_too_large_learning_rate_is_named(tmp_path):
    refused(tmp_path, "data.dataset=course-linear", "model.name=linear", "optim.lr=10", "train.epochs=200",
            match=r"loss became (nan|inf).*the steps are too large: lower optim\.lr \(now 10\)\. .*run keeps the "
                  r"epochs trained before; to train again, use another --out$", started=True)


def test_input_trouble_names_non_finite_batches():
    x = torch.zeros(4, 3)
    assert input_trouble(x, x) is None
    assert "NaN or infinite" in input_trouble(torch.tensor([[float("nan"), 1.0]]), x)
