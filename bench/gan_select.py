"""Does keeping the samples the discriminator rates most real raise the Inception-style score?
(discriminator-driven selection, after Azadi et al. 2019; docs/RESULTS.md, issue 10)

Draws 40,000 images from a finished GAN run's chosen generator, ranks them by its discriminator's logit,
and scores 10,000 drawn at random from the top 100%, 75%, 50% and 25%, beside the real test set.

    python bench/gan_select.py RUN_FOLDER
"""
from __future__ import annotations

import sys

import torch

from dlpractice.models import build_model
from dlpractice.train.adversarial import generate
from dlpractice.runs.folder import Run

from _gan_bench import fashion_reference, report


@torch.no_grad()
def main(folder: str, pool: int = 40000, n: int = 10000) -> None:
    torch.set_num_threads(2)
    run = Run(folder)
    ck = run.checkpoint("best")
    g = run.model()
    d = build_model(ck["d_name"], ck["d_args"])
    d.load_state_dict(ck["discriminator"])
    d.eval()
    ref = fashion_reference()
    gen = torch.Generator().manual_seed(5)
    images = generate(g, torch.randn(pool, g.latent_dim, generator=gen), "cpu")
    logits = torch.cat([d(c) for c in images.split(1000)]).squeeze(1)
    ranked = logits.argsort(descending=True)
    for keep in (1.0, 0.75, 0.5, 0.25):
        top = ranked[:int(pool * keep)]
        report(f"top {keep:>4.0%} by D", ref, images[top[torch.randperm(len(top), generator=gen)[:n]]])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
