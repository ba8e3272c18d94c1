"""Every registered builder checks its own arguments: a bad value of each numeric argument it accepts is one
UserError naming `model.args.X` (`gan.d_args.X` for a discriminator), never a traceback from torch."""
from __future__ import annotations

import inspect
import math

import pytest
import torch

from dlpractice.errors import UserError
from dlpractice.models import MODELS, build_model

# Bad for every numeric argument: negative, not finite, far too large, a string, a boolean, a list.
BAD = [-1, math.nan, math.inf, -math.inf, 10 ** 9, "2", True, [1]]
# Bad for every list-of-sizes argument (hidden widths, n-gram widths).
BAD_LISTS = [[0], [-1], [1.5], [True], [10 ** 9], ["8"], "64", 5, [[4]]]
ZERO_OK = {"refine", "deep", "ngram_channels", "hidden"}   # 0 switches a part off (VGG: no hidden layers)


def _kind(param: inspect.Parameter) -> str | None:
    """'number', 'list' or None (not numeric) for a builder's parameter, from its default and annotation."""
    d, ann = param.default, str(param.annotation)
    if isinstance(d, bool) or param.name in ("members", "flip_average"):
        return None
    if isinstance(d, (list, tuple)):
        return "list" if all(isinstance(v, int) for v in d) else None
    if isinstance(d, (int, float)) or (d is None and ("int" in ann or "float" in ann)):
        return "number"
    return None


def _cases():
    for name, spec in MODELS.items():
        for arg, param in inspect.signature(spec.build).parameters.items():
            kind = _kind(param)
            if kind == "list":
                yield from ((name, arg, bad) for bad in BAD_LISTS)
            elif kind == "number":
                yield from ((name, arg, bad) for bad in BAD)
                if arg not in ZERO_OK and "dropout" not in arg:
                    yield name, arg, 0
                if "dropout" in arg:
                    yield name, arg, 1.0


CASES = list(_cases())


def test_the_walk_covers_every_model():
    walked = {name for name, _, _ in CASES}
    assert walked == set(MODELS.names())
    assert {"dropout", "hidden", "width", "num_layers", "hidden_size", "num_classes"} <= {a for _, a, _ in CASES}


@pytest.mark.parametrize("name, arg, bad", CASES, ids=[f"{n}-{a}-{b!r}" for n, a, b in CASES])
def test_a_bad_argument_is_one_user_error_naming_it(name, arg, bad):
    spec = MODELS.get(name)
    with torch.device("meta"), pytest.raises(UserError) as e:   # meta: shapes only, nothing allocated
        spec.build(**{arg: bad})
    message = str(e.value)
    assert f"args.{arg}" in message and "\n" not in message, message


@pytest.mark.parametrize("name", MODELS.names())
def test_defaults_and_paper_configurations_still_build(name):
    spec = MODELS.get(name)
    with torch.device("meta"):
        spec.build()
        if spec.paper:
            spec.build(**{k: v for k, v in spec.paper.items() if k in spec.accepts()})


@pytest.mark.parametrize("good", [
    ("mlp", {"hidden": [], "dropout": 0.0}), ("mlp", {"hidden": (8,), "dropout": 0.99}),
    ("tabular_classifier", {"hidden": []}), ("vgg11", {"hidden": 0}), ("vgg11", {"hidden": 16, "dropout": 0}),
    ("alexnet", {"width": 1, "dropout": 0}), ("resnet18", {"width": 0.01}), ("dcgan_g", {"refine": 0, "deep": 0}),
    ("rnn_classifier", {"ngram_channels": 0, "num_layers": 2, "dropout": 0.5}), ("lenet_bn", {"width": 2}),
])
def test_edge_values_inside_the_ranges_are_accepted(good):
    name, args = good
    with torch.device("meta"):
        MODELS.get(name).build(**args)


def test_every_lesson_model_still_builds():
    """The model arguments of every lesson TOML (plain, quick and variants) pass the builders' checks."""
    from dlpractice.config import load_config, load_toml
    from dlpractice.lessons import lesson_path
    for path in sorted(lesson_path(1).parent.glob("*.toml")):
        if path.stem == "index":
            continue
        doc = load_toml(path)
        if doc["lesson"]["kind"] == "scratch":
            continue
        for extra in [[], list(doc["lesson"].get("quick", []))] + [v["set"] for v in doc.get("variants", [])]:
            cfg = load_config(path, extra)
            with torch.device("meta"):
                build_model(cfg.model.name, cfg.model.args)
                if MODELS.get(cfg.model.name).task == "generation":
                    build_model(cfg.gan.discriminator, cfg.gan.d_args)


@pytest.mark.parametrize("bad", [0, -1, 10 ** 9, 2.0, "2", True])
def test_members_is_bounded(bad):
    with pytest.raises(UserError, match="model.args.members must be a whole number"):
        build_model("lenet_bn", {"members": bad})
