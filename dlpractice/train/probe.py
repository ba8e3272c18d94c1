"""`train.precision`, `train.channels_last` and `train.compile` left at "auto": a short timed probe decides.

Before the first epoch, forward + backward of the run's own model (the GAN's: both players; copies, so the run's
weights, statistics and random streams are untouched) on its first training batch (a `Workload`), in each candidate
— fp32, bf16 autocast (only where the CPU or GPU computes it natively) or fp16 autocast (CUDA only), each only in
a loop that allows it (the GAN's: fp32 alone), × NCHW or NHWC (4-D inputs only) — interleaved over `ROUNDS`
rounds, the order reversed every other round; the median step time of each. A candidate is kept only if it is
clearly faster than fp32 NCHW: round by round against fp32 NCHW's step in the same round, `MARGIN` faster in the
median and slower in at most `SLOWER_ROUNDS` rounds (closer is timing noise: with three rounds and the median
alone, a GRU whose bf16 and fp32 epochs take the same time had bf16 chosen in 5 probes of 6, now in 1 of 6;
`bench/probe_choice.py`). bf16 and fp16 cost precision, so each must also be clearly faster than fp32 in its own
layout, its loss on the batch within `TOLERANCE` of fp32's, and it is only tried where fp32's step takes
`BF16_MIN_MS` or more (a busy machine once timed a 2-parameter regression's bf16 step faster, and its fit ended
0.03 off). Of the candidates kept, the fastest (median) is chosen; none kept: fp32 NCHW. The answer is cached per
(model and args, batch shape, threads, device model, torch version) in the user cache, so the probe runs once per
machine; the run's config then holds plain values, so a resumed run keeps them.

`train.compile = auto` compiles only where the run is long enough to repay a compile: a run of fewer than
`COMPILE_MIN_STEPS` steps, or whose probed training time is under `COMPILE_WORTH_S` seconds, is not compiled (the compile alone takes tens of
seconds on a CPU); for a longer one a copy is compiled and timed beside an eager copy (cached too), and the run
compiles only if its step is at least `MARGIN` faster and the time its steps save is more than the compile took.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

from ..data.paths import cache_dir
from ..errors import UserError
from ..runs.evaluate import autocast_as

TOLERANCE = 0.02      # relative difference of a candidate's loss from fp32's on the probe batch still "the same"
MARGIN = 0.05         # a candidate must be this much faster than fp32 NCHW to be chosen
BF16_MIN_MS = 2.0     # bf16 (or fp16) only where fp32's step takes this long: a shorter one is Python and kernel
                      # launches, which neither can speed up, and a timing disturbed by other jobs must not cost precision
ROUNDS = 7            # interleaved timing rounds; each candidate's time is its median
SLOWER_ROUNDS = 2     # a candidate "clearly faster" than another may still be slower in this many rounds
MIN_TIMED_S = 0.1     # each round times enough steps to take at least this long (at most 20)
COMPILE_WORTH_S = 300.0   # a run shorter than this (probed) is not compiled under compile = auto
COMPILE_MIN_STEPS = 1000  # nor one of fewer steps, unprobed (a CPU compile of tens of seconds needs ≥ 20 ms saved
                          # on each of 1,000 steps)
CACHE_FILE = "speed_probe.json"
PROBE_VERSION = 3     # in the cache key: entries timed another way are probed again


def bf16_native(device: torch.device) -> bool:
    """Whether `device` computes bf16 in hardware (AVX512-BF16 / AMX on a CPU; Ampere or later on CUDA)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def settings(t) -> dict:
    """The three speed settings of a `TrainConfig`, as summary.json records them (asked, then chosen)."""
    return {"precision": t.precision, "channels_last": t.channels_last, "compile": t.compile}


@functools.lru_cache(maxsize=None)
def device_model(device: torch.device) -> str:
    """The device's model name: the GPU's, or the CPU's from /proc/cpuinfo (with its bf16 support)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = device.type
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} (bf16: {'yes' if bf16_native(device) else 'no'})"


def precisions(device: torch.device) -> list[str]:
    """The precisions "auto" tries on `device`: fp32 (the reference) first, bf16 where it is native, and fp16 on
    CUDA (a CPU computes fp16 in software, except a few recent ones, and a forced fp16 still runs there)."""
    return ["fp32"] + (["bf16"] if bf16_native(device) else []) + (["fp16"] if device.type == "cuda" else [])


@dataclasses.dataclass
class Workload:
    """What the probe times: one training step of `models` on the batch `xb` — `forward(models, xb)` under the
    candidate's autocast, then `loss(outputs)` outside it and backward (no update). `name` and `args` key the
    cache; `reduced`: the precisions below fp32 that "auto" may choose for this loop (fp16 needs a gradient
    scaler; the GAN's: none, see adversarial.py); `compiles`: whether the loop can compile (the GAN's cannot)."""
    name: str
    args: dict
    models: list
    xb: torch.Tensor
    forward: Callable
    loss: Callable
    reduced: tuple = ("bf16", "fp16")
    compiles: bool = True


def supervised_work(model, model_name: str, model_args: dict, xb, yb, task) -> Workload:
    """The supervised loop's step: the model on the batch, the task's loss (no label smoothing)."""
    return Workload(model_name, model_args, [model], xb, lambda ms, x: ms[0](x),
                    lambda out: task.loss(out.float(), yb, 0.0))


def candidates(cfg, work: Workload, device: torch.device) -> list[tuple[str, bool]]:
    """(precision, channels_last) pairs the settings leave open; fp32 NCHW (the reference) first."""
    t, xb = cfg.train, work.xb
    chosen = [t.precision] if t.precision != "auto" else [p for p in precisions(device)
                                                          if p == "fp32" or p in work.reduced]
    layouts = [t.channels_last] if t.channels_last != "auto" else ([False, True] if xb.dim() == 4 else [False])
    return [(p, c) for p in chosen for c in layouts]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Candidate:
    """A copy of the workload's models in one precision and layout, timed step by step on the probe batch."""

    def __init__(self, work: Workload, precision: str, nhwc: bool, device):
        self.work, self.precision, self.nhwc, self.device = work, precision, nhwc, device
        self.models = [copy.deepcopy(m) for m in work.models]
        self.xb = work.xb
        if nhwc:
            self.models = [m.to(memory_format=torch.channels_last) for m in self.models]
            self.xb = self.xb.contiguous(memory_format=torch.channels_last)
        self.fns = list(self.models)   # what is called: the models, or their compiled copies
        self.times: list[float] = []

    @torch.no_grad()
    def loss(self) -> float:
        """The loss on the batch in eval mode (no dropout; the same figure in every candidate up to rounding)."""
        for m in self.models:
            m.eval()
        with autocast_as(self.precision, self.device):
            out = self.work.forward(self.fns, self.xb)
        for m in self.models:
            m.train()
        return float(self.work.loss(out))

    def step(self) -> None:
        for m in self.models:
            for p in m.parameters():
                p.grad = None
        with autocast_as(self.precision, self.device):
            out = self.work.forward(self.fns, self.xb)
        self.work.loss(out).backward()

    def timed(self, steps: int) -> float:
        """Seconds per step over `steps` steps, after one untimed step: the candidate timed before this one
        leaves the caches its own (timed straight after a switch, VGG-13's bf16 step took 55.7 ms against the
        35.5 ms its training then ran, and a compile that gained nothing looked 1.3× faster)."""
        self.step()
        _sync(self.device)
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        _sync(self.device)
        return (time.perf_counter() - t0) / steps


def _cache_key(work: Workload, device, cand) -> str:
    xb = work.xb
    return json.dumps([PROBE_VERSION, work.name, work.args, list(xb.shape), str(xb.dtype), torch.get_num_threads(),
                       BF16_MIN_MS, device_model(device), str(torch.__version__), [list(c) for c in cand]],
                      sort_keys=True, default=str)


def _read_cache() -> dict:
    try:
        data = json.loads((cache_dir() / CACHE_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):   # none yet, unreadable or corrupt: probe again, and rewrite it
        return {}


def _write_cache(key: str, entry: dict) -> None:
    data = _read_cache()
    data[key] = entry
    path = cache_dir() / CACHE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:   # a read-only cache: the next run probes again
        pass


def _name(c: tuple[str, bool]) -> str:
    return f"{c[0]} {'NHWC' if c[1] else 'NCHW'}"


def probe(work: Workload, device, cand: list) -> dict:
    """Time each candidate's step of `work` and choose (or read the choice from the cache); the random streams
    are as they were afterwards."""
    key = _cache_key(work, device, cand)
    cached = _read_cache().get(key)
    if isinstance(cached, dict) and {"precision", "channels_last", "step_ms"} <= cached.keys():
        return {**cached, "how": "cached"}
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        runs = [_Candidate(work, p, c, device) for p, c in cand]
        ref = runs[0].loss()
        losses = [r.loss() for r in runs]
        for r in runs:   # warm-up: first calls allocate and pick kernels
            r.step()
        warm = max(r.timed(1) for r in runs)
        steps = max(1, min(20, int(MIN_TIMED_S / max(warm, 1e-6)) + 1))
        for k in range(ROUNDS):
            for r in (runs if k % 2 == 0 else runs[::-1]):   # alternate orders: neither goes first each time
                r.times.append(r.timed(steps))
    times = [statistics.median(r.times) for r in runs]
    agree = [i == 0 or abs(l - ref) <= TOLERANCE * max(1.0, abs(ref)) for i, l in enumerate(losses)]
    small = times[0] * 1000 < BF16_MIN_MS
    kept = [i for i in range(len(runs)) if i == 0 or (agree[i] and _worth(runs, i, small))]
    best = min(kept, key=lambda i: times[i])
    entry = {"precision": cand[best][0], "channels_last": cand[best][1],
             "step_ms": {_name(c): round(t * 1000, 3) for c, t in zip(cand, times)},
             "loss": {_name(c): round(l, 5) for c, l in zip(cand, losses)},
             "refused": [_name(c) for c, ok in zip(cand, agree) if not ok],
             "batch": list(work.xb.shape), "device": device_model(device), "torch": str(torch.__version__),
             "threads": torch.get_num_threads(), "tolerance": TOLERANCE, "margin": MARGIN,
             **({"bf16_skipped": f"fp32's step is under {BF16_MIN_MS:g} ms"} if small else {}),
             "probe_seconds": round(time.perf_counter() - t0, 2)}
    _write_cache(key, entry)
    return {**entry, "how": "probed"}


def clearly_faster(a: list[float], b: list[float]) -> bool:
    """Whether step times `a` beat `b`, timed round by round beside them: by `MARGIN` in the median of the
    rounds' ratios, and in all rounds but `SLOWER_ROUNDS`."""
    ratios = [x / y for x, y in zip(a, b)]
    return statistics.median(ratios) <= 1 - MARGIN and sum(r < 1 for r in ratios) >= len(ratios) - SLOWER_ROUNDS


def _worth(runs: list, i: int, small: bool) -> bool:
    """Candidate i (not fp32 NCHW, `runs[0]`) is worth its change: clearly faster than fp32 NCHW and, for
    bf16 or fp16, allowed (`small`: not) and clearly faster than fp32 in the same layout where that was timed."""
    r = runs[i]
    if not clearly_faster(r.times, runs[0].times):
        return False
    if r.precision == "fp32":
        return True
    same = [o for o in runs if o.precision == "fp32" and o.nhwc == r.nhwc]
    return not small and all(clearly_faster(r.times, o.times) for o in same)


def choose_speed(cfg, work: Workload, device, steps: int) -> dict:
    """Resolve `train.precision`, `train.channels_last` and `train.compile` in `cfg` (in place) for a run
    of `steps` more training steps, and say how: set by the config, probed now, or read from the cache.
    Returns what summary.json records under "speed"."""
    t = cfg.train
    asked = settings(t)
    cand = candidates(cfg, work, device)
    if t.compile == "auto" and not work.compiles:
        t.compile = "off"
    few = t.compile == "auto" and steps < COMPILE_MIN_STEPS
    if few:
        t.compile = "off"
    if len(cand) == 1 and t.compile != "auto":
        t.precision, t.channels_last = cand[0]
        return {**settings(t), "asked": asked,
                "how": "set" if "auto" not in (asked["precision"], asked["channels_last"]) else "only candidate",
                **({"compile_why": f"{steps} steps, too few to repay a compile"} if few else {})}
    try:
        found = probe(work, device, cand)
    except (ValueError, RuntimeError) as e:   # the batch cannot train (one example under BatchNorm, ...):
        return fixed_speed(cfg, f"not probed ({type(e).__name__}); the first step says why")  # the loop says it
    t.precision, t.channels_last = found["precision"], found["channels_last"]
    if few:
        found["compile_why"] = f"{steps} steps, too few to repay a compile"
    elif t.compile == "auto":
        eager = found["step_ms"][_name((t.precision, t.channels_last))] / 1000
        if eager * steps >= COMPILE_WORTH_S and "compiled_ms" not in found:
            found.update(_time_compiled(work, t.precision, t.channels_last, device))
            _write_cache(_cache_key(work, device, cand),
                         {k: v for k, v in found.items() if k != "how"})
        t.compile, found["compile_why"] = _compile_worth(found, eager, steps)
    return {**found, **settings(t), "asked": asked}


def compile_mode(device: torch.device) -> str:
    """torch.compile's mode on `device`: on CUDA "reduce-overhead" (CUDA graphs: a small model's step is kernel
    launches, which one graph replay replaces), elsewhere the default."""
    return "reduce-overhead" if device.type == "cuda" else "default"


def _time_compiled(work: Workload, precision, nhwc, device) -> dict:
    """A compiled step's ms against an eager one's, timed the same way in interleaved rounds, and the compile's
    seconds (the compiled copy's first step beyond an eager step)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        eager = _Candidate(work, precision, nhwc, device)
        run = _Candidate(work, precision, nhwc, device)
        run.fns = [torch.compile(m, mode=compile_mode(device)) for m in run.models]
        t0 = time.perf_counter()
        run.step()
        first = time.perf_counter() - t0
        one = eager.timed(1)
        steps = max(1, min(20, int(MIN_TIMED_S / max(one, 1e-6)) + 1))
        for _ in range(ROUNDS):
            for r in (eager, run):
                r.times.append(r.timed(steps))
    e, c = statistics.median(eager.times), statistics.median(run.times)
    return {"compiled_ms": round(c * 1000, 3), "eager_ms": round(e * 1000, 3),
            "compile_s": round(max(0.0, first - e), 2)}


def _compile_worth(found: dict, eager: float, steps: int) -> tuple[str, str]:
    """compile = auto: "off" for a run too short to repay a compile, else whether the compiled step's saving
    over the run's steps is more than the compile took."""
    seconds = eager * steps
    if seconds < COMPILE_WORTH_S:
        return "off", f"about {seconds:.0f} s of steps, under the {COMPILE_WORTH_S:.0f} s that repay one"
    compiled, cost = found["compiled_ms"] / 1000, found["compile_s"]
    eager = found["eager_ms"] / 1000   # timed beside the compiled step (the probe's own is for the run's length)
    saved = (eager - compiled) * steps
    if compiled > (1 - MARGIN) * eager:   # closer is timing noise: nothing to repay the compile with
        return "off", (f"compiled steps {compiled * 1000:.1f} ms against {eager * 1000:.1f} ms: not {MARGIN:.0%} "
                       "faster")
    return ("on" if saved > cost else "off"), (f"compiled steps {compiled * 1000:.1f} ms against {eager * 1000:.1f} "
                                               f"ms save {saved:.0f} s of a {cost:.0f} s compile")


def speed_line(speed: dict) -> str:
    """What was chosen, and from what: one console line, and the compile decision on a second when there is one
    (the two together would not fit 100 columns)."""
    chosen = _name((speed["precision"], speed["channels_last"]))
    if "step_ms" not in speed:
        return f"speed: {chosen} ({speed['how']})"
    steps = ", ".join(f"{k} {v:.1f}" for k, v in speed["step_ms"].items())
    compiled = f"\ncompile: {speed['compile']}, {speed['compile_why']}" if speed.get("compile_why") else ""
    refused = f"; loss off fp32's by > {speed['tolerance']:.0%}: {', '.join(speed['refused'])}" if speed["refused"] else ""
    return f"speed: {chosen} ({speed['how']}; ms per training step: {steps}{refused}){compiled}"


def fixed_speed(cfg, why: str) -> dict:
    """A loop that does not probe (or a probe that could not run): "auto" settings become fp32, NCHW and no
    compile (in `cfg`); explicit values stay."""
    t = cfg.train
    asked = settings(t)
    t.precision = "fp32" if t.precision == "auto" else t.precision
    t.channels_last = False if t.channels_last == "auto" else t.channels_last
    t.compile = "off" if t.compile == "auto" else t.compile
    return {**settings(t), "asked": asked, "how": why}
