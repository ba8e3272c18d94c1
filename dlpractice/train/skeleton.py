"""The epoch skeleton both training loops share (the supervised loop and the GAN's): Ctrl-C, progress,
checkpoints every N steps, exact resume, selection of the best epoch, loggers and the run folder.

A loop subclasses `EpochLoop` and supplies what differs: `train_mode()`, `step_sums(xb, yb)` (one
optimizer step, its additive sums), `train_metrics()`, `epoch_metrics(train_metrics)` (the epoch's
{split: metrics}, what chooses the best epoch, and the value saved with the checkpoint), `better(chooser)`,
`lr()`, `info()`, `save(name, value)` and `finish(...)`.
"""
from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..config import RunConfig, from_dict
from ..data.loader import AUGMENTS, TensorLoader, on_device
from ..errors import UserError
from ..runs.checkpoint import RESUME_KEYS, load_checkpoint, rng_state, set_rng_state
from ..runs.checkpoint import save_checkpoint
from ..runs.folder import (Run, crash_point, disk_error, has_checkpoint, make_run_dir, plan_run_dir,
                           remove_stale_temps, write_json)
from ..runs.ranks import Ranks, current, joined
from ..runs.tasks import add_sums
from ..track.loggers import LOGGERS
from .device import choose_device
from .grad_norms import settle_grad_norms
from .optim import RE_EVALUATES
from .progress import epoch_progress


STOP = "\0stop"   # the key of the per-step stop flag among the sums added over ranks
SETTLE_EVERY = 64   # steps whose deferred sums (EpochLoop.settle) one process holds at most


class TrainingInterrupted(Exception):
    """Ctrl-C: a checkpoint was written; the message holds the resume command."""


class StopFlag:
    """First Ctrl-C asks the loop to stop at the next step; a second one aborts at once."""

    def __init__(self):
        self.set = False

    def __enter__(self):
        self.old = signal.signal(signal.SIGINT, self._handle) if _main_thread() else None
        return self

    def _handle(self, signum, frame):
        if self.set:
            raise KeyboardInterrupt
        self.set = True
        print("\nstopping after this step (Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def training_loader(cfg: RunConfig, x: torch.Tensor, y: torch.Tensor, ranks: Ranks, device) -> TensorLoader:
    """The shuffled training loader with `data.augment`'s batched augmentations (names checked), its split on `device`
    as `data.on_device` says. Over several ranks, each takes its share of every global batch of `data.batch_size`."""
    unknown = [a for a in cfg.data.augment if a not in AUGMENTS]
    if unknown:
        raise UserError(f"unknown augmentation(s) {unknown} in data.augment; known: {sorted(AUGMENTS)}")
    if cfg.data.augment and x.dim() != 4:   # images only: batches of N × C × H × W
        raise UserError(f"data.augment = {list(cfg.data.augment)} works on images, but data set '{cfg.data.dataset}' "
                        f"gives {x.dim()}-D examples; use --set data.augment=[]")
    b, n, w = cfg.data.batch_size, len(x), ranks.world
    check_ranks(cfg, w)
    if w > 1 and 0 < n % b < w:
        raise UserError(f"the last batch of each epoch holds {n % b} of the {n} training examples (data.batch_size "
                        f"= {b}), fewer than the {w} ranks; change data.batch_size or data.limit_train so that "
                        f"it holds at least {w} (or none)")
    return TensorLoader(*on_device(x, y, device, cfg.data.on_device), b, shuffle=True, seed=cfg.train.seed,
                        augments=[AUGMENTS[a] for a in cfg.data.augment], share=ranks.share if w > 1 else None)


def check_ranks(cfg: RunConfig, world: int) -> None:
    """What `world` ranks cannot train, known from the config alone (the launcher asks before starting them)."""
    b = cfg.data.batch_size
    if world > 1 and b < world:
        raise UserError(f"data.batch_size = {b} is the global batch, shared by {world} ranks: fewer examples than "
                        f"ranks; use data.batch_size ≥ {world} or fewer processes (--nproc)")
    if world > 1 and cfg.optim.name in RE_EVALUATES:
        raise UserError(f"optim.name = {cfg.optim.name} runs on one process: its line search re-evaluates the loss, "
                        "which each rank would see differently; use --nproc 1 or another optimizer")


def build_loggers(cfg: RunConfig, loggers=None, ranks: Ranks | None = None) -> list:
    """The given loggers, or those of `log.loggers` with CSV always first; none on ranks other than 0."""
    if ranks is not None and not ranks.main:
        return []
    return loggers if loggers is not None else [LOGGERS.get(n)() for n in dict.fromkeys(["csv", *cfg.log.loggers])]


def rank_streams(t, step: int = 0) -> None:
    """Over several ranks, each draws dropout and noise from its own stream, seeded from (seed, rank) — and
    the step, for a run resumed on another number of ranks."""
    if t.ranks.world > 1:
        seed_everything((t.cfg.train.seed * 1_000_003 + t.ranks.rank * 7919 + step) % 2 ** 32)


def start_progress(t) -> None:
    """A fresh trainer's position: epoch 1 next, no batches or steps done, nothing best yet."""
    t.epoch, t.batch, t.step = 1, 0, 0      # next epoch to run, batches done in it, steps done
    t.best_value, t.best_epoch, t.since_best = None, 0, 0
    t.train_sums, t.grad_norms = {}, {}   # the epoch's additive sums; its gradient norms (note_grad_norm)
    t.pending_norms = {}   # the steps' gradient norms not yet in grad_norms (settle_grad_norms)
    t.steps_this_process = 0
    t.eval_seconds = {}   # the last epoch's evaluation time per split (timing.csv)


def progress_state(t) -> dict:
    """Where a trainer is (epoch, batch, step, running sums, best so far) and every RNG state: what a
    checkpoint needs besides weights and optimizers for an exact resume. Shared with the GAN loop."""
    settle_grad_norms(t)
    rng = rng_state()
    ranks = {"rank_rng": t.ranks.gather(rng)} if t.ranks.world > 1 else {}   # every rank's dropout stream
    return {"epoch": t.epoch, "batch": t.batch, "step": t.step, "rng": rng, **ranks,
            "augment_rng": t.loader.augment_gen.get_state(), "train_sums": dict(t.train_sums),
            "grad_norms": {k: list(v) for k, v in t.grad_norms.items()},
            "best_value": t.best_value, "best_epoch": t.best_epoch, "since_best": t.since_best}


def restore_progress(t, ck: dict) -> None:
    """The inverse of `progress_state`, from a checkpoint."""
    t.epoch, t.batch, t.step = ck["epoch"], ck["batch"], ck["step"]
    t.best_value, t.best_epoch, t.since_best = ck["best_value"], ck["best_epoch"], ck["since_best"]
    t.train_sums = dict(ck["train_sums"])
    t.grad_norms = {k: list(v) for k, v in ck.get("grad_norms", {}).items()}   # none in older checkpoints
    t.pending_norms = {}
    set_rng_state(ck["rng"])
    t.loader.augment_gen.set_state(ck["augment_rng"])
    saved = ck.get("rank_rng") or [ck["rng"]]
    if t.ranks.world > 1 and len(saved) == t.ranks.world:
        set_rng_state(saved[t.ranks.rank])
    elif t.ranks.world != len(saved):
        rank_streams(t, t.step)
        if t.ranks.main:
            streams = ("draw new per-rank streams" if t.ranks.world > 1 else "go on from rank 0's stream")
            print(f"resuming on {t.ranks.world} rank(s) a run saved by {len(saved)}: the data order and "
                  f"augmentation go on as before; dropout and noise {streams}", flush=True)


class EpochLoop:
    """Epochs of steps over `self.loader` until `train.epochs`, with everything a run needs around them.
    Subclasses set `cfg`, `folder`, `meta`, `loader`, `loggers` and call `start_progress(self)`."""

    def use_machine(self, cfg: RunConfig) -> None:
        """Ranks, threads and device, before anything is built. A run resumed on a machine with fewer cores
        than it was started on uses at most 4 × this machine's cores (a new run is refused more: `start_run`).
        With `train.threads` 0: the cores divided among the ranks on this machine, or for one process the
        cores free now (`free_threads`), unless OMP_NUM_THREADS sets the count."""
        self.ranks = current()
        if cfg.train.threads:
            threads = min(cfg.train.threads, machine_threads())
            if threads < cfg.train.threads:
                print(f"train.threads = {cfg.train.threads} is more than this machine's {machine_threads()} "
                      f"(4 × {os.cpu_count()} cores): using {threads}", file=sys.stderr, flush=True)
            torch.set_num_threads(threads)
        elif self.ranks.local_world > 1:   # ranks starting together would see each other as busy
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.ranks.local_world))
        elif not os.environ.get("OMP_NUM_THREADS"):   # a count the user set stands, as torch reads it
            torch.set_num_threads(free_threads())
        self.device = choose_device(cfg.train.device, cfg.train.deterministic)

    def save(self, name: str, value: float | None = None) -> None:
        """checkpoints/NAME.pt; every rank takes part (their generator states go in), rank 0 writes."""
        payload = self._payload(value)
        if self.ranks.main:
            save_checkpoint(self.folder / "checkpoints" / f"{name}.pt", payload)

    def patience(self) -> int:
        """Epochs without a better chooser before stopping early (0: never)."""
        return self.cfg.train.early_stopping

    def after_epoch(self) -> None:
        """Anything to write once an epoch is logged (the GAN's sample grid)."""

    def deferred_sums(self) -> list[dict]:
        """The additive sums that steps since the last call left to compute later, one dict per step in order
        (the supervised loop's task statistics); none by default."""
        return []

    def settle(self) -> None:
        """Add the steps' deferred sums into the epoch's, in step order (each over the ranks), as each step would."""
        for sums in self.deferred_sums():
            add_sums(self.train_sums, self.ranks.sum_dict(sums) if self.ranks.world > 1 else sums)

    def run_epoch(self, stop: StopFlag) -> dict:
        self.train_mode()
        total = len(self.loader)
        bar = epoch_progress(self.loader.batches(self.epoch, self.batch), total, self.batch, self.epoch,
                             self.cfg.data.batch_size, self.cfg.log.progress and self.ranks.main)
        settle_every = SETTLE_EVERY if self.ranks.world == 1 else 1   # over ranks: each step's sums at once
        for xb, yb in bar:
            sums = self.step_sums(xb, yb)
            if self.ranks.world > 1:   # the global batch's sums; one rank's Ctrl-C stops all at this step
                sums = self.ranks.sum_dict({**sums, STOP: float(stop.set)})
                stop.set = sums.pop(STOP) > 0 or stop.set
            add_sums(self.train_sums, sums)
            self.batch += 1
            self.step += 1
            self.steps_this_process += 1
            if self.batch % settle_every == 0:
                self.settle()
            crash_point("step")
            every = self.cfg.train.checkpoint_every
            if stop.set or (every and self.step % every == 0 and self.batch < total):
                self.settle()
                self.save("last")
            if stop.set:
                raise TrainingInterrupted(f"stopped at epoch {self.epoch}, step {self.step}; "
                                          f"checkpoint saved. Resume with:\n  dlp train --resume {self.folder}")
        self.settle()
        return self.train_metrics()

    def fit(self) -> Run:
        cfg, t0 = self.cfg, time.perf_counter()
        examples, train_seconds = 0, 0.0
        info = {**self.info(), "resumed": (self.epoch, self.step) if self.step else None}   # None: a new run
        if self.ranks.main:
            remove_stale_temps(self.folder)  # what a killed process was writing
            write_json(self.folder / "data.json", self.meta)  # what predict/serve need to prepare inputs
        for lg in self.loggers:
            lg.start(self.folder, info, self.epoch)
        with StopFlag() as stop, _saying_what_is_kept(self.folder):
            patience = self.patience()
            # an early-stopped run resumed before its summary was written: nothing more to train
            while self.epoch <= cfg.train.epochs and not (patience and self.since_best >= patience):
                e0, b0 = time.perf_counter(), self.batch
                train_m = self.run_epoch(stop)
                seconds = time.perf_counter() - e0
                examples += (len(self.loader) - b0) * cfg.data.batch_size
                train_seconds += seconds
                metrics, chooser, value = self.epoch_metrics(train_m)
                improved = self.better(chooser)
                if improved:
                    self.best_value, self.best_epoch, self.since_best = dict(chooser), self.epoch, 0
                else:
                    self.since_best += 1
                lr = self.lr()
                for lg in self.loggers:
                    lg.epoch(self.epoch, metrics, lr, seconds, timing=dict(self.eval_seconds))
                crash_point("epoch-logged")
                if self.ranks.main:
                    self.after_epoch()
                finished_epoch = self.epoch
                self.epoch, self.batch, self.train_sums, self.grad_norms = self.epoch + 1, 0, {}, {}
                if improved:
                    self.save("best", value)
                self.save("last", value)
                patience = self.patience()
                if patience and self.since_best >= patience:
                    print(f"early stopping after epoch {finished_epoch}: no better validation "
                          f"{self.chooses_on} for {patience} epochs", flush=True)
                    break
        return self.finish(time.perf_counter() - t0, examples, train_seconds)


@contextlib.contextmanager
def _saying_what_is_kept(folder: Path):
    """A run refused while it trains (its loss became non-finite): the error line also says what its folder
    keeps and how to train again."""
    try:
        yield
    except UserError as e:
        if has_checkpoint(folder):
            raise UserError(f"{e}. {folder} keeps the epochs trained before; to train "
                            "again, use another --out") from None
        raise UserError(f"{e}. Nothing was saved: the same command with the new settings starts again in "
                        f"{folder}") from None


def free_threads(seconds: float = 0.2) -> int:
    """`train.threads = 0` for one process: the cores that are free now — the idle share of the machine's CPU
    time over `seconds` (/proc/stat); at least 1. Other jobs' busy cores are left to them, so neither waits
    for the other (docs/BENCHMARKS.md, "A busy machine")."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        before = _cpu_times()
        time.sleep(seconds)
        after = _cpu_times()
        total, idle = after[0] - before[0], after[1] - before[1]
        free = (os.cpu_count() or cores) * idle / total if total > 0 else cores
    except (OSError, ValueError, IndexError):   # no /proc (not Linux): all of them
        free = cores
    return max(1, min(cores, int(free + 0.5)))


def _cpu_times() -> tuple[int, int]:
    """(all, idle) jiffies of the machine since boot, from /proc/stat's first line."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values[:8]), values[3] + values[4]   # user … steal; idle + iowait


def machine_threads() -> int:
    """The most CPU threads a run may ask for: 4 × this machine's cores."""
    return 4 * (os.cpu_count() or 1)


def _joined(cfg: RunConfig):
    """The process group of a run `cfg` (one process outside a launched job), on its device's backend."""
    return joined(cfg.train.dist_timeout, choose_device(cfg.train.device, cfg.train.deterministic).type)


def start_run(loop: type, cfg: RunConfig, out: str | Path | None = None, loggers=None) -> Run:
    """Train `cfg` with `loop` into a new run folder: data, model and optimizer are checked before any write."""
    if cfg.train.threads > machine_threads():
        raise UserError(f"setting 'train.threads' must be ≤ {machine_threads()} (4 × this machine's "
                        f"{os.cpu_count()} cores; 0: torch's default); got {cfg.train.threads}")
    with _joined(cfg) as ranks:
        folder = ranks.from_main(plan_run_dir(cfg, out) if ranks.main else None)
        trainer = loop(cfg, folder, loggers=loggers)
        if ranks.main:
            make_run_dir(folder, cfg)
        ranks.barrier()
        return trainer.fit()


def draw_figures(folder: Path, summary: dict) -> None:
    """A finished supervised run's `curves.png` and `report.html` (a report that fails only warns); a full
    disk or a read-only folder is one line saying how to draw them later."""
    from ..track.plots import plot_curves  # matplotlib: only once a run finishes
    from ..track.report import report_at_end
    try:
        plot_curves(folder, f"{summary.get('model', '')} on {summary.get('dataset', '')}", summary.get("best_epoch"))
    except OSError as e:
        raise disk_error(e, folder / "curves.png", f"the run itself is finished and saved; once it can be written, "
                                                   f"`dlp train --resume {folder}` draws it") from None
    report_at_end(folder)  # report.html: curves, final metrics, overfitting note


def finished_run(folder: str | Path) -> Run | None:
    """The run at `folder` if it has finished (its summary.json is written), said on stdout; else None.
    Figures that a kill or a full disk kept from being drawn are drawn now; nothing else is touched."""
    folder = Path(folder)
    if not ((folder / "summary.json").is_file() and (folder / "config.toml").is_file()):
        return None
    run = Run(folder)
    if not (folder / "report.html").is_file() and run.summary.get("task") != "generation":
        print(f"{folder}: drawing curves.png and report.html, which the finished run did not get to", flush=True)
        draw_figures(folder, run.summary)
    try:
        epochs = f"after {int(run.summary['epochs'])} epochs "
    except (ValueError, KeyError, TypeError):
        epochs = ""
    print(f"{folder} already finished {epochs}(summary.json is written); nothing to resume, nothing changed",
          flush=True)
    return run


def last_checkpoint(folder: str | Path) -> tuple[dict, RunConfig]:
    """A run folder's `last` checkpoint (`best` when only that one was written) and the config it was
    trained with; when there is none, what to do instead."""
    folder = Path(folder)
    ck_path = folder / "checkpoints" / "last.pt"
    if not ck_path.exists() and not ck_path.is_symlink():
        best = folder / "checkpoints" / "best.pt"
        if best.is_file() or best.is_symlink():
            print(f"{folder} has no checkpoints/last.pt; continuing from best.pt", flush=True)
            ck_path = best
        elif not folder.is_dir():
            raise UserError(f"{folder} has no checkpoints/last.pt to resume from: there is no such folder")
        elif not (folder / "config.toml").is_file():
            raise UserError(f"{folder} has no checkpoints/last.pt to resume from: it is not a run folder "
                            "(no config.toml); `dlp runs` lists the runs")
        else:
            raise UserError(f"{folder} has no checkpoints/last.pt to resume from: the run stopped before its "
                            f"first checkpoint, so nothing is lost by starting it again with the same command "
                            f"(`dlp train ... --out {folder}`; its settings are in {folder / 'config.toml'})")
    ck = load_checkpoint(ck_path, RESUME_KEYS)
    cfg = from_dict(ck["config"])
    return ck, cfg


def continue_run(loop: type, folder: str | Path, ck: dict, cfg: RunConfig, loggers=None) -> Run:
    """Continue a run of `loop` from its `last` checkpoint `ck`: only the remaining epochs and steps."""
    with _joined(cfg):
        return loop(cfg, Path(folder), resume=ck, loggers=loggers).fit()
