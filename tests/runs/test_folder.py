"""Run folders: made only for a run that starts, never written into when they hold someone else's files,
a run that died before its first checkpoint started again by the same command, a finished run left alone,
and a failed write (full disk, read-only folder) as one line with exit 2 and the earlier checkpoints kept."""
import errno
import os
from pathlib import Path

import pytest

from dlpractice.cli import main
from dlpractice.errors import UserError

from conftest import require_data

ARGS = ["--set", "data.dataset=digits", "--set", "model.name=mlp", "--set", "train.epochs=2",
        "--set", "train.threads=1", "--set", "log.progress=false"]


@pytest.fixture(autouse=True)
def _digits():
    from dlpractice.config import DataConfig
    from dlpractice.data import load_dataset
    require_data(lambda: load_dataset(DataConfig(dataset="digits")))


def _train(out, *extra) -> int:
    return main(["train", *ARGS, *extra, "--out", str(out)])


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_a_run_that_does_not_start_makes_no_folder(tmp_path, capsys):
    out = tmp_path / "runs" / "x"
    assert main(["train", *ARGS, "--set", "model.name=course_rnn", "--out", str(out)]) == 2
    _error(capsys)
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_out_refuses_a_folder_with_files_it_did_not_make(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert _train(out) == 2
    assert "notes.txt" in _error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    f = tmp_path / "afile"
    f.write_text("x")
    assert _train(f) == 2
    assert "is a file" in _error(capsys) and f.read_text() == "x"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _train(empty) == 0                           # an empty folder is fine
    assert (empty / "summary.json").is_file()


def test_a_run_with_a_checkpoint_is_resumed_not_overwritten_and_a_finished_one_is_left_alone(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out) == 0
    capsys.readouterr()
    before = _snapshot(out)
    assert _train(out) == 2
    assert f"dlp train --resume {out}" in _error(capsys)
    assert main(["train", "--resume", str(out)]) == 0    # finished: said, exit 0, nothing touched
    said = capsys.readouterr().out
    assert "already finished after 2 epochs" in said and "nothing changed" in said
    assert _snapshot(out) == before


def test_a_run_that_died_before_its_first_checkpoint_starts_again_with_the_same_command(tmp_path, capsys):
    ref = tmp_path / "ref"
    assert _train(ref) == 0
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.toml").write_text("# a run killed while loading its data\n")
    (out / "data.json").write_text("{}")
    (out / ".metrics.csv.tmp-999999").write_text("half")
    capsys.readouterr()
    assert main(["train", "--resume", str(out)]) == 2   # not a dead end: the message says what works
    err = _error(capsys)
    assert "before its first checkpoint" in err and "same command" in err and f"--out {out}" in err
    assert _train(out) == 0
    assert (out / "metrics.csv").read_bytes() == (ref / "metrics.csv").read_bytes()
    assert not [p for p in out.rglob(".*tmp*")]


def test_a_full_disk_during_training_is_one_line_and_keeps_the_earlier_checkpoint(tmp_path, capsys, monkeypatch):
    import builtins

    from dlpractice.runs import checkpoint as ckmod
    from dlpractice.runs.checkpoint import load_checkpoint
    calls = []

    def filling_up(*a, **k):
        calls.append(a[0])
        if len(calls) > 2:                              # epoch 1's best.pt and last.pt fit; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(a[0]))
        return builtins.open(*a, **k)

    monkeypatch.setattr(ckmod, "open", filling_up, raising=False)
    out = tmp_path / "run"
    assert _train(out) == 2
    err = _error(capsys)
    assert "the disk is full" in err and "untouched" in err and f"dlp train --resume {out}" in err
    monkeypatch.undo()
    assert load_checkpoint(out / "checkpoints" / "last.pt")["epoch"] == 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert main(["train", "--resume", str(out)]) == 0   # with room again, the run finishes
    assert (out / "summary.json").is_file()


def test_a_read_only_run_folder_is_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert _train(out, "--set", "train.epochs=1") == 0
    (out / "summary.json").unlink()                      # as if killed before its summary was written
    before = _snapshot(out)
    capsys.readouterr()
    if os.geteuid() == 0:                               # root writes into a mode-555 folder anyway: say EROFS
        real = os.replace

        def read_only(src, dst, *a, **k):
            if str(out) in str(dst):
                raise OSError(errno.EROFS, "Read-only file system", str(dst))
            return real(src, dst, *a, **k)
        monkeypatch.setattr(os, "replace", read_only)
        code = main(["train", "--resume", str(out)])
        monkeypatch.undo()
    else:
        for p in (out, out / "checkpoints"):
            p.chmod(0o555)
        try:
            code = main(["train", "--resume", str(out)])
        finally:
            for p in (out, out / "checkpoints"):
                p.chmod(0o755)
    assert code == 2
    assert "read-only" in _error(capsys)
    assert {k: v[0] for k, v in _snapshot(out).items()} == {k: v[0] for k, v in before.items()}


def test_lesson_parent_refuses_a_non_empty_folder(tmp_path):
    from dlpractice.lessons import _parent_dir
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        _parent_dir({}, Path("lesson.toml"), tmp_path, [])
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
