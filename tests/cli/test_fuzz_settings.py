"""Hypothesis over settings, through the CLI's `main` (in process: no torch import per example): any value of
any setting — numbers in and out of their declared ranges, NaN and ±inf, wrong types, nested lists and
tables, names of models and data sets, arguments of models, optimizers, data sets and the GAN's players —
either trains (exit 0, a finished run) or is refused with exactly one `error:` line and exit 2, leaving no
run folder (a run that diverges says so, and only it keeps its folder). A value outside the range a setting
declares is always refused. Bounded: a few dozen examples, each a one-epoch run on 32 digits."""
from __future__ import annotations

import json
import math
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlpractice.cli import main
from dlpractice.config import _SECTION_TYPES

QUICK = ["data.dataset=digits", 'model.name="mlp"', "train.epochs=1", "data.limit_train=32",
         "data.batch_size=16", "log.progress=false", "log.loggers=['csv']", "train.threads=1", "train.eval_test=false"]
MODEL_NAMES = ["mlp", "softmax", "lenet_bn", "course_cnn", "logistic", "rnn_classifier", "dcgan_g", "lenet_bm"]
DATASETS = ["digits", "breast-cancer", "course-linear", "names-tutorial", "csv", "image-folder", "digitz"]
ARG_NAMES = ["hidden", "dropout", "width", "members", "flip_average", "activation", "batch_norm", "channels",
             "num_layers", "cell", "pool", "betas", "eps", "nesterov", "foreach", "amsgrad", "colour", "size"]


def _fields() -> dict:
    return {f"{s}.{f.name}": f for s, cls in _SECTION_TYPES.items() for f in fields(cls)}


FIELDS = _fields()
SKIP = {"log.runs_dir", "train.device", "gan.scorer_set", "log.loggers"}   # where a run is written, or a GPU,
KEYS = sorted(set(FIELDS) - SKIP)                                          # or a classifier trained for a GAN

scalars = st.one_of(
    st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.integers(min_value=-3, max_value=40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2.0, max_value=2.0),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(MODEL_NAMES + DATASETS + ["", "crop", "flip", "sgd", "adam", "onecycle", "bf16", "x/y"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.sampled_from(ARG_NAMES), st.one_of(scalars, st.lists(scalars, max_size=2)),
                                   max_size=2))


def toml(v) -> str:
    """A value as TOML (what a user types after `--set key=`)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(map(toml, v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + "}"
    return str(v)


@st.composite
def a_setting(draw):
    key = draw(st.sampled_from(KEYS + [f"model.args.{a}" for a in ARG_NAMES[:10]]
                               + [f"optim.args.{a}" for a in ARG_NAMES[11:16]]))
    value = draw(values)
    if key == "train.epochs" and isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value) and value > 2:
        value = -value                             # out of range instead: refused at once, not a long run
    return key, value


def declared_out_of_range(key: str, value) -> bool:
    """Whether `value` breaks what the setting declares (a number outside its range, NaN or ±inf)."""
    f = FIELDS.get(key)
    if f is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    m = f.metadata
    if isinstance(value, float) and m.get("finite") and not math.isfinite(value):
        return True
    lo, hi = m.get("min"), m.get("max")
    return (lo is not None and (value <= lo if m.get("open_min") else value < lo)) or \
        (hi is not None and (value >= hi if m.get("open_max") else value > hi))


@settings(max_examples=45, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(setting=a_setting())
def test_any_setting_trains_or_is_one_line(setting, tmp_path_factory, capsys):
    key, value = setting
    out = tmp_path_factory.mktemp("fuzz") / "run"
    sets = [a for s in QUICK + [f"{key}={toml(value)}"] for a in ("--set", s)]
    code = main(["train", *sets, "--out", str(out)])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code in (0, 2), (key, value, code, err)
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), (key, value, err)
        # a folder left behind is one the line speaks of: a run that diverged says what it keeps
        assert not out.exists() or "Nothing was saved" in lines[0] or "keeps the epochs" in lines[0], \
            (key, value, lines[0])
    else:
        assert (out / "summary.json").is_file(), (key, value, err)
    if declared_out_of_range(key, value):
        assert code == 2, f"{key}={toml(value)} is outside the declared range but was accepted"


@pytest.mark.parametrize("args, message", [
    ("optim.args={lr=100}", "optim.args.lr"),                     # a setting of its own, with its range
    ("optim.args={momentum=2.0}", "optim.args.momentum"),
    ('optim.args={betas=[0.9, "x"]}', "optim.args.betas"),
    ("optim.args={eps=nan}", "optim.args.eps"),
    ('optim.args={foreach="yes"}', "optim.args.foreach"),
    ("optim.args={capturable=true}", "optim.args.capturable"),
    ("optim.args={params=1}", "optim.args.params"),
])
def test_optimizer_arguments_are_checked_before_training(args, message, tmp_path, capsys):
    sets = [a for s in QUICK + ['optim.name="adam"', args] for a in ("--set", s)]
    assert main(["train", *sets, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()
