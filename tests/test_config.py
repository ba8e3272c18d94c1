"""The typed config: defaults, TOML, overrides, and clear messages for bad keys and values."""
import pytest

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
