"""MNIST (LeCun et al. 1998): found in the data folders, or downloaded once into the user cache."""
from __future__ import annotations

from pathlib import Path

from ..config import DataConfig
from ..errors import UserError
from .download import ensure_files, mirrors_from_env
from .idx import read_idx_pair
from .paths import cache_dir, find_data, search_dirs
from .features import OPTIONS as FEATURE_OPTIONS
from .registry import check_options, image_bundle, register_dataset
from .vision import IDX_FILES

# torchvision's mirrors, in its order; DLP_MNIST_MIRRORS (comma-separated base URLs) replaces them.
MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
MIRRORS_ENV = "DLP_MNIST_MIRRORS"
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
assert list(SHA256) == IDX_FILES


def mirrors() -> list[str]:
    return mirrors_from_env(MIRRORS_ENV, MIRRORS)


def locate(subdir: str, name: str) -> Path | None:
    """The first `<dir>/<subdir>/<name>` over the data folders (--data-dir, $DLP_DATA_DIR, cache)."""
    for d in search_dirs():
        p = d / subdir / name
        if p.is_file():
            return p
    return None


def mnist_files(checksums: dict[str, str] | None = None) -> dict[str, Path]:
    """Path of each MNIST file (name → path).

    A data folder holding all four wins (one consistent set); otherwise each file is taken from the
    first folder that has it, and only the missing ones are downloaded into `<cache>/mnist` (the
    other data folders are read-only). `checksums` (name → sha256) replaces the known values, for
    tests that serve stand-in files.
    """
    checksums = dict(SHA256 if checksums is None else checksums)
    try:
        folder = find_data("mnist", list(checksums))
        return {name: folder / name for name in checksums}
    except UserError:
        pass
    found = {name: locate("mnist", name) for name in checksums}
    missing = {name: sha for name, sha in checksums.items() if found[name] is None}
    target = cache_dir() / "mnist"
    looked = ", ".join(str(d / "mnist") for d in search_dirs())
    hint = (f"Looked in: {looked}. Put the *-ubyte.gz files from one of {', '.join(MIRRORS)} into "
            f"{target} (or <data-dir>/mnist), or set {MIRRORS_ENV} to other mirrors (comma-separated base URLs).")
    found.update(ensure_files(target, missing, mirrors(), hint=hint))
    return found  # type: ignore[return-value]


@register_dataset("mnist", "classification", "image",
                  "LeCun's MNIST: 60,000 + 10,000 28×28 gray handwritten digits, 10 classes",
                  "IDX files in <data-dir>/mnist, else downloaded (sha256-checked) into the user cache")
def load_mnist(cfg: DataConfig, size: int | None = None):
    check_options(dict(cfg.options), FEATURE_OPTIONS, "mnist")
    f = mnist_files()
    train = read_idx_pair(f["train-images-idx3-ubyte.gz"], f["train-labels-idx1-ubyte.gz"], 10)
    test = read_idx_pair(f["t10k-images-idx3-ubyte.gz"], f["t10k-labels-idx1-ubyte.gz"], 10)
    return image_bundle("mnist", train, test, cfg, [str(i) for i in range(10)], scale=255.0,
                        polarity="light-on-dark", size=size)
