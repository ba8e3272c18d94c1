"""Starting dashboards for a runs folder: a visdom server that never downloads anything, or TensorBoard.

Both bind 127.0.0.1 unless told otherwise. `start_visdom` / `start_tensorboard` return the server process
and its URL once it answers; `python -m dlpractice.track.board visdom PORT ENV_PATH HOST` is the visdom
server itself: visdom's `Application` without `download_scripts` (the CDN fetch that hangs offline), and
`python -m dlpractice.track.board tensorboard ARGS` is TensorBoard's own `main`.

A server runs in a process group (and session) of its own, so a Ctrl-C in the terminal reaches only its
parent, and on Linux it gets SIGTERM when its parent dies, even of SIGKILL. `stop(proc)` ends the whole
group and waits for it; `stop_on_signals()` turns SIGTERM and SIGHUP into the same `KeyboardInterrupt` as
Ctrl-C, so the parent's `finally` / `atexit` stop the server it started however it is asked to end.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ..errors import UserError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll `url` until it answers; a server that exits or stays silent is a UserError."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            err = ""
            if getattr(proc, "log", None) is not None:  # the quiet server's stderr, kept in a temp file
                proc.log.seek(0)
                err = proc.log.read().decode(errors="replace")[-500:]
            raise UserError(f"the server for {url} exited with code {proc.returncode}: {err.strip()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise UserError(f"the server for {url} did not answer within {timeout:.0f} s")


def _check_port(host: str, port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise UserError(f"port {port} on {host} is taken ({e.strerror}); pick another with --port") from None


def _started(proc: subprocess.Popen, url: str, timeout: float) -> tuple[subprocess.Popen, str]:
    try:
        wait_until_up(url, proc, timeout)
    except BaseException:   # Ctrl-C, SIGTERM or a timeout while waiting: leave no server behind
        stop(proc)
        raise
    return proc, url


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, sig)   # the server leads its own group (pgid == pid): it and what it started
        elif proc.poll() is None:
            proc.terminate()           # no process groups (Windows): the server alone
    except (ProcessLookupError, PermissionError):
        pass


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """End a server started by `_spawn` and everything in its process group; wait until it is gone.

    SIGTERM first, SIGKILL after `timeout` seconds. Safe to call twice (atexit after a `finally`)."""
    if proc.poll() is None:
        _kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
            proc.wait()
        _kill_group(proc, signal.SIGKILL)   # stragglers of the group, if the server left any
    if getattr(proc, "log", None) is not None:
        proc.log.close()
        proc.log = None


def _die_with_parent() -> None:
    """In a server process (Linux): get SIGTERM when the process that started it dies, even of SIGKILL
    (strictly: when the thread that started it ends; `start_*` are called from a main thread)."""
    parent = os.environ.pop("DLP_BOARD_PARENT", None)
    if not sys.platform.startswith("linux") or parent is None:
        return
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):   # the parent died before the line above
        sys.exit(1)


def _spawn(cmd: list[str], quiet: bool) -> subprocess.Popen:
    """A server process in its own process group; quiet ones log into a temp file (a pipe nobody reads
    would fill and block it)."""
    log = tempfile.TemporaryFile() if quiet else None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL if quiet else None, stderr=log,
                            start_new_session=True, env={**os.environ, "DLP_BOARD_PARENT": str(os.getpid())})
    proc.log = log
    return proc


@contextlib.contextmanager
def stop_on_signals(signals=(signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else []))):
    """Inside: SIGTERM / SIGHUP raise `KeyboardInterrupt` (as Ctrl-C does), so `finally` blocks run."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = {s: signal.signal(s, interrupt) for s in signals}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def visdom_command(port: int, env_path: Path, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "dlpractice.track.board", "visdom", str(port), str(env_path), host]


def start_visdom(port: int, env_path: str | Path, host: str = "127.0.0.1", quiet: bool = True,
                 timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start a visdom server whose scripts are all local; refuse if they were never installed."""
    from .visdom_assets import INSTALL_COMMAND, missing
    gone = missing()
    if gone:
        raise UserError(f"visdom's scripts are not installed ({len(gone)} missing, e.g. {gone[0]}); "
                        f"install them once with `{INSTALL_COMMAND}`")
    _check_port(host, port)
    Path(env_path).mkdir(parents=True, exist_ok=True)
    proc = _spawn(visdom_command(port, Path(env_path), host), quiet)
    return _started(proc, f"http://{host}:{port}", timeout)


def start_tensorboard(logdir: str | Path, port: int, host: str = "127.0.0.1", quiet: bool = True,
                      timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """Start TensorBoard on `logdir` (it serves its own bundled page; no network needed)."""
    import importlib.util
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError("TensorBoard is not installed; install it with `.venv/bin/pip install tensorboard`")
    _check_port(host, port)
    cmd = [sys.executable, "-m", "dlpractice.track.board", "tensorboard", "--logdir", str(logdir), "--host", host,
           "--port", str(port), "--reload_interval", "1"]
    proc = _spawn(cmd, quiet)
    return _started(proc, f"http://{host}:{port}", timeout)


def serve_visdom(port: int, env_path: str, host: str) -> None:
    """The visdom server itself, in this process, without visdom's CDN download step."""
    import logging

    from tornado import ioloop, web
    from visdom.server import app as visdom_app

    class StaticFiles(web.StaticFileHandler):
        # visdom's page links `static_url("../user/style.css")`, served by its /user/ handler; tornado 6.6
        # refuses to version a path outside static/ and answers the whole page with 403 (a blank visdom);
        # older tornado just left the version off, which is what this does
        @classmethod
        def get_version(cls, settings, path):
            try:
                return super().get_version(settings, path)
            except web.HTTPError:
                return None

    logging.getLogger().setLevel(logging.WARNING)
    visdom_app.tornado_settings["static_handler_class"] = StaticFiles
    app = visdom_app.Application(port=port, env_path=str(Path(env_path).resolve()) + "/")
    app.listen(port, address=host, max_buffer_size=1024 ** 3)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    _die_with_parent()
    if len(sys.argv) == 5 and sys.argv[1] == "visdom":
        serve_visdom(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "tensorboard":   # TensorBoard's own `main`, with these args
        from tensorboard.main import run_main
        sys.argv = ["tensorboard", *sys.argv[2:]]
        run_main()
    else:
        sys.exit("usage: python -m dlpractice.track.board visdom PORT ENV_PATH HOST\n"
                 "       python -m dlpractice.track.board tensorboard [TensorBoard's arguments]")
