"""The typed run config: data, model, optim, schedule, train, log — TOML in, resolved TOML out."""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from .errors import UserError, did_you_mean
from .fields import _num, range_text, setting as _f

BIG = 2 ** 20            # most examples per batch, scored samples, ...
MAX_EPOCHS = 100_000
MAX_STEPS = 2 ** 31      # step counts and example counts
MAX_THREADS = 4096         # a bound on typos; a new run is held to 4 × this machine's cores (train/skeleton.py)
MAX_NESTING = 32         # deepest list / table inside a setting (model.args, data.options, ...)


@dataclass
class DataConfig:
    dataset: str = _f("digits", "registered dataset name (see `dlp datasets`)")
    val_fraction: float = _f(0.1, "share of train carved out as validation, fixed seed", min=0.0, max=1.0,
                             open_max=True)
    split_seed: int = _f(0, "seed of the train/validation split (independent of train.seed)", min=0, max=2 ** 32,
                         open_max=True)
    batch_size: int = _f(128, "examples per training step", min=1, max=BIG)
    eval_batch_size: int = _f(1024, "examples per evaluation step (no gradients, so larger)", min=1, max=BIG)
    augment: list = _f([], "batched: 'crop' (pad 2), 'flip' (horizontal), 'erase' (a noise rectangle on half)")
    limit_train: int = _f(0, "use only N training examples, drawn with split_seed (0: all); for quick checks",
                          min=0, max=MAX_STEPS)
    options: dict = _f({}, "dataset-specific options (e.g. file paths, columns)")
    on_device: bool = _f(False, "hold the training split in the GPU's memory, so each batch is gathered there rather "
                         "than copied to it step by step; auto: on CUDA when the split takes at most a quarter of "
                         "the free memory", or_auto=True)


@dataclass
class ModelConfig:
    name: str = _f("lenet_bn", "registered model name (see `dlp models`)")
    args: dict = _f({}, "keyword arguments for the model builder (widths, dropout, ...)")


@dataclass
class OptimConfig:
    # the names of train/optim.py's OPTIMIZERS (tests/test_config.py keeps the two the same)
    name: str = _f("sgd", "optimizer", choices=("sgd", "adam", "adamw", "adagrad", "adamax", "asgd", "lbfgs", "rmsprop",
                                                "rprop"))
    lr: float = _f(0.05, "learning rate (peak rate under one-cycle)", min=0.0, max=10.0, open_min=True)
    momentum: float = _f(0.9, "SGD/RMSprop momentum", min=0.0, max=1.0, open_max=True)
    weight_decay: float = _f(5e-4, "L2 penalty", min=0.0)
    args: dict = _f({}, "extra keyword arguments passed to the optimizer")


@dataclass
class ScheduleConfig:
    name: str = _f("none", "learning-rate schedule", choices=("none", "step", "cosine", "onecycle"))
    step_size: int = _f(10, "epochs between decays for 'step'", min=1, max=MAX_EPOCHS)
    gamma: float = _f(0.1, "decay factor for 'step'", min=0.0, max=1.0, open_min=True)
    pct_start: float = _f(0.25, "share of steps spent warming up under 'onecycle'", min=0.0, max=1.0,
                          open_min=True, open_max=True)


@dataclass
class TrainConfig:
    epochs: int = _f(10, "passes over the training split", min=1, max=MAX_EPOCHS)
    seed: int = _f(0, "seed of init, shuffling and dropout", min=0, max=2 ** 32, open_max=True)
    device: str = _f("auto", "auto picks CUDA, then MPS, then CPU", choices=("auto", "cpu", "cuda", "mps"))
    label_smoothing: float = _f(0.0, "cross-entropy label smoothing", min=0.0, max=1.0, open_max=True)
    early_stopping: int = _f(0, "epochs without a better validation metric before stopping (0: off)", min=0, max=MAX_EPOCHS)
    choose_by: str = _f("primary", "what picks the best epoch on validation: the task's primary metric (accuracy"
                        " for classifiers, ties by loss) or the loss (a log-loss score)", choices=("primary", "loss"))
    calibrate: str = _f("off", "temperature: after training, one softmax temperature fitted on the validation split "
                        "(Guo et al. 2017) divides a classifier's logits wherever it predicts", choices=("off", "temperature"))
    precision: str = _f("fp32", "fp32, bf16 autocast (CPUs with AVX512-BF16 or AMX, and GPUs), or fp16 autocast with a "
                        "gradient scaler (GPUs; slow on most CPUs); auto: the fastest on a timed probe of this model "
                        "whose loss agrees with fp32's (train/probe.py)", choices=("fp32", "bf16", "fp16"), or_auto=True)
    channels_last: bool = _f(False, "NHWC memory layout for CNNs; auto: whichever the timed probe found faster",
                             or_auto=True)
    compile: str = _f("auto", "torch.compile the model (on CUDA with CUDA graphs, mode reduce-overhead): on, off, or "
                      "auto (on only where the probe's compiled step is faster and the run is long enough to repay "
                      "the compile time)", choices=("auto", "on", "off"))
    checkpoint_every: int = _f(0, "also checkpoint every N steps in an epoch (0: at its end only)", min=0, max=MAX_STEPS)
    eval_test: bool = _f(True, "evaluate the test split each epoch for the curves (never used to choose)")
    threads: int = _f(0, "torch CPU threads per process (0: the cores free at the start, measured over 0.2 s, "
                      "or the cores divided by the ranks on this machine; $OMP_NUM_THREADS when set)", min=0,
                      max=MAX_THREADS)
    deterministic: bool = _f(True, "CUDA: deterministic kernels, so runs repeat and resume exactly (a little "
                             "slower); false: the fastest kernels")
    grad_clip: float = _f(0.0, "largest total 2-norm of a step's gradients, larger ones scaled down to it (exploding "
                          "gradients, Pascanu et al. 2013); 0: off; the norm before clipping is logged anyway", min=0.0)
    ema: float = _f(0.0, "decay per step of a moving average of the weights, which is then what is evaluated, "
                    "chosen and saved (e.g. 0.999; shorter in the first steps); 0: off", min=0.0, max=1.0,
                    open_max=True)
    nproc: int = _f(1, "processes on this machine that train the run together (DistributedDataParallel, "
                    "one rank each; data.batch_size stays the global batch); `--nproc N` sets it", min=1,
                    max=MAX_THREADS)
    sync_bn: bool = _f(False, "with more than one rank: BatchNorm statistics over the global batch "
                       "(runs/global_bn.py, on CPU too) instead of each rank's share")
    dist_timeout: int = _f(300, "seconds a rank waits for the others in one collective before the job ends "
                           "(a lost rank or machine)", min=10, max=86_400)


@dataclass
class LogConfig:
    loggers: list = _f(["console", "csv"], "loggers: console, csv (always on), tensorboard (event files "
                       "in the run folder), visdom (live curves at $DLP_VISDOM, default http://127.0.0.1:8097)")
    runs_dir: str = _f("runs", "folder that holds run folders", forbid=("\0",))
    name: str = _f("", "run folder name prefix (default: model-dataset)", max_len=100, forbid=("\0", "/"))
    progress: bool = _f(True, "progress bar during each epoch")


@dataclass
class GanConfig:
    discriminator: str = _f("dcgan_d", "generation runs: the registered discriminator (see `dlp models`)")
    d_args: dict = _f({}, "keyword arguments for the discriminator builder")
    d_lr: float = _f(0.0, "discriminator learning rate (0: optim.lr, the same for both players as in DCGAN)",
                     min=0.0, max=10.0)
    loss: str = _f("bce", "the players' losses: bce (the DCGAN paper's, non-saturating G), hinge (SN-GAN), lsgan "
                   "(least squares)", choices=("bce", "hinge", "lsgan"))
    real_label: float = _f(1.0, "D's target for real images; 0.9 is one-sided label smoothing (Salimans et al. "
                           "2016)", min=0.0, max=1.0, open_min=True)
    ema: float = _f(0.999, "decay per step of the generator weights' moving average that draws samples and scores "
                    "(Yazıcı et al. 2019), shorter in the first steps; 0: the raw generator", min=0.0, max=1.0,
                    open_max=True)
    eval_samples: int = _f(10000, "generated images scored each epoch (FID, Inception-style score, class shares)",
                           min=100, max=BIG)
    grid: int = _f(64, "images in each epoch's sample grid, all from one fixed noise batch", min=1, max=1024)
    scorer_set: list = _f([], "overrides of the score's classifier recipe lessons/gan_scorer.toml (a changed recipe "
                          "is cached apart)")


@dataclass
class ServeLimits:
    """What one request to `dlp serve` may hold, in bytes and in work (its `--max-...` flags); larger requests
    get a 413 (or a 503 past the time budget) before any model work. Not part of a run's config."""
    max_bytes: int = _f(4 * 1024 * 1024, "bytes in the request body", min=1, max=2 ** 31)
    max_pixels: int = _f(4_000_000, "pixels in one image (width × height from its header, before the "
                                    "resize to the model's input)", min=1, max=2 ** 31)
    max_total_pixels: int = _f(16_000_000, "pixels in all images of one request together", min=1, max=2 ** 33)
    max_items: int = _f(256, "images, rows or strings per request", min=1, max=2 ** 20)
    max_chars: int = _f(256, "characters in one string of a sequence run, raw and after Unicode "
                             "normalisation (NFKD expands U+FDFA to 18)", min=1, max=2 ** 20)
    max_total_chars: int = _f(16_384, "characters in all strings of one request together, normalised", min=1,
                              max=2 ** 24)
    max_seconds: float = _f(10.0, "seconds to decode and prepare one request (not the forward pass); "
                                  "past them a 503", min=0.0, max=3600.0)


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)
    gan: GanConfig = field(default_factory=GanConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


_SECTION_TYPES = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
                  "schedule": ScheduleConfig, "train": TrainConfig, "log": LogConfig, "gan": GanConfig}


def _all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in _SECTION_TYPES.items() for f in fields(cls)]


def _unknown(key: str) -> UserError:
    return UserError(f"unknown setting '{key}'{did_you_mean(key, _all_keys())}")


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list, e.g. ['crop']", dict: "a table, e.g. {width = 2}"}


def _nesting(value: Any) -> int:
    """How deeply lists and tables nest inside `value` (0 for a plain value), without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        v, depth = todo.pop()
        if isinstance(v, (list, dict)):
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                break
            todo.extend((x, depth) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def _bound_broken(meta, value) -> str:
    """'≥ 1', '< 1', ... : the bound of the setting's range that `value` breaks; '' when inside."""
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value <= lo if meta.get("open_min") else value < lo):
        return f"{'>' if meta.get('open_min') else '≥'} {_num(lo)}"
    if hi is not None and (value >= hi if meta.get("open_max") else value > hi):
        return f"{'<' if meta.get('open_max') else '≤'} {_num(hi)}"
    return ""


def _check_value(key: str, f: dataclasses.Field, value: Any) -> Any:
    """Coerce ints to floats where a float is expected; refuse wrong types, choices, ranges, non-finite
    numbers, and strings too long or holding forbidden characters: all as declared by the field's `_f`."""
    meta = f.metadata
    if meta.get("or_auto") and value == "auto":
        return value
    want = meta.get("type") or (type(f.default) if f.default is not dataclasses.MISSING else type(f.default_factory()))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:   # an integer beyond any float
            value = math.inf if value > 0 else -math.inf
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        auto = ' or "auto"' if meta.get("or_auto") else ""
        raise UserError(f"setting '{key}' must be {_TYPE_WORDS[want]}{auto}, got {_shown(value)}")
    choices, interval = meta.get("choices"), range_text(meta)
    if choices and value not in choices:
        shown = ", ".join((*choices, "auto") if meta.get("or_auto") else choices)
        raise UserError(f"setting '{key}' must be one of {shown}; got {_shown(value)}")
    if want is float and meta.get("finite") and not math.isfinite(value):
        raise UserError(f"setting '{key}' must be a finite number{f' in {interval}' if interval else ''}; "
                        f"got {value!r}")
    if want in (int, float) and (broken := _bound_broken(meta, value)):
        raise UserError(f"setting '{key}' must be {broken} (range {interval}); got {value!r}")
    if want is str:
        bad = [c for c in meta.get("forbid", ()) if c in value]
        if bad:
            shown = ", ".join("NUL" if c == "\0" else repr(c) for c in bad)
            raise UserError(f"setting '{key}' must not hold {shown}; got {_shown(value)}")
        if meta.get("max_len") is not None and len(value) > meta["max_len"]:
            raise UserError(f"setting '{key}' must be at most {meta['max_len']} characters; got {len(value)}")
    if want in (list, dict) and _nesting(value) > MAX_NESTING:
        raise UserError(f"setting '{key}' nests lists / tables more than {MAX_NESTING} levels deep")
    return value


def from_dict(d: dict, base: RunConfig | None = None) -> RunConfig:
    """Build a config from nested dicts (TOML), validating every key and value."""
    cfg = base or RunConfig()
    for section, values in d.items():
        if section not in _SECTION_TYPES:
            if isinstance(values, dict) and values:
                raise _unknown(f"{section}.{next(iter(values))}")
            raise UserError(f"unknown section '{section}'{did_you_mean(section, _SECTION_TYPES)}"
                            f"; sections: {', '.join(_SECTION_TYPES)}")
        if not isinstance(values, dict):
            raise UserError(f"'{section}' must be a table of settings, got {values!r}")
        obj = getattr(cfg, section)
        known = {f.name: f for f in fields(obj)}
        for key, value in values.items():
            if key not in known:
                raise _unknown(f"{section}.{key}")
            setattr(obj, key, _check_value(f"{section}.{key}", known[key], value))
    return cfg


def parse_value(text: str) -> Any:
    """A command-line value as TOML (numbers, booleans, lists, inline tables), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise UserError(f"value {_clip(text)} nests too deeply to read (at most {MAX_NESTING} levels)") from None
    except ValueError as e:   # e.g. an integer of more than 4,300 digits
        raise UserError(f"value {_clip(text)} cannot be read: {e}") from None


def _clip(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[:n] + "…")


def _shown(value: Any, n: int = 80) -> str:
    """`value` as the user would write it, cut to `n` characters (a message stays one short line)."""
    if isinstance(value, (list, dict)) and _nesting(value) > MAX_NESTING:
        return "a value nested too deeply to show"
    text = repr(value)
    return text if len(text) <= n else text[:n] + "…"


def _is_table(section: str, name: str) -> bool:
    """Whether `section.name` is a table setting (model.args, data.options, optim.args, gan.d_args)."""
    cls = _SECTION_TYPES.get(section)
    f = next((f for f in fields(cls) if f.name == name), None) if cls else None
    return f is not None and f.default is dataclasses.MISSING and isinstance(f.default_factory(), dict)


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply `section.key=value` (or `model.args.width=2`) overrides."""
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override '{item}' must look like section.key=value, e.g. optim.lr=0.05")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) > MAX_NESTING:
            raise UserError(f"setting {_clip(key)} nests more than {MAX_NESTING} levels deep")
        value = parse_value(text.strip())
        if len(parts) >= 3 and _is_table(parts[0], parts[1]):
            # table settings: model.args.width=2 (or gan.d_args.width=2) sets one entry of the table
            target = dict(getattr(cfg, parts[0]).__dict__[parts[1]])
            node = target
            for i, p in enumerate(parts[2:-1], 2):
                if not isinstance(node.setdefault(p, {}), dict):
                    raise UserError(f"setting '{'.'.join(parts[:i + 1])}' is {_shown(node[p])}, not a table; "
                                    f"cannot set {_clip(key)} inside it")
                node = node[p]
            node[parts[-1]] = value
            from_dict({parts[0]: {parts[1]: target}}, cfg)
        elif len(parts) == 2:
            from_dict({parts[0]: {parts[1]: value}}, cfg)
        else:
            raise _unknown(key)
    return cfg


def load_toml(path: str | Path) -> dict:
    """Read a TOML file; a missing or malformed file is a UserError naming it."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"config file {p} is not valid TOML: {e}") from None
    except RecursionError:
        raise UserError(f"config file {p} nests lists / tables too deeply to read "
                        f"(at most {MAX_NESTING} levels)") from None
    except ValueError as e:   # e.g. an integer of more than 4,300 digits
        raise UserError(f"config file {p} cannot be read: {e}") from None
    except OSError as e:
        raise UserError(f"cannot read config file {p}: {e.strerror}") from None


def file_settings(path: str | Path, _seen: tuple = ()) -> dict:
    """A config file's run tables (not [lesson] or [[variants]]) over those of the file its `based_on` names
    (beside it): each setting it gives replaces the base's, a table setting such as model.args whole."""
    p = Path(path)
    d = {k: v for k, v in load_toml(p).items() if k not in ("lesson", "variants")}
    if (base := d.pop("based_on", None)) is None:
        return d
    b = p.parent / base if isinstance(base, str) else p.parent
    if not b.is_file() or b.resolve() in (*_seen, p.resolve()):
        raise UserError(f"config file {p}: based_on = {_shown(base)} " + ("leads back to this file" if b.is_file()
                        else f"is not a file in {p.parent}") + "; name another TOML file beside it")
    under = file_settings(b, (*_seen, p.resolve()))
    return {s: {**under[s], **v} if isinstance(v, dict) and isinstance(under.get(s), dict) else v
            for s, v in {**under, **d}.items()}


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: dict | None = None) -> RunConfig:
    """Defaults ← `base` dict ← TOML file (its run tables, `file_settings`) ← overrides."""
    cfg = from_dict(base) if base else RunConfig()
    if path is not None:
        from_dict(file_settings(path), cfg)
    return apply_overrides(cfg, overrides or [])

