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
`meta["note"]`; use the cv / hold-out lessons for an honest figure). Titanic's `group_folds = true` keeps
each family / ticket group (`titanic_groups`) whole in the test split, fold or hold-out; its
`features = "woman_child_group"` swaps the engineered features for the woman-child-group ones.

Data: `<data-dir>/titanic/{train,test}.csv` and `<data-dir>/otto/{train,test}.csv[.gz]`, looked up like
every data set (--data-dir, $DLP_DATA_DIR, the user cache); `dlp data fetch titanic|otto` downloads
them with the official `kaggle` package (`data/fetch.py`).
"""
from __future__ import annotations

import re
from collections import Counter
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
from .table import Table, floats, is_missing, read_csv, strings
from .tabular import TabularPrep, split_rows, tabular_bundle


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


# Titanic ------------------------------------------------------------------------------------------------
TITANIC_RAW = ["PassengerId", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch", "Ticket", "Fare", "Cabin",
               "Embarked"]
TITLES = {"Mr": "Mr", "Mrs": "Mrs", "Miss": "Miss", "Master": "Master", "Mlle": "Miss", "Ms": "Miss", "Mme": "Mrs"}
TITANIC_NUMERIC = ["Age", "AgeMissing", "LogFare", "LogFarePerPerson", "FamilySize", "Alone", "TicketGroupSize",
                   "CabinKnown", "GroupSurvival"]
TITANIC_CATEGORICAL = ["Pclass", "Sex", "Title", "Embarked", "Deck", "FamilyGroup"]


def title_of(name: str) -> str:
    """'Braund, Mr. Owen Harris' → 'Mr'; Mlle / Ms → Miss, Mme → Mrs, every other title → 'Rare'."""
    m = re.search(r",\s*([^.]*?)\s*\.", name)
    return TITLES.get(m.group(1) if m else "", "Rare")


def _titles(table: Table) -> np.ndarray:
    return np.array([title_of(str(n)) for n in strings(table, "Name")], dtype=object)


def _group_keys(table: Table) -> list[tuple[str, str]]:
    """Each passenger's family key (surname and fare: one family travels on one fare) and ticket key."""
    names, tickets = strings(table, "Name"), strings(table, "Ticket")
    fares = strings(table, "Fare")
    return [(f"{str(n).split(',')[0].strip()}|{f}", f"ticket|{t}") for n, f, t in zip(names, fares, tickets)]


def titanic_groups(table: Table) -> np.ndarray:
    """One id per passenger: passengers linked by a family key or a ticket key (`_group_keys`), directly or
    through others, share an id (connected components), so a fold that keeps groups whole never splits
    a family or a shared ticket between training and test rows."""
    parent = list(range(len(table)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, keys in enumerate(_group_keys(table)):
        for k in keys:
            j = first.setdefault(k, i)
            parent[root(i)] = root(j)
    return np.array([root(i) for i in range(len(table))])


def titanic_fit(train: Table, manifest: list[Table] | None = None) -> dict:
    """Age medians by title and the survival of each family / ticket group, from the training rows only;
    ticket group sizes counted over the whole passenger list (`manifest`: train.csv and test.csv — a count
    of shared tickets, no labels)."""
    _need(train, TITANIC_RAW + ["Survived"], "Titanic")
    age, titles = floats(train, "Age"), _titles(train)
    overall = float(np.nanmedian(age)) if np.isfinite(age).any() else 28.0
    by_title = {}
    for t in sorted(set(titles) | set(TITLES.values()) | {"Rare"}):
        known = age[(titles == t) & np.isfinite(age)]
        by_title[t] = float(np.median(known)) if len(known) else overall
    tickets = Counter()
    for t in (manifest or [train]):
        tickets.update(str(v) for v in strings(t, "Ticket"))
    groups: dict[str, dict[str, int]] = {}
    for pid, keys, y in zip(strings(train, "PassengerId"), _group_keys(train), strings(train, "Survived")):
        for k in keys:
            groups.setdefault(k, {})[str(pid)] = int(float(y))
    groups = {k: v for k, v in sorted(groups.items())}
    return {"age_by_title": by_title, "age_overall": overall, "tickets": dict(sorted(tickets.items())),
            "groups": groups}


def group_survival(table: Table, state: dict) -> np.ndarray:
    """The 'family survival' feature of Titanic kernels: 1 if another member of the passenger's family
    (surname + fare), else of the ticket group, survived among the *training* passengers, 0 if the known
    members all died, 0.5 when none is known. A passenger never counts for itself (by PassengerId), so
    training rows see their group without their own label, and validation / test labels are never used."""
    ids = strings(table, "PassengerId") if "PassengerId" in table.data else [None] * len(table)
    out = np.full(len(table), 0.5)
    for i, (pid, keys) in enumerate(zip(ids, _group_keys(table))):
        for k in keys:
            others = [y for p, y in state["groups"].get(k, {}).items() if p != str(pid)]
            if others:
                out[i] = 1.0 if max(others) == 1 else 0.0
                break
    return out


def titanic_transform(table: Table, state: dict) -> Table:
    """The features a Kaggle user would recognise: sex, class, title from the name, age imputed by the
    title's training median (+ a missing flag), log fare and log fare per person, family size, alone,
    family group (alone / small / large), embarked, cabin deck (U = unknown), cabin known, the number
    of passengers sharing the ticket, and whether the passenger's family / ticket group survived
    (`group_survival`, from training labels only)."""
    _need(table, TITANIC_RAW[1:], "Titanic")
    titles = _titles(table)
    age = floats(table, "Age")
    fill = np.array([state["age_by_title"].get(t, state["age_overall"]) for t in titles])
    fare = floats(table, "Fare")
    family = np.nan_to_num(floats(table, "SibSp")) + np.nan_to_num(floats(table, "Parch")) + 1
    tickets = [str(v) for v in strings(table, "Ticket")]
    local = Counter(tickets)
    group = np.array([state["tickets"].get(t) or local[t] for t in tickets], dtype=np.float64)
    cabins = [str(v) for v in strings(table, "Cabin")]
    deck = np.array(["U" if is_missing(c) or c[0] not in "ABCDEFG" else c[0] for c in cabins], dtype=object)
    cols = {
        "Pclass": np.array([str(v) for v in strings(table, "Pclass")], dtype=object),
        "Sex": strings(table, "Sex"),
        "Title": titles,
        "Embarked": strings(table, "Embarked"),
        "Deck": deck,
        "FamilyGroup": np.array(["alone" if f == 1 else "small" if f <= 4 else "large" for f in family], dtype=object),
        "Age": np.where(np.isnan(age), fill, age),
        "AgeMissing": np.isnan(age).astype(np.float64),
        "LogFare": np.log1p(fare),          # NaN (one test row) → the training median, by TabularPrep
        "LogFarePerPerson": np.log1p(fare / group),
        "FamilySize": family,
        "Alone": (family == 1).astype(np.float64),
        "TicketGroupSize": group,
        "CabinKnown": (deck != "U").astype(np.float64),
        "GroupSurvival": group_survival(table, state),
    }
    for keep in ("PassengerId", "Survived"):
        if keep in table.data:
            cols[keep] = table.data[keep]
    return _derived(table, cols)


DERIVES.add("titanic", Derive(titanic_fit, titanic_transform, TITANIC_NUMERIC, TITANIC_CATEGORICAL))


# The woman-child-group model of Titanic write-ups: men die, women and boys ("Master") live, except a boy
# whose family's / ticket's women and boys all survived lives, and a woman whose women and boys all died
# dies. As features, so the loop's model learns the rule (and its weights) from the training rows.
WCG_NUMERIC = ["Boy", "BoyInLivingGroup", "FemaleInDeadGroup"]


def _woman_or_boy(table: Table) -> tuple[np.ndarray, np.ndarray]:
    female = np.array([str(v).strip().lower() == "female" for v in strings(table, "Sex")])
    return female, _titles(table) == "Master"


def titanic_wcg_fit(train: Table, manifest: list[Table] | None = None) -> dict:
    """The survival of every training woman and boy, by family key and by ticket key (`_group_keys`)."""
    _need(train, TITANIC_RAW + ["Survived"], "Titanic")
    female, boy = _woman_or_boy(train)
    groups: dict[str, dict[str, int]] = {}
    for pid, keys, y, wc in zip(strings(train, "PassengerId"), _group_keys(train), strings(train, "Survived"),
                                female | boy):
        if wc:
            for k in keys:
                groups.setdefault(k, {})[str(pid)] = int(float(y))
    return {"groups": {k: v for k, v in sorted(groups.items())}}


def titanic_wcg_transform(table: Table, state: dict) -> Table:
    """Sex, boy, and whether the other training women and boys of the passenger's family or ticket all
    lived (for a boy) or all died (for a woman); a passenger never counts for itself, so training rows see
    their group without their own label."""
    _need(table, TITANIC_RAW[1:], "Titanic")
    female, boy = _woman_or_boy(table)
    ids = strings(table, "PassengerId") if "PassengerId" in table.data else [None] * len(table)
    lived, died = np.zeros(len(table)), np.zeros(len(table))
    for i, (pid, keys) in enumerate(zip(ids, _group_keys(table))):
        mates = {p: y for k in keys for p, y in state["groups"].get(k, {}).items() if p != str(pid)}
        if mates:
            lived[i], died[i] = min(mates.values()) == 1, max(mates.values()) == 0
    cols = {"Sex": strings(table, "Sex"), "Boy": boy.astype(np.float64),
            "BoyInLivingGroup": (boy & (lived == 1)).astype(np.float64),
            "FemaleInDeadGroup": (female & (died == 1)).astype(np.float64)}
    for keep in ("PassengerId", "Survived"):
        if keep in table.data:
            cols[keep] = table.data[keep]
    return _derived(table, cols)


DERIVES.add("titanic_wcg", Derive(titanic_wcg_fit, titanic_wcg_transform, WCG_NUMERIC, ["Sex"]))
TITANIC_FEATURES = {"engineered": "titanic", "woman_child_group": "titanic_wcg"}


# Otto -------------------------------------------------------------------------------------------------------
OTTO_FEATURES = [f"feat_{i}" for i in range(1, 94)]
COUNT_TRANSFORMS = {"log1p": np.log1p, "sqrt": np.sqrt, "none": lambda v: v}


def otto_fit(train: Table, transform: str = "log1p") -> dict:
    if transform not in COUNT_TRANSFORMS:
        raise UserError(f"data.options.transform must be one of {', '.join(COUNT_TRANSFORMS)}; got {transform!r}")
    return {"transform": transform}


def otto_names(transform: str) -> list[str]:
    # Named after the transform, so that rows of raw counts never pass for transformed features.
    return OTTO_FEATURES if transform == "none" else [f"{transform}({c})" for c in OTTO_FEATURES]


def otto_transform(table: Table, state: dict) -> Table:
    """93 product-event counts → log1p (or sqrt) of each count."""
    _need(table, OTTO_FEATURES, "Otto")
    f = COUNT_TRANSFORMS[state["transform"]]
    cols: dict[str, np.ndarray] = {}
    for raw, name in zip(OTTO_FEATURES, otto_names(state["transform"])):
        v = floats(table, raw)
        if np.nanmin(v, initial=0.0) < 0:
            raise UserError(f"Otto column '{raw}' holds a negative count at {table.where(int(np.nanargmin(v)))}")
        cols[name] = f(v)
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


@register_dataset("titanic", "binary", "tabular",
                  "Kaggle Titanic (lecture 8): 891 passengers, survived or not; engineered features (title, "
                  "age by title, family, deck, ticket group, log fare); stratified 20% test, folds/fold, or full",
                  "kaggle competitions download -c titanic → <data-dir>/titanic")
def load_titanic(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, KAGGLE_OPTIONS | {"group_folds", "features"}, "titanic")
    features = opts.pop("features", "engineered")
    if features not in TITANIC_FEATURES:
        raise UserError(f"data.options.features must be one of {', '.join(TITANIC_FEATURES)}; got {features!r}")
    folder = competition_dir("titanic")
    train, test = _read_cached(folder / "train.csv"), read_csv(folder / "test.csv")
    _need(train, ["Survived"], "Titanic train")
    _need(train, TITANIC_RAW, "Titanic")
    groups = titanic_groups(train) if bool_option(opts, "group_folds", False) else None
    return derived_bundle("titanic", train, "Survived", "PassengerId", TITANIC_FEATURES[features],
                          {"manifest": [train, test]}, {k: v for k, v in opts.items() if k != "group_folds"}, cfg,
                          classes=["0", "1"], task="binary", groups=groups)


@register_dataset("otto", "classification", "tabular",
                  "Kaggle Otto Group product classification (lecture 9): 61,878 products × 93 counts → 9 classes; "
                  "log1p (or sqrt: data.options.transform) counts; stratified 20% test split, folds/fold, or full",
                  "kaggle competitions download -c otto-group-product-classification-challenge → <data-dir>/otto")
def load_otto(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, KAGGLE_OPTIONS | {"transform"}, "otto")
    train = _read_cached(competition_file("otto", "train"))
    _need(train, ["id", "target"], "Otto train")
    return derived_bundle("otto", train, "target", "id", "otto", {"transform": opts.pop("transform", "log1p")},
                          opts, cfg, task="classification")


# -- prediction input: the competition's raw CSV → the same features ------------------------------------
def derived_features(meta: dict, table: Table) -> torch.Tensor:
    d = meta["derive"]
    features = DERIVES.get(d["name"]).transform(table, d["state"])
    return TabularPrep.from_meta(meta["tabular"]).transform(features)
