"""Training speed of `dlp train` as shipped against the textbook loop and a hand-written best loop (issue 20).

For each model, one training epoch on the same split (Fashion-MNIST's 54,000 training images for the image
models, the course's names for the GRU) with the same recipe (dlpractice's default SGD: lr 0.05, momentum
0.9, weight decay 5e-4; batch 128; seed 0), through
  textbook  a per-sample `torch.utils.data.Dataset` + `DataLoader` (default collate), fp32, NCHW — the
            course's loop;
  hand      a hand-written in-memory loop (a whole batch indexed out of one tensor), in every layout and
            precision this machine offers (fp32 / bf16 where the CPU has it × NCHW / NHWC); the table keeps
            the fastest of them;
  dlp       `dlpractice.train(cfg)` with nothing set but the recipe: train.precision, channels_last,
            compile and threads left at "auto" / 0 (the probe's choice, cached after the first round);
  lightning a `lightning.Trainer` on the textbook DataLoader, when `lightning` is installed;
  keras     Keras 3's `Model.fit` (torch backend) on the same torch module (`keras.layers.TorchModuleWrapper`)
            and the in-memory arrays, with Keras's SGD (same lr and momentum; its weight decay is decoupled),
            when `keras` is installed.
Every loop starts from the same initial weights (seeded as the Trainer seeds) and walks the same order of
examples (dlp's first-epoch shuffle), so their test accuracies agree up to float rounding (threads and
layout change summation order). Loops are interleaved over `--rounds` rounds, their order rotating each
round; the table reports the median training examples/s (evaluation excluded) and the test accuracy. The
ratios are medians of each round's own ratio (a loop against the other in the same round, minutes apart), not
ratios of the medians: on a host whose speed drifts by ±25% over minutes, a paired ratio cancels the drift
that two separate medians keep.

    python bench/speed.py                       # 3 rounds, all four models (about 10 minutes on 2 cores)
    python bench/speed.py --models course_cnn --rounds 1 --limit 5000    # smoke run
    python bench/speed.py --models lenet_bn --loops "dlp train" "hand fp32 NCHW" --rounds 15   # one pair, closer
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import os
import platform
import statistics
import tempfile
import time

import dlpractice  # noqa: F401  (first: its OpenMP wait policy holds for every loop here, as for `dlp`)
import torch
from torch.utils.data import DataLoader, Dataset

from dlpractice.config import load_config
from dlpractice.data import load_dataset
from dlpractice.data.loader import TensorLoader
from dlpractice.models import build_model, MODELS
from dlpractice.runs.tasks import TASKS
from dlpractice.train.loop import train
from dlpractice.train.optim import build_optimizer
from dlpractice.train.probe import bf16_native
from dlpractice.train.skeleton import seed_everything

MODELS_RUN = {   # model → (data set, model.args, training examples kept: 0 = all)
    "course_cnn": ("fashion-mnist", {}, 0),
    "lenet_bn": ("fashion-mnist", {}, 0),
    "resnet18": ("fashion-mnist", {"width": 0.25}, 12_800),
    "course_rnn": ("names", {}, 0),
}
BATCH, SEED = 128, 0
THREADS = torch.get_num_threads()   # torch's default, for every loop but dlp's (which sets its own, process-wide)


class PerSample(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _cfg(model: str, limit: int):
    data, args, keep = MODELS_RUN[model]
    keep = limit or keep
    sets = [f"model.name={model}", f"data.dataset={data}", "train.epochs=1", f"data.batch_size={BATCH}",
            "log.loggers=['csv']", "log.progress=false", "train.eval_test=false", f"train.seed={SEED}"]
    sets += [f"model.args={{{', '.join(f'{k} = {v}' for k, v in args.items())}}}"] if args else []
    sets += [f"data.limit_train={keep}"] if keep else []
    return load_config(overrides=sets)


def _setup(cfg):
    spec = MODELS.get(cfg.model.name)
    data = load_dataset(cfg.data, cfg.model.args.get("input_size", spec.input_size))
    return spec, data, spec.resolve_args(data.meta, cfg.model.args)


@torch.no_grad()
def _accuracy(model, x, y, nhwc=False) -> float:
    model.eval()
    right = 0
    for i in range(0, len(x), 1024):
        xb = x[i:i + 1024]
        xb = xb.contiguous(memory_format=torch.channels_last) if nhwc and xb.dim() == 4 else xb
        right += (model(xb).float().argmax(1) == y[i:i + 1024]).sum().item()
    return right / len(x)


def _hand_or_textbook(cfg, setup, textbook: bool, precision="fp32", nhwc=False) -> tuple[float, float]:
    spec, data, args = setup
    task = TASKS.get(spec.task)
    torch.set_num_threads(THREADS)
    seed_everything(SEED)     # as the Trainer does before it loads the data (which draws nothing) and builds
    model = build_model(spec.name, args)
    if nhwc:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(cfg.optim, model.parameters())
    tr, te = data.splits["train"], data.splits["test"]
    order = TensorLoader(tr.x, tr.y, BATCH, shuffle=True, seed=SEED).order(1)   # dlp's first-epoch order
    if textbook:
        batches = DataLoader(PerSample(tr.x, tr.y), batch_size=BATCH, sampler=order.tolist())
    else:
        batches = ((tr.x[order[i:i + BATCH]], tr.y[order[i:i + BATCH]]) for i in range(0, len(tr), BATCH))
    model.train()
    t0 = time.perf_counter()
    for xb, yb in batches:
        hand_step(model, opt, task, xb, yb, precision, nhwc)
    seconds = time.perf_counter() - t0
    return len(tr) / seconds, _accuracy(model, te.x, te.y, nhwc)


def hand_step(model, opt, task, xb, yb, precision: str = "fp32", nhwc: bool = False) -> None:
    """One step of the hand-written loop: layout, forward (under bf16 autocast or none), loss, backward, update."""
    if nhwc:
        xb = xb.contiguous(memory_format=torch.channels_last)
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext():
        out = model(xb)
    task.loss(out.float(), yb, 0.0).backward()
    opt.step()


def _dlp(cfg, setup) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        s = train(cfg, out=os.path.join(tmp, "run")).summary
    sp = s["speed"]
    layout = (" NHWC" if sp["channels_last"] else " NCHW") if setup[0].input == "image" else ""
    how = f"{sp['precision']}{layout}, {s['threads']} thread(s)"
    return s["examples_per_second"], s["metrics"]["accuracy"], how


def _lightning(cfg, setup):
    import lightning as L
    spec, data, args = setup
    task = TASKS.get(spec.task)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(SEED)
            self.net = build_model(spec.name, args)

        def training_step(self, batch, i):
            return task.loss(self.net(batch[0]), batch[1], 0.0)

        def configure_optimizers(self):
            return build_optimizer(cfg.optim, self.parameters())

    tr, te = data.splits["train"], data.splits["test"]
    torch.set_num_threads(THREADS)
    m = Module()
    t = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                  enable_progress_bar=False, enable_model_summary=False)
    t0 = time.perf_counter()
    t.fit(m, DataLoader(PerSample(tr.x, tr.y), batch_size=BATCH, shuffle=True))
    return len(tr) / (time.perf_counter() - t0), _accuracy(m.net, te.x, te.y)


def _keras(cfg, setup):
    os.environ["KERAS_BACKEND"] = "torch"      # read when keras is first imported
    import keras
    spec, data, args = setup
    tr, te = data.splits["train"], data.splits["test"]
    torch.set_num_threads(THREADS)
    seed_everything(SEED)
    net = build_model(spec.name, args)

    class Wrapped(keras.Model):
        def __init__(self):
            super().__init__()
            self.net = keras.layers.TorchModuleWrapper(net)

        def call(self, x, training=None):
            return self.net(x, training=training)

    m = Wrapped()
    o = cfg.optim
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=o.lr, momentum=o.momentum, weight_decay=o.weight_decay),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    t0 = time.perf_counter()
    m.fit(tr.x.numpy(), tr.y.numpy(), batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
    return len(tr) / (time.perf_counter() - t0), _accuracy(net, te.x, te.y)


def variants(cfg) -> dict:
    out = {"textbook": lambda s: _hand_or_textbook(cfg, s, True)}
    precisions = ["fp32", "bf16"] if bf16_native(torch.device("cpu")) else ["fp32"]
    layouts = [False, True] if cfg.data.dataset != "names" else [False]
    for p in precisions:
        for c in layouts:
            out[f"hand {p} {'NHWC' if c else 'NCHW'}"] = lambda s, p=p, c=c: _hand_or_textbook(cfg, s, False, p, c)
    out["dlp train"] = lambda s: _dlp(cfg, s)
    try:
        import lightning  # noqa: F401
        out["lightning"] = lambda s: _lightning(cfg, s)
    except ImportError:
        pass
    if importlib.util.find_spec("keras"):
        out["keras"] = lambda s: _keras(cfg, s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS_RUN), choices=list(MODELS_RUN))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="training examples per epoch (0: the table's)")
    ap.add_argument("--loops", nargs="+", metavar="LOOP", help="only these loops (default: all), e.g. \"dlp train\" "
                    "\"hand fp32 NCHW\": fewer loops a round leave room for more rounds, and so steadier ratios")
    a = ap.parse_args()
    print(f"# {datetime.date.today()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, bf16 native: {bf16_native(torch.device('cpu'))}, "
          f"torch threads {torch.get_num_threads()}")
    for model in a.models:
        cfg = _cfg(model, a.limit)
        setup = _setup(cfg)
        runs = variants(cfg)
        unknown = set(a.loops or []) - set(runs)
        if unknown:
            ap.error(f"--loops: no loop {', '.join(sorted(unknown))} for {model}; its loops: {', '.join(runs)}")
        runs = {k: f for k, f in runs.items() if not a.loops or k in a.loops}
        speed, acc, how = {k: [] for k in runs}, {k: [] for k in runs}, []
        names = list(runs)
        for r in range(a.rounds):
            for k in names[r % len(names):] + names[:r % len(names)]:
                got = runs[k](setup)
                speed[k].append(got[0])
                acc[k].append(got[1])
                how += got[2:]
        med = {k: statistics.median(v) for k, v in speed.items()}
        hands = [k for k in med if k.startswith("hand")]
        best = max(hands, key=med.get) if hands else None
        base = "textbook" if "textbook" in med else None
        print(f"\n{model} on {cfg.data.dataset}, {len(setup[1].splits['train']):,} training examples, "
              f"{a.rounds} round(s); dlp chose, round by round: {'; '.join(how)}")
        print("| loop | examples/s (median) | per round | vs textbook (paired) | vs best hand loop (paired) | "
              "test accuracy |")
        print("|---|---:|---|---:|---:|---:|")
        for k in med:
            mark = " (best hand)" if k == best else ""
            rounds = ", ".join(f"{v / 1000:.1f}k" for v in speed[k])
            print(f"| {k}{mark} | {med[k]:,.0f} | {rounds} | {_paired(speed[k], speed.get(base))} | "
                  f"{_paired(speed[k], speed.get(best))} | {statistics.median(acc[k]):.4f} |")
        if "dlp train" in med:
            print("dlp train ÷ each loop, paired: " + ", ".join(
                f"{k} {_paired(speed['dlp train'], speed[k])}" for k in med if k != "dlp train"))


def _paired(a: list[float], b: list[float] | None) -> str:
    """The median over rounds of a's speed ÷ b's speed in the same round ("–" without b)."""
    return f"{statistics.median(x / y for x, y in zip(a, b)):.2f}×" if b else "–"


if __name__ == "__main__":
    main()
