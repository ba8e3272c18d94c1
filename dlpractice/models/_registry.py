"""The model registry: name → builder, task kind, input kind (`inputs/` gives an example batch of each)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from ..errors import UserError
from ..registry import Registry
from .ensemble import Ensemble, FlipAverage


# Tasks whose models may be ensembles (`model.args.members = N`): outputs are class logits to average.
ENSEMBLE_TASKS = ("classification", "sequence_classification")


@dataclass
class ModelSpec:
    name: str
    build: Callable[..., nn.Module]
    task: str                 # classification | binary | regression | sequence_classification | generation
    input: str                # image | tabular | sequence | noise
    input_size: int | None    # image side the model expects (data is resized to it); None: any
    description: str
    paper: dict = field(default_factory=dict)  # kwargs of the paper configuration, if it differs

    def accepts(self) -> set[str]:
        """The builder's arguments, plus the averaging wrappers of models/ensemble.py: `members` for
        classifiers, `flip_average` for image classifiers."""
        own = set(inspect.signature(self.build).parameters)
        if self.task in ENSEMBLE_TASKS:
            own.add("members")
            if self.input == "image":
                own.add("flip_average")
        return own

    def resolve_args(self, meta: dict, user: dict) -> dict:
        """Model arguments from the data (`num_classes`, `in_channels`, `in_features`, ...) plus the
        user's `model.args`; unknown user arguments are a UserError naming the accepted ones."""
        ok = self.accepts()
        bad = sorted(set(user) - ok)
        if bad:
            raise UserError(f"model '{self.name}' has no argument(s) {', '.join(bad)}; "
                            f"it accepts: {', '.join(sorted(ok))}")
        args = {k: meta[k] for k in ("num_classes", "in_channels", "in_features", "vocab_size", "out_features")
                if k in ok and k in meta}
        args.update(user)
        return args


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(name: str, task: str, input: str, description: str, input_size: int | None = None,
                   paper: dict | None = None):
    """Decorator registering a builder `fn(**args) -> nn.Module` under `name` (refused twice)."""
    def deco(fn):
        MODELS.add(name, ModelSpec(name, fn, task, input, input_size, description, paper or {}))
        return fn
    return deco


def check_count(what: str, value, least: int, why: str = "") -> None:
    """A UserError unless `value` (the setting `what`) is a whole number ≥ `least`."""
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise UserError(f"{what} must be a whole number ≥ {least}{f' ({why})' if why else ''}, got {value!r}")


def check_flag(what: str, value) -> None:
    """A UserError unless `value` (the setting `what`) is true or false."""
    if not isinstance(value, bool):
        raise UserError(f"{what} must be true or false, got {value!r}")


def build_model(name: str, args: dict) -> nn.Module:
    """The registered model `name` built with `args`; `flip_average` wraps it in FlipAverage, `members` = N ≥ 2
    makes an ensemble of N copies."""
    spec = MODELS.get(name)
    args = dict(args)
    members, flip = args.pop("members", 1), args.pop("flip_average", False)
    check_count("model.args.members", members, 1, "copies to train and average")
    check_flag("model.args.flip_average", flip)
    try:
        built = [spec.build(**args) for _ in range(members)]
    except TypeError as e:
        raise UserError(f"model '{name}' cannot be built with arguments {args}: {e}") from None
    if flip:
        built = [FlipAverage(m) for m in built]
    return built[0] if members == 1 else Ensemble(built)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
