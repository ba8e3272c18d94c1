"""A loop's speed settings — `train.precision`, `train.channels_last`, `train.compile` — resolved once, before the
first epoch: a resumed run keeps what its checkpoint holds; "auto" is decided by rank 0's probe (`probe.py`) on the
first training batch, and every rank follows it. The supervised loop and the GAN's share it."""
from __future__ import annotations

import sys
from typing import Callable

from ..runs.evaluate import fp16_native_cpu
from ..track.notice import slow_step
from .probe import Workload, choose_speed, settings, speed_line


def resolve_speed(loop, resume: dict | None, work: Callable[[int], Workload], n_train: int) -> dict:
    """Resolve `loop.cfg.train`'s speed settings in place and return what summary.json records under "speed";
    `work(b)` is the loop's step on its first `b` training examples (built on rank 0 only)."""
    cfg, t = loop.cfg, loop.cfg.train
    if resume and "auto" not in (t.precision, t.channels_last, t.compile):
        return resume.get("speed") or {**settings(t), "how": "set"}
    speed = None
    if loop.ranks.main:
        b = max(1, cfg.data.batch_size // loop.ranks.world)
        steps = -(-n_train // cfg.data.batch_size) * t.epochs
        with slow_step("timing a training step in each layout and precision (train.precision, channels_last = "
                       "auto)"):
            speed = choose_speed(cfg, work(b), loop.device, steps)
        if speed["how"] in ("probed", "cached"):
            print(speed_line(speed), flush=True)
    speed = loop.ranks.from_main(speed)
    t.precision, t.channels_last, t.compile = speed["precision"], speed["channels_last"], speed["compile"]
    if t.precision == "fp16" and loop.device.type == "cpu" and not fp16_native_cpu() and loop.ranks.main:
        print("train.precision = fp16: this CPU computes fp16 in software, several times slower than fp32 "
              "(bf16 or fp32 train faster here); its evaluation runs in fp32", file=sys.stderr, flush=True)
    return speed
