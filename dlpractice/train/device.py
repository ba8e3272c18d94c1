"""The device is chosen once, here: CUDA, then Apple's MPS, then the CPU."""
from __future__ import annotations

import os

import torch

from ..errors import UserError


def choose_device(name: str = "auto", deterministic: bool = True) -> torch.device:
    """The device named by `train.device`; on CUDA with `deterministic`, kernels that give the same
    result every time, so a run repeats and a resumed run matches a straight one (as on the CPU)."""
    available = {"cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()), "cpu": True}
    if name == "auto":
        name = next(n for n, ok in available.items() if ok)      # in that order: CUDA, MPS, then the CPU
    if not available.get(name, False):
        raise UserError(f"device '{name}' is not available on this machine; use --device cpu or auto")
    if name == "cuda" and deterministic:
        _deterministic_cuda()
    return torch.device(name)


def _deterministic_cuda() -> None:
    # cuBLAS needs a fixed workspace before its first handle; cuDNN must not pick kernels by timing
    # (benchmark) nor use its non-deterministic ones (e.g. atomics in convolution backward).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)   # an op with no such kernel warns, not fails
