"""Loggers as plug-ins of the one loop: TensorBoard events equal metrics.csv, an unreachable visdom costs
one warning and nothing else, `--log` maps onto log.loggers, and visdom's scripts are pinned and checked."""
from __future__ import annotations

import socket
import warnings

import numpy as np
import pytest

from dlpractice.cli import build_parser, main
from dlpractice.config import load_config
from dlpractice.errors import UserError
from dlpractice.track import visdom_assets
from dlpractice.runs.metrics import read_metrics
from dlpractice.train.loop import train


def _closed_port() -> int:
    with socket.socket() as s:   # bound and closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def unreachable_run(tmp_path_factory):
    """A real 4-epoch digits run with CSV, TensorBoard and visdom loggers, visdom's server down."""
    import os
    old = os.environ.get("DLP_VISDOM")
    os.environ["DLP_VISDOM"] = f"http://127.0.0.1:{_closed_port()}"
    try:
        cfg = load_config(overrides=["data.dataset=digits", "train.epochs=4", "log.progress=false",
                                     "log.loggers=['csv', 'tensorboard', 'visdom']"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = train(cfg, out=tmp_path_factory.mktemp("unreachable") / "run")
    finally:
        if old is None:
            os.environ.pop("DLP_VISDOM", None)
        else:
            os.environ["DLP_VISDOM"] = old
    return run.folder, [w for w in caught if issubclass(w.category, UserWarning)]


def test_unreachable_visdom_warns_once_and_csv_is_complete(unreachable_run):
    folder, caught = unreachable_run
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert "visdom" in str(caught[0].message) and "dlp board --visdom" in str(caught[0].message)
    rows = read_metrics(folder)
    assert [(r["epoch"], r["split"]) for r in rows] == [(e, s) for e in range(1, 5) for s in ("train", "val", "test")]
    assert all(r["loss"] > 0 and 0 < r["accuracy"] <= 1 for r in rows)
    assert (folder / "summary.json").exists() and (folder / "report.html").exists()


def test_tensorboard_events_equal_metrics_csv(unreachable_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    folder, _ = unreachable_run
    acc = EventAccumulator(str(folder))
    acc.Reload()
    for r in read_metrics(folder):
        for metric in ("loss", "accuracy"):
            events = {e.step: e.value for e in acc.Scalars(f"{metric}/{r['split']}")}
            assert np.float32(events[r["epoch"]]) == np.float32(r[metric])   # event files hold float32
    assert [e.value for e in acc.Scalars("lr")] == pytest.approx([r["lr"] for r in read_metrics(folder)
                                                                  if r["split"] == "train"])


def test_log_option_maps_onto_loggers():
    args = build_parser().parse_args(["train", "--set", "train.epochs=2", "--log", "csv,tensorboard,visdom",
                                      "--set", "optim.lr=0.1"])
    assert args.set == ["train.epochs=2", 'log.loggers=["console", "csv", "tensorboard", "visdom"]', "optim.lr=0.1"]
    cfg = load_config(overrides=args.set)
    assert cfg.log.loggers == ["console", "csv", "tensorboard", "visdom"] and cfg.optim.lr == 0.1
    assert build_parser().parse_args(["train"]).set == []   # the shared default list was not touched


def test_unknown_logger_is_a_user_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--set", "data.dataset=digits", "--log", "tensorbord", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown logger 'tensorbord'") and "'tensorboard'" in err
    assert not out.exists()   # refused before the run folder was made


def test_board_visdom_without_scripts_names_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(visdom_assets, "static_dir", lambda: tmp_path / "empty-static")
    assert main(["board", "--visdom", "--runs-dir", str(tmp_path / "runs"), "--port", str(_closed_port())]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: visdom's scripts are not installed") and visdom_assets.INSTALL_COMMAND in err
    assert len(err.splitlines()) == 1


def test_installed_visdom_scripts_are_complete():
    import os
    left = visdom_assets.missing()
    if left and os.environ.get("CI") != "true":
        pytest.skip(f"visdom's scripts are not installed here: run `{visdom_assets.INSTALL_COMMAND}`")
    assert left == []
    static = visdom_assets.static_dir()
    from visdom import __version__
    assert (static / "version.built").read_text() == __version__ == visdom_assets.VISDOM_VERSION
    # the installed Plotly is the pinned build the page's windows are drawn with
    assert b"plotly.js v2.11.1" in (static / "js" / "plotly-plotly.min.js").read_bytes()[:400]


def test_a_tampered_tarball_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(visdom_assets, "_pack", lambda name, version, workdir: b"not the pinned tarball")
    with pytest.raises(UserError, match="refusing to install"):
        visdom_assets.install(tmp_path / "static", quiet=True)
    assert not (tmp_path / "static" / "version.built").exists()
    assert visdom_assets.integrity(b"abc") == ("sha512-3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj"
                                               "/uu9RU1EI2Q86A4qmslPpUyknw==")
