"""Hypothesis over damaged data files: a small valid file of each kind a user points dlpractice at — CSV
(plain and gzip) for `csv` and `text-csv`, MNIST-style IDX files, a PNG in an image folder — with random
bytes flipped, cut off, or inserted. Loading it either gives a data set or raises one UserError: a single
line that names the file (never a traceback, a zlib, PIL or numpy error of its own)."""
from __future__ import annotations

import gzip
import io
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlpractice.config import DataConfig
from dlpractice.data import load_dataset
from dlpractice.errors import UserError

ROWS = "a,b,c,y\n" + "".join(f"{i % 7},{(i * 3) % 5},{i / 10:.1f},{i % 3}\n" for i in range(90))
TEXTS = "text,label\n" + "".join(f"{w}{i},{'ab'[i % 2]}\n" for i, w in enumerate(["Xu", "Müller", "Rossi"] * 30))


@st.composite
def damage(draw):
    """A list of edits: ("flip", at, byte), ("cut", at) or ("insert", at, bytes); positions in [0, 1)."""
    edit = st.one_of(
        st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
        st.tuples(st.just("cut"), st.floats(0, 1, exclude_max=True)),
        st.tuples(st.just("insert"), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=12)),
    )
    return draw(st.lists(edit, min_size=1, max_size=4))


def damaged(raw: bytes, edits) -> bytes:
    b = bytearray(raw)
    for e in edits:
        at = int(e[1] * len(b)) if b else 0
        if e[0] == "flip" and b:
            b[at] ^= e[2]
        elif e[0] == "cut":
            del b[at:]
        elif e[0] == "insert":
            b[at:at] = e[2]
    return bytes(b)


def loads_or_one_line(cfg: DataConfig, name: str, size=None) -> None:
    try:
        bundle = load_dataset(cfg, size)
    except UserError as e:
        msg = str(e)
        assert "\n" not in msg.strip() or msg.startswith("cannot find"), msg
        assert name in msg or "data.options" in msg or "data.val_fraction" in msg, msg   # the file, or what to set
        return
    assert len(bundle.splits["train"]) > 0


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def originals():
    rng = np.random.default_rng(0)
    from PIL import Image
    png = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(png, "PNG")
    return {"csv": ROWS.encode(), "text": TEXTS.encode(), "png": png.getvalue(),
            "images": _idx(rng.integers(0, 256, (100, 28, 28))), "labels": _idx(np.arange(100) % 10)}


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(edits=damage(), gz=st.booleans())
def test_a_damaged_csv_loads_or_is_one_line(edits, gz, originals, tmp_path_factory):
    raw = originals["csv"]
    path = tmp_path_factory.mktemp("csv") / ("rows.csv.gz" if gz else "rows.csv")
    # damage the compressed bytes (a broken stream) or the text inside (broken rows), as it falls
    path.write_bytes(damaged(gzip.compress(raw), edits) if gz and edits[0][0] == "flip" else
                     gzip.compress(damaged(raw, edits)) if gz else damaged(raw, edits))
    loads_or_one_line(DataConfig(dataset="csv", options={"path": str(path), "target": "y"}), path.name)


@FUZZ
@given(edits=damage())
def test_a_damaged_text_csv_loads_or_is_one_line(edits, originals, tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "texts.csv"
    path.write_bytes(damaged(originals["text"], edits))
    loads_or_one_line(DataConfig(dataset="text-csv", options={"path": str(path), "text_column": "text",
                                                                "label_column": "label"}), path.name)


@FUZZ
@given(edits=damage(), which=st.sampled_from(["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]),
       inside=st.booleans())
def test_damaged_idx_files_load_or_are_one_line(edits, which, inside, originals, tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("idx")
    folder = root / "mnist"
    folder.mkdir()
    for stem, kind in [("train-images-idx3-ubyte", "images"), ("train-labels-idx1-ubyte", "labels"),
                       ("t10k-images-idx3-ubyte", "images"), ("t10k-labels-idx1-ubyte", "labels")]:
        raw = originals[kind]
        name = stem + ".gz"
        if name == which:   # damage the IDX bytes, or the gzip stream around them
            data = gzip.compress(damaged(raw, edits)) if inside else damaged(gzip.compress(raw), edits)
        else:
            data = gzip.compress(raw)
        (folder / name).write_bytes(data)
    monkeypatch.setenv("DLP_DATA_DIR", str(root))
    monkeypatch.setenv("DLP_MNIST_MIRRORS", "http://127.0.0.1:9/")   # never the network
    loads_or_one_line(DataConfig(dataset="mnist", val_fraction=0.2), which)


@FUZZ
@given(edits=damage())
def test_a_damaged_image_in_a_folder_loads_or_is_one_line(edits, originals, tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    for cls in ("cat", "dog"):
        (root / cls).mkdir()
        for i in range(6):
            (root / cls / f"{i}.png").write_bytes(originals["png"])
    (root / "dog" / "5.png").write_bytes(damaged(originals["png"], edits))
    loads_or_one_line(DataConfig(dataset="image-folder", val_fraction=0.2,
                                 options={"path": str(root), "size": 12}), "5.png")


def test_the_originals_load(originals, tmp_path, monkeypatch):
    """The undamaged files are valid: the fuzz above damages working inputs, not broken ones."""
    (tmp_path / "rows.csv").write_bytes(originals["csv"])
    assert len(load_dataset(DataConfig(dataset="csv", options={"path": str(tmp_path / "rows.csv"),
                                                                "target": "y"})).splits["test"]) > 0
    os.makedirs(tmp_path / "d" / "mnist")
    for stem, kind in [("train-images-idx3-ubyte", "images"), ("train-labels-idx1-ubyte", "labels"),
                       ("t10k-images-idx3-ubyte", "images"), ("t10k-labels-idx1-ubyte", "labels")]:
        (tmp_path / "d" / "mnist" / f"{stem}.gz").write_bytes(gzip.compress(originals[kind]))
    monkeypatch.setenv("DLP_DATA_DIR", str(tmp_path / "d"))
    assert len(load_dataset(DataConfig(dataset="mnist", val_fraction=0.2)).splits["train"]) == 80
