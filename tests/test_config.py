"""The typed config: defaults, TOML, overrides, and clear messages for bad keys, values and ranges."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlpractice.cli.help import describe_defaults
from dlpractice.config import RunConfig, apply_overrides, load_config
from dlpractice.errors import UserError


def test_defaults_and_overrides():
    cfg = load_config(overrides=["optim.lr=0.05", "train.epochs=3", "data.augment=['crop']",
                                 "model.args.width=2", 'model.name="mlp"'])
    assert cfg.optim.lr == 0.05 and cfg.train.epochs == 3 and cfg.data.augment == ["crop"]
    assert cfg.model.args == {"width": 2} and cfg.model.name == "mlp"
    assert RunConfig().train.epochs == 10


def test_int_accepted_for_float():
    assert load_config(overrides=["optim.lr=1"]).optim.lr == 1.0


@pytest.mark.parametrize("override, message", [
    ("optim.lrr=0.1", "unknown setting 'optim.lrr' (did you mean 'optim.lr'?)"),
    ("optimm.lr=0.1", "unknown setting 'optimm.lr' (did you mean 'optim.lr'?)"),
    ("train.epochs=two", "setting 'train.epochs' must be an integer"),
    ("train.epochs=0", "setting 'train.epochs' must be ≥ 1"),
    ("schedule.name=linear", "setting 'schedule.name' must be one of none, step, cosine, onecycle"),
    ("train.epochs", "must look like section.key=value"),
])
def test_bad_overrides(override, message):
    with pytest.raises(UserError) as e:
        load_config(overrides=[override])
    assert message in str(e.value)


def test_toml_file(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('[optim]\nlr = 0.2\n[lesson]\nkind = "train"\n')
    assert load_config(f).optim.lr == 0.2
    f.write_text("[optim\nlr = ")
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(f)
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "missing.toml")
    f.write_text("[train]\nepocs = 3\n")
    with pytest.raises(UserError, match="did you mean 'train.epochs'"):
        load_config(f)


def test_round_trip_toml(tmp_path):
    cfg = apply_overrides(RunConfig(), ["optim.args={nesterov=true}", "data.augment=['crop','flip']"])
    f = tmp_path / "c.toml"
    f.write_text(cfg.to_toml())
    assert load_config(f) == cfg


# -- ranges and finiteness, declared once per field (`_f(min=, max=, open_min=, open_max=)`) ----------
@pytest.mark.parametrize("override, message", [
    ("train.ema=nan", "setting 'train.ema' must be a finite number in [0, 1); got nan"),
    ("train.ema=1", "setting 'train.ema' must be < 1 (range [0, 1)); got 1.0"),
    ("optim.lr=inf", "setting 'optim.lr' must be a finite number in (0, 10]; got inf"),
    ("optim.lr=-inf", "setting 'optim.lr' must be a finite number"),
    ("optim.lr=1e308", "setting 'optim.lr' must be ≤ 10 (range (0, 10]); got 1e+308"),
    ("optim.lr=1e999", "must be a finite number"),                 # TOML reads 1e999 as inf
    ("optim.lr=0", "setting 'optim.lr' must be > 0"),
    ("optim.lr=" + "9" * 400, "must be a finite number"),          # an integer beyond any float
    ("optim.lr=" + "9" * 5000, "cannot be read"),                   # beyond Python's integer-text limit
    ("optim.momentum=1", "setting 'optim.momentum' must be < 1"),
    ("optim.weight_decay=-1e-9", "setting 'optim.weight_decay' must be ≥ 0 (range [0, ∞))"),
    ("optim.weight_decay=nan", "must be a finite number in [0, ∞)"),
    ("schedule.pct_start=0", "setting 'schedule.pct_start' must be > 0 (range (0, 1))"),
    ("schedule.pct_start=1", "must be < 1"),
    ("schedule.gamma=0", "setting 'schedule.gamma' must be > 0 (range (0, 1])"),
    ("schedule.gamma=1.5", "must be ≤ 1"),
    ("data.val_fraction=1", "setting 'data.val_fraction' must be < 1 (range [0, 1))"),
    ("data.val_fraction=-0.1", "must be ≥ 0"),
    ("train.label_smoothing=1", "setting 'train.label_smoothing' must be < 1"),
    ("train.seed=-1", "setting 'train.seed' must be ≥ 0 (range [0, 2**32)); got -1"),
    ("train.seed=4294967296", "setting 'train.seed' must be < 2**32"),
    ("data.split_seed=-1", "setting 'data.split_seed' must be ≥ 0"),
    ("data.batch_size=0", "setting 'data.batch_size' must be ≥ 1 (range [1, 2**20])"),
    ("data.batch_size=1048577", "must be ≤ 2**20"),
    ("data.eval_batch_size=0", "setting 'data.eval_batch_size' must be ≥ 1"),
    ("train.epochs=100001", "setting 'train.epochs' must be ≤ 100000"),
    ("train.threads=-1", "setting 'train.threads' must be ≥ 0"),
    ("train.threads=100000", "setting 'train.threads' must be ≤"),
    ("gan.real_label=0", "setting 'gan.real_label' must be > 0"),
    ("gan.ema=1", "setting 'gan.ema' must be < 1"),
    ("gan.d_lr=nan", "setting 'gan.d_lr' must be a finite number"),
    ("log.name='a/b'", "setting 'log.name' must not hold '/'"),
    ('log.name="a\\u0000b"', "setting 'log.name' must not hold NUL"),
    ("log.name='" + "x" * 101 + "'", "setting 'log.name' must be at most 100 characters; got 101"),
    ("model.args.x=" + "[" * 50_000 + "]" * 50_000, "nests too deeply to read"),
    ("data.options={a=" + "[" * 40 + "]" * 40 + "}", "nests lists / tables more than 32 levels deep"),
    ("model.args." + ".".join(["a"] * 50_000) + "=1", "nests more than 32 levels deep"),
])
def test_ranges_and_finiteness(override, message):
    with pytest.raises(UserError) as e:
        load_config(overrides=[override])
    assert message in str(e.value) and "\n" not in str(e.value) and len(str(e.value)) < 300


@pytest.mark.parametrize("override", ["train.ema=0", "train.ema=0.999", "optim.lr=10", "optim.lr=1e-9",
                                      "optim.momentum=0", "schedule.gamma=1", "data.val_fraction=0",
                                      "train.seed=4294967295", "data.batch_size=1048576", "train.epochs=100000",
                                      "gan.real_label=1", "gan.d_lr=0", "train.threads=0", "log.name='my-run'",
                                      "optim.weight_decay=0", "model.args.hidden=[[[[1]]]]"])
def test_edges_inside_the_ranges_load(override):
    load_config(overrides=[override])


def test_help_shows_each_range_next_to_its_default():
    text = describe_defaults()
    assert "train.ema = 0.0  # in [0, 1); " in text
    assert "optim.lr = 0.05  # in (0, 10]; " in text
    assert "train.seed = 0  # in [0, 2**32); " in text
    assert "schedule.pct_start = 0.25  # in (0, 1); " in text
    assert "optim.weight_decay = 0.0005  # in [0, ∞); " in text
    assert "log.name = ''  # at most 100 characters; " in text


def test_a_toml_nested_50000_levels_deep_is_one_user_error(tmp_path):
    f = tmp_path / "deep.toml"
    for body in ("[model]\nargs = {a = " + "[" * 50_000 + "]" * 50_000 + "}\n",
                 "x = " + "{a=" * 50_000 + "1" + "}" * 50_000 + "\n"):
        f.write_text(body)
        with pytest.raises(UserError, match="nests lists / tables too deeply to read"):
            load_config(f)


FLOAT_SETTINGS = ["train.ema", "optim.lr", "optim.momentum", "optim.weight_decay", "schedule.pct_start",
                  "schedule.gamma", "data.val_fraction", "train.label_smoothing", "gan.real_label", "gan.d_lr"]
_TEXTS = st.one_of(
    st.floats().map(lambda x: "nan" if math.isnan(x) else ("inf" if x == math.inf else
                                                           "-inf" if x == -math.inf else repr(x))),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(str),
    st.sampled_from(["nan", "+nan", "-nan", "inf", "+inf", "-inf", "1e999", "-1e999", "1e308", "-0.0", "5e-324",
                     "true", "'x'", "[1]", "{a = 1}", "", "9" * 5000, "[" * 3000 + "]" * 3000]),
    st.text(max_size=20))


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(FLOAT_SETTINGS), text=_TEXTS)
def test_any_value_of_a_float_setting_loads_or_is_a_user_error(key, text):
    try:
        cfg = load_config(overrides=[f"{key}={text}"])
    except UserError as e:
        assert "\n" not in str(e)
        return
    section, name = key.split(".")
    value = getattr(getattr(cfg, section), name)
    assert isinstance(value, float) and math.isfinite(value)


def test_the_optimizer_choices_are_the_registered_optimizers():
    """config.py (level 0, no torch) lists the optimizers for --help and early checks; train/optim.py registers
    them: the two lists are the same."""
    import dataclasses

    from dlpractice.config import OptimConfig
    from dlpractice.train.optim import OPTIMIZERS
    field = {f.name: f for f in dataclasses.fields(OptimConfig)}["name"]
    assert sorted(field.metadata["choices"]) == OPTIMIZERS.names()


def test_a_config_file_can_be_based_on_another(tmp_path):
    """`based_on` (a file beside it) gives the base's settings, each setting the file names replacing the
    base's: other keys of a table stay, a table setting (model.args) is replaced whole; chains work."""
    (tmp_path / "a.toml").write_text('[model]\nname = "mlp"\nargs = { hidden = [64], dropout = 0.2 }\n'
                                     '[train]\nepochs = 7\nseed = 3\n[lesson]\ntitle = "a"\n')
    (tmp_path / "b.toml").write_text('based_on = "a.toml"\n[train]\nepochs = 2\n[model.args]\nhidden = [8]\n')
    (tmp_path / "c.toml").write_text('based_on = "b.toml"\n[optim]\nlr = 0.3\n')
    cfg = load_config(tmp_path / "c.toml")
    assert (cfg.model.name, cfg.model.args, cfg.train.epochs, cfg.train.seed, cfg.optim.lr) == \
        ("mlp", {"hidden": [8]}, 2, 3, 0.3)


@pytest.mark.parametrize("text, message", [
    ('based_on = "missing.toml"', "based_on = 'missing.toml' is not a file in"),
    ('based_on = "self.toml"', "based_on = 'self.toml' leads back to this file"),
    ('based_on = "loop.toml"', "leads back to this file"),
    ("based_on = 3", "based_on = 3 is not a file in"),
])
def test_a_bad_based_on_is_one_clear_error(tmp_path, text, message):
    (tmp_path / "self.toml").write_text(text + "\n")
    (tmp_path / "loop.toml").write_text('based_on = "self.toml"\n')
    with pytest.raises(UserError, match="name another TOML file beside it") as e:
        load_config(tmp_path / "self.toml")
    assert message in str(e.value) and "\n" not in str(e.value)
