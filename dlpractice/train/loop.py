"""Training entry points: `train(cfg)` and `resume(folder)` run the loop of the model's task kind
(`LOOPS`: the supervised loop of `supervised.py`, or the GAN's of `adversarial.py`), both built on the one
epoch skeleton of `skeleton.py`."""
from __future__ import annotations

import os
from pathlib import Path

from ..config import RunConfig
from ..models import MODELS
from ..registry import Registry
from ..runs.evaluate import evaluate  # noqa: F401  (part of this module's API)
from ..runs.folder import Run, has_checkpoint
from ..runs.tasks import TASKS
from .skeleton import (TrainingInterrupted, continue_run, finished_run, last_checkpoint,  # noqa: F401
                       seed_everything, start_run)
from .launch import Launch, launch_run, wants_launch
from .supervised import Trainer

LOOPS: Registry[type] = Registry("training loop")
LOOPS.add("supervised", Trainer)


def _gan_trainer(*args, **kwargs):
    """The GAN's loop, imported when a GAN run asks for it (it brings in matplotlib for its sample grids,
    seconds that a supervised run — or a resume killed early — should not pay)."""
    from .adversarial import GanTrainer
    return GanTrainer(*args, **kwargs)


LOOPS.add("adversarial", _gan_trainer)   # two players, two optimizers: the GAN's own steps


def loop_of(cfg: RunConfig) -> type:
    """The loop that trains `cfg`'s model: the one its task kind names."""
    return LOOPS.get(TASKS.get(MODELS.get(cfg.model.name).task).loop)


def train(cfg: RunConfig, out: str | Path | None = None, loggers=None, launch: Launch | None = None) -> Run:
    """Train `cfg` into a new run folder (`out`, or runs/<name>-<UTC time>) and return the Run. With
    `train.nproc` > 1 (or `launch` over several machines) the ranks are started here (`launch.py`); in a
    rank that torchrun restarted after a failure (`--max-restarts`), the run continues from its checkpoint."""
    if wants_launch(cfg, launch):
        return launch_run(cfg, out, launch)
    if int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0 and out is not None and has_checkpoint(Path(out)):
        return resume(out, loggers)
    return start_run(loop_of(cfg), cfg, out, loggers)


def resume(folder: str | Path, loggers=None, nproc: int | None = None, launch: Launch | None = None) -> Run:
    """Continue a run from its `last` checkpoint: only the remaining epochs and steps are trained, on
    `nproc` ranks (default: as many as the run had). A run that has finished is returned as it is (said
    on stdout), nothing in its folder touched."""
    done = finished_run(folder)
    if done is not None:
        return done
    ck, cfg = last_checkpoint(folder)
    if nproc is not None:
        cfg.train.nproc = nproc
    if wants_launch(cfg, launch):
        return launch_run(cfg, folder, launch, resume=True)
    return continue_run(loop_of(cfg), folder, ck, cfg, loggers)
