"""Kaggle Titanic (lecture 8): the passengers' feature pipelines and the `titanic` data set.

Two pipelines (`data.options.features`): `engineered` (title, age by title, family, deck, ticket group,
log fare, group survival) and `woman_child_group` (the rule of the best honest write-ups as features).
`group_folds = true` keeps each family / ticket group (`titanic_groups`) whole in the test split. The
machinery they plug into (DERIVES, splits, the bundle) is `data.kaggle`'s.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ..config import DataConfig
from ..errors import UserError
from .kaggle import DERIVES, KAGGLE_OPTIONS, Derive, _derived, _need, _read_cached, competition_dir, derived_bundle
from .registry import DataBundle, bool_option, check_options, register_dataset
from .table import Table, floats, is_missing, read_csv, strings

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


def _outcomes_by_group(train: Table, keep: np.ndarray | None = None) -> dict[str, dict[str, int]]:
    """group key → {PassengerId: survived} over the training rows (those where `keep` is true, if given)."""
    groups: dict[str, dict[str, int]] = {}
    rows = zip(strings(train, "PassengerId"), _group_keys(train), strings(train, "Survived"))
    for i, (pid, keys, y) in enumerate(rows):
        if keep is None or keep[i]:
            for k in keys:
                groups.setdefault(k, {})[str(pid)] = int(float(y))
    return {k: v for k, v in sorted(groups.items())}


def titanic_groups(table: Table) -> np.ndarray:
    """One id per passenger: passengers linked by a family key or a ticket key (`_group_keys`), directly or
    through others, share an id (connected components), so a fold that keeps groups whole never splits
    a family or a shared ticket between training and test rows."""
    _need(table, ["Name", "Fare", "Ticket"], "Titanic")
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
    return {"age_by_title": by_title, "age_overall": overall, "tickets": dict(sorted(tickets.items())),
            "groups": _outcomes_by_group(train)}


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
    return {"groups": _outcomes_by_group(train, female | boy)}


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


@register_dataset("titanic", "binary", "tabular",
                  "Kaggle Titanic (lecture 8): 891 passengers, survived or not; engineered features (title, "
                  "age by title, family, deck, ticket group, log fare); stratified 20% test, folds/fold, or full",
                  "kaggle competitions download -c titanic → <data-dir>/titanic")
def load_titanic(cfg: DataConfig) -> DataBundle:
    opts = dict(cfg.options)
    check_options(opts, KAGGLE_OPTIONS | {"group_folds", "features"}, "titanic")
    features = opts.get("features", "engineered")
    if features not in TITANIC_FEATURES:
        raise UserError(f"data.options.features must be one of {', '.join(TITANIC_FEATURES)}; got {features!r}")
    folder = competition_dir("titanic")
    train, test = _read_cached(folder / "train.csv"), read_csv(folder / "test.csv")
    _need(train, ["Survived"], "Titanic train")
    groups = titanic_groups(train) if bool_option(opts, "group_folds", False) else None
    return derived_bundle("titanic", train, "Survived", "PassengerId", TITANIC_FEATURES[features],
                          {"manifest": [train, test]}, opts, cfg, classes=["0", "1"], task="binary", groups=groups)
