"""A folder of your own images as a data set: `<path>/<class name>/<image file>`, one subfolder per class.

    dlp train --set data.dataset=image-folder --set data.options.path=photos --set model.name=resnet18

Options (`data.options.*`):
- `path` (required): the root folder; every subfolder holding at least one image (at any depth below it)
  is a class, named after the folder (sorted by name, so class ids do not depend on the file system).
- `test_path`: a second folder of the same layout used as the test split; without it a fixed stratified
  share of `path` (`test_fraction`, default 0.2, seed 0) is held out, as for the digits.
- `channels`: 1 (gray, the default) or 3 (RGB); colour files become gray and gray files colour as asked.
- `size`: the side images are resized to when the model does not declare one (default 28, 1 to 1024);
  with a model that declares an input size (`dlp models`), that size wins.
- `polarity`: "as-is" (default) or "light-on-dark" (light objects on a dark background, like MNIST and
  Fashion-MNIST; `dlp predict` then inverts dark-on-light inputs).
- `test_fraction`: the held-out share when there is no `test_path`.

Files are PNG, JPEG, BMP, GIF, WebP or TIFF by suffix; others are ignored. Every file is resized to a
square (aspect ratio not kept) with Lanczos filtering and scaled to [0, 1] by `images.to_unit` (any PIL
mode: 16-bit and float images by their value range), the conversion prediction uses too. A folder with a
single class is refused (a classifier needs at least 2). A file that cannot be decoded is skipped and
reported on stderr (the first few by name, then the count) and counted in `meta["skipped_files"]`; it
never stops the run. A missing or empty folder is a UserError naming the path and the expected layout.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..config import DataConfig
from ..errors import UserError
from .features import OPTIONS as FEATURE_OPTIONS
from .images import to_unit
from .registry import DataBundle, check_options, fixed_test_split, fraction_option, image_bundle, \
    int_option, path_option, register_dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
LAYOUT = "expected one subfolder per class holding its images, e.g. {root}/cat/001.png, {root}/dog/001.png"
OPTIONS = ("path", "test_path", "channels", "size", "polarity", "test_fraction")
MAX_PIXELS = 40_000_000   # refuse decompression bombs before decoding
MAX_SIDE = 1024           # data.options.size: larger squares of a whole folder would not fit in memory
NAMED = 5                 # unreadable files named in the warning; the rest are counted


def scan(root: Path, classes: list[str] | None = None) -> tuple[list[str], list[tuple[Path, int]]]:
    """(class names, [(file, class id)]) of a folder of class subfolders.

    With `classes` given (the training classes), a test folder must use only those names.
    """
    if not root.exists():
        raise UserError(f"image folder {root} does not exist; {LAYOUT.format(root=root)}")
    if not root.is_dir():
        raise UserError(f"{root} is a file, not a folder; {LAYOUT.format(root=root)}")
    found: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                       and not f.name.startswith("."))
        if files:
            found[sub.name] = files
    if not found:
        raise UserError(f"image folder {root} has no class subfolders with image files "
                        f"({', '.join(IMAGE_SUFFIXES)}); {LAYOUT.format(root=root)}")
    if classes is None:
        classes = list(found)
    else:
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise UserError(f"test folder {root} has classes the training folder lacks: {', '.join(unknown)} "
                            f"(training classes: {', '.join(classes)})")
    index = {c: i for i, c in enumerate(classes)}
    return classes, [(f, index[c]) for c, files in found.items() for f in files]


def read_images(files: list[tuple[Path, int]], size: int, channels: int):
    """Decode and resize every file: (float32 array (N, C, S, S) in [0, 1], labels (N,), skipped list).

    Pixels come from `images.to_unit`, the conversion `dlp predict` and `dlp serve` use too: any PIL
    mode, 16-bit and float images scaled by their value range."""
    from PIL import Image, UnidentifiedImageError
    images, labels, skipped = [], [], []
    for path, label in files:
        try:
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(f"{im.width}×{im.height} is too large")
                im.load()
                a = to_unit(im, channels, size)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            skipped.append((path, str(e).splitlines()[0] if str(e) else type(e).__name__))
            continue
        images.append(a)                                                  # (C, S, S)
        labels.append(label)
    x = np.stack(images) if images else np.zeros((0, channels, size, size), dtype=np.float32)
    return x, np.asarray(labels, dtype=np.int64), skipped


def report_skipped(skipped: list[tuple[Path, str]], root: Path) -> None:
    """One warning on stderr: the first few unreadable files by name, then how many in all."""
    if not skipped:
        return
    named = "; ".join(f"{p} ({why})" for p, why in skipped[:NAMED])
    more = f"; and {len(skipped) - NAMED} more" if len(skipped) > NAMED else ""
    print(f"warning: skipped {len(skipped)} unreadable image file(s) in {root}: {named}{more}", file=sys.stderr,
          flush=True)


def _options(cfg: DataConfig) -> dict:
    opts = dict(cfg.options)
    check_options(opts, OPTIONS + FEATURE_OPTIONS, "image-folder")
    if not opts.get("path"):
        raise UserError("data set 'image-folder' needs data.options.path, the folder with one subfolder per "
                        "class, e.g. --set data.options.path=photos")
    channels = opts.get("channels", 1)
    if isinstance(channels, bool) or channels not in (1, 3):
        raise UserError(f"data.options.channels must be 1 (gray) or 3 (RGB), got {channels!r}")
    polarity = opts.get("polarity", "as-is")
    if polarity not in ("as-is", "light-on-dark"):
        raise UserError(f"data.options.polarity must be 'as-is' or 'light-on-dark', got {polarity!r}")
    return {"path": path_option(opts, "path"), "channels": int(channels),
            "test_path": path_option(opts, "test_path") if opts.get("test_path") else None,
            "size": int_option(opts, "size", 28, 1, MAX_SIDE, "the side in pixels images are resized to"),
            "polarity": polarity, "test_fraction": fraction_option(opts, "test_fraction", 0.2)}


def _split_test(x: np.ndarray, y: np.ndarray, fraction: float):
    """A fixed (seed 0) stratified hold-out, so every run on the folder reports on the same images."""
    if len(y) < 2:
        raise UserError(f"an image folder needs at least 2 readable images to hold out a test split, got {len(y)}")
    present = np.bincount(y)[np.bincount(y) > 0]
    n_test = int(np.ceil(len(y) * fraction))
    # Stratify when every class can give the test split an image and keep one (scikit-learn's condition).
    stratify = bool(present.min() >= 2 and len(present) <= min(n_test, len(y) - n_test))
    tr, te = fixed_test_split(y, fraction, stratify=stratify)
    return (x[tr], y[tr]), (x[te], y[te])


@register_dataset("image-folder", "classification", "image",
                  "your own images: data.options.path = a folder with one subfolder per class (PNG, JPEG, …); "
                  "gray or RGB (data.options.channels), resized to the model's input size",
                  "data.options.path (and optionally data.options.test_path)")
def load_image_folder(cfg: DataConfig, size: int | None = None) -> DataBundle:
    opts = _options(cfg)
    size = size or opts["size"]
    root = opts["path"]
    classes, files = scan(root)
    if len(classes) < 2:
        raise UserError(f"image folder {root} has a single class subfolder ({classes[0]}); a classifier needs at "
                        f"least 2 classes: add a subfolder of images for each other class, e.g. {root}/other/001.png")
    x, y, skipped = read_images(files, size, opts["channels"])
    if not len(y):   # the refusal alone: one line
        raise UserError(f"none of the {len(files)} image files in {root} could be read (e.g. {skipped[0][0]}: "
                        f"{skipped[0][1]}); {LAYOUT.format(root=root)}")
    report_skipped(skipped, root)
    if len(np.unique(y)) < 2:
        raise UserError(f"only the images of class '{classes[int(y[0])]}' in {root} could be read; a classifier "
                        "needs readable images of at least 2 classes")
    if opts["test_path"]:
        troot = opts["test_path"]
        _, tfiles = scan(troot, classes)
        xte, yte, tskipped = read_images(tfiles, size, opts["channels"])
        report_skipped(tskipped, troot)
        if not len(yte):
            raise UserError(f"none of the {len(tfiles)} image files in the test folder {troot} could be read")
        train, test = (x, y), (xte, yte)
        skipped = skipped + tskipped
    else:
        train, test = _split_test(x, y, opts["test_fraction"])
    try:
        bundle = image_bundle("image-folder", train, test, cfg, classes, scale=1.0, polarity=opts["polarity"])
    except ValueError as e:  # scikit-learn: a class too small for a stratified validation split
        raise UserError(f"image folder {root}: cannot carve a validation split ({e}); add images to the "
                        "smallest classes or set data.val_fraction=0") from None
    bundle.meta.update({"root": str(root), "skipped_files": len(skipped)})
    return bundle
