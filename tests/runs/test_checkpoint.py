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

# Fashion-MNIST subset: epochs of a second or two, long enough to kill one in the middle.
LIMIT = 3000
STEPS = -(-LIMIT // 128)   # per epoch: limit_train applies to the train split after validation is carved
RUN = ["--set", "data.dataset=fashion-mnist", "--set", "model.name=lenet_bn", "--set", f"data.limit_train={LIMIT}",
       "--set", "data.val_fraction=0.05", "--set", "train.eval_test=false",
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
    assert s["steps_this_process"] == 2 * STEPS  # only epochs 3 and 4 were trained
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
    assert ck["epoch"] == 2 and 0 < ck["batch"] < STEPS  # saved inside epoch 2
    r = dlp("train", "--resume", out, check=True)
    assert _metrics(out) == _metrics(reference)
    assert f"→ {out}, resuming from epoch 2, step {ck['step']}" in r.stdout   # a resumed run says where it resumes


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


# -- the digest, and each way a checkpoint can be bad: one UserError naming the file and what to do ---------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A finished one-epoch run of the MLP on digits (a second or two), trained in this process."""
    from dlpractice.config import DataConfig, load_config
    from dlpractice.data import load_dataset
    from dlpractice.train.loop import train
    require_data(lambda: load_dataset(DataConfig(dataset="digits")))
    cfg = load_config(overrides=["data.dataset=digits", "model.name=mlp", "train.epochs=1", "train.threads=1",
                                 "log.progress=false"])
    return train(cfg, out=tmp_path_factory.mktemp("digits") / "run").folder


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil
    shutil.copytree(src, dst)
    return dst


def _one_line(e: pytest.ExceptionInfo, *words) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_checkpoint_carries_a_digest_and_a_changed_byte_is_caught(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.arange(1000.0)}, "epoch": 2})
    data = bytearray(path.read_bytes())
    assert data.startswith(b"dlpractice-checkpoint sha256=")
    assert load_checkpoint(path)["epoch"] == 2
    for where in (len(data) // 2, len(data) - 30, 100):   # a tensor byte, the zip directory, the pickle
        bad = bytearray(data)
        bad[where] ^= 0x01
        p = tmp_path / f"flip{where}.pt"
        p.write_bytes(bytes(bad))
        with pytest.raises(UserError) as e:
            load_checkpoint(p)
        _one_line(e, str(p), "damaged", "digest")


def test_empty_truncated_and_symlinked_checkpoints_in_a_run_folder(digits_run, tmp_path):
    run = _copy_run(digits_run, tmp_path / "run")
    last, best = run / "checkpoints" / "last.pt", run / "checkpoints" / "best.pt"
    good = last.read_bytes()
    last.write_bytes(b"")
    with pytest.raises(UserError) as e:
        load_checkpoint(last)
    _one_line(e, str(last), "empty (0 bytes)", f"dlp train --resume {run}", "best.pt")
    last.write_bytes(good[:len(good) - 1000])
    with pytest.raises(UserError) as e:
        load_checkpoint(last)
    _one_line(e, str(last), "damaged")
    best.unlink()
    best.symlink_to(tmp_path / "elsewhere.pt")
    (tmp_path / "elsewhere.pt").write_bytes(good)
    with pytest.raises(UserError) as e:
        load_checkpoint(best)
    _one_line(e, str(best), "symbolic link")
    from dlpractice.runs.predictor import Predictor
    with pytest.raises(UserError, match="symbolic link"):
        Predictor(run)                                  # through the run folder, too


def test_a_checkpoint_lacking_keys_or_of_other_shapes_is_one_line(digits_run, tmp_path):
    from dlpractice.cli import main
    from dlpractice.runs.predictor import Predictor
    run = _copy_run(digits_run, tmp_path / "run")
    best = run / "checkpoints" / "best.pt"
    ck = load_checkpoint(best)
    save_checkpoint(best, {k: v for k, v in ck.items() if k not in ("model_args", "config")})
    with pytest.raises(UserError) as e:
        Predictor(run)
    _one_line(e, str(best), "lacks model_args, config", "--checkpoint last")
    bigger = dict(ck)
    bigger["model"] = {k: torch.zeros(*(s + 1 for s in v.shape)) for k, v in ck["model"].items()}
    save_checkpoint(best, bigger)
    with pytest.raises(UserError) as e:
        Predictor(run)
    _one_line(e, str(best), "does not fit", "size mismatch")
    with pytest.raises(UserError, match="does not fit"):
        load_run_model(run)
    # resuming from a last.pt that lacks what a resume needs says so, too (through the CLI: exit 2)
    last = run / "checkpoints" / "last.pt"
    (run / "summary.json").unlink()
    save_checkpoint(last, {k: v for k, v in load_checkpoint(last).items() if k != "optimizer"})
    assert main(["train", "--resume", str(run)]) == 2


def load_run_model(run):
    from dlpractice.runs.folder import load_run
    return load_run(run).model()


def test_nan_weights_are_refused_at_predict_time(digits_run, tmp_path):
    from dlpractice.runs.predictor import Predictor
    run = _copy_run(digits_run, tmp_path / "run")
    best = run / "checkpoints" / "best.pt"
    ck = load_checkpoint(best)
    ck["model"] = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in ck["model"].items()}
    save_checkpoint(best, ck)
    with pytest.raises(UserError) as e:
        Predictor(run)
    _one_line(e, str(best), "not finite", "optim.lr")


def test_an_old_checkpoint_without_a_digest_loads_with_a_warning(tmp_path, capsys):
    old = tmp_path / "old.pt"
    torch.save({"format": 1, "model": {"w": torch.ones(3)}, "epoch": 4}, old)   # what dlpractice wrote before
    assert load_checkpoint(old)["epoch"] == 4
    assert "has no digest" in capsys.readouterr().err


def test_a_failed_checkpoint_write_keeps_the_earlier_one(tmp_path, monkeypatch):
    """A full disk (ENOSPC) or a read-only folder while writing: one line, the earlier file untouched,
    no temp file left behind."""
    import builtins
    import errno
    from dlpractice.runs import checkpoint as ckmod
    run = tmp_path / "run"
    path = run / "checkpoints" / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "epoch": 1})
    before = path.read_bytes()

    class Full:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            self.f.write(bytes(b)[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(ckmod, "open", lambda *a, **k: Full(builtins.open(*a, **k)), raising=False)
    with pytest.raises(UserError) as e:
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2})
    _one_line(e, str(path), "the disk is full", "untouched", f"dlp train --resume {run}")
    monkeypatch.undo()
    assert path.read_bytes() == before and load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]
    if os.geteuid() != 0:                               # root writes into a read-only folder anyway
        path.parent.chmod(0o555)
        try:
            with pytest.raises(UserError) as e:
                save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2})
            _one_line(e, str(path), "read-only")
        finally:
            path.parent.chmod(0o755)
        assert path.read_bytes() == before
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(UserError) as e:                 # a missing parent that cannot be made
        save_checkpoint(blocked / "checkpoints" / "last.pt", {"model": {}})
    _one_line(e, "cannot write", "a file, not a folder")
