"""Kaggle competitions on the tabular kind: Titanic (lecture 8) and Otto Group (lecture 9).

A competition's raw rows are first turned into feature columns by a *feature pipeline* — a pair
`fit(training rows) -> state` / `transform(rows, state) -> feature table` registered in `DERIVES` —
and those columns then go through the tabular kind's own fitted preprocessing (`TabularPrep`:
imputation, standardisation, one-hot), fitted on the training split of each fold only. Both states are
plain JSON in `meta` (`meta["derive"]`, `meta["tabular"]`), so the run folder alone turns the
competition's `test.csv` into a submission (`dlp submit`, the `tabular-derived` input kind, `inputs/tabular_derived.py`).

Splits (`data.options`): a fixed stratified test split (`test_fraction`, `test_seed`; default 20 %),
or fold `fold` of `folds` stratified folds (the `cv` lesson runner), or `full = true`: train on every
labelled row but the validation split (`data.val_fraction`) that picks the epoch — for the submission;
then there is no held-out estimate and the "test" split repeats the validation rows (said in
`meta["note"]`; use the cv / hold-out lessons for an honest figure). Titanic's pipelines, its
`features` and `group_folds` options and its data set are in `data.titanic`.

Data: `<data-dir>/titanic/{train,test}.csv` and `<data-dir>/otto/{train,test}.csv[.gz]`, looked up like
every data set (--data-dir, $DLP_DATA_DIR, the user cache); `dlp data fetch titanic|otto` downloads
them with the official `kaggle` package (`data/fetch.py`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..config import DataConfig
from ..errors import UserError
from ..registry import Registry
from .fetch import COMPETITIONS, how_to_get
from .paths import find_data
from .registry import DataBundle, bool_option, carve_validation, check_options, register_dataset
from .folds import split_rows
from .table import Table, floats, read_csv, strings
from .tabular import TabularPrep, tabular_bundle


# -- where the files are (COMPETITIONS, how_to_get: in data/fetch.py, which stays free of torch) -----------
def competition_dir(name: str) -> Path:
    """The folder holding a competition's train and test files (a UserError saying how to get them)."""
    c = COMPETITIONS[name]
    err = None
    for files in c["files"]:
        try:
            return find_data(c["folder"], files, how_to_get=how_to_get(name))
        except UserError as e:
            err = err or e
    raise err


def competition_file(name: str, stem: str) -> Path | None:
    """`train`, `test` or `sampleSubmission` / `gender_submission` of a competition: .csv.gz or .csv."""
    folder = competition_dir(name)
    for suffix in (".csv.gz", ".csv"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


_TABLES: dict = {}


def _read_cached(path: Path) -> Table:
    """Read a competition CSV once per process (the cv runner loads a data set once per fold)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _TABLES:
        _TABLES.clear()  # keep at most one table (Otto's test file is 144,368 rows)
        _TABLES[key] = read_csv(path)
    return _TABLES[key]


# -- feature pipelines ---------------------------------------------------------------------------------
@dataclass
class Derive:
    """Raw rows → feature columns. `fit(table) -> state` sees the training rows only (plus, for
    label-free counts, the whole passenger list); `transform(table, state) -> Table` keeps the id
    and (when present) the target column so the tabular kind can find them."""
    fit: Callable[..., dict]
    transform: Callable[[Table, dict], Table]
    numeric: list[str]
    categorical: list[str]


DERIVES: Registry[Derive] = Registry("feature pipeline")


def _need(table: Table, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table.data]
    if missing:
        raise UserError(f"{table.source or 'the input'} lacks column(s) {', '.join(missing)} of the {what} "
                        f"files; needed: {', '.join(columns)} (the Kaggle train.csv / test.csv layout)")


def _derived(table: Table, columns: dict[str, np.ndarray]) -> Table:
    return Table(list(columns), columns, table.lines, table.source, True, table.index)


# Otto -------------------------------------------------------------------------------------------------------
OTTO_FEATURES = [f"feat_{i}" for i in range(1, 94)]
COUNT_TRANSFORMS = {"log1p": np.log1p, "sqrt": np.sqrt, "none": lambda v: v}


def otto_fit(train: Table, transform: str = "log1p", tfidf: bool = False) -> dict:
    if transform not in COUNT_TRANSFORMS:
        raise UserError(f"data.options.transform must be one of {', '.join(COUNT_TRANSFORMS)}; got {transform!r}")
    state: dict = {"transform": transform}
    if tfidf:   # document frequency of each count over the training rows (scikit-learn's smoothed idf)
        _need(train, OTTO_FEATURES, "Otto")
        df = np.array([(floats(train, c) > 0).sum() for c in OTTO_FEATURES], dtype=np.float64)
        state["idf"] = (np.log((1 + len(train)) / (1 + df)) + 1).tolist()
    return state


def otto_names(transform: str) -> list[str]:
    # Named after the transform, so that rows of raw counts never pass for transformed features.
    return OTTO_FEATURES if transform == "none" else [f"{transform}({c})" for c in OTTO_FEATURES]


def otto_transform(table: Table, state: dict) -> Table:
    """93 product-event counts → log1p (or sqrt) of each count; with an idf in `state`, 93 more: the row's
    tf-idf profile, counts × idf scaled to unit length per row (which events dominate this product, whatever
    its total; a row without counts is all zeros)."""
    _need(table, OTTO_FEATURES, "Otto")
    f = COUNT_TRANSFORMS[state["transform"]]
    cols: dict[str, np.ndarray] = {}
    counts = []
    for raw, name in zip(OTTO_FEATURES, otto_names(state["transform"])):
        v = floats(table, raw)
        if np.nanmin(v, initial=0.0) < 0:
            raise UserError(f"Otto column '{raw}' holds a negative count at {table.where(int(np.nanargmin(v)))}")
        cols[name] = f(v)
        counts.append(v)
    if "idf" in state:
        weighted = np.nan_to_num(np.stack(counts, 1)) * np.asarray(state["idf"])
        weighted /= np.maximum(np.linalg.norm(weighted, axis=1, keepdims=True), 1e-12)
        cols.update({f"tfidf({c})": weighted[:, i] for i, c in enumerate(OTTO_FEATURES)})
    for keep in ("id", "target"):
        if keep in table.data:
            cols[keep] = table.data[keep]
    return _derived(table, cols)


DERIVES.add("otto", Derive(otto_fit, otto_transform, [], []))  # numeric names depend on the transform


# -- bundles ---------------------------------------------------------------------------------------------
KAGGLE_OPTIONS = {"test_fraction", "test_seed", "folds", "fold", "full"}


def kaggle_rows(n: int, y: np.ndarray, opts: dict, cfg: DataConfig,
                groups: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], str | None]:
    """train / val / test row indices: the tabular kind's split (fixed test or fold; each of `groups` whole
    in the test split when given), or `full`."""
    if not bool_option(opts, "full", False):
        return split_rows(n, y, True, opts, cfg, groups=groups), None
    if opts.get("folds"):
        raise UserError("data.options.full trains on every labelled row; it cannot be combined with folds")
    if cfg.val_fraction <= 0:
        raise UserError("data.options.full needs a validation split to pick the epoch: set data.val_fraction > 0")
    idx = np.arange(n)
    (tr, _), (va, _) = carve_validation(idx, y, cfg.val_fraction, cfg.split_seed, stratify=True)
    return ({"train": np.sort(tr), "val": np.sort(va), "test": np.sort(va)},
            "full: trained on every labelled row but the validation split; no held-out test split — the "
            "'test' metrics repeat the validation rows (optimistic); use the hold-out or cv setup for an estimate")


def derived_bundle(name: str, raw: Table, target: str, id_col: str, derive: str, fit_kw: dict, opts: dict,
                   cfg: DataConfig, *, classes: list[str] | None = None, task: str = "classification",
                   groups: np.ndarray | None = None) -> DataBundle:
    """Raw labelled rows → splits (test splits keep each of `groups` whole, when given) → feature pipeline
    fitted on the training rows → the tabular kind (TabularPrep fitted on the same training rows) → a
    DataBundle whose meta reproduces both steps."""
    labels = [str(v) for v in strings(raw, target)]
    values = classes or sorted(set(labels))
    index = {v: i for i, v in enumerate(values)}
    y = np.array([index[v] for v in labels])
    rows, note = kaggle_rows(len(raw), y, opts, cfg, groups)
    d = DERIVES.get(derive)
    state = d.fit(raw.take(rows["train"]), **fit_kw)
    table = d.transform(raw, state)
    numeric = d.numeric or [c for c in table.columns if c not in (target, id_col)]
    topts = {"target": target, "id": id_col, "task": task, "classes": values, "numeric": numeric,
             "categorical": d.categorical, "unseen": "zeros",
             **{k: v for k, v in opts.items() if k in ("test_fraction", "test_seed", "folds", "fold")}}
    extra = {"input": "tabular-derived", "derive": {"name": derive, "state": state},
             "kaggle": {"competition": COMPETITIONS[name]["competition"], "id": id_col, "target": target},
             "full": bool(opts.get("full"))}
    if note:
        extra["note"] = note
    return tabular_bundle(name, table, topts, cfg, task=task, rows=rows, extra_meta=extra)


@register_dataset("otto", "classification", "tabular",
                  "Kaggle Otto Group product classification (lecture 9): 61,878 products × 93 counts → 9 classes; "
                  "log1p (or sqrt: data.options.transform) counts, and their tf-idf row profile with "
                  "data.options.tfidf = true; stratified 20% test split, folds/fold, or full",
                  "kaggle competitions download -c otto-group-product-classification-challenge → <data-dir>/otto")
def load_otto(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, KAGGLE_OPTIONS | {"transform", "tfidf"}, "otto")
    train = _read_cached(competition_file("otto", "train"))
    _need(train, ["id", "target"], "Otto train")
    fit_kw = {"transform": opts.pop("transform", "log1p"), "tfidf": bool_option(opts, "tfidf", False)}
    opts.pop("tfidf", None)
    return derived_bundle("otto", train, "target", "id", "otto", fit_kw, opts, cfg, task="classification")


# -- prediction input: the competition's raw CSV → the same features ------------------------------------
def derived_features(meta: dict, table: Table) -> torch.Tensor:
    from . import titanic  # noqa: F401  (registers Titanic's pipelines)
    d = meta["derive"]
    features = DERIVES.get(d["name"]).transform(table, d["state"])
    return TabularPrep.from_meta(meta["tabular"]).transform(features)
