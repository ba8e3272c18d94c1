"""Checkpoints: atomic writes with a digest of their contents, loading that never unpickles code and
checks that digest, the keys and the weights' shapes and values, RNG state capture and restore.

A checkpoint file is one header line, `dlpractice-checkpoint sha256=<64 hex>\n`, then the bytes of
`torch.save` whose sha256 the header holds: a changed byte or a cut-off file is told apart from a good one
before anything is unpickled. A file without the header (written before the digest existed) still loads,
weights_only as always, with a warning on stderr that it could not be checked."""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
import sys
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .folder import crash_point, disk_error

FORMAT = 1
MAGIC = b"dlpractice-checkpoint sha256="
HEADER = len(MAGIC) + 64 + 1
# What prediction needs (`Run.checkpoint`), and what resuming needs besides.
PREDICT_KEYS = ("model", "model_name", "model_args", "config", "data_meta")
RESUME_KEYS = PREDICT_KEYS + ("optimizer", "scheduler", "epoch", "batch", "step", "rng", "augment_rng",
                              "train_sums", "best_value", "best_epoch", "since_best")


def _after(path: Path) -> str:
    """What to do about a bad checkpoint at `path`: the run's other checkpoint, or training again."""
    path = Path(path)
    if path.parent.name != "checkpoints":
        return "write it again (train the run again)"
    run = path.parent.parent
    if path.name == "last.pt" and (path.parent / "best.pt").is_file():
        return f"delete it and `dlp train --resume {run}` continues from best.pt, or train the run again"
    if path.name == "best.pt" and (path.parent / "last.pt").is_file():
        return "use `--checkpoint last` (the latest epoch), or train the run again"
    return "train the run again"


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write header and body to a temp file in the same folder, fsync, then rename: a crash, a full disk
    or a read-only folder never leaves a half file, and the checkpoint already there stays as it was."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buf)
    body = buf.getbuffer()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n")
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        crash_point("checkpoint-write")
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
        crash_point("checkpoint-saved")
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        run = path.parent.parent
        again = (f"continue with `dlp train --resume {run}`" if (path.parent / "last.pt").is_file()
                 else "run the same command again")
        kept = "the checkpoints already there are untouched" if path.parent.is_dir() else "nothing was saved"
        raise disk_error(e, path, f"{kept}; free space or fix the folder, then {again}") from None


def load_checkpoint(path: Path, need: tuple[str, ...] = ("model",)) -> dict:
    """Load with `weights_only=True`: tensors and plain containers only, so a file crafted to run
    code on unpickling is refused without running it. The digest is checked first and the keys in `need`
    after; any damage is one UserError naming the file and what to do."""
    path = Path(path)
    if path.is_symlink():
        raise UserError(f"checkpoint {path} is a symbolic link, which is not followed; put the file itself "
                        f"there, or {_after(path)}")
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read checkpoint {path}: {e.strerror}") from None
    if not data:
        raise UserError(f"checkpoint {path} is empty (0 bytes): its write never finished; {_after(path)}")
    undigested = False
    if data.startswith(MAGIC):
        digest, body = data[len(MAGIC):HEADER - 1], memoryview(data)[HEADER:]
        if len(data) < HEADER or data[HEADER - 1:HEADER] != b"\n" or \
                hashlib.sha256(body).hexdigest().encode() != digest:
            raise UserError(f"checkpoint {path} is damaged: its contents do not match the digest written with "
                            f"it (a changed byte or a cut-off file); {_after(path)}")
    elif data.startswith(b"PK"):
        body, undigested = memoryview(data), True
    else:
        raise UserError(f"checkpoint {path} is not a dlpractice checkpoint (neither a digest header nor a "
                        f"torch.save file); {_after(path)}")
    try:
        ckpt = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UserError(f"checkpoint {path} was refused: it holds objects other than tensors and plain "
                        f"data, which could run code when loaded ({_first_line(e)})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise UserError(f"checkpoint {path} is truncated or corrupt ({_first_line(e)}); "
                        f"{_after(path)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "model" not in ckpt:
        raise UserError(f"checkpoint {path} is not a dlpractice checkpoint (format {FORMAT})")
    missing = [k for k in need if k not in ckpt]
    if missing:
        raise UserError(f"checkpoint {path} lacks {', '.join(missing)}: it was not written by a dlpractice "
                        f"training run; {_after(path)}")
    if undigested:   # said only of a file that loads: a refusal stays the one line
        print(f"warning: checkpoint {path} has no digest (written by an older dlpractice), so damage to it "
              "cannot be detected; it is loaded weights_only as before", file=sys.stderr, flush=True)
    return ckpt


def _first_line(e: Exception) -> str:
    """The first line of an exception's message, or its type when it has none."""
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def load_weights(module: torch.nn.Module, state: dict, path: Path, finite: bool = True) -> None:
    """`module.load_state_dict(state)`, a mismatch (other shapes, other layers) or weights that are not
    finite numbers (`finite`) said as one UserError naming the checkpoint `path`."""
    if finite:
        bad = [k for k, v in state.items()
               if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
        if bad:
            raise UserError(f"checkpoint {path} holds weights that are not finite numbers (NaN or inf in "
                            f"{bad[0]}{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}): the training "
                            "diverged before it was saved; train again with a lower optim.lr")
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else "")
        raise UserError(f"checkpoint {path} does not fit its model ({detail.rstrip('.')}): it was written for "
                        f"other weights or by another version of the model; {_after(path)}") from None


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
