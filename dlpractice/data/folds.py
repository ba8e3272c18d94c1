"""Which rows of a labelled table are train, validation and test: a fixed stratified test split or one
fold of k stratified folds (each group whole when groups are given), then validation carved from the
rest. Used by the tabular kind (`data.tabular`) and the Kaggle competitions (`data.kaggle`)."""
from __future__ import annotations

import numpy as np

from ..config import DataConfig
from ..errors import UserError
from .registry import carve_validation, fixed_test_split, fraction_option, int_option


def split_rows(n: int, y: np.ndarray, stratify: bool, opts: dict, cfg: DataConfig,
               source: str = "", groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Row indices of train / val / test. Test: fold `fold` of `folds` (shuffled, stratified, seed
    `test_seed`), or a fixed `test_fraction`; validation is carved from the rest (val_fraction, split_seed).
    `groups` (one id per row): every test split keeps each group whole (scikit-learn's
    StratifiedGroupKFold; a fixed `test_fraction` is then fold 0 of round(1 / fraction) such folds).
    `source`: where the rows come from (a file name), for the error."""
    try:
        return _split_rows(n, y, stratify, opts, cfg, groups)
    except ValueError as e:  # scikit-learn: too few rows of a class for the split asked for
        rows = f"the {n} rows of {source}" if source else f"{n} rows"
        raise UserError(f"cannot split {rows} into train / validation / test as configured "
                        f"(test_fraction / folds, data.val_fraction = {cfg.val_fraction}): {e}") from None


def _split_rows(n: int, y: np.ndarray, stratify: bool, opts: dict, cfg: DataConfig,
                groups: np.ndarray | None) -> dict[str, np.ndarray]:
    seed = int_option(opts, "test_seed", 0)
    idx = np.arange(n)
    strat = y if stratify else None
    if "fold" in opts and not opts.get("folds"):
        raise UserError("data.options.fold needs data.options.folds (how many folds, ≥ 2); without it the fixed "
                        "test split is used, so set both or neither")
    if opts.get("folds"):
        k, fold = int_option(opts, "folds", 0), int_option(opts, "fold", 0)
        if k < 2 or not 0 <= fold < k:
            raise UserError(f"data.options.folds must be ≥ 2 and fold in 0..folds-1; got folds={k}, fold={fold}")
        test = _test_fold(idx, strat, groups, k, fold, seed)
    elif groups is not None:
        frac = fraction_option(opts, "test_fraction", 0.2)
        test = _test_fold(idx, strat, groups, max(2, round(1 / frac)), 0, seed)
    else:
        frac = fraction_option(opts, "test_fraction", 0.2)
        _, test = fixed_test_split(y, frac, seed, stratify=stratify)
    test = np.sort(test)
    rest = np.setdiff1d(idx, test)
    (tr, _), (va, _) = carve_validation(rest, y[rest], cfg.val_fraction, cfg.split_seed, stratify=stratify)
    return {"train": np.sort(tr), "val": np.sort(va), "test": test}


def _test_fold(idx: np.ndarray, strat: np.ndarray | None, groups: np.ndarray | None, k: int, fold: int,
               seed: int) -> np.ndarray:
    """Rows of test fold `fold` of `k` shuffled folds: stratified by `strat` when given, each group whole
    when `groups` is given."""
    from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold
    if groups is not None:
        labels = strat if strat is not None else np.zeros(len(idx), dtype=int)
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(splitter.split(idx, labels, groups))[fold][1]
    splitter = (StratifiedKFold if strat is not None else KFold)(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(idx, strat))[fold][1]
