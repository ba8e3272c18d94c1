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


def pytest_configure(config):
    """Each test process gets its own user cache (what a test trains or downloads there never lands in the
    user's, nor where the other worker of `pytest -n 2` writes)."""
    import tempfile
    os.environ["DLP_CACHE_DIR"] = tempfile.mkdtemp(prefix="dlp-test-cache-")
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        os.environ["OMP_NUM_THREADS"] = "1"   # the `dlp` subprocesses of a worker too: one thread each
    else:   # a fixed count, not the cores free at each run's start (train.threads = 0): runs compared match
        os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))


@pytest.fixture(autouse=True)
def _torch_threads():
    """Every test starts with the same number of torch threads, whatever an earlier test in this process set
    (train.threads is process-wide): one per worker when `pytest -n N` runs N workers side by side (more
    would fight over the cores), else torch's default for this machine."""
    import torch
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(1 if workers > 1 else _TORCH_DEFAULT_THREADS)
    yield


def _default_threads() -> int:
    import torch
    return torch.get_num_threads()


_TORCH_DEFAULT_THREADS = _default_threads()


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


def dlp(*args, env=None, check=False, timeout=300, cwd=None, real=False) -> subprocess.CompletedProcess:
    """Run the real CLI in a process of its own, as `python -m dlpractice ...` would: forked from a server
    that imported torch once (tests/cli_runner.py), or with `real=True` a new interpreter (the entry point
    itself: imports, `python -m`)."""
    argv = [str(a) for a in args]
    e = {**os.environ, **{k: str(v) for k, v in (env or {}).items()}}
    if real:
        p = subprocess.run([sys.executable, "-m", "dlpractice", *argv], capture_output=True, text=True,
                           env=e, timeout=timeout, cwd=cwd)
    else:
        p = _RUNNER.run(argv, str(cwd or os.getcwd()), e, timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"dlp {' '.join(argv)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


class _Runner:
    """The one fork server of this test process, started on first use."""

    def __init__(self):
        import threading
        self.proc, self.lock = None, threading.Lock()

    def run(self, argv: list[str], cwd: str, env: dict, timeout: float) -> subprocess.CompletedProcess:
        import json
        import select
        import signal
        import tempfile
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_runner.py"))],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            with tempfile.TemporaryDirectory(prefix="dlp-cli-") as tmp:
                out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
                req = {"argv": argv, "cwd": cwd, "env": env, "stdout": str(out), "stderr": str(err)}
                self.proc.stdin.write(json.dumps(req) + "\n")
                self.proc.stdin.flush()
                pid = json.loads(self.proc.stdout.readline())["pid"]
                ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                    self.proc.stdout.readline()
                    raise subprocess.TimeoutExpired(["dlp", *argv], timeout)
                code = json.loads(self.proc.stdout.readline())["code"]
                return subprocess.CompletedProcess(["dlp", *argv], code, out.read_text(errors="replace"),
                                                   err.read_text(errors="replace"))


_RUNNER = _Runner()


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


def assert_same_top(got: list[dict], want: list[dict], tol: float = 1e-5) -> None:
    """Two top-k answers ([{"class", "probability"}, ...]) agree up to float rounding: the probabilities,
    rank by rank, within `tol`, and each class with the same probability. Classes may trade places (or one
    drop out of the top k) only where their probabilities tie within `tol`: the order of a near-tie depends
    on the CPU's kernels and on how requests were batched together."""
    assert len(got) == len(want), (got, want)
    assert [c["probability"] for c in got] == pytest.approx([c["probability"] for c in want], abs=tol), (got, want)
    g = {c["class"]: c["probability"] for c in got}
    w = {c["class"]: c["probability"] for c in want}
    for cls in g.keys() & w.keys():
        assert g[cls] == pytest.approx(w[cls], abs=tol), (cls, got, want)
    last = min(c["probability"] for c in want)
    for cls in g.keys() ^ w.keys():          # at the top k's edge only, tied with the last one kept
        assert g.get(cls, w.get(cls)) == pytest.approx(last, abs=tol), (cls, got, want)


def one_line(capsys, code: int, *parts: str) -> str:
    """A user error as the CLI gives it: exit code 2 and one `error: ...` line holding each of `parts`."""
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), (code, err)
    for p in parts:
        assert p in err, err
    return err


class CtrlCAfterEpoch1:
    """A logger that presses Ctrl-C once epoch 1 is logged: the loop stops at the first step of epoch 2."""

    def start(self, folder, info, first_epoch): ...

    def epoch(self, epoch, metrics, lr, seconds, timing=None):
        import os
        import signal
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    def end(self, summary): ...

