"""The one training loop: forward → loss → backward → step, validation picks the best epoch."""
from __future__ import annotations

import random
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import RunConfig, from_dict
from ..data import load_dataset
from ..data.loader import AUGMENTS, TensorLoader
from ..errors import UserError
from ..models import MODELS, build_model, count_params
from ..track.loggers import LOGGERS
from ..track.plots import plot_curves
from ..track.report import report_at_end
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .device import choose_device
from .ema import averaged_copy, update_average
from .optim import build_optimizer, build_schedule
from .rundir import Run, make_run_dir, plan_run_dir, versions, write_json
from .tasks import TASKS, Task, add_sums, batch_sums


class TrainingInterrupted(Exception):
    """Ctrl-C: a checkpoint was written; the message holds the resume command."""


class _StopFlag:
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


@torch.no_grad()
def evaluate(model, task: Task, x: torch.Tensor, y: torch.Tensor, cfg: RunConfig, device) -> dict:
    """Metrics of `model` on one split, in eval mode, batch by batch."""
    model.eval()
    sums: dict = {}
    outs, ys = [], []  # every output, for metrics that are not sums (ROC-AUC: Task.full_metrics)
    loader = TensorLoader(x, y, cfg.data.eval_batch_size)
    for xb, yb in loader.batches(0):
        xb, yb = _to(xb, yb, device, cfg)
        with _autocast(cfg, device):
            out = model(xb)
        add_sums(sums, batch_sums(task, out, yb, task.loss(out, yb, 0.0)))
        if task.full_metrics is not None:
            outs.append(out.float().cpu())
            ys.append(yb.cpu())
    metrics = task.finish(sums) if sums else {}
    if outs:
        metrics.update(task.full_metrics(torch.cat(outs), torch.cat(ys)))
    return metrics


def _to(xb, yb, device, cfg):
    xb = xb.to(device, non_blocking=True)
    if cfg.train.channels_last and xb.dim() == 4:
        xb = xb.contiguous(memory_format=torch.channels_last)
    return xb, yb.to(device, non_blocking=True)


def _autocast(cfg: RunConfig, device):
    if cfg.train.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def training_loader(cfg: RunConfig, x: torch.Tensor, y: torch.Tensor) -> TensorLoader:
    """The shuffled training loader with `data.augment`'s batched augmentations (names checked)."""
    unknown = [a for a in cfg.data.augment if a not in AUGMENTS]
    if unknown:
        raise UserError(f"unknown augmentation(s) {unknown} in data.augment; known: {sorted(AUGMENTS)}")
    return TensorLoader(x, y, cfg.data.batch_size, shuffle=True, seed=cfg.train.seed,
                        augments=[AUGMENTS[a] for a in cfg.data.augment])


def build_loggers(cfg: RunConfig, loggers=None) -> list:
    """The given loggers, or those of `log.loggers` with CSV always first."""
    return loggers if loggers is not None else [LOGGERS.get(n)() for n in dict.fromkeys(["csv", *cfg.log.loggers])]


def start_progress(t) -> None:
    """A fresh trainer's position: epoch 1 next, no batches or steps done, nothing best yet."""
    t.epoch, t.batch, t.step = 1, 0, 0      # next epoch to run, batches done in it, steps done
    t.best_value, t.best_epoch, t.since_best = None, 0, 0
    t.train_sums = {}
    t.steps_this_process = 0


def progress_state(t) -> dict:
    """Where a trainer is (epoch, batch, step, running sums, best so far) and every RNG state: what a
    checkpoint needs besides weights and optimizers for an exact resume. Shared with the GAN loop."""
    return {"epoch": t.epoch, "batch": t.batch, "step": t.step, "rng": rng_state(),
            "augment_rng": t.loader.augment_gen.get_state(), "train_sums": dict(t.train_sums),
            "best_value": t.best_value, "best_epoch": t.best_epoch, "since_best": t.since_best}


def restore_progress(t, ck: dict) -> None:
    """The inverse of `progress_state`, from a checkpoint."""
    t.epoch, t.batch, t.step = ck["epoch"], ck["batch"], ck["step"]
    t.best_value, t.best_epoch, t.since_best = ck["best_value"], ck["best_epoch"], ck["since_best"]
    t.train_sums = dict(ck["train_sums"])
    set_rng_state(ck["rng"])
    t.loader.augment_gen.set_state(ck["augment_rng"])


class Trainer:
    """Holds the state of one run so that the epoch loop, checkpoints and resume share it."""

    def __init__(self, cfg: RunConfig, folder: Path, resume: dict | None = None, loggers=None):
        self.cfg, self.folder = cfg, folder
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.device = choose_device(cfg.train.device, cfg.train.deterministic)
        seed_everything(cfg.train.seed)
        self.spec = MODELS.get(cfg.model.name)
        size = cfg.model.args.get("input_size", self.spec.input_size)
        self.data = load_dataset(cfg.data, size)
        if self.data.task != self.spec.task:
            raise UserError(f"model '{self.spec.name}' is for {self.spec.task} but data set "
                            f"'{cfg.data.dataset}' is {self.data.task}; pick a matching pair "
                            "(see `dlp models` and `dlp datasets`)")
        self.task = TASKS.get(self.spec.task)
        self.model_args = self.spec.resolve_args(self.data.meta, cfg.model.args)
        self.model = build_model(self.spec.name, self.model_args).to(self.device)
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # With train.ema > 0 a moving average of the weights is what is evaluated, chosen and saved.
        self.averaged = averaged_copy(self.model) if cfg.train.ema else None
        tr = self.data.splits["train"]
        self.loader = training_loader(cfg, tr.x, tr.y)
        self.opt = build_optimizer(cfg.optim, self.model.parameters())
        self.sched = build_schedule(cfg.schedule, self.opt, cfg.train.epochs, len(self.loader))
        start_progress(self)
        if resume:
            self._restore(resume)
        self.loggers = build_loggers(cfg, loggers)

    @property
    def eval_model(self) -> torch.nn.Module:
        """The model that is evaluated, chosen and saved as "model": the weight average if there is one."""
        return self.averaged if self.averaged is not None else self.model

    # -- checkpoints ---------------------------------------------------------------------------
    def _payload(self, val_metric: float | None) -> dict:
        trained = {"trained": self.model.state_dict()} if self.averaged is not None else {}
        return {"model": self.eval_model.state_dict(), **trained, "model_name": self.spec.name,
                "model_args": self.model_args,
                "config": self.cfg.to_dict(), "data_meta": self.data.meta, "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), **progress_state(self), "val_metric": val_metric}

    def _restore(self, ck: dict) -> None:
        self.model.load_state_dict(ck.get("trained", ck["model"]))
        if self.averaged is not None:
            self.averaged.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        restore_progress(self, ck)

    def save(self, name: str, val_metric: float | None = None) -> None:
        save_checkpoint(self.folder / "checkpoints" / f"{name}.pt", self._payload(val_metric))

    # -- the loop ------------------------------------------------------------------------------
    def train_step(self, xb, yb):
        """One optimizer step through a closure, so LBFGS (which re-evaluates) uses the same loop."""
        out_box = {}

        def closure():
            self.opt.zero_grad(set_to_none=True)
            with _autocast(self.cfg, self.device):
                out = self.model(xb)
            loss = self.task.loss(out, yb, self.cfg.train.label_smoothing)
            loss.backward()
            out_box.setdefault("out", out)
            out_box.setdefault("loss", loss)
            return loss

        self.opt.step(closure)
        if self.averaged is not None:
            update_average(self.averaged, self.model, self.cfg.train.ema, self.step)
        self.sched.step()
        return out_box["out"], out_box["loss"]

    def run_epoch(self, stop: _StopFlag) -> dict:
        self.model.train()
        total = len(self.loader)
        bar = tqdm(self.loader.batches(self.epoch, self.batch), total=total, initial=self.batch,
                   desc=f"epoch {self.epoch}", unit="ex", unit_scale=self.cfg.data.batch_size, leave=False,
                   disable=not self.cfg.log.progress or not sys.stderr.isatty())
        for xb, yb in bar:
            xb, yb = _to(xb, yb, self.device, self.cfg)
            out, loss = self.train_step(xb, yb)
            if not torch.isfinite(loss):
                raise UserError(f"loss became {float(loss)} at epoch {self.epoch} step {self.step + 1}: "
                                f"lower optim.lr (now {self.cfg.optim.lr})")
            add_sums(self.train_sums, batch_sums(self.task, out, yb, loss))
            self.batch += 1
            self.step += 1
            self.steps_this_process += 1
            every = self.cfg.train.checkpoint_every
            if stop.set or (every and self.step % every == 0 and self.batch < total):
                self.save("last")
            if stop.set:
                raise TrainingInterrupted(f"stopped at epoch {self.epoch}, step {self.step}; "
                                          f"checkpoint saved. Resume with:\n  dlp train --resume {self.folder}")
        return self.task.finish(self.train_sums)

    def fit(self) -> Run:
        cfg, t0 = self.cfg, time.perf_counter()
        examples, train_seconds = 0, 0.0
        info = {"model": self.spec.name, "dataset": self.data.name, "params": count_params(self.model),
                "device": str(self.device)}
        write_json(self.folder / "data.json", self.data.meta)  # what predict/serve need to prepare inputs
        for lg in self.loggers:
            lg.start(self.folder, info, self.epoch)
        primary = self.task.primary
        with _StopFlag() as stop:
            while self.epoch <= cfg.train.epochs:
                e0, b0 = time.perf_counter(), self.batch
                train_m = self.run_epoch(stop)
                seconds = time.perf_counter() - e0
                examples += (len(self.loader) - b0) * cfg.data.batch_size
                train_seconds += seconds
                metrics = {"train": train_m}
                val = self.data.splits["val"]
                if len(val):
                    metrics["val"] = evaluate(self.eval_model, self.task, val.x, val.y, cfg, self.device)
                if cfg.train.eval_test:
                    test = self.data.splits["test"]
                    metrics["test"] = evaluate(self.eval_model, self.task, test.x, test.y, cfg, self.device)
                # Model selection uses validation only (training metrics when there is no validation split).
                chooser = metrics.get("val", train_m)
                improved = self.task.better(chooser, self.best_value)
                if improved:
                    self.best_value, self.best_epoch, self.since_best = dict(chooser), self.epoch, 0
                else:
                    self.since_best += 1
                lr = self.opt.param_groups[0]["lr"]
                for lg in self.loggers:
                    lg.epoch(self.epoch, metrics, lr, seconds)
                finished_epoch = self.epoch
                self.epoch, self.batch, self.train_sums = self.epoch + 1, 0, {}
                if improved:
                    self.save("best", chooser[primary])
                self.save("last", chooser[primary])
                patience = cfg.train.early_stopping
                if patience and self.since_best >= patience:
                    print(f"early stopping after epoch {finished_epoch}: no better validation "
                          f"{primary} for {patience} epochs", flush=True)
                    break
        return self.finish(time.perf_counter() - t0, examples, train_seconds)

    def finish(self, wall: float, examples: int, train_seconds: float) -> Run:
        """Reload the best checkpoint, compute its test metrics, write summary.json and curves.png."""
        best = load_checkpoint(self.folder / "checkpoints" / "best.pt")
        self.eval_model.load_state_dict(best["model"])
        test = self.data.splits["test"]
        metrics = evaluate(self.eval_model, self.task, test.x, test.y, self.cfg, self.device)
        primary = self.task.primary
        summary = {"task": self.spec.task, "model": self.spec.name, "dataset": self.data.name,
                   "params": count_params(self.model), "epochs": self.epoch - 1, "best_epoch": self.best_epoch,
                   "chosen_by": "val" if len(self.data.splits["val"]) else "train",
                   "best_val": self.best_value, "metrics": metrics,
                   "primary_metric": {"name": primary, "value": metrics.get(primary)},
                   "wall_seconds": round(wall, 3),
                   "examples_per_second": round(examples / train_seconds, 1) if train_seconds else None,
                   "steps_this_process": self.steps_this_process, "device": str(self.device),
                   "versions": versions()}
        if self.task.primary == "accuracy":
            summary["test_accuracy"] = metrics["accuracy"]
        write_json(self.folder / "summary.json", summary)
        plot_curves(self.folder, f"{self.spec.name} on {self.data.name}", self.best_epoch)
        report_at_end(self.folder)  # report.html: curves, final metrics, overfitting note
        for lg in self.loggers:
            lg.end(summary)
        return Run(self.folder)


def train(cfg: RunConfig, out: str | Path | None = None, loggers=None) -> Run:
    """Train `cfg` into a new run folder (`out`, or runs/<name>-<UTC time>) and return the Run."""
    if MODELS.get(cfg.model.name).task == "generation":  # two players, two optimizers: their own loop
        from .adversarial import train_gan
        return train_gan(cfg, out, loggers)
    folder = plan_run_dir(cfg, out)
    trainer = Trainer(cfg, folder, loggers=loggers)  # data, model and optimizer checked before any write
    make_run_dir(folder, cfg)
    return trainer.fit()


def resume(folder: str | Path, loggers=None) -> Run:
    """Continue a run from its `last` checkpoint: only the remaining epochs and steps are trained."""
    folder = Path(folder)
    ck_path = folder / "checkpoints" / "last.pt"
    if not ck_path.exists():
        raise UserError(f"{folder} has no checkpoints/last.pt to resume from; is it a run folder?")
    ck = load_checkpoint(ck_path)
    cfg = from_dict(ck["config"])
    if ck["epoch"] > cfg.train.epochs:
        print(f"{folder} already finished all {cfg.train.epochs} epochs; nothing to resume", flush=True)
    if MODELS.get(cfg.model.name).task == "generation":
        from .adversarial import resume_gan
        return resume_gan(folder, ck, cfg, loggers)
    return Trainer(cfg, folder, resume=ck, loggers=loggers).fit()
