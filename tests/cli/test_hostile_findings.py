"""What the hostile pass (bench/hostile_pass.py, 1,198 inputs) found, each held here through the CLI's `main`:
one `error:` line and exit 2 where a traceback, a second line or a silent accept used to be — and a run
killed between its summary and its figures gets them on `--resume`."""
from __future__ import annotations

import errno
import hashlib
import shutil

import pytest

from dlpractice.cli import main

from conftest import one_line

QUICK = ["--set", "train.epochs=1", "--set", "data.limit_train=64", "--set", "log.progress=false",
         "--set", "train.threads=1"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    assert main(["train", "--set", "model.name=mlp", *QUICK, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("sets, message", [
    (["model.name=mlp", "model.args.num_classes=3"], "model.args.num_classes = 3 contradicts the data set (digits"),
    (["model.args.in_channels=3"], "model.args.in_channels = 3 contradicts"),
    (["data.dataset=diabetes", "model.name=tabular_mlp", "model.args.in_features=3"], "gives in_features = 8"),
    (["data.dataset=diabetes", "model.name=tabular_mlp", "data.options.fold=5"], "data.options.fold needs"),
])
def test_settings_that_contradict_the_data(sets, message, tmp_path, capsys):
    code = main(["train", *QUICK, *[a for s in sets for a in ("--set", s)], "--out", str(tmp_path / "run")])
    one_line(capsys, code, message)
    assert not (tmp_path / "run").exists()


def test_predict_flags_that_are_not_for_the_run(digits_run, tmp_path, capsys):
    png = tmp_path / "x.png"
    from PIL import Image
    Image.new("L", (8, 8)).save(png)
    for flags, message in [(["--csv", str(png)], "--csv is not for it"), (["--text", "Xu"], "--text is not for it"),
                           (["--interactive"], "--interactive is not for it")]:
        one_line(capsys, main(["predict", str(digits_run), *flags]), "is an image run", message)
    one_line(capsys, main(["runs", "--runs-dir", str(png)]), "is a file, not a folder of runs")


def test_a_checkpoint_that_is_only_its_header(digits_run, tmp_path, capsys):
    from dlpractice.runs.checkpoint import MAGIC
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (run / "checkpoints" / "best.pt").write_bytes(MAGIC + hashlib.sha256(b"").hexdigest().encode() + b"\n")
    one_line(capsys, main(["evaluate", str(run)]), "best.pt is truncated or corrupt")


def test_figures_a_kill_or_a_full_disk_kept_from_a_finished_run(digits_run, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (run / "curves.png").unlink()
    (run / "report.html").unlink()
    summary = (run / "summary.json").read_bytes()
    import dlpractice.track.plots as plots

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(run / "curves.png"))
    with monkeypatch.context() as m:
        m.setattr(plots, "plot_curves", full)
        one_line(capsys, main(["train", "--resume", str(run)]), "curves.png: the disk is full",
                 f"dlp train --resume {run}` draws it")
    assert main(["train", "--resume", str(run)]) == 0
    assert "drawing curves.png and report.html" in capsys.readouterr().out
    assert (run / "curves.png").is_file() and (run / "report.html").is_file()
    assert (run / "summary.json").read_bytes() == summary                        # the run itself: unchanged


def test_a_write_the_os_refuses_is_one_line(digits_run, tmp_path, capsys, monkeypatch):
    import dlpractice.serve.export as export

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "export"))
    monkeypatch.setattr(export, "export", read_only)
    one_line(capsys, main(["export", str(digits_run)]), "export: the file system is read-only")


def test_a_table_setting_by_its_dotted_name():
    from dlpractice.config import load_config
    assert load_config(overrides=["gan.d_args.spectral_norm=true"]).gan.d_args == {"spectral_norm": True}
    from dlpractice.errors import UserError
    with pytest.raises(UserError, match="'model.args.h' is 3, not a table"):
        load_config(overrides=["model.args.h=3", "model.args.h.x=1"])
