"""Checkpoints and resume: exact resume after SIGKILL, Ctrl-C, a kill during a checkpoint write,
and checkpoints crafted to run code are refused without running it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dlpractice.errors import UserError
from dlpractice.runs.checkpoint import load_checkpoint, save_checkpoint

from conftest import dlp, require_data

# Fashion-MNIST subset: epochs of a few seconds, long enough to kill one in the middle.
RUN = ["--set", "data.dataset=fashion-mnist", "--set", "model.name=lenet_bn", "--set", "data.limit_train=6000",
       "--set", "train.epochs=4", "--set", "data.augment=['crop','flip']", "--set", "schedule.name=onecycle",
       "--set", "log.progress=false", "--set", "train.threads=1"]


def _metrics(folder: Path) -> str:
    return (folder / "metrics.csv").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from dlpractice.config import DataConfig
    from dlpractice.data import load_dataset
    require_data(lambda: load_dataset(DataConfig(dataset="fashion-mnist")))
    out = tmp_path_factory.mktemp("ref") / "run"
    dlp("train", *RUN, "--out", out, check=True)
    return out


def _start(out: Path, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlpractice", "train", *RUN, *extra, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _into_epoch(out: Path) -> float:
    """Seconds to sleep to land about 40% into the next epoch, from the measured epoch times."""
    rows = (out / "timing.csv").read_text().splitlines()[1:]
    return 0.4 * min(float(r.split(",")[1]) for r in rows)


def _wait_for_checkpoint(out: Path, proc, epoch: int, timeout=240) -> None:
    """Wait until checkpoints/last.pt says `epoch` is next (the previous epoch is saved)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        p = out / "checkpoints" / "last.pt"
        if p.exists():
            try:
                if load_checkpoint(p)["epoch"] == epoch:
                    return
            except UserError:
                pass
        time.sleep(0.05)
    raise AssertionError("no checkpoint in time")


def test_sigkill_then_resume_is_exact(reference, tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_checkpoint(out, proc, epoch=3)
    time.sleep(_into_epoch(out))  # into epoch 3
    proc.kill()
    proc.wait()
    done = [line.split(",")[0] for line in (out / "timing.csv").read_text().splitlines()[1:]]
    assert done == ["1", "2"], "the kill must land during epoch 3"
    r = dlp("train", "--resume", out, check=True)
    assert r.stdout.strip().splitlines()[-1] == f"run: {out}"
    import json
    s = json.loads((out / "summary.json").read_text())
    steps_per_epoch = -(-6000 // 128)  # limit_train applies to the train split after validation is carved
    assert s["steps_this_process"] == 2 * steps_per_epoch  # only epochs 3 and 4 were trained
    assert _metrics(out) == _metrics(reference)
    assert s["best_epoch"] == json.loads((reference / "summary.json").read_text())["best_epoch"]


def test_ctrl_c_saves_and_resume_is_exact(reference, tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_checkpoint(out, proc, epoch=2)
    time.sleep(_into_epoch(out))  # inside epoch 2
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert f"dlp train --resume {out}" in stderr
    ck = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ck["epoch"] == 2 and 0 < ck["batch"] < 47  # saved inside epoch 2
    dlp("train", "--resume", out, check=True)
    assert _metrics(out) == _metrics(reference)


def test_resume_of_a_finished_run_trains_nothing(reference, tmp_path):
    import shutil
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    r = dlp("train", "--resume", out, check=True)
    assert "nothing to resume" in r.stdout
    assert _metrics(out) == _metrics(reference)


KILL_DURING_WRITE = r"""
import sys, torch
from dlpractice.runs.checkpoint import save_checkpoint
print("writing", flush=True)
save_checkpoint(sys.argv[1], {"model": {"w": torch.zeros(150_000_000)}})  # 600 MB: slow to write
"""


def test_kill_during_checkpoint_write_keeps_previous(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "epoch": 1})
    proc = subprocess.Popen([sys.executable, "-c", KILL_DURING_WRITE, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    t0 = time.time()
    while not list(tmp_path.glob(".last.pt.tmp-*")) and time.time() - t0 < 60:
        time.sleep(0.01)
    time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert list(tmp_path.glob(".last.pt.tmp-*")), "the kill should land while the temp file is written"
    ck = load_checkpoint(path)
    assert ck["epoch"] == 1 and torch.equal(ck["model"]["w"], torch.ones(3))


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = ""


def test_crafted_checkpoint_is_refused_without_running(tmp_path):
    global MARKER
    MARKER = str(tmp_path / "pwned")
    bad = tmp_path / "evil.pt"
    torch.save({"format": 1, "model": {}, "payload": _Evil()}, bad)
    with pytest.raises(UserError, match="refused"):
        load_checkpoint(bad)
    assert not Path(MARKER).exists()


def test_truncated_and_altered_checkpoints(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.randn(1000)}, "epoch": 3})
    data = good.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="cut.pt"):
        load_checkpoint(cut)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, other)
    with pytest.raises(UserError, match="not a dlpractice checkpoint"):
        load_checkpoint(other)
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_carries_the_gpus_generators_when_cuda_is_in_use(tmp_path, monkeypatch):
    """On a GPU, noise and dropout come from torch.cuda's generators: a checkpoint must carry and restore
    them (a resumed GAN differed on an H100 without). Here, without a GPU, torch.cuda's state functions
    are stood in for, and the state makes the round trip through a real checkpoint file."""
    from dlpractice.runs.checkpoint import rng_state, set_rng_state
    assert "cuda" not in rng_state()                      # no GPU in use: nothing to carry
    gpu = [torch.arange(8, dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: gpu)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    save_checkpoint(tmp_path / "c.pt", {"model": {}, "rng": rng_state()})
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])     # weights_only load: tensors in a list pass
    assert len(restored) == 1 and torch.equal(restored[0][0], gpu[0])
