"""`dlp models show NAME`: lecture 10's point, each layer's output shape (kernel size, channels and pooling
decide it), with parameters and multiply-adds from torchinfo; a user's mistake is one `error:` line."""
from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import one_line, require_data

from dlpractice.cli import main
from dlpractice.data import text, vision
from dlpractice.data.paths import find_data
from dlpractice.errors import UserError
from dlpractice.models import build_model
from dlpractice.models.summary import layer_table


def _rows(out: str) -> dict[str, list[str]]:
    """{layer label: [output shape, params, mult-adds]} of the printed table."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+ \(\S*\)|\S+)\s+(\(.*?\)|--)\s+(\S+)\s+(\S+)$", line)
        if m:
            rows[m.group(1)] = [m.group(2), m.group(3), m.group(4)]
    return rows


def test_course_cnn_on_fashion_mnist_shows_the_lecture_10_shapes(capsys):
    require_data(lambda: find_data("fashion-mnist", vision.IDX_FILES, extra=[vision.DEBIAN_FASHION]))
    assert main(["models", "show", "course_cnn", "--data", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("course_cnn on data set fashion-mnist: image input of shape (1, 1, 28, 28)")
    assert max(len(line) for line in out.splitlines()) <= 100
    rows = _rows(out)
    # 28 → conv k5 → 24 → pool 2 → 12 → conv k5 → 8 → pool 2 → 4; 20 × 4 × 4 = 320 → 10
    assert rows["Conv2d (0)"] == ["(1, 10, 24, 24)", "260", f"{260 * 24 * 24:,}"]
    assert rows["MaxPool2d (1)"][0] == "(1, 10, 12, 12)"
    assert rows["Conv2d (3)"] == ["(1, 20, 8, 8)", "5,020", f"{5020 * 8 * 8:,}"]
    assert rows["MaxPool2d (4)"][0] == "(1, 20, 4, 4)"
    assert rows["Flatten (6)"][0] == "(1, 320)" and rows["Linear (7)"] == ["(1, 10)", "3,210", "3,210"]
    assert "total: 8,490 parameters (8,490 trainable)" in out


def test_natural_input_and_json_without_a_data_set(capsys):
    assert main(["models", "show", "course_cnn", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["model"] == "course_cnn" and got["dataset"] is None and got["input_shape"] == [1, 1, 28, 28]
    assert got["total_params"] == 8490 == sum(r["params"] for r in got["layers"])
    assert [r["output_shape"] for r in got["layers"] if r["layer"] == "Conv2d"] == [[1, 10, 24, 24], [1, 20, 8, 8]]
    from dlpractice.cli import build_parser
    from dlpractice.cli.listings import cmd_models
    for argv in (["models"], ["models", "--json"]):   # the listing beside it is as it was
        args = build_parser().parse_args(argv)
        assert args.func is cmd_models and args.json == ("--json" in argv)


def test_model_args_change_the_shapes(capsys):
    assert main(["models", "show", "mlp", "--set", "model.args.input_size=14", "--set", "model.args.hidden=[32]"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert "image input of shape (1, 1, 14, 14)" in out and rows["Flatten (0)"][0] == "(1, 196)"
    assert rows["Linear (1)"][:2] == ["(1, 32)", f"{196 * 32 + 32:,}"]


def test_sequence_model_on_names_shows_its_layers(capsys):
    require_data(lambda: find_data("names", text.NAMES_FILES))
    assert main(["models", "show", "rnn_classifier", "--data", "names"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert out.startswith("rnn_classifier on data set names: sequence input of shape (1, 7)")
    assert rows["Embedding (embedding)"][0].startswith("(1, 7, ") and "GRU (rnn)" in rows
    assert rows["Linear (fc)"][0] == "(1, 18)"   # the 18 languages of the names set
    assert "packed output" in out


@pytest.mark.parametrize("argv, parts", [
    (["course_cnnn"], ["unknown model 'course_cnnn'", "did you mean 'course_cnn'"]),
    (["tabular_classifier", "--data", "digits"], ["takes tabular input but data set 'digits' gives image"]),
    (["course_cnn", "--data", "diabetes"], ["is for classification but data set 'diabetes' is binary"]),
    (["course_cnn", "--data", "digitz"], ["unknown dataset 'digitz'", "did you mean 'digits'"]),
    (["course_cnn", "--set", "model.args.width=2"], ["model 'course_cnn' has no argument(s) width"]),
    (["resnet18", "--set", "model.args.input_size=2"], ["input_size 2 is too small"]),
    (["course_cnn", "--depth", "0"], ["--depth"]),
])
def test_user_mistakes_are_one_line(capsys, argv, parts):
    try:
        code = main(["models", "show", *argv])
    except SystemExit as e:   # argparse's own refusals (OneLineParser: one line, exit 2)
        code = e.code
    one_line(capsys, code, *parts)


def test_an_input_the_model_cannot_take_is_a_user_error():
    with pytest.raises(UserError, match=r"cannot take an input of shape \(1, 1, 8, 8\)"):
        layer_table(build_model("course_cnn", {}), torch.zeros(1, 1, 8, 8))
