"""Image data sets: scikit-learn's 8×8 digits and Fashion-MNIST (IDX files)."""
from __future__ import annotations

from pathlib import Path

from ..config import DataConfig
from .idx import read_idx_pair
from .paths import find_data
from .features import OPTIONS as FEATURE_OPTIONS
from .registry import check_options, fixed_test_split, image_bundle, register_dataset

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
IDX_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist


@register_dataset("digits", "classification", "image",
                  "scikit-learn's bundled 8×8 handwritten digits (1,797), fixed stratified 80/20 test split",
                  "sklearn.datasets.load_digits (embedded, no download)")
def load_digits(cfg: DataConfig, size: int | None = None):
    from sklearn.datasets import load_digits as sk_digits

    check_options(dict(cfg.options), FEATURE_OPTIONS, "digits")
    d = sk_digits()
    # A fixed test split (seed 0, stratified) so every run reports on the same 360 images.
    tr, te = fixed_test_split(d.target, 0.2, sort=False)
    return image_bundle("digits", (d.images[tr], d.target[tr]), (d.images[te], d.target[te]), cfg,
                        [str(i) for i in range(10)],
                        scale=16.0, polarity="light-on-dark", size=size)


def load_idx_pair(folder: Path, prefix: str):
    return read_idx_pair(folder / f"{prefix}-images-idx3-ubyte.gz", folder / f"{prefix}-labels-idx1-ubyte.gz", 10)


@register_dataset("fashion-mnist", "classification", "image",
                  "Zalando's Fashion-MNIST: 60,000 + 10,000 28×28 gray clothing images, 10 classes",
                  "Debian package dataset-fashion-mnist, or IDX files in <data-dir>/fashion-mnist")
def load_fashion_mnist(cfg: DataConfig, size: int | None = None):
    check_options(dict(cfg.options), FEATURE_OPTIONS, "fashion-mnist")
    folder = find_data("fashion-mnist", IDX_FILES, extra=[DEBIAN_FASHION], how_to_get=(
        "Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download the four "
        "*-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist into <data-dir>/fashion-mnist."))
    return image_bundle("fashion-mnist", load_idx_pair(folder, "train"), load_idx_pair(folder, "t10k"), cfg,
                        FASHION_CLASSES, scale=255.0, polarity="light-on-dark", size=size)
