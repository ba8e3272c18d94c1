"""Text data: Unicode normalisation, the vocabulary and its unknown-character policy, empty input,
the names data sets (course split and the tutorial's 18 files), your own CSV, and the `sequence`
prediction converter."""
import io
import json

import pytest
import torch

import dlpractice.data.text  # noqa: F401  (registers names, names-tutorial, text-csv)
import dlpractice.inputs.sequence  # noqa: F401  (registers the sequence input kind)
from dlpractice.config import DataConfig
from dlpractice.data import load_dataset
from dlpractice.data.text import Vocab, normalize
from dlpractice.errors import UserError
from dlpractice.inputs import INPUT_KINDS

from conftest import require_data


@pytest.mark.parametrize("raw, folded", [("Nguyễn", "Nguyen"), ("Müller", "Muller"), ("Šťastný", "Stastny"),
                                         ("  Zoë  ", "Zoe"), ("O'Neill", "O'Neill"), ("Gonzàlez", "Gonzalez"),
                                         ("Ａｂｅ", "Abe"), ("To\u00a0The", "To The")])
def test_normalize_folds_unicode(raw, folded):
    assert normalize(raw) == folded


@pytest.mark.parametrize("raw", ["", "   ", "\t\n", "\u0301"])  # a lone combining mark folds to nothing
def test_empty_input_is_a_user_error(raw):
    with pytest.raises(UserError, match="empty or whitespace-only"):
        normalize(raw)
    with pytest.raises(UserError, match="empty or whitespace-only"):
        Vocab(list("abc")).encode(["abc", raw])


def test_unknown_character_policies():
    assert Vocab(list("ab")).encode(["abz", "b"]).tolist() == [[2, 3, 1], [3, 0, 0]]  # z → 1, padded with 0
    assert Vocab(list("ab"), unknown="drop").encode(["abz"]).tolist() == [[2, 3]]
    with pytest.raises(UserError, match="never seen in training"):
        Vocab(list("ab"), unknown="error").encode(["abz"])
    with pytest.raises(UserError, match="no character the model knows"):
        Vocab(list("ab"), unknown="drop").encode(["zz"])
    with pytest.raises(UserError, match="data.options.unknown"):
        Vocab(list("ab"), unknown="ignore")
    v = Vocab.build(["aab", "ac"], min_count=2)
    assert v.chars == ["a"] and len(v) == 3
    assert Vocab.from_meta(json.loads(json.dumps(v.to_meta()))).encode(["ab"]).tolist() == [[2, 1]]


def test_names_course_split():
    b = require_data(lambda: load_dataset(DataConfig(dataset="names")))
    s = b.splits
    assert len(s["train"]) + len(s["val"]) == 13_374 and len(s["test"]) == 6_700
    assert b.meta["num_classes"] == 18 and b.meta["classes"][0] == "Arabic"
    assert b.meta["vocab_size"] == len(b.meta["text"]["chars"]) + 2
    json.dumps(b.meta)  # plain JSON: it goes into data.json and every checkpoint
    for split in s.values():
        assert split.x.dtype == torch.long and split.y.dtype == torch.long
        assert (split.x != 0).sum(1).min() >= 1          # no empty name
        assert split.x.shape[1] <= 20                    # T_max: the longest name of the split
    # right padding: once a row hits 0 it stays 0
    x = s["train"].x
    assert ((x[:, 1:] != 0) & (x[:, :-1] == 0)).sum() == 0
    # stratified validation: Russian is about 47% of both
    ru = b.meta["classes"].index("Russian")
    assert abs(float((s["val"].y == ru).float().mean()) - 6272 / 13374) < 0.01


def test_names_tutorial_folds_accents():
    b = require_data(lambda: load_dataset(DataConfig(dataset="names-tutorial")))
    assert sum(len(v) for v in b.splits.values()) == 20_074
    assert b.meta["num_classes"] == 18
    chars = set(b.meta["text"]["chars"])
    assert not chars & set("éèüöáàçñãõúíó")                # accents folded (NFKD, marks stripped)
    assert "A" in chars and "a" in chars
    b2 = load_dataset(DataConfig(dataset="names-tutorial"))
    assert torch.equal(b.splits["test"].x, b2.splits["test"].x)  # the test split is fixed


def _csv(tmp_path, rows, header="text,label,extra"):
    p = tmp_path / "mine.csv"
    p.write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    return p


def test_text_csv(tmp_path):
    rows = [f"{w}{i},{lab},x" for i in range(30) for w, lab in [("Müll", "de"), ("Rossi", "it"), ("Tanaka", "ja")]]
    p = _csv(tmp_path, rows)
    cfg = DataConfig(dataset="text-csv", options={"path": str(p), "text_column": "text", "label_column": "label"})
    b = load_dataset(cfg)
    assert b.meta["classes"] == ["de", "it", "ja"]
    assert sum(len(v) for v in b.splits.values()) == 90
    assert "ü" not in b.meta["text"]["chars"] and "u" in b.meta["text"]["chars"]
    cfg.options = {"path": str(p), "text_column": "txt"}
    with pytest.raises(UserError, match="did you mean 'text'"):
        load_dataset(cfg)
    cfg.options = {"path": str(p), "colum": 1}
    with pytest.raises(UserError, match="no option data.options.colum"):
        load_dataset(cfg)
    cfg.options = {"path": str(tmp_path / "nope.csv")}
    with pytest.raises(UserError, match="not found"):
        load_dataset(cfg)
    p2 = _csv(tmp_path, ["Rossi,it,x", "  ,de,x", "Tanaka,ja,x", "Mori,ja,x", "Conti,it,x"])
    cfg.options = {"path": str(p2)}
    with pytest.raises(UserError, match="empty or whitespace-only text.*line 3"):
        load_dataset(cfg)


def test_sequence_converter():
    meta = {"text": Vocab(list("MNaeiklmorsu'O")).to_meta()}
    convert = INPUT_KINDS.get("sequence")
    x, labels = convert(meta, ["Nakamura", "Müller", "O'Neill"])
    assert labels == ["Nakamura", "Müller", "O'Neill"]
    assert x.shape == (3, 8) and x.dtype == torch.long
    assert torch.equal(x[1, :6], convert(meta, ["Muller"])[0][0])   # ü folds to u
    assert (x[1, 6:] == 0).all()                                       # padded
    with pytest.raises(UserError, match="input 2"):
        convert(meta, ["Nakamura", "   "])
    with pytest.raises(UserError, match="give one or more strings"):
        convert(meta, [])
    with pytest.raises(UserError, match="no saved vocabulary"):
        convert({}, ["Abe"])


def test_interactive_reads_until_empty_line():
    from dlpractice.inputs.sequence import interactive

    class Fake:
        def predict(self, inputs, top=3):
            if inputs == ["bad"]:
                raise UserError("nope")
            return [{"input": inputs[0], "top": [{"class": "X", "probability": 0.5}]}]
    out = io.StringIO()
    n = interactive(Fake(), io.StringIO("Abe\nbad\nMüller\n\nnever read\n"), out)
    assert n == 2
    assert out.getvalue().splitlines() == ["Abe: X 0.500", "error: nope", "Müller: X 0.500"]
