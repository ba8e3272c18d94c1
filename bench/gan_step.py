"""What one GAN training step costs on this CPU per image, by batch size and precision (docs/RESULTS.md).

The lesson's players (dcgan_g with refine = 32, dcgan_d), the hinge loss, Adam and the generator's
weight average, on random images: the median of three timings of N steps after five warm-up steps.
`--layouts` instead times fp32 / bf16 × NCHW / NHWC at the lesson's batch of 32, interleaved over `--rounds`
rounds (the order reversed every other round), and gives each one's median and its median paired ratio to
fp32 NCHW: what the GAN loop's speed probe chooses between (train/probe.py; it tries fp32 only).

    python bench/gan_step.py [--threads 1]
    python bench/gan_step.py --layouts --threads 2 --rounds 9
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


def stepper(batch: int, bf16: bool = False, channels_last: bool = False):
    """step(i): one training step of both players and the weight average, as the GAN loop takes it."""
    torch.manual_seed(0)
    g, d = build_model("dcgan_g", {"refine": 32}), build_model("dcgan_d", {})
    real = torch.randn(batch, 1, 28, 28)
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
        real = real.contiguous(memory_format=torch.channels_last)
    avg = averaged_copy(g)
    g_opt = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    d_loss, g_loss = GAN_LOSSES["hinge"]
    ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def step(i: int) -> None:
        with ctx():
            fake = g(torch.randn(batch, g.latent_dim))
            out_real, out_fake = d(real), d(fake.detach())
        loss = d_loss(out_real.float(), out_fake.float(), 1.0)
        d_opt.zero_grad()
        loss.backward()
        d_opt.step()
        with ctx():
            out_g = d(fake)
        loss = g_loss(out_g.float())
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
        update_average(avg, g, 0.999, i)

    for i in range(5):
        step(i)
    return step


def timed(step, steps: int) -> float:
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    return time.perf_counter() - t


def ms_per_image(batch: int, bf16: bool = False, channels_last: bool = False, steps: int = 30) -> float:
    step = stepper(batch, bf16, channels_last)
    return statistics.median(timed(step, steps) / steps / batch * 1e3 for _ in range(3))


def layouts(rounds: int, steps: int = 40) -> None:
    cases = {f"{p} {'NHWC' if cl else 'NCHW'}": stepper(32, p == "bf16", cl) for p in ("fp32", "bf16")
             for cl in (False, True)}
    took: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        for name in (list(cases) if r % 2 == 0 else list(cases)[::-1]):
            took[name].append(timed(cases[name], steps) / steps * 1e3)
    base = took["fp32 NCHW"]
    for name, ms in took.items():
        ratio = statistics.median(b / m for b, m in zip(base, ms))
        print(f"{name}: {statistics.median(ms):.1f} ms a step of 32 (rounds {min(ms):.1f}–{max(ms):.1f}), "
              f"{ratio:.2f}× fp32 NCHW's speed (paired), {statistics.median(ms) * 1688 / 1e3:.0f} s per epoch "
              "of 54,000", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--layouts", action="store_true", help="fp32 / bf16 × NCHW / NHWC at batch 32, interleaved")
    ap.add_argument("--rounds", type=int, default=9)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.layouts:
        return layouts(a.rounds)
    cases = [("batch 64", dict(batch=64)), ("batch 32", dict(batch=32, steps=60)),
             ("batch 16", dict(batch=16, steps=120)), ("batch 8", dict(batch=8, steps=200)),
             ("batch 32, bf16 autocast", dict(batch=32, bf16=True, steps=60)),
             ("batch 32, channels-last", dict(batch=32, channels_last=True, steps=60))]
    for name, kw in cases:
        ms = ms_per_image(**kw)
        print(f"{name:>24}: {ms:.3f} ms per image, {ms * 54:.0f} s per epoch of 54,000", flush=True)


if __name__ == "__main__":
    main()
