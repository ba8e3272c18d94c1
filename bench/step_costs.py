"""Where a small CNN's training step spends its time inside `dlp train` (issue 20), six measurements:

  segments  one Trainer step cut into forward, backward, gradient norm, optimizer and the step's bookkeeping,
            each timed with perf_counter inside the loop, against the same calls timed alone in a tight loop;
  gather    a batch of 128 Fashion-MNIST images gathered by advanced indexing (`x[sel]`) and by `index_select`;
  epoch     `dlp train` (one epoch, its steps timed one by one) against a hand loop of the same layout, order and
            optimizer, alternating, for each of bench/speed.py's models: examples/s, the sum of step times, the
            time outside the steps;
  compile   `torch.compile` of VGG-13-BN w0.25 against the eager model, bf16 NHWC, 5 steps after a warm step;
  steps     for each model of bench/speed.py, `dlp train`'s step (`Trainer.step_sums`, in the layout and precision
            its probe chose) and a hand step in the same layout, each on its own copy of the model, alternating
            step by step over the epoch's batches (who goes first alternating too): the median of each step's
            dlp ÷ hand time, and the ratio of their sums (which a rare slow step moves and the median hides). Drift
            of the host over seconds, which moves whole-epoch rounds by ±15%, cancels;
  precisions  VGG-13-BN w0.25's forward pass (eval, batch 256) under fp32, bf16 and fp16 autocast on this CPU, rounds
            interleaved: why an fp16 run evaluates and predicts in fp32 on a CPU that only emulates fp16.

    DLP_DATA_DIR=../shared/data python bench/step_costs.py [segments|gather|epoch|compile|steps|precisions ...]
        [--rounds 3]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dlpractice  # noqa: F401  (its OpenMP wait policy, as for `dlp`)
import torch

from dlpractice.config import load_config
from dlpractice.runs.evaluate import autocast, to_device
from dlpractice.train.grad_norms import clip_grads, note_grad_norm
from dlpractice.train.optim import build_optimizer
from dlpractice.train.supervised import Trainer

SETS = ["model.name=course_cnn", "data.dataset=fashion-mnist", "train.epochs=1", "log.progress=false",
        "log.loggers=['csv']", "train.eval_test=false", "train.precision=bf16", "train.channels_last=true",
        "train.compile=off", "data.batch_size=128"]


def _alone(f, n: int = 2000) -> float:
    for _ in range(50):
        f()
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n * 1e6


def segments(rounds: int, models: list[str]) -> None:
    t = Trainer(load_config(overrides=[*SETS, "data.limit_train=25600"]), Path(tempfile.mkdtemp()) / "r", loggers=[])
    t.train_mode()
    seg: dict[str, list[float]] = {}
    pc = time.perf_counter
    for _ in range(rounds):
        for xb, yb in t.loader.batches(1, 0):
            a = pc()
            xb, yb = to_device(xb, yb, t.device, t.cfg)
            t.opt.zero_grad(set_to_none=True)
            with autocast(t.cfg, t.device):
                out = t.net(xb)
            loss = t.task.loss(out, yb, 0.0)
            b = pc()
            loss.backward()
            c = pc()
            parts = clip_grads(t.grad_groups, 0.0)
            norm = float(torch.linalg.vector_norm(torch.stack(parts)))
            d = pc()
            t.opt.step()
            e = pc()
            t.sched.step()
            value = loss.item()
            correct = float((out.detach().argmax(1) == yb).sum())
            f = pc()
            for k, dt in zip(("forward", "backward", "gradient norm (read each step)", "optimizer",
                              "schedule, loss and accuracy (read each step)"), (b - a, c - b, d - c, e - d, f - e)):
                seg.setdefault(k, []).append(dt * 1e6)
    del norm, value, correct
    grads = [p.grad for p in t.model.parameters()]
    alone = {"gradient norm (read each step)": _alone(lambda: float(torch.linalg.vector_norm(
        torch.stack(torch._foreach_norm(grads))))),
             "schedule, loss and accuracy (read each step)": _alone(lambda: (t.sched.step(), loss.item(), float(
                 (out.detach().argmax(1) == yb).sum())))}
    print(f"course_cnn bf16 NHWC, {torch.get_num_threads()} threads: median µs of each piece inside the loop "
          "(alone in a tight loop)")
    for k, v in seg.items():
        print(f"  {k:46s} {statistics.median(v):8.1f}" + (f"   ({alone[k]:.1f} alone)" if k in alone else ""))


def gather(rounds: int, models: list[str]) -> None:
    x, y = torch.rand(54000, 1, 28, 28), torch.randint(0, 10, (54000,))
    idx = torch.randperm(54000)
    ways = {"x[sel]": lambda s: (x[s], y[s]), "index_select": lambda s: (x.index_select(0, s), y.index_select(0, s))}
    got = {k: [] for k in ways}
    for _ in range(rounds):
        for k, f in ways.items():
            t0 = time.perf_counter()
            for i in range(0, 54000, 128):
                f(idx[i:i + 128])
            got[k].append((time.perf_counter() - t0) / 422 * 1e6)
    for k, v in got.items():
        print(f"  gather by {k:14s} {statistics.median(v):6.1f} µs a batch of 128")


def epoch(rounds: int, models: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import speed   # bench/speed.py: its config, data and hand loop
    for model in models:
        cfg = speed._cfg(model, 0)
        setup = speed._setup(cfg)
        steps: list[float] = []
        plain = Trainer.step_sums

        def timed(self, xb, yb):
            t0 = time.perf_counter()
            out = plain(self, xb, yb)
            steps.append(time.perf_counter() - t0)
            return out

        for r in range(rounds):
            steps.clear()
            Trainer.step_sums = timed
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    s = speed.train(cfg, out=Path(tmp) / "run").summary
            finally:
                Trainer.step_sums = plain
            rate, sp = s["examples_per_second"], s["speed"]
            seconds = len(steps) * cfg.data.batch_size / rate   # the examples dlp counts: whole batches
            layout = f"{sp['precision']}{' NHWC' if sp['channels_last'] else ''}"
            hand = speed._hand_or_textbook(cfg, setup, False, sp["precision"], sp["channels_last"])[0]
            print(f"  {model} round {r + 1}: dlp train {rate:,.0f} examples/s ({layout}), steps {sum(steps):.2f} s, "
                  f"outside them {seconds - sum(steps):.2f} s; hand loop ({layout}) {hand:,.0f} examples/s", flush=True)


def _vgg13() -> torch.nn.Module:
    """fashion_best's network: VGG-13-BN at width 0.25 on 28 × 28 grey images, 10 classes."""
    from dlpractice.models import MODELS, build_model
    spec = MODELS.get("vgg13_bn")
    return build_model(spec.name, spec.resolve_args({"num_classes": 10, "in_channels": 1, "size": 28}, {"width": 0.25}))


def compiled(rounds: int, models: list[str]) -> None:
    from dlpractice.runs.tasks import TASKS
    from dlpractice.train.probe import _Candidate, supervised_work
    torch.manual_seed(0)
    m = _vgg13()
    xb, yb = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    work = supervised_work(m, "vgg13_bn", {}, xb, yb, TASKS.get("classification"))
    cpu = torch.device("cpu")
    eager, comp = _Candidate(work, "bf16", True, cpu), _Candidate(work, "bf16", True, cpu)
    comp.fns = [torch.compile(comp.models[0])]
    comp.step()
    for _ in range(rounds):
        print(f"  ms a step: eager {eager.timed(5) * 1000:.1f}, compiled {comp.timed(5) * 1000:.1f}")


def steps(rounds: int, models: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import speed   # bench/speed.py: its models and recipe
    for model in models:
        t = Trainer(speed._cfg(model, 0), Path(tempfile.mkdtemp()) / "r", loggers=[])
        t.train_mode()
        hand = copy.deepcopy(t.model)
        opt = build_optimizer(t.cfg.optim, hand.parameters())
        how = (t.cfg.train.precision, t.cfg.train.channels_last)
        ways = {"dlp": t.step_sums, "hand": lambda xb, yb: speed.hand_step(hand, opt, t.task, xb, yb, *how)}
        took: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(rounds):
            for i, (xb, yb) in enumerate(t.loader.batches(1, 0)):
                for k in (("dlp", "hand") if i % 2 else ("hand", "dlp")):
                    t0 = time.perf_counter()
                    ways[k](xb, yb)
                    took[k].append(time.perf_counter() - t0)
            t.settle()
        ratio = statistics.median(d / h for d, h in zip(took["dlp"], took["hand"]))
        print(f"  {model} ({t.cfg.train.precision}{' NHWC' if t.cfg.train.channels_last else ''}, "
              f"{torch.get_num_threads()} threads, {len(took['dlp'])} steps each): median ms a step dlp "
              f"{statistics.median(took['dlp']) * 1000:.2f}, hand {statistics.median(took['hand']) * 1000:.2f}; "
              f"dlp ÷ hand, step by step: {ratio:.3f}; all steps' time, dlp ÷ hand: "
              f"{sum(took['dlp']) / sum(took['hand']):.3f}", flush=True)


@torch.no_grad()
def precisions(rounds: int, models: list[str]) -> None:
    from dlpractice.runs.evaluate import autocast_as, fp16_native_cpu
    m = _vgg13().eval()
    x = torch.randn(256, 1, 28, 28)
    took: dict[str, list[float]] = {k: [] for k in ("fp32", "bf16", "fp16")}
    for r in range(rounds + 1):   # the first round warms each up, untimed
        for k in took:
            t0 = time.perf_counter()
            with autocast_as(k, torch.device("cpu")):
                m(x)
            if r:
                took[k].append(time.perf_counter() - t0)
    ms = {k: statistics.median(v) * 1000 for k, v in took.items()}
    print(f"  VGG-13-BN w0.25 forward, batch 256, {torch.get_num_threads()} threads, fp16 native: {fp16_native_cpu()}: "
          + ", ".join(f"{k} {v:.1f} ms ({v / ms['fp32']:.2f}× fp32)" for k, v in ms.items()))


def main() -> None:
    runs = {"segments": segments, "gather": gather, "epoch": epoch, "compile": compiled, "steps": steps,
            "precisions": precisions}
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="*", default=list(runs), choices=list(runs))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["course_cnn", "lenet_bn", "resnet18", "course_rnn"],
                    help="bench/speed.py's models, for epoch and steps")
    a = ap.parse_args()
    for w in a.what:
        print(f"# {w}")
        runs[w](a.rounds, a.models)


if __name__ == "__main__":
    main()
