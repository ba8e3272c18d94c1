"""A step that runs 2 s or more says what it is doing and when it is done; a fast one prints nothing."""
from __future__ import annotations

import time

import pytest

from dlpractice.cli import main
from dlpractice.track import notice
from dlpractice.track.notice import slow_step


def test_a_slow_step_says_what_and_how_long(capsys):
    with slow_step("counting sheep", after=0.05):
        time.sleep(0.5)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "counting sheep …" and out[1].startswith("… done in ") and out[1].endswith(" s")
    assert float(out[1].split()[3]) >= 0.5


def test_a_fast_step_or_a_quiet_rank_prints_nothing(capsys):
    with slow_step("blinking", after=30):
        pass
    with slow_step("on rank 1", after=0.0, quiet=True):
        time.sleep(0.1)
    assert capsys.readouterr().out == ""


def test_a_failed_step_is_not_called_done(capsys):
    with pytest.raises(ValueError):
        with slow_step("failing", after=0.0):
            time.sleep(0.1)
            raise ValueError("no")
    assert "done" not in capsys.readouterr().out


def test_training_says_it_is_loading_the_data_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(notice, "AFTER_S", 0.0)   # every step counts as slow: each one's line shows
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--set", "data.dataset=digits", "--set", "model.name=softmax", "--set", "train.epochs=1",
                 "--set", "train.threads=1", "--out", "run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out.index("loading digits …") < out.index(next(x for x in out if x.startswith("softmax (")))
    assert out[out.index("loading digits …") + 1].startswith("… done in ")
