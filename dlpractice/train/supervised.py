"""The supervised loop: one model, forward → loss → backward → step; validation picks the best epoch."""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from ..config import RunConfig
from ..data import load_dataset
from ..data.registry import input_trouble
from ..errors import UserError
from ..models import MODELS, build_model, count_params
from ..models.ensemble import Ensemble
from ..runs.checkpoint import load_checkpoint, load_weights
from ..runs.global_bn import global_batchnorm
from ..runs.evaluate import autocast, evaluate, evaluate_outputs, to_device
from ..runs.folder import Run, versions, write_json
from ..runs.tasks import TASKS
from .calibrate import calibrated_args, calibrated_loss, fit_on_validation
from .ema import averaged_copy, update_average
from .optim import RE_EVALUATES, build_optimizer, build_schedule, fp16_scaler
from ..track.notice import slow_step
from .probe import compile_mode, supervised_work
from .speed import resolve_speed
from .grad_norms import clip_grads, grad_norm_metrics, note_grad_norm
from .skeleton import (EpochLoop, build_loggers, draw_figures, progress_state, rank_streams, restore_progress,
                       seed_everything, start_progress, training_loader)


class Trainer(EpochLoop):
    """Holds the state of one run so that the epoch loop, checkpoints and resume share it."""

    def __init__(self, cfg: RunConfig, folder: Path, resume: dict | None = None, loggers=None):
        self.cfg, self.folder = cfg, folder
        self.use_machine(cfg)
        seed_everything(cfg.train.seed)
        self.spec = MODELS.get(cfg.model.name)
        size = cfg.model.args.get("input_size", self.spec.input_size)
        with slow_step(f"loading {cfg.data.dataset}", quiet=not self.ranks.main):
            self.data = load_dataset(cfg.data, size)   # every rank at once: downloads land whole, by rename
        if self.data.task != self.spec.task:
            raise UserError(f"model '{self.spec.name}' is for {self.spec.task} but data set "
                            f"'{cfg.data.dataset}' is {self.data.task}; pick a matching pair "
                            "(see `dlp models` and `dlp datasets`)")
        self.task = TASKS.get(self.spec.task)
        self.meta = self.data.meta
        # with train.calibrate the loss that chooses is validation's after its temperature, as the run will score
        self.chooses_on = ("loss_calibrated" if cfg.train.calibrate != "off" else "loss") \
            if cfg.train.choose_by == "loss" else self.task.primary
        self.model_args = calibrated_args(cfg, self.spec, self.data,
                                          self.spec.resolve_args(self.data.meta, cfg.model.args))
        self.model = build_model(self.spec.name, self.model_args).to(self.device)
        tr = self.data.splits["train"]
        # train.precision, channels_last and compile: as set, as a resumed run had them, or probed on b examples
        self.speed = resolve_speed(self, resume, lambda b: supervised_work(
            self.model, self.spec.name, self.model_args, tr.x[:b].to(self.device), tr.y[:b].to(self.device),
            self.task), len(tr))
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if self.ranks.world > 1 and cfg.train.sync_bn:   # the global batch's statistics, on any backend
            self.model = global_batchnorm(self.model)
        # train.grad_clip bounds an ensemble's members each on its own, to grad_clip / members: their loss is the
        # mean of theirs, so each is clipped as it would be alone (models/ensemble.py); any other model as one
        ens = next((m for m in self.model.modules() if isinstance(m, Ensemble)), None)
        self.grad_groups = [list(m.parameters()) for m in ens.members] if ens else [list(self.model.parameters())]
        self.net = self.ranks.wrap(self.model)   # what steps call: DistributedDataParallel over several ranks
        if cfg.train.compile == "on":
            self.net = torch.compile(self.net, mode=compile_mode(self.device))
        # CUDA graphs reuse their outputs' memory at the next replay: an output kept past its step is copied
        self.keeps_copy = cfg.train.compile == "on" and compile_mode(self.device) == "reduce-overhead"
        # With train.ema > 0 a moving average of the weights is what is evaluated, chosen and saved.
        self.averaged = averaged_copy(self.model) if cfg.train.ema else None
        self.loader = training_loader(cfg, tr.x, tr.y, self.ranks, self.device)
        self.pending = []   # (output, target) of steps whose task sums are not yet added (deferred_sums)
        self.opt = build_optimizer(cfg.optim, self.model.parameters())
        self.scaler = fp16_scaler(cfg, self.device)   # fp16: the loss scaled up so small gradients stay above zero
        self.weight = 1.0   # this rank's share of the global batch × ranks: its loss's weight in the step
        self.sched = build_schedule(cfg.schedule, self.opt, cfg.train.epochs, len(self.loader))
        rank_streams(self)
        start_progress(self)
        if resume:
            self._restore(resume)
        self.loggers = build_loggers(cfg, loggers, self.ranks)

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
                "scheduler": self.sched.state_dict(), **progress_state(self), "val_metric": val_metric,
                "speed": self.speed, **({"scaler": self.scaler.state_dict()} if self.scaler else {})}

    def _restore(self, ck: dict) -> None:
        path = self.folder / "checkpoints" / "last.pt"
        path = path if path.exists() else path.with_name("best.pt")  # what `last_checkpoint` read
        load_weights(self.model, ck.get("trained", ck["model"]), path)
        if self.averaged is not None:
            load_weights(self.averaged, ck["model"], path)
        try:
            self.opt.load_state_dict(ck["optimizer"])
            self.sched.load_state_dict(ck["scheduler"])
            if self.scaler and "scaler" in ck:
                self.scaler.load_state_dict(ck["scaler"])
            restore_progress(self, ck)
        except (ValueError, RuntimeError, KeyError, TypeError, IndexError) as e:
            raise UserError(f"checkpoint {path} cannot be resumed: its optimizer, schedule or progress does "
                            f"not fit this run ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                            "train the run again") from None

    # -- the loop ------------------------------------------------------------------------------
    def forward_backward(self, xb, yb, first: bool = True):
        """Forward, loss, backward and clipping: the step up to the optimizer's update (`first`: the step's
        own evaluation, whose gradient norm is logged — LBFGS evaluates again inside its step)."""
        self.opt.zero_grad(set_to_none=True)
        with autocast(self.cfg, self.device):
            out = self.net(xb)
        loss = self.task.loss(out, yb, self.cfg.train.label_smoothing)
        # DDP averages the ranks' gradients; weighting each by its share keeps that the global mean's
        weighted = loss * self.weight if self.weight != 1.0 else loss
        if self.scaler:   # fp16: backward through the scaled loss, then the gradients back to their true size
            self.scaler.scale(weighted).backward()
            self.scaler.unscale_(self.opt)
        else:   # fp32 and bf16 (whose exponent range is fp32's) need no scaling
            weighted.backward()
        # Clipped after backward (where DDP has averaged the ranks' gradients) and unscaling
        norm = clip_grads(self.grad_groups, self.cfg.train.grad_clip)
        if first:
            note_grad_norm(self, "", norm)
        return out, loss

    def train_step(self, xb, yb):
        """One optimizer step: forward and backward, then the update — through a closure for an optimizer that
        re-evaluates the loss (LBFGS), so every optimizer uses the same loop."""
        if self.cfg.optim.name in RE_EVALUATES:
            box = {}

            def closure():
                out, loss = self.forward_backward(xb, yb, first=not box)
                box.setdefault("out", (out, loss))
                return loss

            self.opt.step(closure)
            out, loss = box["out"]
        else:   # no closure: nothing calls the loss again
            out, loss = self.forward_backward(xb, yb)
            if self.scaler:   # fp16: a step whose gradients overflowed is skipped, and the scale lowered
                self.scaler.step(self.opt)
                self.scaler.update()
            else:
                self.opt.step()
        if self.averaged is not None:
            update_average(self.averaged, self.model, self.cfg.train.ema, self.step)
        self.sched.step()
        return out, loss

    def train_mode(self) -> None:
        self.model.train()

    def step_sums(self, xb, yb) -> dict:
        xb, yb = to_device(xb, yb, self.device, self.cfg)
        if self.ranks.world > 1:
            self.weight = len(yb) * self.ranks.world / self.loader.batch_len(self.batch)
        try:
            out, loss = self.train_step(xb, yb)
        except Exception as e:   # noqa: BLE001  (a compile that fails here is the machine's, said in one line)
            if self.cfg.train.compile == "on" and type(e).__module__.startswith(("torch._dynamo", "torch._inductor")):
                raise UserError(f"train.compile = on failed on this machine ({type(e).__name__}: "
                                f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}); use --set "
                                "train.compile=off") from None
            if not isinstance(e, ValueError) or "Expected more than 1 value per channel" not in str(e):
                raise
            raise UserError(f"BatchNorm cannot train on a batch of one example (epoch {self.epoch}, batch "
                            f"{self.batch + 1} of {len(self.loader)}: {len(self.data.splits['train'])} training "
                            f"examples in batches of {self.cfg.data.batch_size}); use data.limit_train ≥ 2 and a "
                            "data.batch_size that leaves more than one example for the last batch, or a model "
                            "without BatchNorm") from None
        value = loss.item()   # one read of the loss: the check below and the epoch's sums
        if not math.isfinite(value):  # one line with the likely cause
            o = self.cfg.optim
            why = input_trouble(xb, self.data.splits["train"].x, self.data.meta.get("features"))
            if why is None and o.weight_decay >= 1:
                why = f"optim.weight_decay = {o.weight_decay:g} is huge (typical: 1e-4 to 1e-2); lower it"
            raise UserError(f"loss became {value} at epoch {self.epoch} step {self.step + 1}: "
                            f"{why or f'the steps are too large: lower optim.lr (now {o.lr:g})'}")
        out = out.detach().clone() if self.keeps_copy else out.detach()
        self.pending.append((out, yb))   # the task's own sums later (deferred_sums)
        return {"n": float(len(yb)), "loss": value * len(yb)}

    def deferred_sums(self) -> list[dict]:
        """The task's sums (a classifier's correct count, ...) of each step since the last call. Computed here,
        a few dozen steps at a time, rather than in each step, where their handful of small operations cost
        ~1.5% of a small CNN's step (bench/step_costs.py)."""
        done, self.pending = self.pending, []
        return [self.task.stats(out, y) for out, y in done]

    def train_metrics(self) -> dict:
        return {**self.task.finish(self.train_sums), **grad_norm_metrics(self)}

    def epoch_metrics(self, train_m: dict) -> tuple[dict, dict, float]:
        """{split: metrics} of the epoch; the chooser is validation (training metrics when there is no
        validation split) — the test split is only reported."""
        cfg = self.cfg
        metrics = {"train": train_m}
        self.ranks.same_buffers(self.eval_model)   # rank 0's BatchNorm statistics, evaluated and saved by all
        for split in ("val", "test") if cfg.train.eval_test else ("val",):
            s = self.data.splits[split]
            if len(s):
                t0 = time.perf_counter()
                calibrate = split == "val" and cfg.train.calibrate != "off"   # its temperature from the same outputs
                metrics[split], out = evaluate_outputs(self.eval_model, self.task, s.x, s.y, cfg, self.device,
                                                       self.ranks, keep=calibrate)
                if calibrate:
                    metrics[split]["loss_calibrated"] = calibrated_loss(self, out, s.y)
                self.eval_seconds[split] = time.perf_counter() - t0
        chooser = metrics.get("val", train_m)
        return metrics, chooser, chooser[self.chooses_on]

    def better(self, chooser: dict) -> bool:
        return self.task.better(chooser, self.best_value, self.chooses_on)

    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def info(self) -> dict:
        return {"model": self.spec.name, "dataset": self.data.name, "params": count_params(self.model),
                "device": str(self.device)}

    def finish(self, wall: float, examples: int, train_seconds: float) -> Run:
        """Reload the best checkpoint, compute its test metrics, write summary.json and curves.png."""
        best_path = self.folder / "checkpoints" / "best.pt"
        self.ranks.barrier()   # rank 0 has written it
        load_weights(self.eval_model, load_checkpoint(best_path)["model"], best_path)
        calibration = fit_on_validation(self)   # None unless train.calibrate
        test = self.data.splits["test"]
        metrics = evaluate(self.eval_model, self.task, test.x, test.y, self.cfg, self.device, self.ranks)
        if not self.ranks.main:
            return Run(self.folder)
        primary = self.task.primary
        summary = {"task": self.spec.task, "model": self.spec.name, "dataset": self.data.name,
                   "params": count_params(self.model), "epochs": self.epoch - 1, "best_epoch": self.best_epoch,
                   "chosen_by": "val" if len(self.data.splits["val"]) else "train", "chosen_on": self.chooses_on,
                   "best_val": self.best_value, "metrics": metrics,
                   "primary_metric": {"name": primary, "value": metrics.get(primary)},
                   "wall_seconds": round(wall, 3),
                   "examples_per_second": round(examples / train_seconds, 1) if train_seconds else None,
                   "steps_this_process": self.steps_this_process, "device": str(self.device),
                   "ranks": self.ranks.world, "threads": torch.get_num_threads(), "speed": self.speed,
                   "versions": versions(), **({"calibration": calibration} if calibration else {})}
        if self.task.primary == "accuracy":
            summary["test_accuracy"] = metrics["accuracy"]
        write_json(self.folder / "summary.json", summary)
        draw_figures(self.folder, summary)  # curves.png, report.html
        for lg in self.loggers:
            lg.end(summary)
        return Run(self.folder)
