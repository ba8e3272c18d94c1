"""Starting dashboards for a runs folder: a visdom server that never downloads anything, or TensorBoard.

Both bind 127.0.0.1 unless told otherwise. `start_visdom` / `start_tensorboard` return the server process
and its URL once it answers; `python -m dlpractice.track.board visdom PORT ENV_PATH HOST` is the visdom
server itself: visdom's `Application` without `download_scripts` (the CDN fetch that hangs offline).
"""
from __future__ import annotations

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
    except BaseException:   # Ctrl-C or a timeout while waiting: leave no server behind
        proc.terminate()
        raise
    return proc, url


def _spawn(cmd: list[str], quiet: bool) -> subprocess.Popen:
    """A server process; quiet ones log into a temp file (a pipe nobody reads would fill and block it)."""
    log = tempfile.TemporaryFile() if quiet else None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL if quiet else None, stderr=log)
    proc.log = log
    return proc


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
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", host,
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
    if len(sys.argv) == 5 and sys.argv[1] == "visdom":
        serve_visdom(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: python -m dlpractice.track.board visdom PORT ENV_PATH HOST")
