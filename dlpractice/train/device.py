"""The device is chosen once, here: CUDA, then Apple's MPS, then the CPU."""
from __future__ import annotations

import torch

from ..errors import UserError


def choose_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}
    if not available.get(name, False):
        raise UserError(f"device '{name}' is not available on this machine; use --device cpu or auto")
    return torch.device(name)
