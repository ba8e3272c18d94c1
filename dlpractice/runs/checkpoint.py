"""Checkpoints: atomic writes, loading that never unpickles code, RNG state capture and restore."""
from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError

FORMAT = 1


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a crash never leaves a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT, **payload}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def load_checkpoint(path: Path) -> dict:
    """Load with `weights_only=True`: tensors and plain containers only, so a file crafted to run
    code on unpickling is refused without running it. Any damage is a UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UserError(f"checkpoint {path} was refused: it holds objects other than tensors and plain "
                        f"data, which could run code when loaded ({str(e).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise UserError(f"checkpoint {path} is truncated or corrupt ({str(e).splitlines()[0]}); "
                        "use the other checkpoint in the run folder or train again") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "model" not in ckpt:
        raise UserError(f"checkpoint {path} is not a dlpractice checkpoint (format {FORMAT})")
    return ckpt


def rng_state() -> dict:
    """Python, numpy and torch RNG states as tensors and plain values (safe for weights_only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    py = random.getstate()
    return {"torch": torch.get_rng_state(), "numpy": torch.from_numpy(keys.astype(np.int64)),
            "numpy_pos": int(pos), "numpy_gauss": [int(has_gauss), float(cached)],
            "python": [py[0], list(py[1]), py[2]],
            # the GPU's own generators draw noise and dropout made on the device: without them a resumed
            # CUDA run would differ from a straight one (seen on an H100, docs/BENCHMARKS.md)
            **({"cuda": torch.cuda.get_rng_state_all()} if torch.cuda.is_initialized() else {})}


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state(("MT19937", s["numpy"].numpy().astype(np.uint32), s["numpy_pos"],
                         s["numpy_gauss"][0], s["numpy_gauss"][1]))
    random.setstate((s["python"][0], tuple(s["python"][1]), s["python"][2]))
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
