"""kill -9 of a real `python -m dlpractice train` at several moments — before the first checkpoint, in the
middle of an epoch while a train.checkpoint_every checkpoint is written, right after a checkpoint, after an
epoch's rows are logged but before its checkpoint, and while a resume rewrites metrics.csv — then the command
the error (or the usage) says: the same command again, or `dlp train --resume RUN`. Each time the final
metrics.csv equals an uninterrupted run's byte for byte, and no temp file is left behind.

The moments come from $DLPRACTICE_CRASH_AT: the process sends itself SIGKILL there (`runs.folder.crash_point`),
so the kill lands where it should however busy the machine is. The killed runs are started together; what
follows them runs in this process through the CLI's `main` (no second import of torch)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dlpractice.cli import main
from dlpractice.runs.checkpoint import load_checkpoint

from conftest import require_data

ARGS = ["--set", "data.dataset=digits", "--set", "model.name=mlp", "--set", "train.epochs=3",
        "--set", "train.checkpoint_every=4", "--set", "train.threads=1", "--set", "log.progress=false"]


def _cmd(out: Path) -> list[str]:
    return ["train", *ARGS, "--out", str(out)]


def _spawn(argv: list[str], crash: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DLPRACTICE_CRASH_AT"}
    if crash:
        env["DLPRACTICE_CRASH_AT"] = crash
    return subprocess.Popen([sys.executable, "-m", "dlpractice", *argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _killed(proc: subprocess.Popen, timeout: float = 240) -> None:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}\n{out}\n{err}"


def _recover(out: Path, capsys) -> list[str]:
    """What a user does after a kill: the same command again; when that says to resume, resume. Returns
    the commands run."""
    capsys.readouterr()
    code = main(_cmd(out))
    if code == 0:
        return ["same command"]
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"dlp train --resume {out}" in err, err
    assert main(["train", "--resume", str(out)]) == 0, capsys.readouterr().err
    return ["same command", "resume"]


def _temps(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if ".tmp" in p.name]


@pytest.fixture(autouse=True)
def _no_crash_here(monkeypatch):
    monkeypatch.delenv("DLPRACTICE_CRASH_AT", raising=False)
    from dlpractice.config import DataConfig
    from dlpractice.data import load_dataset
    require_data(lambda: load_dataset(DataConfig(dataset="digits")))


def test_kill_9_at_any_moment_then_the_command_said_gives_the_same_metrics(tmp_path, capsys):
    # 11 steps an epoch; saves: steps 4, 8, epoch 1's best and last, steps 12, 16, 20, ...
    crashes = {"before-first-checkpoint": "step:2",
               "mid-epoch-checkpoint-write": "checkpoint-write:6",   # step 16's, in epoch 2: a temp file is left
               "after-checkpoint": "checkpoint-saved:4",             # right after epoch 1's last.pt
               "after-epoch-logged": "epoch-logged:2"}               # metrics.csv has epoch 2, its checkpoint not
    runs = {name: tmp_path / name for name in crashes}
    procs = {name: _spawn(_cmd(runs[name]), crash) for name, crash in crashes.items()}

    ref = tmp_path / "ref"                                    # the uninterrupted run, meanwhile
    assert main(_cmd(ref)) == 0
    want = (ref / "metrics.csv").read_bytes()
    assert want.count(b"\n") == 1 + 3 * 3                     # header, 3 epochs × train/val/test

    for proc in procs.values():
        _killed(proc)

    assert not (runs["before-first-checkpoint"] / "checkpoints" / "last.pt").exists()
    mid = load_checkpoint(runs["mid-epoch-checkpoint-write"] / "checkpoints" / "last.pt")
    assert (mid["epoch"], mid["batch"]) == (2, 1)             # the step-12 checkpoint: resumed inside epoch 2
    after = load_checkpoint(runs["after-checkpoint"] / "checkpoints" / "last.pt")
    assert (after["epoch"], after["batch"]) == (2, 0)
    assert _temps(runs["mid-epoch-checkpoint-write"]), "the kill should land while last.pt's temp file is written"
    logged = runs["after-epoch-logged"]
    assert (logged / "metrics.csv").read_text().splitlines()[-1].startswith("2,test")

    # a resume killed while it rewrites metrics.csv: the old file stays whole, the next resume finishes
    before = (logged / "metrics.csv").read_bytes()
    _killed(_spawn(["train", "--resume", str(logged)], "csv-rewrite"))
    assert (logged / "metrics.csv").read_bytes() == before and _temps(logged)

    said = {}
    for name, out in runs.items():
        said[name] = _recover(out, capsys)
        assert (out / "metrics.csv").read_bytes() == want, name
        assert (out / "summary.json").is_file() and not _temps(out), name
    assert said["before-first-checkpoint"] == ["same command"]
    assert said["mid-epoch-checkpoint-write"] == said["after-epoch-logged"] == ["same command", "resume"]
