"""Recurrent networks (lectures 12–13): an RNNCell loop is nn.RNN, padding never changes a prediction,
a sequence run resumes exactly, a short real training run learns names → country, and prediction and
the per-class report work from the run folder alone."""
import json

import pytest
import torch
from torch import nn

import dlpractice.data.text  # noqa: F401  (registers the text data sets)
import dlpractice.models.rnn  # noqa: F401  (registers course_rnn, rnn_classifier)
import dlpractice.inputs.sequence  # noqa: F401  (registers the sequence input kind)
from dlpractice.config import DataConfig, load_config
from dlpractice.inputs import example_batch
from dlpractice.models import MODELS, build_model
from dlpractice.lessons.lecture12 import cells_from_rnn, run_cells
from dlpractice.runs.checkpoint import load_checkpoint

from conftest import assert_same_top, require_data

QUIET = ["log.progress=false", "log.loggers=['csv']", "train.threads=1"]


@pytest.mark.parametrize("num_layers", [1, 2])
def test_rnncell_loop_is_nn_rnn(num_layers):
    """One RNN = one shared linear layer (+ tanh) unrolled over time: nn.RNN's weights in RNNCells
    stepped by hand give its outputs and final hidden states."""
    torch.manual_seed(0)
    rnn = nn.RNN(input_size=3, hidden_size=5, num_layers=num_layers)
    x = torch.randn(7, 2, 3)                     # (seq_len, batch_size, input_size)
    h0 = torch.randn(num_layers, 2, 5)           # (num_layers, batch_size, hidden_size)
    out, hn = rnn(x, h0)
    out2, hn2 = run_cells(cells_from_rnn(rnn), x, h0)
    assert out.shape == (7, 2, 5) and hn.shape == (num_layers, 2, 5)
    torch.testing.assert_close(out2, out, rtol=0, atol=1e-6)
    torch.testing.assert_close(hn2, hn, rtol=0, atol=1e-6)


def test_lesson12(tmp_path):
    from dlpractice.lessons import run_lesson
    result, folder, ok = run_lesson(12, out=tmp_path / "l12")
    assert ok and result["all_correct"] == 1.0
    # nn.RNN's weights in an RNNCell loop give its outputs up to float rounding (the kernels differ by CPU)
    assert result["cell_vs_rnn_max_diff"] < 1e-5
    # same seed: the same network, step for step (an argmax that flips on a rounding difference may cost a step)
    assert abs(result["epochs_rnncell"] - result["epochs_rnn"]) <= 2
    assert all(result[f"final_{k}"] == "ohlol" for k in ("rnncell", "rnn", "embedding", "lstm", "gru"))
    assert (folder / "log.txt").read_text().count("predicted") >= 5


SEQ_MODELS = [("course_rnn", {}), ("rnn_classifier", {"cell": "lstm", "num_layers": 2, "pool": "last+max"}),
              ("rnn_classifier", {"cell": "rnn", "bidirectional": False, "pool": "mean"}),
              ("rnn_classifier", {"cell": "gru", "pool": "max", "char_dropout": 0.2, "dropout": 0.5}),
              ("rnn_classifier", {"ngram_channels": 8, "ngram_pool": "max+mean", "embed_dropout": 0.2})]


@pytest.mark.parametrize("name, args", SEQ_MODELS)
def test_padding_never_changes_a_prediction(name, args):
    torch.manual_seed(0)
    model = build_model(name, {"vocab_size": 40, "num_classes": 5, **args}).eval()
    alone = torch.tensor([[7, 3, 9, 0, 0, 0]])                      # "a name", padded a little
    batch = torch.zeros(4, 15, dtype=torch.long)                   # among longer names, padded a lot
    batch[0, :14] = torch.arange(2, 16)
    batch[1, :3] = torch.tensor([7, 3, 9])
    batch[2, :15] = 5
    batch[3, :1] = 11
    with torch.no_grad():
        a, b = model(alone), model(batch)
    assert a.shape == (1, 5) and b.shape == (4, 5)
    torch.testing.assert_close(b[1], a[0], rtol=0, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(model(batch[1:2, :3]), a, atol=1e-6)  # and no padding at all


def test_sequence_models_are_registered():
    for name in ("course_rnn", "rnn_classifier"):
        spec = MODELS.get(name)
        assert spec.task == "sequence_classification" and spec.input == "sequence"
        assert spec.resolve_args({"vocab_size": 57, "num_classes": 18, "in_channels": 1}, {}) == \
            {"vocab_size": 57, "num_classes": 18}
        assert build_model(name, {})(example_batch(spec.input, {"size": spec.input_size})).shape == (2, 18)


class _StopAt:
    """A logger that interrupts training when epoch `n` is reported (epoch n-1 is checkpointed)."""

    def __init__(self, n):
        self.n = n

    def start(self, folder, info, first_epoch): ...

    def epoch(self, epoch, metrics, lr, seconds, timing=None):
        if epoch == self.n:
            raise InterruptedError

    def end(self, summary): ...


@pytest.mark.parametrize("ema", [0.0, 0.98])
def test_sequence_run_resumes_exactly(tmp_path, ema):
    """3 epochs straight vs 1 epoch + resume: identical metrics.csv (dropout RNG, one-cycle, Adam state,
    and with train.ema the weight average that is evaluated)."""
    from dlpractice.track.loggers import CsvLogger
    from dlpractice.train.loop import Trainer, resume, train
    from dlpractice.runs.folder import make_run_dir
    require_data(lambda: dlpractice.data.load_dataset(DataConfig(dataset="names")))
    sets = ["data.dataset=names", "data.limit_train=640", "data.batch_size=64", "model.name=rnn_classifier",
            "model.args={hidden_size=24, embedding_dim=16, num_layers=2, dropout=0.3, embed_dropout=0.1}",
            "optim.name=adam", "optim.lr=0.01", "schedule.name=onecycle", "train.epochs=3",
            "train.eval_test=false", f"train.ema={ema}", *QUIET]
    straight = train(load_config(overrides=sets), out=tmp_path / "straight")
    folder = tmp_path / "resumed"
    cfg = load_config(overrides=sets)
    trainer = Trainer(cfg, folder, loggers=[_StopAt(2), CsvLogger()])
    make_run_dir(folder, cfg)
    with pytest.raises(InterruptedError):
        trainer.fit()
    assert (folder / "metrics.csv").read_text().count("\n") == 3   # header + epoch 1 train, val
    resumed = resume(folder)
    assert resumed.summary["steps_this_process"] == 2 * 10          # only epochs 2 and 3 were trained
    assert (folder / "metrics.csv").read_text() == (straight.folder / "metrics.csv").read_text()
    best = load_checkpoint(folder / "checkpoints" / "best.pt")
    if ema:  # the average is what was evaluated and is saved as "model"; the trained weights beside it
        assert any(not torch.equal(best["model"][k], best["trained"][k]) for k in best["model"])
        from dlpractice.runs.predictor import Predictor   # which rebuilds the model from "model"
        # the same checkpoint evaluated again (other thread counts may move an example): within 2 of 1,000
        assert Predictor(folder).evaluate("test")["accuracy"] == pytest.approx(resumed.summary["metrics"]["accuracy"],
                                                                               abs=2e-3)
    else:
        assert "trained" not in best


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    """A short real run: 2 epochs of a small bi-GRU on the course's names (about 80% test accuracy)."""
    from dlpractice.data import load_dataset
    from dlpractice.train.loop import train
    require_data(lambda: load_dataset(DataConfig(dataset="names")))
    cfg = load_config(overrides=["data.dataset=names", "model.name=rnn_classifier",
                                 "model.args={hidden_size=64, embedding_dim=32, pool=\"last+max\"}",
                                 "optim.name=adam", "optim.lr=0.005", "optim.weight_decay=0.0",
                                 "data.batch_size=64", "train.epochs=2", "train.eval_test=false", *QUIET])
    return train(cfg, out=tmp_path_factory.mktemp("names") / "run")


def test_short_run_beats_majority_class(names_run):
    s = names_run.summary
    majority = 3136 / 6700   # always "Russian": 46.8% of the test names
    assert s["test_accuracy"] >= 0.75 > majority + 0.25, s["metrics"]
    meta = json.loads((names_run.folder / "data.json").read_text())
    assert meta["input"] == "sequence" and meta["text"]["chars"]


def test_predict_names_from_the_run_folder(names_run):
    from dlpractice.runs.predictor import Predictor
    pred = Predictor(names_run.folder)
    out = pred.predict(["Nakamura", "Müller", "Muller", "O'Neill", "Ivanov"], top=3)
    assert [r["input"] for r in out] == ["Nakamura", "Müller", "Muller", "O'Neill", "Ivanov"]
    assert all(len(r["top"]) == 3 for r in out)
    assert out[0]["top"][0]["class"] == "Japanese" and out[4]["top"][0]["class"] == "Russian"
    assert out[1]["top"] == out[2]["top"]                       # ü folds to u, as in training
    probs = [c["probability"] for c in out[3]["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    # the same names alone or together: the same probabilities (padding is packed away)
    alone = pred.predict(["O'Neill"], top=3)[0]["top"]
    assert_same_top(alone, out[3]["top"])


def test_per_class_report(names_run):
    from dlpractice.runs.predictor import Predictor
    from dlpractice.lessons.lecture13 import per_class_lesson_report as lesson_report
    r = lesson_report(names_run.folder)
    report = json.loads((names_run.folder / "per_class.json").read_text())
    assert (names_run.folder / "confusion.png").stat().st_size > 10_000
    assert report["n"] == 6700 and len(report["classes"]) == 18
    assert report["accuracy"] == pytest.approx(Predictor(names_run.folder).evaluate("test")["accuracy"], abs=2e-3)
    accs = [c["accuracy"] for c in report["per_class"].values()]
    assert report["balanced_accuracy"] == pytest.approx(sum(accs) / len(accs))
    assert report["balanced_accuracy"] < report["accuracy"]      # rare countries are harder
    assert sum(c["support"] for c in report["per_class"].values()) == 6700
    assert sum(map(sum, report["confusion"])) == 6700
    assert r["balanced_accuracy"] == report["balanced_accuracy"] and "accuracy.Russian" in r
