"""Tabular data: a table of rows (`data.table`: a CSV file, plain or .gz, or arrays) → numeric feature tensors.

One code path for training and prediction. `TabularPrep` is fitted on the training split only:
numeric columns are imputed (training median by default) and standardised (training mean / std),
categorical columns are imputed (training mode) and one-hot encoded over the training categories.
Its state is plain JSON (`meta["tabular"]`), saved in `data.json` and every checkpoint, so
`dlp predict RUN --csv rows.csv` applies the very same preprocessing to new rows
(`dlpractice.inputs.tabular`).

Options (`data.options`, see `OPTIONS`): path, header, delimiter, target, numeric, categorical,
drop, id, task, classes, standardize, impute, missing_values, indicators, unseen, max_categories,
test_fraction, test_seed, folds, fold. The test split is fixed by `test_seed` (or is fold `fold` of
`folds` stratified folds, for cross-validation); validation is carved from the rest with
`data.val_fraction` / `split_seed`.

Data sets registered here: `csv` (your own file), `diabetes` (lecture 7), `breast-cancer`
(lecture 6), and the course toys `course-linear` (lecture 5) and `course-logistic` (lecture 6).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import UserError
from .paths import find_data
from .folds import split_rows
from .registry import DataBundle, Split, bool_option, check_options, int_option, list_option, path_option, \
    register_dataset
from .table import Table, array_table, floats, is_missing, num_key, read_csv, resolve_column, strings

OPTIONS = {
    "path": "CSV file (plain or .gz); `csv` data set only",
    "header": "first line holds column names (default true; false: columns are named c0, c1, ...)",
    "delimiter": "field separator (default ',')",
    "target": "target column: name, or position (0-based, negative from the end; default: last column)",
    "numeric": "numeric feature columns (default: inferred, see module doc)",
    "categorical": "categorical feature columns, one-hot encoded (default: inferred)",
    "drop": "columns to leave out (ids, free text)",
    "id": "row id column: left out of the features, labels rows in `dlp predict`",
    "task": "auto | binary | classification | regression (default auto: inferred from the target)",
    "classes": "target values in class order (binary: the second one is the positive class)",
    "standardize": "standardise numeric columns with training mean/std (default true)",
    "impute": "missing numeric value → training median | mean | zero (default median)",
    "missing_values": "extra values meaning 'missing' in numeric columns: a list for all, or {column = [values]}",
    "indicators": "add a 0/1 'column (missing)' feature for each numeric column with missing training values",
    "unseen": "category not seen in training at prediction: error | zeros (all-zero one-hot) (default error)",
    "max_categories": "inferred text columns with more distinct values are refused (default 50)",
    "test_fraction": "share of rows held out as the fixed test split (default 0.2)",
    "test_seed": "seed of the test split / folds (default 0)",
    "folds": "k of k-fold cross-validation (set by `cv` lessons)",
    "fold": "which fold (0-based) is the test split (set by `cv` lessons)",
}




# -- preprocessing -------------------------------------------------------------------------------------
class TabularPrep:
    """Numeric: impute → standardise. Categorical: impute (mode) → one-hot. Fitted on training rows;
    `to_meta()` / `from_meta()` round-trip it through plain JSON."""

    def __init__(self, state: dict):
        self.state = state

    @classmethod
    def fit(cls, table: Table, numeric: list[str], categorical: list[str], *, standardize: bool = True,
            impute: str = "median", unseen: str = "error", target: str | None = None,
            id_column: str | None = None, missing_values: dict | list | None = None,
            indicators: bool = False) -> TabularPrep:
        if impute not in ("median", "mean", "zero"):
            raise UserError(f"data.options.impute must be median, mean or zero; got {impute!r}")
        if unseen not in ("error", "zeros"):
            raise UserError(f"data.options.unseen must be 'error' or 'zeros'; got {unseen!r}")
        if isinstance(missing_values, dict):
            unknown = sorted(set(missing_values) - set(numeric))
            if unknown:
                raise UserError(f"data.options.missing_values names {unknown}, which are not numeric feature columns "
                                f"({', '.join(numeric)})")
        num = []
        for name in numeric:
            markers = [str(m) for m in ((missing_values or {}).get(name, []) if isinstance(missing_values, dict)
                                        else (missing_values or []))]
            v = floats(table, name, markers=markers)
            ok = v[~np.isnan(v)]
            fill = 0.0 if impute == "zero" or not len(ok) else float(np.median(ok) if impute == "median" else ok.mean())
            v = np.where(np.isnan(v), fill, v)
            mean, std = (float(v.mean()), float(v.std())) if standardize else (0.0, 1.0)
            num.append({"name": name, "fill": fill, "mean": mean, "std": std if std > 1e-12 else 1.0,
                        "missing_values": markers, "indicator": bool(indicators and len(ok) < len(v))})
        cat = []
        for name in categorical:
            v = strings(table, name)
            present = [s for s in v if not is_missing(s)]
            if not present:
                raise UserError(f"categorical column '{name}' is empty in the training split")
            values, counts = np.unique(np.array(present, dtype=str), return_counts=True)
            fill = str(values[int(np.argmax(counts))])
            cat.append({"name": name, "categories": sorted(map(str, values), key=num_key), "fill": fill})
        features = ([c["name"] for c in num] + [f"{c['name']} (missing)" for c in num if c["indicator"]]
                    + [f"{c['name']}={k}" for c in cat for k in c["categories"]])
        if not features:
            raise UserError("no feature columns left: list them in data.options.numeric / data.options.categorical")
        return cls({"columns": list(table.columns), "header": table.header, "target": target, "id": id_column,
                    "numeric": num, "categorical": cat, "standardize": standardize, "impute": impute,
                    "unseen": unseen, "features": features})

    def to_meta(self) -> dict:
        return json.loads(json.dumps(self.state))  # plain JSON values, a copy

    @classmethod
    def from_meta(cls, state: dict) -> TabularPrep:
        return cls(state)

    @property
    def features(self) -> list[str]:
        return self.state["features"]

    def required(self) -> list[str]:
        return [c["name"] for c in self.state["numeric"]] + [c["name"] for c in self.state["categorical"]]

    def transform(self, table: Table) -> torch.Tensor:
        """Rows → (N, in_features) float32. Missing columns, non-numbers and (unless unseen = zeros)
        unseen categories are UserErrors naming the column, the row and the fix."""
        missing = [c for c in self.required() if c not in table.data]
        if missing:
            raise UserError(f"{table.source or 'the input'} lacks column(s) {', '.join(missing)} that the model "
                            f"was trained on; needed: {', '.join(self.required())} (extra columns are ignored)")
        n = len(table)
        parts, flags = [], []
        for c in self.state["numeric"]:
            v = floats(table, c["name"], markers=c.get("missing_values", ()))
            if c.get("indicator"):
                flags.append(np.isnan(v)[:, None].astype(np.float64))  # 1 where the value was missing
            v = np.where(np.isnan(v), c["fill"], v)
            parts.append(((v - c["mean"]) / c["std"])[:, None])
        parts += flags
        for c in self.state["categorical"]:
            v = strings(table, c["name"])
            index = {k: j for j, k in enumerate(c["categories"])}
            onehot = np.zeros((n, len(index)), dtype=np.float64)
            for i, s in enumerate(v):
                s = c["fill"] if is_missing(s) else str(s)
                j = index.get(s)
                if j is None:
                    if self.state["unseen"] == "zeros":
                        continue  # documented fallback: a category never seen in training → all-zero one-hot
                    known = ", ".join(c["categories"])
                    raise UserError(f"categorical column '{c['name']}' holds {s!r} at {table.where(i)}, a category "
                                    f"not seen in the training split (known: {known}); use a known "
                                    "value, leave it empty to impute the most frequent one, or train with "
                                    "data.options.unseen = \"zeros\" to score unseen categories as all-zero one-hot")
                onehot[i, j] = 1.0
            parts.append(onehot)
        return torch.as_tensor(np.concatenate(parts, axis=1), dtype=torch.float32)


# -- building a bundle -----------------------------------------------------------------------------------
def _infer_columns(table: Table, skip: set[str], max_categories: int) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for name in table.columns:
        if name in skip:
            continue
        col = table.data[name]
        if col.dtype != object:
            numeric.append(name)
            continue
        present = np.array([v for v in col if not is_missing(v)], dtype=object)
        try:
            present.astype(np.float64)
            numeric.append(name)
            continue
        except ValueError:
            pass
        distinct = len(set(present))
        if distinct > max_categories:
            raise UserError(f"column '{name}' holds text with {distinct} distinct values, too many to one-hot "
                            f"(data.options.max_categories = {max_categories}); leave it out with "
                            f"data.options.drop = [\"{name}\"], or list the columns to use in "
                            "data.options.numeric / data.options.categorical")
        categorical.append(name)
    return numeric, categorical


def _target(table: Table, name: str, task: str, classes: list | None) -> tuple[str, np.ndarray, list[str] | None]:
    """Encode the target: class ids (binary / classification) or floats (regression)."""
    if task == "regression":
        y = floats(table, name, "target column")
        bad = np.flatnonzero(np.isnan(y))
        if len(bad):
            raise UserError(f"target column '{name}' is empty at {table.where(int(bad[0]))}; every training row "
                            "needs a target")
        return "regression", y.astype(np.float32), None
    raw = strings(table, name)
    for i, v in enumerate(raw):
        if is_missing(v):
            raise UserError(f"target column '{name}' is empty at {table.where(i)}; every training row needs a target")
    values = sorted(set(map(str, raw)), key=num_key)
    if task == "auto":
        numeric = all(num_key(v)[0] == 0 for v in values)
        if len(values) == 2:
            task = "binary"
        elif numeric and (len(values) > 20 or not all(float(v).is_integer() for v in values)):
            return _target(table, name, "regression", None)
        else:
            task = "classification"
    if classes is not None:
        classes = [str(c) for c in classes]
        unknown = sorted(set(values) - set(classes))
        if unknown:
            raise UserError(f"target column '{name}' holds {unknown}, not listed in data.options.classes {classes}")
        values = classes
    if task == "binary" and len(values) != 2:
        raise UserError(f"a binary target needs exactly 2 classes; column '{name}' has {len(values)}: "
                        f"{values[:10]}; use task \"classification\" (data.options.task)")
    if len(values) < 2:
        source = f" of {table.source}" if table.source else ""
        raise UserError(f"target column '{name}'{source} has a single value {values}; nothing to learn (check "
                        "data.options.target)")
    index = {v: i for i, v in enumerate(values)}
    return task, np.array([index[str(v)] for v in raw], dtype=np.int64), values


def tabular_bundle(name: str, table: Table, opts: dict, cfg: DataConfig, *, task: str = "auto",
                   rows: dict[str, np.ndarray] | None = None, extra_meta: dict | None = None) -> DataBundle:
    """Target, columns, splits and preprocessing (fitted on the training rows) → a DataBundle.

    `rows` fixes the splits (the toys); otherwise `split_rows`. The bundle's `rows` attribute holds
    each split's row indices into `table` (not in meta: it can be long)."""
    task = opts.get("task", task)
    if task not in ("auto", "binary", "classification", "regression"):
        raise UserError(f"data.options.task must be auto, binary, classification or regression; got {task!r}")
    target = resolve_column(table, opts.get("target", -1), "target")
    id_col = resolve_column(table, opts["id"], "id") if opts.get("id") is not None else None
    drop = {resolve_column(table, d, "drop") for d in list_option(opts, "drop")}
    task, y, classes = _target(table, target, task, opts.get("classes"))
    if "numeric" in opts or "categorical" in opts:
        numeric = [resolve_column(table, c, "numeric") for c in list_option(opts, "numeric")]
        categorical = [resolve_column(table, c, "categorical") for c in list_option(opts, "categorical")]
        clash = sorted(set(numeric + categorical) & ({target} | ({id_col} if id_col else set())))
        if clash:
            raise UserError(f"column(s) {clash} are the target or id and cannot also be features")
    else:
        numeric, categorical = _infer_columns(table, {target, id_col, *drop}, int_option(opts, "max_categories", 50, 1))
    stratify = task != "regression"
    rows = rows if rows is not None else split_rows(len(table), y, stratify, opts, cfg, Path(table.source).name)
    prep = TabularPrep.fit(table.take(rows["train"]), numeric, categorical,
                           standardize=bool_option(opts, "standardize", True), impute=opts.get("impute", "median"),
                           missing_values=opts.get("missing_values"), indicators=bool_option(opts, "indicators", False),
                           unseen=opts.get("unseen", "error"), target=target, id_column=id_col)
    x = prep.transform(table)
    yt = torch.as_tensor(y)
    splits = {k: Split(x[torch.as_tensor(v, dtype=torch.long)], yt[torch.as_tensor(v, dtype=torch.long)])
              for k, v in rows.items()}
    meta = {"task": task, "input": "tabular", "in_features": len(prep.features), "features": prep.features,
            "target": target, "tabular": prep.to_meta(), "source": table.source,
            "split": {k: v for k, v in opts.items() if k in ("test_fraction", "test_seed", "folds", "fold")},
            "sizes": {k: int(len(v)) for k, v in rows.items()}}
    if classes is not None:
        meta.update(classes=classes, num_classes=len(classes))
    else:
        meta["out_features"] = 1
    meta.update(extra_meta or {})
    bundle = DataBundle(name, splits, meta)
    bundle.rows = rows  # row indices into the table of each split, for checks and reports
    return bundle


# -- registered data sets ----------------------------------------------------------------------------------
SPLIT_OPTIONS = {"test_fraction", "test_seed", "folds", "fold", "standardize", "impute", "missing_values",
                 "indicators"}


@register_dataset("csv", "auto", "tabular",
                  "your own CSV (data.options.path, target, numeric, categorical, ...; task inferred or "
                  "data.options.task), preprocessing fitted on the training split",
                  "a local CSV file, plain or .gz")
def load_csv(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, set(OPTIONS), "csv")
    if not opts.get("path"):
        raise UserError("data set 'csv' needs data.options.path, e.g. --set data.options.path=train.csv "
                        "(and data.options.target=COLUMN; see `dlp datasets`)")
    table = read_csv(path_option(opts, "path"), bool_option(opts, "header", True), opts.get("delimiter", ","))
    bundle = tabular_bundle(Path(opts["path"]).stem, table, opts, cfg)
    bundle.meta["path"] = str(opts["path"])
    return bundle


def diabetes_file() -> Path:
    folder = find_data("diabetes", ["diabetes.csv.gz"], how_to_get=(
        "Get diabetes.csv.gz (the course's normalized Pima data) from "
        "https://github.com/hunkim/PyTorchZeroToAll/tree/master/data into <data-dir>/diabetes."))
    return folder / "diabetes.csv.gz"


@register_dataset("diabetes", "binary", "tabular",
                  "Pima Indians diabetes, the course's 759 rows × 8 features scaled to [-1, 1] (lecture 7); "
                  "fixed stratified 20% test split, or folds/fold for cross-validation",
                  "hunkim/PyTorchZeroToAll data/diabetes.csv.gz in <data-dir>/diabetes")
def load_diabetes(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, SPLIT_OPTIONS, "diabetes")
    names = [f"c{i}" for i in range(8)] + ["diabetes"]
    table = read_csv(diabetes_file(), header=False, names=names)
    return tabular_bundle("diabetes", table, {**opts, "target": "diabetes", "task": "binary"}, cfg)


@register_dataset("breast-cancer", "binary", "tabular",
                  "Wisconsin diagnostic breast cancer, 569 rows × 30 features, malignant / benign (lecture 6); "
                  "fixed stratified 20% test split (seed 0, as for digits)",
                  "sklearn.datasets.load_breast_cancer (embedded, no download)")
def load_breast_cancer(cfg: DataConfig) -> DataBundle:
    from sklearn.datasets import load_breast_cancer as sk_load
    opts = dict(cfg.options)
    check_options(opts, SPLIT_OPTIONS, "breast-cancer")
    d = sk_load()
    names = [str(n) for n in d.feature_names]
    classes = [str(c) for c in d.target_names]  # 0 malignant, 1 benign
    table = array_table(d.data, names, {"diagnosis": np.array([classes[t] for t in d.target], dtype=object)})
    return tabular_bundle("breast-cancer", table, {**opts, "target": "diagnosis", "task": "binary",
                                                    "classes": classes}, cfg)


def _toy(name: str, cfg: DataConfig, x_name: str, y_name: str, train: tuple, test: tuple, task: str,
         note: str) -> DataBundle:
    check_options(dict(cfg.options), set(), name)
    xs = [*train[0], *test[0]]
    ys = [*train[1], *test[1]]
    table = Table([x_name, y_name], {x_name: np.array([str(v) for v in xs], dtype=object),
                                     y_name: np.array([str(v) for v in ys], dtype=object)},
                  source=name, header=True)
    n_tr = len(train[0])
    rows = {"train": np.arange(n_tr), "val": np.arange(0), "test": np.arange(n_tr, len(xs))}
    opts = {"target": y_name, "numeric": [x_name], "standardize": False}
    return tabular_bundle(name, table, opts, cfg, task=task, rows=rows, extra_meta={"note": note})


@register_dataset("course-linear", "regression", "tabular",
                  "lecture 5 toy: train x = 1, 2, 3 → y = 2, 4, 6; test x = 4 → y = 8; no validation split",
                  "the course's slides (刘二大人, lecture 5)")
def load_course_linear(cfg: DataConfig) -> DataBundle:
    # Three points leave nothing to validate on: the loop picks the best epoch by training loss, and
    # the one test point (x = 4, y = 8, the course's question) is never used to choose anything.
    return _toy("course-linear", cfg, "x", "y", ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]), ([4.0], [8.0]), "regression",
                "no validation split; data.val_fraction is ignored; test = the course's question x = 4")


@register_dataset("course-logistic", "binary", "tabular",
                  "lecture 6 toy: hours 1, 2, 3 → fail, fail, pass; no held-out data (test = the 3 training rows)",
                  "the course's slides (刘二大人, lecture 6)")
def load_course_logistic(cfg: DataConfig) -> DataBundle:
    # There is no held-out data in the course; the test split repeats the three training rows, so its
    # accuracy is a training fit, said so in meta["note"]. The lesson's real output is the curve.
    return _toy("course-logistic", cfg, "hours", "pass", ([1.0, 2.0, 3.0], [0, 0, 1]), ([1.0, 2.0, 3.0], [0, 0, 1]),
                "binary", "no held-out data: the test split repeats the training rows (training fit)")
