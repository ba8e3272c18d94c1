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
from .adversarial import GanTrainer
from .skeleton import TrainingInterrupted, continue_run, last_checkpoint, seed_everything, start_run  # noqa: F401
from .supervised import Trainer

LOOPS: Registry[type] = Registry("training loop")
LOOPS.add("supervised", Trainer)
LOOPS.add("adversarial", GanTrainer)   # two players, two optimizers: the GAN's own steps


def loop_of(cfg: RunConfig) -> type:
    """The loop that trains `cfg`'s model: the one its task kind names."""
    return LOOPS.get(TASKS.get(MODELS.get(cfg.model.name).task).loop)


def train(cfg: RunConfig, out: str | Path | None = None, loggers=None) -> Run:
    """Train `cfg` into a new run folder (`out`, or runs/<name>-<UTC time>) and return the Run."""
    return start_run(loop_of(cfg), cfg, out, loggers)


def resume(folder: str | Path, loggers=None) -> Run:
    """Continue a run from its `last` checkpoint: only the remaining epochs and steps are trained."""
    ck, cfg = last_checkpoint(folder)
    return continue_run(loop_of(cfg), folder, ck, cfg, loggers)
