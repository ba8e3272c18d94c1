"""`dlp board` stops the server it started: on SIGTERM, SIGINT (Ctrl-C) and SIGHUP to `dlp board`, also
while the server is still starting, and when `dlp board` itself is killed. Real processes, real ports; every
wait polls with a bound sized for a busy machine."""
from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from conftest import poll

START = 240     # seconds a server may take to answer on a machine whose cores are busy
GONE = 60       # seconds a stopped server may take to exit and free its port

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _server_of(board: subprocess.Popen) -> int | None:
    """The server process `dlp board` started, once it runs the server's code (after exec)."""
    for pid in _children(board.pid):
        try:
            if b"dlpractice.track.board" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            pass
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"   # a zombie serves nothing; its parent (or init) is about to reap it


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _as_from_a_terminal() -> None:
    """In the child before exec: SIGINT at its default, as for a command typed at a terminal. A suite started in
    the background (`make test &`, a CI runner's job) inherits SIGINT ignored, and so would `dlp board`:
    Python then installs no KeyboardInterrupt for it, and the SIGINT case below waited its 60 s out."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _board(kind: str, tmp_path: Path) -> tuple[subprocess.Popen, queue.Queue]:
    if kind == "visdom":
        from dlpractice.track.visdom_assets import INSTALL_COMMAND, missing
        if missing():
            if os.environ.get("CI") == "true":
                pytest.fail(f"visdom's scripts are not installed under CI; run `{INSTALL_COMMAND}`")
            pytest.skip(f"visdom's scripts are not installed; run `{INSTALL_COMMAND}`")
    else:
        pytest.importorskip("tensorboard")
    runs = tmp_path / "runs"
    runs.mkdir()
    board = subprocess.Popen([sys.executable, "-m", "dlpractice", "board", f"--{kind}", "--runs-dir", str(runs),
                              "--port", "0"], stdout=subprocess.PIPE, stderr=(tmp_path / "stderr").open("wb"),
                             text=True, preexec_fn=_as_from_a_terminal)
    lines: queue.Queue = queue.Queue()

    def read():   # the server shares the pipe: read it in a thread, never to EOF in the test
        for line in board.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return board, lines


def _url(board: subprocess.Popen, lines: queue.Queue, tmp_path: Path) -> str:
    def printed():
        assert board.poll() is None, f"dlp board exited {board.returncode}: {(tmp_path / 'stderr').read_text()}"
        while not lines.empty():
            m = re.search(r" at (http://127\.0\.0\.1:\d+)", lines.get())
            if m:
                return m.group(1)
    return poll(printed, START, "dlp board printing its URL")


def _cleanup(board: subprocess.Popen, server: int | None) -> None:
    if board.poll() is None:
        board.kill()
        board.wait()
    if server is not None and _alive(server):
        os.kill(server, signal.SIGKILL)


@pytest.mark.parametrize("kind, sig", [("tensorboard", signal.SIGTERM), ("visdom", signal.SIGTERM),
                                       ("tensorboard", signal.SIGINT), ("visdom", signal.SIGHUP)])
def test_a_signal_to_dlp_board_stops_its_server(kind, sig, tmp_path):
    board, lines = _board(kind, tmp_path)
    server = None
    try:
        url = _url(board, lines, tmp_path)
        port = int(url.rsplit(":", 1)[1])
        with urllib.request.urlopen(url, timeout=30) as r:   # it serves
            assert r.status == 200
        server = _server_of(board)
        assert server is not None and _alive(server)
        assert os.getpgid(server) == server != os.getpgid(board.pid)   # a process group of its own
        board.send_signal(sig)
        assert board.wait(timeout=GONE) == 0, (tmp_path / "stderr").read_text()
        poll(lambda: not _alive(server), GONE, f"the {kind} server exiting")
        poll(lambda: not _port_open(port), GONE, f"port {port} closing")
        said = poll(lambda: next((line for line in list(lines.queue) if line.startswith("stopping")), None),
                    GONE, "dlp board saying it stops the server")
        assert said.strip() == f"stopping the server ({signal.Signals(sig).name})"
    finally:
        _cleanup(board, server)


def test_sigterm_while_the_server_starts_stops_it(tmp_path):
    board, _ = _board("tensorboard", tmp_path)
    server = None
    try:
        server = poll(lambda: _server_of(board), START, "dlp board starting TensorBoard")
        board.send_signal(signal.SIGTERM)            # most likely before TensorBoard answers; either way:
        assert board.wait(timeout=GONE) in (0, 130)  # 130: "aborted" while it started, 0: stopped once up
        poll(lambda: not _alive(server), GONE, "the TensorBoard server exiting")
    finally:
        _cleanup(board, server)


def test_a_killed_dlp_board_takes_its_server_along(tmp_path):
    """SIGKILL cannot be handled: the server asked the kernel for SIGTERM when its parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    board, lines = _board("tensorboard", tmp_path)
    server = None
    try:
        url = _url(board, lines, tmp_path)
        server = _server_of(board)
        assert server is not None
        board.kill()
        board.wait(timeout=GONE)
        poll(lambda: not _alive(server), GONE, "the orphaned TensorBoard server exiting")
        poll(lambda: not _port_open(int(url.rsplit(":", 1)[1])), GONE, "its port closing")
    finally:
        _cleanup(board, server)
