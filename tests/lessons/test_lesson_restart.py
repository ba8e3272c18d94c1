"""A lesson of several runs (compare, cv) that was killed or stopped is continued by the same command: its
finished runs are kept as they are, the interrupted one resumed from its checkpoint, the rest started — and
every run's metrics.csv ends byte for byte as in an uninterrupted lesson. Another folder that is not empty,
or the same folder with other settings, is still refused."""
from __future__ import annotations

import signal

from conftest import dlp

LESSON = ["lesson", "lecture05_optimizers", "--set", "train.epochs=5"]   # 8 runs × 5 one-step epochs


def _metrics(folder):
    return {p.parent.name: p.read_bytes() for p in sorted(folder.glob("*/metrics.csv"))}


def test_a_killed_compare_lesson_is_continued_by_the_same_command(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    dlp(*LESSON, "--out", ref, check=True)
    killed = dlp(*LESSON, "--out", out, env={"DLPRACTICE_CRASH_AT": "epoch-logged:8"})   # inside run 2
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    runs = [p for p in out.iterdir() if p.is_dir()]
    done = [p for p in runs if (p / "summary.json").exists()]
    assert len(runs) == 2 and len(done) == 1
    (cut,) = set(runs) - set(done)
    kept = (done[0] / "summary.json").read_bytes()

    again = dlp(*LESSON, "--out", out, check=True)
    assert f"continuing the lesson: {cut}" in again.stdout
    assert (done[0] / "summary.json").read_bytes() == kept                        # the finished run: untouched
    assert _metrics(out) == _metrics(ref) and len(_metrics(out)) == 8
    assert (out / "comparison.png").is_file()


def test_a_lesson_folder_with_other_settings_or_files_is_refused(tmp_path):
    out = tmp_path / "out"
    dlp(*LESSON, "--out", out, check=True)
    r = dlp(*LESSON, "--set", "optim.lr=0.01", "--out", out)
    assert r.returncode == 2 and "with other settings; nothing was written" in r.stderr, r.stderr
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    r = dlp(*LESSON, "--out", mine)
    assert r.returncode == 2 and "is not empty (it holds notes.txt)" in r.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
