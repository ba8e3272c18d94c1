"""The GAN's loop: two players, two optimizers, on the epoch skeleton the supervised loop uses too
(`skeleton.py`: run folder, loggers, checkpoints, Ctrl-C handling and exact resume; STYLE.md principle 5)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..data import load_dataset
from ..errors import UserError
from ..models import MODELS, build_model, count_params
from ..runs.checkpoint import load_checkpoint
from ..runs.global_bn import global_batchnorm
from ..runs.evaluate import autocast, to_device
from ..runs.folder import Run, versions, write_json
from ..track.gan_score import Reference, plot_class_shares, plot_gan_curves, save_grid
from ..track.report import report_at_end
from .ema import averaged_copy, update_average
from .optim import build_optimizer, build_schedule
from .probe import Workload
from .speed import resolve_speed
from ..track.notice import slow_step
from .scorer import load_scorer
from .grad_norms import clip_grads, grad_norm_metrics, note_grad_norm
from .skeleton import (EpochLoop, build_loggers, progress_state, rank_streams, restore_progress, seed_everything,
                       start_progress, training_loader)


def to_unit_range(x: torch.Tensor, meta: dict) -> torch.Tensor:
    """Undo the data set's (x − mean) / std and map [0, 1] to [−1, 1], the range of the generator's tanh."""
    return ((x * meta["std"] + meta["mean"]) * 2 - 1).clamp(-1, 1)


@torch.no_grad()
def generate(g: torch.nn.Module, noise: torch.Tensor, device, batch: int = 1000) -> torch.Tensor:
    """Images (N ≥ 2, C, H, W) in [−1, 1] from noise (N, latent_dim), in chunks of about `batch`.

    BatchNorm uses each chunk's own statistics, as G saw in training (and as PyTorch's DCGAN example
    samples); the running averages are put back afterwards, so generating changes nothing."""
    saved = {k: v.clone() for k, v in g.named_buffers()}
    was = g.training
    g.train()
    chunks = noise.tensor_split(max(1, -(-len(noise) // batch)))     # near-equal sizes, none of one
    out = torch.cat([g(z.to(device)).cpu() for z in chunks])
    g.train(was)
    with torch.no_grad():
        for k, v in g.named_buffers():
            v.copy_(saved[k])
    return out


# -- the players' losses, by name (gan.loss): (D's logits on real, on generated, real_label) → D's loss,
#    and D's logits on generated → G's loss -------------------------------------------------------------------
def _bce_d(out_real, out_fake, real_label):
    return (F.binary_cross_entropy_with_logits(out_real, torch.full_like(out_real, real_label))
            + F.binary_cross_entropy_with_logits(out_fake, torch.zeros_like(out_fake)))


def _bce_g(out_fake):
    return F.binary_cross_entropy_with_logits(out_fake, torch.ones_like(out_fake))   # non-saturating


def _hinge_d(out_real, out_fake, real_label):
    return F.relu(1 - out_real).mean() + F.relu(1 + out_fake).mean()


def _ls_d(out_real, out_fake, real_label):
    return 0.5 * ((out_real - real_label) ** 2).mean() + 0.5 * (out_fake ** 2).mean()


GAN_LOSSES = {
    # Goodfellow et al. 2014 with the non-saturating generator loss, as the DCGAN paper trains
    "bce": (_bce_d, _bce_g),
    # Lim & Ye 2017; Miyato et al. 2018 (SN-GAN): D's margin loss, G raises D's logit
    "hinge": (_hinge_d, lambda out_fake: -out_fake.mean()),
    # Mao et al. 2017 (LSGAN): least squares towards 1 (real) and 0 (generated)
    "lsgan": (_ls_d, lambda out_fake: 0.5 * ((out_fake - 1) ** 2).mean()),
}


def refuse_unhonoured(cfg: RunConfig) -> None:
    """The GAN loop trains in fp32 or bf16, uncompiled: fp16 (which needs a gradient scaler, for two players here)
    or a compile set explicitly is refused, rather than recorded in summary.json as if it had run."""
    t = cfg.train
    forced = [f"train.{k} = {v}" for k, v, no in (("precision", t.precision, "fp16"), ("compile", t.compile, "on"))
              if v == no]
    if forced:
        raise UserError(f"{', '.join(forced)}: the GAN loop trains in fp32 or bf16 (NCHW or NHWC), uncompiled; "
                        f"leave {'it' if len(forced) == 1 else 'them'} at auto")


class GanTrainer(EpochLoop):
    """One GAN run: generator (`model.name`), discriminator (`gan.discriminator`), their optimizers, the
    fixed noise of the sample grid and of the score, and the state a checkpoint needs for exact resume."""

    def __init__(self, cfg: RunConfig, folder: Path, resume: dict | None = None, loggers=None):
        self.cfg, self.folder = cfg, folder
        self.use_machine(cfg)
        refuse_unhonoured(cfg)
        self.g_spec, self.d_spec = MODELS.get(cfg.model.name), MODELS.get(cfg.gan.discriminator)
        if self.d_spec.task != "generation" or self.d_spec.input != "image":
            raise UserError(f"gan.discriminator '{self.d_spec.name}' is not a discriminator; pick a generation "
                            "model with image input, e.g. dcgan_d (see `dlp models`)")
        with slow_step(f"loading {cfg.data.dataset}", quiet=not self.ranks.main):
            data = load_dataset(cfg.data, self.d_spec.input_size)   # every rank at once: downloads land whole, by rename
        if data.meta["input"] != "image":
            raise UserError(f"a GAN learns images, but data set '{cfg.data.dataset}' holds {data.meta['input']} "
                            "data; use an image data set such as fashion-mnist")
        self.data = data
        self.real = {k: to_unit_range(s.x, data.meta) for k, s in data.splits.items()}   # (N, C, H, W) in [−1, 1]
        self.g_args = self.g_spec.resolve_args(data.meta, cfg.model.args)
        if "channels" in self.g_spec.accepts():
            self.g_args.setdefault("channels", data.meta["in_channels"])
        self.d_args = self.d_spec.resolve_args(data.meta, cfg.gan.d_args, "gan.d_args")
        with torch.device("meta"):   # both players' arguments checked (no memory, no weights) before the scorer
            build_model(self.g_spec.name, self.g_args), build_model(self.d_spec.name, self.d_args)
        # The scorer next: training it on first use draws from the global RNG, seeded below for the GAN.
        with self.ranks.main_first(), slow_step("loading the classifier that scores the samples (FID; trained into "
                                                 "the cache on first use)", quiet=not self.ranks.main):
            self.scorer = load_scorer(cfg.gan.scorer_set)   # trained into the cache once, by rank 0
        if self.scorer.meta["dataset"] != data.name:
            raise UserError(f"the score's classifier was trained on {self.scorer.meta['dataset']}, not "
                            f"{data.name}; set gan.scorer_set=['data.dataset=\"{data.name}\"'] to train one for it")
        # rank 0 scores (the others wait for its figures)
        with slow_step("scoring the real test and validation images (the FID's reference)", quiet=not self.ranks.main):
            self.ref = Reference(self.scorer, self.real["test"], self.real["val"]) if self.ranks.main else None
        seed_everything(cfg.train.seed)
        self.g = build_model(self.g_spec.name, self.g_args).to(self.device)
        self.d = build_model(self.d_spec.name, self.d_args).to(self.device)
        self.speed = resolve_speed(self, resume, self._work, len(self.real["train"]))   # precision and layout
        if cfg.train.channels_last:
            self.g = self.g.to(memory_format=torch.channels_last)
            self.d = self.d.to(memory_format=torch.channels_last)
        # The generator that draws samples and scores: a moving average of G's weights, which wanders
        # less than G itself between steps (Yazıcı et al. 2019); with gan.ema = 0 it is G.
        self.g_ema = averaged_copy(self.g)
        if self.ranks.world > 1 and cfg.train.sync_bn:   # the players only: G's average samples on rank 0 alone
            self.g, self.d = global_batchnorm(self.g), global_batchnorm(self.d)
        self.g_net, self.d_net = self.ranks.wrap(self.g), self.ranks.wrap(self.d)   # DDP over several ranks
        self.latent = self.g.latent_dim
        self.meta = {**data.meta, "task": "generation", "input": "noise", "latent_dim": self.latent,
                     "pixel_range": [-1, 1]}
        self.loader = training_loader(cfg, self.real["train"], data.splits["train"].y, self.ranks, self.device)
        self.g_opt = build_optimizer(cfg.optim, self.g.parameters())
        d_optim = dataclasses.replace(cfg.optim, lr=cfg.gan.d_lr or cfg.optim.lr)
        self.d_opt = build_optimizer(d_optim, self.d.parameters())
        self.g_sched = build_schedule(cfg.schedule, self.g_opt, cfg.train.epochs, len(self.loader))
        self.d_sched = build_schedule(cfg.schedule, self.d_opt, cfg.train.epochs, len(self.loader))
        # Fixed noise, from its own generator so it never moves the training RNG: the score's samples,
        # whose first `gan.grid` make every epoch's grid (the same z, so the grids show progress).
        gen = torch.Generator().manual_seed(cfg.train.seed + 1)
        self.noise = torch.randn(max(cfg.gan.eval_samples, cfg.gan.grid), self.latent, generator=gen)
        rank_streams(self)
        start_progress(self)
        if resume:
            self._restore(resume)
        self.loggers = build_loggers(cfg, loggers, self.ranks)

    def _work(self, b: int) -> Workload:
        """The probe's step: both players on `b` real images and as many generated from fixed noise — D's loss on
        both and G's through D, backward once (the work of `train_step` without the updates). "auto" chooses only
        the layout here: in bf16 the lesson's step is 1.5× faster, but its 18 epochs ended at FID 1.05 and IS 5.98,
        outside fp32's three runs (FID 0.90–0.97, IS 6.09–6.14; docs/RESULTS.md): not the same result.
        train.precision = bf16 makes that trade."""
        z = torch.randn(b, self.g.latent_dim, generator=torch.Generator().manual_seed(0)).to(self.device)
        d_loss, g_loss = GAN_LOSSES[self.cfg.gan.loss]

        def forward(players, real):
            g, d = players
            fake = g(z)
            return d(real), d(fake.detach()), d(fake)

        def loss(outs):
            out_real, out_fake, out_g = (o.float() for o in outs)
            return d_loss(out_real, out_fake, self.cfg.gan.real_label) + g_loss(out_g)

        return Workload(f"{self.g_spec.name} + {self.d_spec.name}", {"g": self.g_args, "d": self.d_args,
                        "loss": self.cfg.gan.loss}, [self.g, self.d], self.real["train"][:b].to(self.device),
                        forward, loss, reduced=(), compiles=False)

    # -- checkpoints ---------------------------------------------------------------------------
    def _payload(self, fid: float | None) -> dict:
        # "model" is the averaged generator, so Run.model() and `dlp sample` rebuild it from the folder alone.
        return {"model": self.g_ema.state_dict(), "generator": self.g.state_dict(), "model_name": self.g_spec.name,
                "model_args": self.g_args,
                "discriminator": self.d.state_dict(), "d_name": self.d_spec.name, "d_args": self.d_args,
                "config": self.cfg.to_dict(), "data_meta": self.meta,
                "optimizer": self.g_opt.state_dict(), "d_optimizer": self.d_opt.state_dict(),
                "scheduler": self.g_sched.state_dict(), "d_scheduler": self.d_sched.state_dict(),
                **progress_state(self), "val_metric": fid, "speed": self.speed}

    def _restore(self, ck: dict) -> None:
        self.g.load_state_dict(ck["generator"])
        self.g_ema.load_state_dict(ck["model"])
        self.d.load_state_dict(ck["discriminator"])
        self.g_opt.load_state_dict(ck["optimizer"])
        self.d_opt.load_state_dict(ck["d_optimizer"])
        self.g_sched.load_state_dict(ck["scheduler"])
        self.d_sched.load_state_dict(ck["d_scheduler"])
        restore_progress(self, ck)

    # -- the loop ------------------------------------------------------------------------------
    def train_step(self, real: torch.Tensor) -> dict:
        """One step of each player (Goodfellow et al. 2014, non-saturating G loss): D on real and
        generated images, then G through D. Returns the batch's additive sums."""
        n = len(real)
        with autocast(self.cfg, self.device):   # train.precision; the losses in fp32
            fake = self.g_net(torch.randn(n, self.latent, device=self.device))     # (B, C, H, W)
            out_real, out_fake = self.d_net(real), self.d_net(fake.detach())       # (B, 1) logits
        out_real, out_fake = out_real.float(), out_fake.float()
        self.d_opt.zero_grad(set_to_none=True)
        d_loss, g_loss = GAN_LOSSES[self.cfg.gan.loss]
        loss_d = d_loss(out_real, out_fake, self.cfg.gan.real_label)
        # over several ranks, each loss weighted by the rank's share: DDP's average is the global batch's
        w = n * self.ranks.world / self.loader.batch_len(self.batch) if self.ranks.world > 1 else 1.0
        (loss_d * w if w != 1.0 else loss_d).backward()
        # each player clipped to train.grad_clip on its own before its step (after backward: DDP has synced)
        note_grad_norm(self, "d", clip_grads([list(self.d.parameters())], self.cfg.train.grad_clip))
        self.d_opt.step()
        self.g_opt.zero_grad(set_to_none=True)
        with autocast(self.cfg, self.device):
            out_g = self.d_net(fake)
        loss_g = g_loss(out_g.float())
        (loss_g * w if w != 1.0 else loss_g).backward()
        note_grad_norm(self, "g", clip_grads([list(self.g.parameters())], self.cfg.train.grad_clip))
        self.g_opt.step()
        update_average(self.g_ema, self.g, self.cfg.gan.ema, self.step)
        self.g_sched.step()
        self.d_sched.step()
        if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
            raise UserError(f"GAN loss became non-finite at epoch {self.epoch} step {self.step + 1}: "
                            f"lower optim.lr (now {self.cfg.optim.lr})")
        return {"n": float(n), "loss_d": float(loss_d.detach()) * n, "loss_g": float(loss_g.detach()) * n,
                "d_real": float(out_real.detach().sigmoid().sum()), "d_fake": float(out_fake.detach().sigmoid().sum())}

    def train_mode(self) -> None:
        self.g.train()
        self.d.train()

    def step_sums(self, xb, yb) -> dict:
        return self.train_step(to_device(xb, yb, self.device, self.cfg)[0])   # NHWC with train.channels_last

    def train_metrics(self) -> dict:
        s = self.train_sums
        # d_real / d_fake: D's mean probability of "real" for real and generated images (½ at balance)
        return {**{k: s[k] / s["n"] for k in ("loss_d", "loss_g", "d_real", "d_fake")},
                **grad_norm_metrics(self, ("d", "g"))}

    def score(self) -> dict:
        return self.ref.score(generate(self.g_ema, self.noise[:self.cfg.gan.eval_samples], self.device))

    def info(self) -> dict:
        return {"model": f"{self.g_spec.name} + {self.d_spec.name}", "dataset": self.data.name,
                "params": count_params(self.g) + count_params(self.d), "device": str(self.device)}

    def epoch_metrics(self, train_m: dict) -> tuple[dict, dict, float | None]:
        """The epoch's scores of the averaged generator; the validation images' FID chooses the best
        generator (none: the last epoch), the test images' figures are only reported. Rank 0 scores."""
        self.ranks.same_buffers(self.g_ema)
        return self.ranks.from_main(self._scores(train_m) if self.ranks.main else None)

    def _scores(self, train_m: dict) -> tuple[dict, dict, float | None]:
        s = self.score()
        test = {"fid": s["fid"], "fid_real_halves": self.ref.fid_halves,
                "inception_score": s["inception_score"], "inception_score_real": self.ref.inception_score,
                "min_class_share": s["min_class_share"]}
        metrics = {"train": train_m, **({"val": {"fid": s["fid_val"]}} if "fid_val" in s else {}), "test": test}
        fid_val = s.get("fid_val")
        return metrics, {"fid": fid_val}, fid_val

    def better(self, chooser: dict) -> bool:
        fid_val = chooser["fid"]
        return fid_val is None or self.best_value is None or fid_val < self.best_value["fid"]

    def lr(self) -> float:
        return self.g_opt.param_groups[0]["lr"]

    def patience(self) -> int:
        return 0   # the GAN loop trains every epoch asked for (train.early_stopping is for the supervised loop)

    def after_epoch(self) -> None:
        grid = save_grid(generate(self.g_ema, self.noise[:self.cfg.gan.grid], self.device),
                         self.folder / "samples" / f"epoch_{self.epoch:03d}.png")
        shutil.copyfile(grid, self.folder / "samples.png")

    def finish(self, wall: float, examples: int, train_seconds: float) -> Run:
        """Score the best generator on `gan.eval_samples` images beside the real test set; write
        summary.json, curves.png and classes.png."""
        if not self.ranks.main:
            return Run(self.folder)
        best = load_checkpoint(self.folder / "checkpoints" / "best.pt")
        self.g_ema.load_state_dict(best["model"])
        s = self.score()
        ref = self.ref
        classes = self.meta.get("classes") or [str(i) for i in range(len(s["shares"]))]
        metrics = {"fid": s["fid"], "fid_real_halves": ref.fid_halves, "inception_score": s["inception_score"],
                   "inception_score_real": ref.inception_score,
                   "is_ratio": s["inception_score"] / ref.inception_score, "min_class_share": s["min_class_share"]}
        epochs = self.epoch - 1
        summary = {"task": "generation", "model": self.g_spec.name, "discriminator": self.d_spec.name,
                   "dataset": self.data.name, "params": count_params(self.g), "d_params": count_params(self.d),
                   "epochs": epochs, "best_epoch": self.best_epoch,
                   "chosen_by": "val" if ref.val is not None else "last epoch", "best_val": self.best_value,
                   "metrics": metrics, "samples": len(self.noise[:self.cfg.gan.eval_samples]),
                   "class_shares": {c: float(v) for c, v in zip(classes, s["shares"])},
                   "class_shares_real": {c: float(v) for c, v in zip(classes, ref.shares)},
                   "scorer": {"folder": str(self.scorer.folder), "test_accuracy": self.scorer.accuracy,
                              "inception_score": "exp(mean KL(p(y|x) || p(y))) over all samples, no splits"},
                   "primary_metric": {"name": "fid", "value": s["fid"]}, **metrics,
                   "wall_seconds": round(wall, 3),
                   "seconds_per_epoch": round(train_seconds / max(1, self.steps_this_process) * len(self.loader), 2)
                   if self.steps_this_process else None,
                   "threads": torch.get_num_threads(),
                   "examples_per_second": round(examples / train_seconds, 1) if train_seconds else None,
                   "steps_this_process": self.steps_this_process, "device": str(self.device),
                   "ranks": self.ranks.world, "speed": self.speed,
                   "versions": versions()}
        write_json(self.folder / "summary.json", summary)
        plot_gan_curves(self.folder, f"{self.g_spec.name} + {self.d_spec.name} on {self.data.name}", self.best_epoch)
        plot_class_shares(self.folder / "classes.png", classes, s["shares"], ref.shares)
        report_at_end(self.folder)  # report.html, as the main loop writes one
        low = min(summary["class_shares"], key=summary["class_shares"].get)
        print(f"{summary['samples']:,} generated images (best epoch {self.best_epoch}): FID {s['fid']:.3g} "
              f"(real test halves {ref.fid_halves:.3g}) | Inception-style score {s['inception_score']:.3f} "
              f"(real test set {ref.inception_score:.3f}, ratio {metrics['is_ratio']:.3f}) | "
              f"smallest class {low} {s['min_class_share']:.1%}", flush=True)
        for lg in self.loggers:
            lg.end(summary)
        return Run(self.folder)
