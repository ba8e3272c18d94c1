"""Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzipped), with numpy only."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import UserError

# IDX type codes → numpy dtypes (big-endian); http://yann.lecun.com/exdb/mnist/
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (`.gz` or plain) into an array of the declared shape and dtype.

    A truncated, corrupt or non-IDX file raises UserError naming the path.
    """
    p = Path(path)
    try:
        raw = gzip.open(p, "rb").read() if p.suffix == ".gz" else p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"IDX file not found: {p}") from None
    except (OSError, EOFError) as e:
        raise UserError(f"IDX file {p} is corrupt ({e}); delete it and fetch it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise UserError(f"{p} is not an IDX file (bad magic number); fetch it again")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_DTYPES[raw[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != need:
        raise UserError(
            f"IDX file {p} holds {len(raw) - header} data bytes, its header promises {need}: "
            "the file is truncated or corrupt; delete it and fetch it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
