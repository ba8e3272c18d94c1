"""Shared test helpers: find real data the way users do; fail (never skip) a missing data set under CI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlpractice.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def require_data(load):
    """Call `load()`; a missing data set skips the test, except under CI=true where it fails."""
    try:
        return load()
    except UserError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"data set missing under CI: {e}")
        pytest.skip(f"data set missing: {e}")


@pytest.fixture
def fashion():
    """The real Fashion-MNIST bundle (val 10%), loaded once per test that asks for it."""
    from dlpractice.config import DataConfig
    from dlpractice.data import load_dataset
    return require_data(lambda: load_dataset(DataConfig(dataset="fashion-mnist"), 28))


def dlp(*args, env=None, check=False, timeout=300, cwd=None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (`python -m dlpractice ...`)."""
    e = {**os.environ, **(env or {})}
    p = subprocess.run([sys.executable, "-m", "dlpractice", *map(str, args)], capture_output=True, text=True,
                       env=e, timeout=timeout, cwd=cwd)
    if check and p.returncode != 0:
        raise AssertionError(f"dlp {' '.join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="session")
def fashion_run(tmp_path_factory):
    """A short real Fashion-MNIST run (course CNN, 1 epoch on 5,000 images) shared by CLI tests."""
    from dlpractice.config import DataConfig, load_config
    from dlpractice.data import load_dataset
    from dlpractice.train.loop import train
    require_data(lambda: load_dataset(DataConfig(dataset="fashion-mnist")))
    cfg = load_config(overrides=["data.dataset=fashion-mnist", "model.name=course_cnn", "data.limit_train=5000",
                                 "train.epochs=1", "log.progress=false", "log.loggers=['csv']"])
    return train(cfg, out=tmp_path_factory.mktemp("fashion") / "run").folder


def poll(check, timeout: float, what: str = "the condition", every: float = 0.2):
    """Call `check()` until it returns something true (returned) or `timeout` seconds pass (AssertionError
    naming `what`). Size `timeout` for a busy machine: the poll ends as soon as the condition holds."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(every)
