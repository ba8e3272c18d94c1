"""The tabular data kind: CSV reading, preprocessing fitted on training rows only, JSON meta, splits and
folds, the `tabular` prediction input (same features as training), clear errors, ROC-AUC, the models."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

import dlpractice.models.tabular  # noqa: F401  (registers linear, logistic, tabular_mlp, tabular_classifier)
import dlpractice.inputs.tabular  # noqa: F401  (registers the tabular input kind)
from dlpractice.config import DataConfig, load_config
from dlpractice.data import load_dataset
from dlpractice.data.tabular import read_csv
from dlpractice.errors import UserError
from dlpractice.models import MODELS, build_model
from dlpractice.inputs import INPUT_KINDS
from dlpractice.runs.tasks import TASKS, roc_auc

from conftest import require_data

def _csv_text(n: int = 30) -> str:
    """id, two numeric columns (a few missing), a categorical one, a yes/no label."""
    rows = ["id,age,income,city,label"]
    for i in range(n):
        age = "" if i % 11 == 3 else str(25 + (i * 7) % 40)
        income = "" if i % 13 == 1 else str(1000 + (i * 379) % 4000)
        rows.append(f"{i + 1},{age},{income},{('paris', 'berlin', 'rome')[i % 3]},{'yes' if i % 2 else 'no'}")
    return "\n".join(rows) + "\n"


CSV = _csv_text()


def _write(path, text, gz=False):
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _toy_cfg(path, **opts):
    return DataConfig(dataset="csv", val_fraction=0.0,
                      options={"path": str(path), "target": "label", "id": "id", "test_fraction": 0.3, **opts})


@pytest.mark.parametrize("gz", [False, True])
def test_read_csv_plain_gz_header_and_no_header(tmp_path, gz):
    t = read_csv(_write(tmp_path / ("a.csv.gz" if gz else "a.csv"), CSV, gz))
    assert t.columns == ["id", "age", "income", "city", "label"] and len(t) == 30
    assert t.where(1) == f"row 2 (line 3 of {'a.csv.gz' if gz else 'a.csv'})"
    body = "\n".join(CSV.splitlines()[1:]) + "\n"
    t = read_csv(_write(tmp_path / "b.csv", body), header=False)
    assert t.columns == ["c0", "c1", "c2", "c3", "c4"] and len(t) == 30


def test_preprocessing_fitted_on_training_rows_and_meta_is_json(tmp_path):
    b = load_dataset(_toy_cfg(_write(tmp_path / "t.csv", CSV)))
    m = b.meta
    assert m["task"] == "binary" and m["input"] == "tabular" and m["classes"] == ["no", "yes"]
    assert m["num_classes"] == 2
    assert m["features"] == ["age", "income", "city=berlin", "city=paris", "city=rome"]
    assert m["in_features"] == 5 == b.splits["train"].x.shape[1]
    assert json.loads(json.dumps(m)) == m  # plain JSON: it goes to data.json and every checkpoint
    tr = b.rows["train"]
    # statistics come from the training rows only: standardised train columns have mean 0, std 1
    x = b.splits["train"].x[:, :2]
    assert torch.allclose(x.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(2), atol=1e-5)
    ages = np.array([np.nan if i % 11 == 3 else 25 + (i * 7) % 40 for i in range(30)])[tr]
    num = {c["name"]: c for c in m["tabular"]["numeric"]}
    assert num["age"]["fill"] == pytest.approx(float(np.nanmedian(ages)))  # imputed with the training median
    onehot = b.splits["test"].x[:, 2:]
    assert torch.all(onehot.sum(1) == 1)
    assert set(b.rows["test"]) | set(tr) == set(range(30)) and not set(b.rows["test"]) & set(tr)
    assert len(b.rows["test"]) == 9


def test_prediction_input_reproduces_training_features(tmp_path):
    path = _write(tmp_path / "t.csv", CSV)
    b = load_dataset(_toy_cfg(path))
    # the same rows in another order, without the target, with an extra column: same features
    lines = CSV.splitlines()
    test_rows = [lines[1 + i] for i in b.rows["test"]][::-1]
    rows = ["extra," + ",".join(r.split(",")[:4]) for r in test_rows]
    p = _write(tmp_path / "rows.csv", "extra,id,age,income,city\n" + "\n".join(rows) + "\n")
    x, labels = INPUT_KINDS.get("tabular")(b.meta, [str(p)])
    assert torch.allclose(x, b.splits["test"].x.flip(0))
    assert labels == [r.split(",")[0] for r in test_rows]  # labelled by the id column


def _meta(tmp_path, **opts):
    return load_dataset(_toy_cfg(_write(tmp_path / "t.csv", CSV), **opts)).meta


@pytest.mark.parametrize("rows,match", [
    ("id,age,city\n1,30,paris\n", r"lacks column\(s\) income"),
    ("id,age,income,city\n1,thirty,1000,paris\n", r"'age' holds 'thirty' at row 1 \(line 2 of rows.csv\)"),
    ("id,age,income,city\n1,30,1000,tokyo\n",
     r"'city' holds 'tokyo' at row 1 .*not seen in the training split.*unseen"),
    ("id,age,income\n1,30,1000,paris\n", r"line 2 has 4 fields but 3"),
])
def test_prediction_errors_name_column_row_and_fix(tmp_path, rows, match):
    meta = _meta(tmp_path)
    p = _write(tmp_path / "rows.csv", rows)
    with pytest.raises(UserError, match=match):
        INPUT_KINDS.get("tabular")(meta, [str(p)])


def test_missing_file_and_unseen_category_fallback(tmp_path):
    with pytest.raises(UserError, match="CSV file not found: .*nope.csv"):
        INPUT_KINDS.get("tabular")(_meta(tmp_path), [str(tmp_path / "nope.csv")])
    with pytest.raises(UserError, match="CSV file not found"):
        load_dataset(DataConfig(dataset="csv", options={"path": str(tmp_path / "nope.csv")}))
    meta = _meta(tmp_path, unseen="zeros")
    p = _write(tmp_path / "rows.csv", "age,income,city\n30,,tokyo\n40,2000,\n")
    x, labels = INPUT_KINDS.get("tabular")(meta, [str(p)])
    assert labels == ["row 1", "row 2"]
    assert x[0, 2:].sum() == 0  # unseen category → all-zero one-hot (documented fallback)
    assert x[1, 2:].sum() == 1  # missing category → the training mode


def test_option_errors(tmp_path):
    path = _write(tmp_path / "t.csv", CSV)
    with pytest.raises(UserError, match="did you mean 'target'"):
        load_dataset(DataConfig(dataset="csv", options={"path": str(path), "targte": "label"}))
    with pytest.raises(UserError, match="did you mean 'label'"):
        load_dataset(DataConfig(dataset="csv", options={"path": str(path), "target": "lable"}))
    with pytest.raises(UserError, match="needs data.options.path"):
        load_dataset(DataConfig(dataset="csv"))
    text = "name,y\n" + "".join(f"n{i},{i % 2}\n" for i in range(60))
    with pytest.raises(UserError, match=r"'name' holds text with 60 distinct values.*data.options.drop"):
        load_dataset(DataConfig(dataset="csv", options={"path": str(_write(tmp_path / "n.csv", text))}))
    bad = "a,y\n1,0\nx,1\n" + "".join(f"{i},{i % 2}\n" for i in range(20))
    with pytest.raises(UserError, match=r"numeric column 'a' holds 'x' at row 2"):
        load_dataset(DataConfig(dataset="csv", options={"path": str(_write(tmp_path / "b.csv", bad)),
                                                        "numeric": ["a"]}))
    tiny = "a,y\n1,0\n2,1\n3,0\n4,1\n"
    with pytest.raises(UserError, match="cannot split the 4 rows of t.csv"):
        load_dataset(DataConfig(dataset="csv", options={"path": str(_write(tmp_path / "t.csv", tiny))}))


def test_missing_value_markers_and_indicators(tmp_path):
    """Diabetes-style zeros that mean 'not measured': imputed with the training median of the measured
    values, plus a 0/1 '(missing)' feature; the same at prediction time."""
    text = "a,b,y\n" + "".join(f"{0 if i % 4 == 0 else i},{i % 7},{i % 2}\n" for i in range(40))
    cfg = DataConfig(dataset="csv", val_fraction=0.0,
                     options={"path": str(_write(tmp_path / "m.csv", text)), "missing_values": {"a": ["0"]},
                              "indicators": True, "standardize": False, "test_fraction": 0.25})
    b = load_dataset(cfg)
    assert b.meta["features"] == ["a", "b", "a (missing)"]  # b has no missing values: no indicator
    a_col = b.meta["tabular"]["numeric"][0]
    raw = np.array([0 if i % 4 == 0 else i for i in range(40)])[b.rows["train"]]
    assert a_col["fill"] == pytest.approx(float(np.median(raw[raw != 0])))
    x = b.splits["train"].x
    zero = torch.as_tensor(raw == 0)
    assert torch.all(x[zero, 2] == 1) and torch.all(x[~zero, 2] == 0) and torch.all(x[zero, 0] == a_col["fill"])
    p = _write(tmp_path / "rows.csv", "a,b\n0,3\n5,\n")
    xp, _ = INPUT_KINDS.get("tabular")(b.meta, [str(p)])
    assert xp[0].tolist() == [a_col["fill"], 3.0, 1.0] and xp[1, 2] == 0


def test_task_inference(tmp_path):
    rng = np.random.default_rng(0)
    xs = rng.normal(size=40)
    for name, ys, task in [("r", xs * 2.5, "regression"), ("c", np.arange(40) % 3, "classification")]:
        p = _write(tmp_path / f"{name}.csv", "x,y\n" + "".join(f"{a},{b}\n" for a, b in zip(xs, ys)))
        b = load_dataset(DataConfig(dataset="csv", options={"path": str(p)}))
        assert b.meta["task"] == task
    assert b.meta["classes"] == ["0", "1", "2"] and b.splits["train"].y.dtype == torch.long


def test_folds_partition_rows_stratified():
    b0 = require_data(lambda: load_dataset(DataConfig(dataset="diabetes", options={"folds": 5, "fold": 0})))
    assert b0.meta["in_features"] == 8 and b0.meta["classes"] == ["0", "1"]
    tests = []
    for f in range(5):
        b = load_dataset(DataConfig(dataset="diabetes", val_fraction=0.15, options={"folds": 5, "fold": f}))
        r = b.rows
        assert not (set(r["train"]) & set(r["test"])) and not (set(r["val"]) & set(r["test"]))
        assert len(r["train"]) + len(r["val"]) + len(r["test"]) == 759
        pos = float(b.splits["test"].y.float().mean())
        assert abs(pos - 496 / 759) < 0.02  # stratified: each fold keeps the class balance
        tests.append(set(r["test"]))
    assert set().union(*tests) == set(range(759)) and sum(map(len, tests)) == 759


def test_breast_cancer_bundle():
    b = load_dataset(DataConfig(dataset="breast-cancer"))
    assert b.meta["in_features"] == 30 and b.meta["classes"] == ["malignant", "benign"]
    assert len(b.splits["test"]) == 114  # fixed stratified 20%
    assert abs(float(b.splits["train"].x.mean())) < 1e-4


def test_roc_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score
    g = torch.Generator().manual_seed(0)
    s = torch.randint(0, 6, (80,), generator=g).float()  # many ties
    y = torch.randint(0, 2, (80,), generator=g)
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()))
    assert roc_auc(s, torch.ones(80)) is None
    assert TASKS.get("binary").full_metrics(s.view(-1, 1), y)["roc_auc"] == pytest.approx(roc_auc(s, y))


def test_tabular_models():
    assert isinstance(build_model("linear", {"in_features": 1}), torch.nn.Linear)
    net = build_model("tabular_mlp", {"in_features": 8, "hidden": [6, 4], "activation": "sigmoid"})
    assert [m.__class__.__name__ for m in net] == ["Linear", "Sigmoid", "Linear", "Sigmoid", "Linear"]
    assert net(torch.randn(5, 8)).shape == (5, 1)
    assert build_model("tabular_classifier", {"in_features": 4, "num_classes": 9})(torch.randn(3, 4)).shape == (3, 9)
    assert MODELS.get("logistic").task == "binary" and MODELS.get("linear").task == "regression"
    with pytest.raises(UserError, match="unknown activation 'sigmoidd'"):
        build_model("tabular_mlp", {"activation": "sigmoidd"})


def test_diabetes_predict_rows_reproduce_run_predictions(tmp_path):
    """Rows copied from the diabetes CSV → the tabular input → the run's model give exactly the
    probabilities of the same rows taken from the run's own test split tensors."""
    from dlpractice.data.tabular import diabetes_file
    from dlpractice.runs.predictor import Predictor
    from dlpractice.train.loop import train
    src = require_data(diabetes_file)
    cfg = load_config(overrides=["data.dataset=diabetes", "model.name=tabular_mlp", "train.epochs=2",
                                 "optim.name=adam", "optim.lr=0.01", "log.loggers=['csv']", "train.device=cpu"])
    run = train(cfg, out=tmp_path / "run")
    pred = Predictor(run.folder)
    data = load_dataset(pred.cfg.data)
    rows = data.rows["test"][:40]
    lines = gzip.open(src, "rt").read().splitlines()
    p = _write(tmp_path / "rows.csv", "\n".join(lines[i] for i in rows) + "\n")
    x, labels = pred.prepare([str(p)]) if hasattr(pred, "prepare") else INPUT_KINDS.get("tabular")(pred.meta, [str(p)])
    assert labels[0] == "row 1" and len(labels) == 40
    want = pred.probabilities(data.splits["test"].x[:40])
    assert torch.allclose(x, data.splits["test"].x[:40])
    assert torch.allclose(pred.probabilities(x), want)
    # the same rows without the label column (8 columns) score the same
    p8 = _write(tmp_path / "rows8.csv", "\n".join(lines[i].rsplit(",", 1)[0] for i in rows) + "\n")
    x8, _ = INPUT_KINDS.get("tabular")(pred.meta, [str(p8)])
    assert torch.equal(x8, x)
    p7 = _write(tmp_path / "rows7.csv", "1,2,3,4,5,6,7\n")
    with pytest.raises(UserError, match="has 7 columns.*give rows of 9 columns, or 8 without the target"):
        INPUT_KINDS.get("tabular")(pred.meta, [str(p7)])
