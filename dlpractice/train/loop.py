"""Training entry points: `train(cfg)` and `resume(folder)` run the loop of the model's task kind
(`LOOPS`: the supervised loop of `supervised.py`, or the GAN's of `adversarial.py`), both built on the one
epoch skeleton of `skeleton.py`."""
from __future__ import annotations

from pathlib import Path

from ..config import RunConfig
from ..models import MODELS
from ..registry import Registry
from ..runs.evaluate import evaluate  # noqa: F401  (part of this module's API)
from ..runs.folder import Run
from ..runs.tasks import TASKS
from .skeleton import (TrainingInterrupted, continue_run, finished_run, last_checkpoint,  # noqa: F401
                       seed_everything, start_run)
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


def train(cfg: RunConfig, out: str | Path | None = None, loggers=None) -> Run:
    """Train `cfg` into a new run folder (`out`, or runs/<name>-<UTC time>) and return the Run."""
    return start_run(loop_of(cfg), cfg, out, loggers)


def resume(folder: str | Path, loggers=None) -> Run:
    """Continue a run from its `last` checkpoint: only the remaining epochs and steps are trained. A run
    that has finished is returned as it is (said on stdout), nothing in its folder touched."""
    done = finished_run(folder)
    if done is not None:
        return done
    ck, cfg = last_checkpoint(folder)
    return continue_run(loop_of(cfg), folder, ck, cfg, loggers)
