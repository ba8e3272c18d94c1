"""Does drawing a GAN's noise nearer its mean raise the Inception-style score? (docs/RESULTS.md, issue 10)

With BatchNorm in the generator, truncated noise only matters if the statistics are fixed: they are
recomputed first for the noise distribution N(0, 1) ("standing statistics", Brock et al. 2019), then
10,000 images are scored for truncation thresholds and noise scales.

    python bench/gan_truncation.py RUN_FOLDER
"""
from __future__ import annotations

import sys

import torch

from dlpractice.runs.folder import Run

from _gan_bench import fashion_reference, report


def truncated(z: torch.Tensor, cut: float, gen: torch.Generator) -> torch.Tensor:
    """Redraw every entry beyond ±cut until none is left."""
    z = z.clone()
    while (out := z.abs() > cut).any():
        z[out] = torch.randn(int(out.sum()), generator=gen)
    return z


@torch.no_grad()
def main(folder: str) -> None:
    torch.set_num_threads(1)
    g = Run(folder).model()
    ref = fashion_reference()
    gen = torch.Generator().manual_seed(123)
    for m in g.modules():                      # standing statistics: a cumulative mean over 40 batches
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    g.train()
    for _ in range(40):
        g(torch.randn(500, g.latent_dim, generator=gen))
    g.eval()
    z = torch.randn(10000, g.latent_dim, generator=gen)
    cases = [("full noise", z)] + [(f"cut at ±{c}", truncated(z, c, gen)) for c in (1.5, 1.0, 0.7, 0.5)] \
        + [(f"scaled by {s}", z * s) for s in (0.7, 0.5)]
    for name, zz in cases:
        report(f"{name:>12}", ref, torch.cat([g(c) for c in zz.split(1000)]))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
