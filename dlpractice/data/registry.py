"""The dataset registry: every data set yields train / validation / test splits as tensors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..config import DataConfig
from ..errors import UserError, did_you_mean
from ..registry import Registry


@dataclass
class Split:
    x: torch.Tensor  # (N, C, H, W) images, (N, F) rows, (N, T) token ids
    y: torch.Tensor  # (N,) class ids, or (N,) / (N, K) regression targets

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class DataBundle:
    """Splits plus what a model and a predictor need to know about the data (`meta`, saved in
    checkpoints): `task`, `input` kind, `classes`, and e.g. image size, normalization, polarity."""
    name: str
    splits: dict[str, Split]
    meta: dict = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.meta["task"]


@dataclass
class DatasetSpec:
    name: str
    task: str          # classification | binary | regression | sequence_classification | generation
    input: str         # image | tabular | sequence
    load: Callable[[DataConfig], DataBundle]
    description: str
    source: str = ""


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(name: str, task: str, input: str, description: str, source: str = ""):
    """Decorator registering `load(cfg: DataConfig) -> DataBundle` under `name` (refused twice)."""
    def deco(fn):
        DATASETS.add(name, DatasetSpec(name, task, input, fn, description, source))
        return fn
    return deco


def check_options(opts: dict, allowed, dataset: str) -> None:
    """Refuse unknown `data.options` keys of a data set, suggesting the closest known one."""
    for key in opts:
        if key not in allowed:
            if not allowed:
                raise UserError(f"data set '{dataset}' takes no data.options; remove data.options.{key}")
            raise UserError(f"data set '{dataset}' has no option data.options.{key}"
                            f"{did_you_mean(key, sorted(allowed))}; it accepts: {', '.join(sorted(allowed))}")


def bool_option(opts: dict, key: str, default: bool) -> bool:
    """`data.options.KEY` as true / false (a TOML boolean; "yes" or 1 are refused, not read as true)."""
    v = opts.get(key, default)
    if not isinstance(v, bool):
        raise UserError(f"data.options.{key} must be true or false, got {v!r}")
    return v


def int_option(opts: dict, key: str, default: int, lo: int | None = None, hi: int | None = None,
               what: str = "") -> int:
    """`data.options.KEY` as a whole number in [lo, hi]."""
    v = opts.get(key, default)
    ok = isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)
    if not ok:
        bounds = (f" from {lo} to {hi}" if hi is not None else f" ≥ {lo}") if lo is not None else ""
        raise UserError(f"data.options.{key} must be a whole number{bounds}{f' ({what})' if what else ''}, got {v!r}")
    return v


def fraction_option(opts: dict, key: str, default: float) -> float:
    """`data.options.KEY` as a share strictly between 0 and 1."""
    v = opts.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
        raise UserError(f"data.options.{key} must be a number between 0 and 1 (exclusive), e.g. 0.2; got {v!r}")
    return float(v)


def list_option(opts: dict, key: str) -> list:
    """`data.options.KEY` as a list of column names / positions (one name alone is a list of one)."""
    v = opts.get(key, [])
    if isinstance(v, (str, int)) and not isinstance(v, bool):
        return [v]
    if not isinstance(v, list):
        raise UserError(f"data.options.{key} must be a list of column names, e.g. [\"a\", \"b\"]; got {v!r}")
    return v


def path_option(opts: dict, key: str):
    """`data.options.KEY` as a path (a string), `~` expanded."""
    from pathlib import Path
    v = opts.get(key)
    if not isinstance(v, str) or not v.strip():
        raise UserError(f"data.options.{key} must be a path (a string), got {v!r}")
    return Path(v).expanduser()


def carve_validation(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, fraction: float,
                     seed: int, stratify: bool = True):
    """Split train into (train, validation) with a fixed seed, stratified by label when asked."""
    from sklearn.model_selection import train_test_split  # imported here: slow, needed only now
    if fraction <= 0:
        return (x, y), (x[:0], y[:0])
    if fraction >= 1:
        raise UserError(f"data.val_fraction must be below 1, got {fraction}")
    idx = np.arange(len(y))
    labels = np.asarray(y) if stratify else None
    try:
        tr, va = train_test_split(idx, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as e:   # scikit-learn: too few rows for a (stratified) validation split of this size
        raise UserError(f"data.val_fraction = {fraction} cannot carve a validation split from {len(idx)} training "
                        f"examples ({e}); raise data.val_fraction so every class has a validation example, "
                        "or set it to 0 (no validation: the best epoch is then chosen on training metrics)") from None
    tr, va = np.sort(tr), np.sort(va)
    return (x[tr], y[tr]), (x[va], y[va])


def fixed_test_split(y, fraction: float, seed: int = 0, stratify: bool = True,
                     sort: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of a fixed hold-out: the same test rows for every run on the data
    (`seed`), stratified by label when asked; sorted, unless `sort` is false (scikit-learn's shuffled
    order, which the digits splits were drawn in)."""
    from sklearn.model_selection import train_test_split  # imported here: slow, needed only now
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=fraction, random_state=seed,
                              stratify=np.asarray(y) if stratify else None)
    return (np.sort(tr), np.sort(te)) if sort else (tr, te)


def image_bundle(name: str, train: tuple, test: tuple, cfg: DataConfig, classes: list[str],
                 scale: float, polarity: str, size: int | None = None) -> DataBundle:
    """Turn uint8-like image arrays, gray (N, H, W) or colour (N, C, H, W), into normalized float tensor
    splits (N, C, S, S).

    Normalization statistics come from the training split only (one mean and standard deviation over
    all channels: what `dlp predict` applies); `size` resizes (bilinear) to what the model declares,
    e.g. 8×8 digits → 28×28 for LeNet. With `data.options.features` the splits are instead hand-made
    features of the [0, 1] images (data/features.py), input kind `image-features`.
    """
    (xtr, ytr), (xva, yva) = carve_validation(train[0], train[1], cfg.val_fraction, cfg.split_seed)
    native = int(xtr.shape[-1])
    size = size or native
    channels = 1 if np.ndim(xtr) == 3 else int(np.shape(xtr)[1])

    def prep(x):
        t = torch.as_tensor(np.asarray(x, dtype=np.float32) / scale)
        if t.dim() == 3:
            t = t.unsqueeze(1)                                                  # (N, 1, H, W)
        if size != native:
            t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
        return t

    xs = {"train": prep(xtr), "val": prep(xva), "test": prep(test[0])}
    ys = {k: torch.as_tensor(np.asarray(y), dtype=torch.long) for k, y in zip(xs, (ytr, yva, test[1]))}
    meta = {"task": "classification", "input": "image", "classes": classes, "num_classes": len(classes),
            "in_channels": channels, "size": size, "native_size": native, "scale": scale, "polarity": polarity}
    from .features import feature_spec, features_splits
    spec = feature_spec(dict(cfg.options), size)
    if spec is not None:   # hand-made features of the [0, 1] images (data/features.py) instead of the images
        splits, spec = features_splits(spec, xs, ys)
        meta.update(input="image-features", in_features=spec["count"], mean=0.0, std=1.0, features=spec)
        return DataBundle(name, splits, meta)
    mean, std = float(xs["train"].mean()), float(xs["train"].std())
    if not std > 1e-12:  # constant images: normalizing would divide by zero and training would diverge
        raise UserError(f"every training image of '{name}' has the same value everywhere (standard deviation 0, "
                        f"mean {mean:.3g}): nothing to learn from; check the files (all black? all white?)")
    splits = {k: Split((v - mean) / std, ys[k]) for k, v in xs.items()}
    return DataBundle(name, splits, {**meta, "mean": mean, "std": std})


def input_trouble(batch: torch.Tensor, train_x: torch.Tensor, features: list | None = None) -> str | None:
    """Why these inputs could make the loss non-finite (NaN or infinite values; huge, unstandardized
    features), in words for the error line; None when they look fine."""
    if batch.is_floating_point() and not bool(torch.isfinite(batch).all()):
        return ("the input batch holds NaN or infinite values, e.g. a constant feature or image divided by its "
                "zero standard deviation; check the data (and data.options.standardize)")
    if not train_x.is_floating_point() or not len(train_x):
        return None
    flat = train_x.reshape(len(train_x), -1).abs()
    top = float(flat.max())
    if top > 1e4:
        j = int(flat.max(0).values.argmax())
        name = f" (feature '{features[j]}')" if features and j < len(features) and train_x.dim() == 2 else ""
        return (f"the training inputs reach |x| = {top:.3g}{name}: too large to train on unscaled; standardize "
                "them (data.options.standardize = true) or rescale the data")
    return None


def load_dataset(cfg: DataConfig, input_size: int | None = None) -> DataBundle:
    """Load the configured data set; image sets are resized to `input_size` when given."""
    spec = DATASETS.get(cfg.dataset)
    bundle = spec.load(cfg) if input_size is None or spec.input != "image" else spec.load(cfg, input_size)
    bundle.meta.setdefault("task", spec.task)
    bundle.meta.setdefault("input", spec.input)
    bundle.meta["dataset"] = spec.name
    tr = bundle.splits["train"]
    if cfg.limit_train and cfg.limit_train < len(tr):
        keep = torch.randperm(len(tr), generator=torch.Generator().manual_seed(cfg.split_seed))[:cfg.limit_train]
        bundle.splits["train"] = Split(tr.x[keep.sort().values], tr.y[keep.sort().values])
    return bundle
