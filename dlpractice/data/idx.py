"""Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzipped), with numpy only."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError

# IDX type codes → numpy dtypes (big-endian); http://yann.lecun.com/exdb/mnist/
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path, ndim: int | None = None, what: str = "") -> np.ndarray:
    """Read an IDX file (`.gz` or plain) into an array of the declared shape and dtype.

    A truncated, corrupt or non-IDX file, or one of another number of dimensions than `ndim` (e.g. a
    labels file where images belong), raises UserError naming the path.
    """
    p = Path(path)
    try:
        if p.suffix == ".gz":
            with gzip.open(p, "rb") as f:
                raw = f.read()
        else:
            raw = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"IDX file not found: {p}") from None
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"IDX file {p} is corrupt or truncated ({e}); delete it and fetch it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        magic = f"0x{raw[:4].hex().upper()}" if len(raw) >= 4 else f"{len(raw)} bytes"
        raise UserError(f"{p} is not an IDX file (bad magic number {magic}; IDX files start with 0x0000 then "
                        "a type code and the number of dimensions, e.g. 0x00000803 for images); fetch it again")
    if ndim is not None and raw[3] != ndim:
        raise UserError(f"IDX file {p} holds a {raw[3]}-D array (magic 0x{raw[:4].hex().upper()}), but {what or 'it'} "
                        f"must be {ndim}-D (magic 0x000008{ndim:02X}); the files are swapped, misnamed or from "
                        "another data set: fetch them again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"IDX file {p} is truncated inside its header; delete it and fetch it again")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_DTYPES[raw[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != need:
        raise UserError(
            f"IDX file {p} holds {len(raw) - header} data bytes, its header promises {need}: "
            "the file is truncated or corrupt; delete it and fetch it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx_pair(images: Path, labels: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W) uint8, labels (N,)) of an MNIST-style pair of IDX files, checked against each other:
    the same count, byte pixels, labels in 0..num_classes-1."""
    x = read_idx(images, 3, "an images file")
    y = read_idx(labels, 1, "a labels file")
    if x.dtype != np.uint8:
        raise UserError(f"IDX file {images} holds {x.dtype} pixels; MNIST-style images are unsigned bytes "
                        "(type code 0x08): fetch the file again")
    if y.dtype.kind not in "iu":
        raise UserError(f"IDX file {labels} holds {y.dtype} labels; expected whole class numbers: fetch it again")
    if len(x) != len(y):
        raise UserError(f"{labels.name} holds {len(y):,} labels for the {len(x):,} images of {images.name}: the "
                        f"files come from different sources or one is cut short; delete the wrong one in "
                        f"{labels.parent} and fetch it again")
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if len(bad):
        raise UserError(f"{labels} holds label {int(y[bad[0]])} (label #{int(bad[0]) + 1:,}, {len(bad):,} such), but "
                        f"the data set has {num_classes} classes (0 to {num_classes - 1}); the file is damaged or "
                        "from another data set: fetch it again")
    return x, y.astype(np.int64)
