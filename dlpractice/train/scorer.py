"""The GAN score's fixed classifier (`track.gan_score.Scorer`): trained once with the ordinary loop by
`lessons/gan_scorer.toml` into the user cache, one folder per recipe, and read from there afterwards."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..config import RunConfig, load_config
from ..data.paths import cache_dir
from ..track.gan_score import Scorer
from .skeleton import continue_run, last_checkpoint, start_run
from .supervised import Trainer

RECIPE = Path(__file__).resolve().parents[1] / "lessons" / "gan_scorer.toml"


def _recipe_key(cfg) -> str:
    # What decides the weights: every setting but logging that differs from its default, so a changed
    # recipe gets its own cache folder and a new setting added to the config (at its default) does not.
    default = RunConfig().to_dict()
    d = {sec: {k: v for k, v in vals.items() if v != default[sec][k]}
         for sec, vals in cfg.to_dict().items() if sec not in ("log", "gan")}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def load_scorer(overrides: list[str] | None = None) -> Scorer:
    """The score's classifier from the user cache; trained there by `lessons/gan_scorer.toml` (plus
    `overrides`) with the ordinary loop the first time, which is said on stdout."""
    cfg = load_config(RECIPE, list(overrides or []))
    folder = cache_dir() / "gan_scorer" / f"{cfg.model.name}-{cfg.data.dataset}-{_recipe_key(cfg)}"
    if not (folder / "summary.json").is_file():
        print(f"the GAN score needs its classifier: training {cfg.model.name} on {cfg.data.dataset} once, by "
              f"{RECIPE.name}{' with ' + ' '.join(overrides) if overrides else ''}, into {folder}", flush=True)
        if (folder / "checkpoints" / "last.pt").is_file():
            continue_run(Trainer, folder, *last_checkpoint(folder))  # an earlier first training was stopped
        else:
            (folder / "config.toml").unlink(missing_ok=True)  # a start that died before its first checkpoint
            start_run(Trainer, cfg, out=folder)
    return Scorer(folder)
