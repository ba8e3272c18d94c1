"""What one GAN training step costs on this CPU per image, by batch size and precision (docs/RESULTS.md).

The lesson's players (dcgan_g with refine = 32, dcgan_d), the hinge loss, Adam and the generator's
weight average, on random images: the median of three timings of N steps after five warm-up steps.

    python bench/gan_step.py [--threads 1]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from dlpractice.models import build_model
from dlpractice.train.adversarial import GAN_LOSSES
from dlpractice.train.ema import averaged_copy, update_average


def ms_per_image(batch: int, bf16: bool = False, channels_last: bool = False, steps: int = 30) -> float:
    torch.manual_seed(0)
    g, d = build_model("dcgan_g", {"refine": 32}), build_model("dcgan_d", {})
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    avg = averaged_copy(g)
    g_opt = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    d_loss, g_loss = GAN_LOSSES["hinge"]
    real = torch.randn(batch, 1, 28, 28)
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def step(i: int) -> None:
        with ctx():
            fake = g(torch.randn(batch, g.latent_dim))
            loss = d_loss(d(real), d(fake.detach()), 1.0)
        d_opt.zero_grad()
        loss.backward()
        d_opt.step()
        with ctx():
            loss = g_loss(d(fake))
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
        update_average(avg, g, 0.999, i)

    for i in range(5):
        step(i)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        for i in range(steps):
            step(i)
        times.append((time.perf_counter() - t) / steps / batch * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    torch.set_num_threads(ap.parse_args().threads)
    cases = [("batch 64", dict(batch=64)), ("batch 32", dict(batch=32, steps=60)),
             ("batch 16", dict(batch=16, steps=120)), ("batch 8", dict(batch=8, steps=200)),
             ("batch 32, bf16 autocast", dict(batch=32, bf16=True, steps=60)),
             ("batch 32, channels-last", dict(batch=32, channels_last=True, steps=60))]
    for name, kw in cases:
        ms = ms_per_image(**kw)
        print(f"{name:>24}: {ms:.3f} ms per image, {ms * 54:.0f} s per epoch of 54,000", flush=True)


if __name__ == "__main__":
    main()
