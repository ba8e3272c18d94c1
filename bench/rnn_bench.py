"""Seconds per epoch of lecture 13's baseline (bidirectional GRU, hidden 100, 2 layers, Adam 1e-3,
batch 256, course names split with 10% carved for validation) three ways:
  (a) dlpractice: `Trainer.run_epoch` — TensorLoader indexes batches of the split stored once as a padded
      (N, T_max) id tensor; the model trims each batch to its longest name and packs it;
  (b) a plain course-style loop: a per-sample `Dataset` of (name, country), `DataLoader` with a `collate_fn`
      that encodes and pads each batch, the same model (`course_rnn`), the same optimizer;
  (c) the course's own code path: ASCII codes (embedding of 128), the batch sorted by length in the
      collate, time-major GRU, `pack_padded_sequence` over the sorted batch.
Variants are interleaved (a, b, c, a, b, c, ...) so drift in machine load hits them alike; one torch
thread each. The table reports the median seconds per training epoch (data loading included).

    python bench/rnn_bench.py                 # 3 rounds, writes docs/bench_rnn.md
    python bench/rnn_bench.py --quick         # smoke run: 20 batches, 1 round, writes nothing
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader, Dataset

import dlpractice.data.text  # noqa: F401  (registers names)
import dlpractice.models.rnn  # noqa: F401  (registers course_rnn)
from dlpractice.config import load_config
from dlpractice.data.text import NAMES_FILES, Vocab, find_data, read_pairs
from dlpractice.train.loop import Trainer, seed_everything

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "dlpractice" / "lessons" / "lecture13.toml"
BATCH, LR, SEED = 256, 1e-3, 0


class _NoStop:
    set = False


class NameDataset(Dataset):
    """The course's data set class: one (name, country index) per `__getitem__`."""

    def __init__(self, names: list[str], labels: list[int]):
        self.names, self.labels = names, labels

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        return self.names[i], self.labels[i]


class CourseRNN(nn.Module):
    """The course's RNNClassifier: time-major bidirectional GRU over a length-sorted packed batch."""

    def __init__(self, input_size=128, hidden_size=100, output_size=18, n_layers=2, bidirectional=True):
        super().__init__()
        self.hidden_size, self.n_layers, self.n_directions = hidden_size, n_layers, 2 if bidirectional else 1
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, n_layers, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden_size * self.n_directions, output_size)

    def forward(self, x, seq_lengths):
        x = x.t()                                                   # (seq_len, batch)
        hidden = torch.zeros(self.n_layers * self.n_directions, x.shape[1], self.hidden_size)
        gru_input = pack_padded_sequence(self.embedding(x), seq_lengths)
        _, hidden = self.gru(gru_input, hidden)
        hidden_cat = torch.cat([hidden[-1], hidden[-2]], dim=1) if self.n_directions == 2 else hidden[-1]
        return self.fc(hidden_cat)


def vocab_collate(vocab: Vocab):
    """Encode and pad one batch (the course pads per batch in its make_tensors)."""
    def collate(batch):
        names, labels = zip(*batch)
        return vocab.encode(list(names)), torch.tensor(labels)
    return collate


def ascii_collate(batch):
    """The course's make_tensors: ASCII codes, zero padding, the batch sorted by length (descending)."""
    names, labels = zip(*batch)
    seqs = [[ord(c) for c in n] for n in names]
    lengths = torch.tensor([len(s) for s in seqs])
    x = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = torch.tensor(s)
    lengths, order = lengths.sort(descending=True)
    return x[order], lengths, torch.tensor(labels)[order]


def dlpractice_epoch(cfg, max_batches):
    seed_everything(SEED)
    trainer = Trainer(cfg, Path("/nonexistent-bench-run"), loggers=[])   # nothing is written by run_epoch
    if max_batches:
        trainer.loader.x, trainer.loader.y = trainer.loader.x[:max_batches * BATCH], trainer.loader.y[:max_batches * BATCH]
    t0 = time.perf_counter()
    m = trainer.run_epoch(_NoStop())
    return time.perf_counter() - t0, m["loss"], len(trainer.loader.x)


def plain_epoch(variant, names, labels, vocab, max_batches):
    seed_everything(SEED)
    if variant == "b":
        model = dlpractice.models.build_model("course_rnn", {"vocab_size": len(vocab), "num_classes": 18})
        loader = DataLoader(NameDataset(names, labels), batch_size=BATCH, shuffle=True, collate_fn=vocab_collate(vocab),
                            generator=torch.Generator().manual_seed(SEED))
    else:
        model = CourseRNN()
        loader = DataLoader(NameDataset(names, labels), batch_size=BATCH, shuffle=True, collate_fn=ascii_collate,
                            generator=torch.Generator().manual_seed(SEED))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    ce = nn.CrossEntropyLoss()
    model.train()
    total, n, t0 = 0.0, 0, time.perf_counter()
    for b, batch in enumerate(loader):
        if max_batches and b >= max_batches:
            break
        if variant == "b":
            xb, yb = batch
            out = model(xb)
        else:
            xb, lengths, yb = batch
            out = model(xb, lengths)
        loss = ce(out, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(yb)
        n += len(yb)
    return time.perf_counter() - t0, total / n, n


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


NAMES = {"a": "(a) dlpractice: TensorLoader over the pre-padded split, trim + pack in the model",
         "b": "(b) course-style loop: per-sample Dataset, DataLoader, pad per batch in collate_fn, same model",
         "c": "(c) the course's code: ASCII ids, sort by length in collate, time-major GRU"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 20 batches, 1 round, writes nothing")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of a, b, c")
    p.add_argument("--out", default=str(ROOT / "docs" / "bench_rnn.md"), help="markdown file to write")
    args = p.parse_args(argv)
    max_batches = 20 if args.quick else 0
    rounds = 1 if args.quick else args.rounds
    torch.set_num_threads(1)

    cfg = load_config(LESSON, ["train.threads=1", "log.progress=false", "train.device=\"cpu\""])
    trainer = Trainer(cfg, Path("/nonexistent-bench-run"), loggers=[])   # the very split the loop trains on
    vocab = Vocab.from_meta(trainer.data.meta["text"])
    tr = trainer.data.splits["train"]
    names = [vocab.decode(row) for row in tr.x]
    labels = tr.y.tolist()
    raw = {n for n, _ in read_pairs(find_data("names", NAMES_FILES) / NAMES_FILES[0])}
    assert all(n in raw for n in names[:500]), "decoded names must be the file's names (all ASCII, no unknowns)"
    del trainer
    head = (f"names: {len(names)} training names (course split, 10% carved for validation); course_rnn "
            f"(bi-GRU 100 × 2), Adam lr {LR}, batch {BATCH}, 1 epoch per measurement; torch {torch.__version__}, "
            f"{torch.get_num_threads()} thread, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(head, flush=True)
    load0 = _load()
    dlpractice_epoch(cfg, 3)  # warm-up (allocator, kernels), untimed
    secs: dict[str, list[float]] = {v: [] for v in "abc"}
    losses: dict[str, list[float]] = {v: [] for v in "abc"}
    for r in range(rounds):
        for v in "abc":
            s, loss, n = dlpractice_epoch(cfg, max_batches) if v == "a" else plain_epoch(v, names, labels, vocab, max_batches)
            secs[v].append(s)
            losses[v].append(loss)
            print(f"  round {r + 1} {v}: {s:6.2f} s/epoch ({n / s:6.0f} names/s), mean train loss {loss:.4f}", flush=True)

    base = statistics.median(secs["b"])
    lines = ["# Lecture 13 baseline: seconds per epoch, dlpractice vs a plain course-style loop", "",
             f"`python bench/rnn_bench.py` ({datetime.date.today().isoformat()}). {head}.", "",
             f"{rounds} interleaved round(s); median seconds of one training epoch (data loading included, "
             f"evaluation excluded). 1-minute load average before/after: {load0} / {_load()} on "
             f"{os.cpu_count()} CPUs" + (" — the machine was shared, so absolute times are inflated; the "
                                         "interleaving keeps the ratios fair." if os.cpu_count() and
                                         float(load0) > 0.75 * os.cpu_count() else "."), "",
             "| variant | s/epoch (median) | per round | vs (b) | mean train loss, epoch 1 |", "|---|---:|---|---:|---:|"]
    for v in "abc":
        med = statistics.median(secs[v])
        lines.append(f"| {NAMES[v]} | {med:.2f} | {', '.join(f'{s:.2f}' for s in secs[v])} | {med / base:.2f}× | "
                     f"{statistics.median(losses[v]):.4f} |")
    lines += ["", "(a) and (b) run the same model from the same initialisation; they differ in batch order "
              "(TensorLoader's permutation vs the DataLoader's), so their losses agree only within noise. "
              "(c) embeds 128 ASCII codes instead of the 57 characters of the training split."]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if not args.quick:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
