"""Decoding and preparing /predict bodies for `dlp serve`: the checked run's reader, and worker processes
that run it outside the server's GIL.

The HTTP readers (PIL's PNG decoder included) are mostly Python. On a thread of the server they hold the
GIL that the event loop and the model's thread need: on 2 cores about half of a request's server time.
`Workers` runs the very same reader in worker processes (`python -m dlpractice.serve.preparing FD`), one
request at a time each, over a socketpair: plain bodies (not a form) of at most `SMALL` bytes go there, and
the prepared tensor and labels, or the refusal the reader raised, come back. Multipart forms, larger
bodies, and all requests while no worker is up (starting, or gone) are prepared on the server's threads
as before. The time budget is the same: the request's `Payload.started` travels with it (time.monotonic
is one clock for every process of the machine).
"""
from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import traceback

import torch

from ..errors import UserError
from ..inputs import INPUT_KINDS
from ..inputs.http import HTTPError, Limits, Payload

SMALL = 64 * 1024       # bytes: a body up to this size is prepared by a worker (a 28×28 PNG is ~0.5 KB)
HEADER = struct.Struct("<I")    # each message: its pickle's length, then the pickle


def body_payload(ctype: str, body: bytes, limits: Limits) -> Payload:
    """A /predict body that is not a multipart form, by its media type `ctype`."""
    if ctype.startswith("image/") or ctype == "application/octet-stream":
        return Payload(ctype, files=[("image", body)], seconds=limits.max_seconds)
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            return Payload(ctype, data=json.loads(body), is_json=True, seconds=limits.max_seconds)
        except (ValueError, RecursionError) as e:  # RecursionError: JSON nested thousands deep
            raise HTTPError(400, f"the body is not valid JSON ({type(e).__name__}: {str(e)[:80]})") from None
    return Payload(ctype, seconds=limits.max_seconds)


def first_bad(t: torch.Tensor) -> int:
    """The index of the first row of `t` holding a value that is not finite."""
    return int((~torch.isfinite(t)).flatten(1).any(1).nonzero()[0, 0])


def read(reader, meta: dict, payload: Payload, limits: Limits) -> tuple[torch.Tensor, list[str]]:
    """The run's HTTP reader (`reader`), and the check of what it made."""
    x, labels = reader(meta, payload, limits)
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise HTTPError(422, f"input {first_bad(x) + 1} overflows float32 (a value beyond ±3.4e38)")
    return x, labels


# -- the worker process ---------------------------------------------------------------------------------------
def _refusal(e: Exception):
    """An exception as what crosses the socket: HTTPError as its status and message (its constructor takes
    both, so it does not pickle), anything picklable as itself, the rest as a RuntimeError naming it."""
    if isinstance(e, HTTPError):
        return ("http", e.status, e.message)
    try:
        return ("raise", pickle.dumps(e))
    except Exception:  # noqa: BLE001
        return ("raise", pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}")))


def _serve(fd: int) -> None:
    """A worker: the first message names the input kind, meta and limits; then (id, media type, body,
    started) in, (id, True, x as numpy, labels) or (id, False, refusal) out, until the server goes."""
    torch.set_num_threads(1)   # one small input at a time
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the server's to handle: it closes our socket
    with socket.socket(fileno=fd) as sock, sock.makefile("rwb") as f:
        def get():
            head = f.read(HEADER.size)
            return pickle.loads(f.read(HEADER.unpack(head)[0])) if len(head) == HEADER.size else None

        def put(message) -> None:
            data = pickle.dumps(message)
            f.write(HEADER.pack(len(data)) + data)
            f.flush()
        kind, meta, limits = get()
        reader = INPUT_KINDS.get(kind).http
        put("ready")
        while (message := get()) is not None:
            i, ctype, body, started = message
            try:
                payload = body_payload(ctype, body, limits)
                payload.started = started
                x, labels = read(reader, meta, payload, limits)
                answer = (i, True, x.numpy(), labels)
            except Exception as e:  # noqa: BLE001  (the server answers it as if its own thread had raised it)
                if not isinstance(e, (HTTPError, UserError)):
                    traceback.print_exc()
                answer = (i, False, _refusal(e))
            put(answer)


# -- the server's side ----------------------------------------------------------------------------------------
class _Connection(asyncio.Protocol):
    """The server's end of one worker's socket: requests out, answers matched back to their futures."""

    def __init__(self):
        self.buffer, self.waiting, self.transport, self.ready = bytearray(), {}, None, None
        self.closing = False

    def connection_made(self, transport) -> None:
        self.transport, self.ready = transport, asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            length = HEADER.unpack_from(self.buffer)[0]
            if len(self.buffer) < HEADER.size + length:
                return
            message = pickle.loads(self.buffer[HEADER.size:HEADER.size + length])
            del self.buffer[:HEADER.size + length]
            if message == "ready":
                self.ready.set_result(None)
                continue
            fut = self.waiting.pop(message[0], None)
            if fut is None or fut.done():   # its request timed out (a 503) meanwhile
                continue
            if message[1]:
                fut.set_result((torch.from_numpy(message[2]), message[3]))
            elif message[2][0] == "http":
                fut.set_exception(HTTPError(*message[2][1:]))
            else:
                fut.set_exception(pickle.loads(message[2][1]))

    def connection_lost(self, exc) -> None:
        self.transport = None
        gone = ConnectionError("the worker that prepares requests has stopped; the server log says why")
        if not self.ready.done():
            self.ready.set_exception(gone)
        elif not self.closing:
            print("dlp serve: a worker that prepares requests has stopped; preparing them on threads",
                  file=sys.stderr, flush=True)
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(gone)

    def send(self, message) -> None:
        data = pickle.dumps(message)
        self.transport.write(HEADER.pack(len(data)) + data)


class Workers:
    """`n` worker processes preparing bodies of the run's input `kind`: `await start()` (the app's startup)
    starts them and waits until they are up; in an event loop that did not start them, the first `submit`
    starts them in the background. Until they are up (and if they fail or stop), `submit` answers None and
    the caller uses its threads."""

    def __init__(self, kind: str, meta: dict, limits: Limits, n: int):
        self.kind, self.meta, self.limits, self.n = kind, meta, limits, n
        self.up: list[_Connection] = []
        self.processes: list[subprocess.Popen] = []
        self._loop, self._next = None, 0

    def submit(self, ctype: str, body: bytes, started: float) -> asyncio.Future | None:
        """A future of (x, labels) for this body, or None where no worker takes it."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:   # not started in this event loop (e.g. a test client's)
            loop.create_task(self.start())
            return None
        live = [c for c in self.up if c.transport is not None]
        if not live or len(body) > SMALL:
            return None
        conn = min(live, key=lambda c: len(c.waiting))   # the least busy one
        self._next += 1
        fut = conn.waiting[self._next] = loop.create_future()
        conn.send((self._next, ctype, body, started))
        return fut

    async def start(self, timeout: float = 120) -> None:
        """Start the workers in this event loop; back when they are up (or have failed to start within
        `timeout` seconds: those that did not are left to the threads)."""
        self._loop, self.up = asyncio.get_running_loop(), []
        if os.name == "posix":   # socketpair + pass_fds: POSIX only; elsewhere the threads do it all
            await asyncio.gather(*(self._start_one(timeout) for _ in range(self.n)))

    async def _start_one(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        try:
            process = await loop.run_in_executor(None, lambda: subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno())], pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL))
        finally:
            theirs.close()
        self.processes.append(process)
        _, conn = await loop.create_connection(_Connection, sock=ours)
        conn.send((self.kind, self.meta, self.limits))
        try:
            await asyncio.wait_for(asyncio.shield(conn.ready), timeout)
        except (ConnectionError, asyncio.TimeoutError) as e:
            conn.closing = True
            if conn.transport is not None:
                conn.transport.close()
            process.kill()
            why = "did not start in time" if isinstance(e, asyncio.TimeoutError) else "stopped while starting"
            print(f"dlp serve: a worker to prepare requests {why}; preparing them on threads", file=sys.stderr,
                  flush=True)
            return
        self.up.append(conn)

    async def stop(self) -> None:
        """Close the workers' sockets (each exits at the end of its input) and wait for them."""
        for conn in self.up:
            if conn.transport is not None:
                conn.closing = True
                conn.transport.close()
        loop = asyncio.get_running_loop()
        for process in self.processes:
            try:
                await asyncio.wait_for(loop.run_in_executor(None, process.wait), timeout=10)
            except asyncio.TimeoutError:
                process.kill()
        self.up, self.processes = [], []


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
