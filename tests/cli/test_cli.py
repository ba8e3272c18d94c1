"""CLI smoke tests for every command: --help shows defaults, listings, lessons, clear errors (exit 2)."""
import json
import re

import pytest

from conftest import dlp

COMMANDS = ["train", "models", "datasets", "runs", "lessons", "lesson", "demo", "evaluate", "predict"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command):
    r = dlp(command, "--help", check=True, real=command == "train")   # one through a new interpreter
    assert "usage: dlp " + command in r.stdout
    if command == "train":
        assert "optim.lr = 0.05" in r.stdout and "train.epochs = 10" in r.stdout
    else:
        assert "(default:" in r.stdout or command in ("models", "datasets", "lessons")   # flags only
    text = " ".join(r.stdout.split())   # argparse wraps lines
    # each default said once, and never one that says nothing
    assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text
    assert not re.search(r"\(default: [^()]*(\([^()]*\)[^()]*)*\) \(default:", text), text


def test_listings_json():
    models = json.loads(dlp("models", "--json", check=True).stdout)
    names = {m["name"] for m in models}
    assert {"softmax", "mlp", "course_cnn", "lenet5", "lenet_bn"} <= names
    assert next(m for m in models if m["name"] == "lenet5")["params"] == 61706
    datasets = {d["name"] for d in json.loads(dlp("datasets", "--json", check=True).stdout)}
    assert {"digits", "fashion-mnist"} <= datasets
    lectures = json.loads(dlp("lessons", "--json", check=True).stdout)
    assert [lec["lecture"] for lec in lectures] == list(range(1, 14))
    assert all(lec["zh"] and lec["en"] for lec in lectures)
    assert next(lec for lec in lectures if lec["lecture"] == 10)["implemented"] == "yes"
    every = json.loads(dlp("lessons", "--all", "--json", check=True).stdout)
    named = {r["lesson"]: r["runs"] for r in every if r["lecture"] is None}
    assert every[:13] == lectures and {"lenet", "fashion_best", "features", "titanic_wcg"} <= set(named)
    assert named["features"].startswith("Hand-made features")     # each named lesson says what it is for
    table = dlp("lessons", check=True).stdout.splitlines()
    from wcwidth import wcswidth
    assert max(wcswidth(line) for line in table) <= 100                 # wide characters counted as two columns
    en_column = {line.index("Overview") for line in table if "Overview" in line}
    ten = next(line for line in table if line.startswith("10 "))
    assert wcswidth(ten[:ten.index("Basic CNN")]) == wcswidth(table[1][:min(en_column)])   # aligned on screen
    # a model's name and its counts are never broken across lines: they can be copied from the table
    models_table = dlp("models", check=True).stdout.splitlines()
    assert max(wcswidth(line) for line in models_table) <= 100
    row = next(line for line in models_table if line.startswith("lenet5 "))
    assert "61,706" in row.split() and any(line.startswith("course_cnn ") and " – " in line for line in models_table)
    assert {line.split()[0] for line in models_table[1:] if not line.startswith(" ")} == names


def test_train_runs_and_lists(tmp_path):
    out = tmp_path / "runs" / "r1"
    r = dlp("train", "--set", "model.name=softmax", "--set", "train.epochs=2", "--out", out, check=True)
    assert r.stdout.strip().splitlines()[-1] == f"run: {out}"
    assert "test accuracy" in r.stdout
    runs = json.loads(dlp("runs", "--json", "--runs-dir", tmp_path / "runs", check=True).stdout)
    assert runs[0]["run"] == str(out) and runs[0]["metric"] == "accuracy" and runs[0]["value"] > 0.8
    assert runs[0]["seconds"] > 0 and len(runs[0]["started"]) == len("2026-12-02 16:28")
    table = dlp("runs", "--runs-dir", tmp_path / "runs", check=True).stdout.splitlines()
    assert table[1].split()[:3] == ["started", "run", "model"] and table[2].split()[2] == "r1"   # inside --runs-dir
    (tmp_path / "runs" / "r0").mkdir()   # a run that never finished: its model and data from config.toml
    (tmp_path / "runs" / "r0" / "config.toml").write_text('[model]\nname = "mlp"\n[data]\ndataset = "digits"\n')
    unfinished = next(r for r in json.loads(dlp("runs", "--json", "--runs-dir", tmp_path / "runs", check=True).stdout)
                      if r["run"].endswith("r0"))
    assert (unfinished["model"], unfinished["dataset"], unfinished["epochs"]) == ("mlp", "digits", "unfinished")


def test_lesson_scratch_and_not_implemented(tmp_path):
    r = dlp("lesson", "2", "--out", tmp_path / "l2", check=True)
    assert "best_w = 2" in r.stdout and r.stdout.strip().endswith(f"run: {tmp_path / 'l2'}")
    r = dlp("lesson", "99")
    assert r.returncode == 2 and "no lecture 99" in r.stderr
    not_yet = [lec for lec in json.loads(dlp("lessons", "--json", check=True).stdout) if lec["implemented"] != "yes"]
    if not_yet:
        r = dlp("lesson", str(not_yet[0]["lecture"]))
        assert r.returncode == 2 and "not implemented yet" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--set", "optim.lrr=0.1"], "unknown setting 'optim.lrr' (did you mean 'optim.lr'?)"),
    (["train", "--set", "train.epochs=-1"], "must be ≥ 1"),
    (["train", "--set", "data.dataset=fashion"], "unknown dataset 'fashion' (did you mean 'fashion-mnist'"),
    (["train", "/no/such/config.toml"], "config file not found"),
    (["train", "--resume", "/no/such/run"], "has no checkpoints/last.pt"),
    (["train", "--set", "data.dataset=mnist", "--set", "train.epochs=1"], "could not connect"),
])
def test_clear_errors(args, message, tmp_path):
    # No MNIST anywhere and a mirror that refuses connections: the error names the URL and what to do.
    env = {"DLP_CACHE_DIR": str(tmp_path / "cache"), "DLP_DATA_DIR": str(tmp_path / "data"),
           "DLP_MNIST_MIRRORS": "http://127.0.0.1:9/"}
    r = dlp(*args, "--out", tmp_path / "o", env=env) if args[0] == "train" and "--resume" not in args else dlp(*args, env=env)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "metrics.csv").exists()


def test_train_takes_a_lesson_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    """`dlp train lenet`, `dlp train 10` and the README's `dlp train lessons/lenet.toml` work outside the checkout:
    the lesson's TOML inside the package; a name that is none of these is one line naming what works."""
    from dlpractice.cli import main
    from dlpractice.cli.train import config_path
    from dlpractice.lessons import HERE
    monkeypatch.chdir(tmp_path)
    assert config_path("lenet") == config_path("lessons/lenet.toml") == HERE / "lenet.toml"
    assert config_path("10") == HERE / "lecture10.toml"
    (tmp_path / "mine.toml").write_text("[train]\nepochs = 1\n")
    assert config_path("mine.toml") == "mine.toml"     # a file that is there wins
    code = main(["train", "nosuch"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "config file not found: nosuch" in err and "lesson's name" in err
