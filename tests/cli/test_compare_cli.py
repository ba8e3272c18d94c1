"""`dlp compare RUN RUN ...`: one PNG overlaying the runs' curves, their best metrics and wall time, and
the settings in which their configs differ."""
from __future__ import annotations

import json

import pytest

from dlpractice.cli import main
from dlpractice.config import load_config
from dlpractice.train.loop import train


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two real digits runs that differ in learning rate (and nothing else that matters)."""
    root = tmp_path_factory.mktemp("compare")
    base = ["data.dataset=digits", "train.epochs=3", "data.limit_train=600", "log.progress=false",
            "log.loggers=['csv']"]
    return [train(load_config(overrides=base + [f"optim.lr={lr}"]), out=root / name).folder
            for name, lr in (("lr-0.05", 0.05), ("lr-0.2", 0.2))]


def test_compare_prints_best_metrics_config_differences_and_wall_time(two_runs, tmp_path, capsys):
    png = tmp_path / "cmp.png"
    assert main(["compare", *map(str, two_runs), "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert png.stat().st_size > 20_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table, diffs = out.split("config differences")
    for folder in two_runs:
        s = json.loads((folder / "summary.json").read_text())
        line = next(x for x in table.splitlines() if x.startswith(folder.name))
        assert f"{s['metrics']['accuracy']:.4f}" in line and f"{s['wall_seconds']:.4f}" in line
        assert f"{s['best_val']['accuracy']:.4f}" in line and f" {s['best_epoch']} " in line
    lr_line = next(x for x in diffs.splitlines() if x.startswith("optim.lr"))
    assert lr_line.split() == ["optim.lr", "0.0500", "0.2000"]
    assert len([x for x in diffs.splitlines()[2:] if x.strip() and not x.startswith("figure")]) == 1  # only lr
    assert f"figure: {png}" in out


def test_compare_json_matches_the_summaries(two_runs, tmp_path, capsys):
    assert main(["compare", *map(str, two_runs), "--out", str(tmp_path / "c.png"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in data["runs"]] == [f.name for f in two_runs]
    for row, folder in zip(data["runs"], two_runs):
        s = json.loads((folder / "summary.json").read_text())
        assert row["test_accuracy"] == s["metrics"]["accuracy"] and row["wall_seconds"] == s["wall_seconds"]
        assert row["val_accuracy"] == s["best_val"]["accuracy"]
    assert data["config_differences"] == [{"setting": "optim.lr", "lr-0.05": 0.05, "lr-0.2": 0.2}]


def test_compare_refuses_one_run_and_non_runs(two_runs, tmp_path, capsys):
    assert main(["compare", str(two_runs[0])]) == 2
    assert "at least two run folders" in capsys.readouterr().err
    assert main(["compare", str(two_runs[0]), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path} is not a run folder (no config.toml); list runs with `dlp runs`"
    assert main(["compare", *map(str, two_runs), "--out", str(tmp_path / "c.jpg")]) == 2
    assert not (tmp_path / "c.jpg").exists()
