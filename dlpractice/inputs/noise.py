"""The noise input kind of generators (a GAN run's `dcgan_g`): latent vectors, drawn rather than given —
`dlp sample RUN -n 64` draws them from a seed. Nothing to read from a user, and not served over HTTP."""
from __future__ import annotations

import torch

from ..errors import UserError
from . import InputKind, register_input


def refuse(meta: dict, inputs: list[str]) -> tuple[torch.Tensor, list[str]]:
    raise UserError("a GAN run generates images rather than predicting; use `dlp sample RUN -n 64`")


def example(dims: dict, n: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, latent_dim) standard normal noise (64 dimensions when `dims` has no latent_dim)."""
    return torch.randn(n, int(dims.get("latent_dim", 64)), generator=generator)


register_input(InputKind("noise", refuse, example))
