"""The model registry: name → builder, task kind, input kind (`inputs/` gives an example batch of each)."""
from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from ..errors import UserError
from ..registry import Registry
from .calibration import Tempered
from .ensemble import Ensemble, ViewAverage


# Tasks whose models may be ensembles (`model.args.members = N`): outputs are class logits to average.
ENSEMBLE_TASKS = ("classification", "sequence_classification")
MAX_SHIFT = 4   # model.args.shift_average: (2·4 + 1)² = 81 crops of each view at most


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
        classifiers, `flip_average` and `shift_average` for image classifiers."""
        own = set(inspect.signature(self.build).parameters)
        if self.task in ENSEMBLE_TASKS:
            own.add("members")
            if self.input == "image":
                own.update(("flip_average", "shift_average"))
        return own

    def resolve_args(self, meta: dict, user: dict, where: str = "model.args") -> dict:
        """Model arguments from the data (`num_classes`, `in_channels`, `in_features`, ...) plus the
        user's `model.args`; unknown user arguments are a UserError naming the accepted ones."""
        ok = self.accepts()
        bad = sorted(set(user) - ok)
        if bad:
            raise UserError(f"model '{self.name}' has no argument(s) {', '.join(bad)}; "
                            f"it accepts: {', '.join(sorted(ok))}")
        args = {k: meta[k] for k in ("num_classes", "in_channels", "in_features", "vocab_size", "out_features")
                if k in ok and k in meta}
        for k, v in user.items():   # what the data decides cannot be set otherwise: it would fail inside a step
            if k in args and v != args[k]:
                raise UserError(f"{where}.{k} = {v!r} contradicts the data set ({meta.get('dataset') or 'its data'} "
                                f"gives {k} = {args[k]}); remove {where}.{k}: it is taken from the data")
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


# Upper bounds of the builders' sizes: beyond them a layer would not fit in any memory, and torch would fail
# with a traceback after minutes of allocation instead of a line naming the argument.
MAX_UNITS = 2 ** 16      # widest layer: hidden units, channels, embedding size
MAX_SIZE = 2 ** 24       # classes, input features, output features, vocabulary
MAX_LAYERS = 256         # stacked layers of one kind
MAX_SIDE = 4096          # image side
MAX_WIDTH = 16.0         # width multiplier of the classic nets (1.0: the paper's)
MAX_MEMBERS = 64         # copies in one ensemble


def check_count(what: str, value, least: int, why: str = "", most: int | None = None) -> None:
    """A UserError unless `value` (the setting `what`) is a whole number ≥ `least` (and ≤ `most`)."""
    why = f" ({why})" if why else ""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < least:   # numpy ints too
        raise UserError(f"{what} must be a whole number ≥ {least}{why}, got {value!r}")
    if most is not None and value > most:
        raise UserError(f"{what} must be a whole number ≤ {most}{why}, got {value!r}")


def check_counts(what: str, values, least: int, most: int | None = None, example: str = "[512, 256]") -> None:
    """A UserError unless `values` is a list of whole numbers, each ≥ `least` (and ≤ `most`)."""
    if not isinstance(values, (list, tuple)):
        raise UserError(f"{what} must be a list of whole numbers ≥ {least}, e.g. {example}; got {values!r}")
    if len(values) > MAX_LAYERS:
        raise UserError(f"{what} must hold at most {MAX_LAYERS} numbers, got {len(values)}")
    for i, v in enumerate(values):
        check_count(f"{what}[{i}]", v, least, most=most)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_fraction(what: str, value, closed: bool = False) -> None:
    """A UserError unless `value` is a finite number in [0, 1) (a dropout rate), or [0, 1] when `closed`."""
    if not _is_number(value) or not (0 <= value <= 1 if closed else 0 <= value < 1):
        raise UserError(f"{what} must be a number in [0, 1{']' if closed else ')'}, got {value!r}")


def check_positive(what: str, value, most: float) -> None:
    """A UserError unless `value` is a finite number in (0, `most`] (a width multiplier)."""
    if not _is_number(value) or not 0 < value <= most:
        raise UserError(f"{what} must be a number in (0, {most:g}], got {value!r}")


def check_choice(what: str, value, choices) -> None:
    """A UserError unless `value` is one of `choices`."""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value not in choices:
        raise UserError(f"{what} must be one of {', '.join(map(str, choices))}; got {value!r}")


def check_flag(what: str, value) -> None:
    """A UserError unless `value` (the setting `what`) is true or false."""
    if not isinstance(value, bool):
        raise UserError(f"{what} must be true or false, got {value!r}")


def check_image(num_classes, in_channels, input_size=None, smallest: int = 1, layout: str = "") -> None:
    """The arguments every image classifier takes: classes, input channels and (None: the default) side."""
    check_count("model.args.num_classes", num_classes, 1, most=MAX_SIZE)
    check_count("model.args.in_channels", in_channels, 1, most=MAX_UNITS)
    if input_size is not None:
        check_count("model.args.input_size", input_size, 1, most=MAX_SIDE)
        if input_size < smallest:
            raise UserError(f"input_size {input_size} is too small for the {layout} layout (at least {smallest})")


def build_model(name: str, args: dict) -> nn.Module:
    """The registered model `name` built with `args`; `flip_average` and `shift_average` wrap it in ViewAverage,
    `members` = N ≥ 2 makes an ensemble of N copies, and `members` = a list of tables an ensemble of one member
    per table, each built with `args` updated by its table (e.g. [{hidden = [1024, 512]}, {hidden = [1024, 512, 256]}]);
    `calibrated` (train.calibrate) puts the whole inside Tempered."""
    spec = MODELS.get(name)
    args = dict(args)
    members, flip, shift = args.pop("members", 1), args.pop("flip_average", False), args.pop("shift_average", 0)
    calibrated = args.pop("calibrated", False)   # train.calibrate's wrapper, set by the trainer (not model.args)
    shapes = member_args(spec, members, args)
    check_flag("model.args.flip_average", flip)
    check_count("model.args.shift_average", shift, 0, "largest offset in pixels of the averaged crops; 0: none",
                most=MAX_SHIFT)
    try:
        built = [spec.build(**a) for a in shapes]
    except TypeError as e:
        raise UserError(f"model '{name}' cannot be built with arguments {args}: {e}") from None
    if flip or shift:
        built = [ViewAverage(m, flip, shift) for m in built]
    model = built[0] if len(built) == 1 else Ensemble(built)
    return Tempered(model) if calibrated else model


def member_args(spec: ModelSpec, members, args: dict) -> list[dict]:
    """The builder arguments of each ensemble member: `members` copies of `args`, or `args` updated by each
    table of the list `members`; a UserError names a bad count, a non-table entry or an unknown argument."""
    if not isinstance(members, (list, tuple)):
        check_count("model.args.members", members, 1, "copies to train and average, or a list of tables",
                    most=MAX_MEMBERS)
        return [args] * members
    if not 2 <= len(members) <= MAX_MEMBERS:
        raise UserError(f"model.args.members as a list needs 2 to {MAX_MEMBERS} tables (one per member), "
                        f"got {len(members)}")
    own = spec.accepts() - {"members", "flip_average", "shift_average"}   # a member is one network, not another wrapper
    shapes = []
    for i, m in enumerate(members):
        if not isinstance(m, dict):
            raise UserError(f"model.args.members[{i}] must be a table of {spec.name}'s arguments "
                            f"({', '.join(sorted(own))}), or {{}} for a copy; got {m!r}")
        bad = sorted(set(m) - own)
        if bad:
            raise UserError(f"model.args.members[{i}] names {', '.join(bad)}, not an argument of {spec.name}; "
                            f"it accepts: {', '.join(sorted(own))}")
        shapes.append({**args, **m})
    return shapes


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
