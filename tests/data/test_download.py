"""Checked downloads against a real loopback HTTP server, the MNIST data set end to end, and read_idx.

The server (http.server on 127.0.0.1, port 0, in a thread) serves the real MNIST files from the shared
data folder ($DLP_DATA_DIR, set by `make test`), a route that dies mid-transfer, a stalling route and
404s. No test touches the network.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dlpractice.config import DataConfig
from dlpractice.data import load_dataset, mnist, paths
from dlpractice.data.download import ensure_files, fetch, mirrors_from_env
from dlpractice.data.idx import read_idx
from dlpractice.data.vision import DEBIAN_FASHION
from dlpractice.errors import UserError

TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"


# -- the loopback server ---------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    """GET <path>: routes[path] = (bytes, mode); mode 'ok', 'half' (full Content-Length, half the
    body, then the connection is closed) or 'stall' (headers, then silence); else 404."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path not in self.server.routes:
            self.send_error(404)
            return
        data, mode = self.server.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "half":
            self.wfile.write(data[:len(data) // 2])
            self.close_connection = True  # HTTP/1.0 handler: the server closes the socket on return
        elif mode == "stall":
            time.sleep(1.0)
        else:
            self.wfile.write(data)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client hung up on the stalling route: expected


@contextmanager
def serve(routes: dict[str, tuple[bytes, str]]):
    """Yield (server, base URL); `server.requests` lists the paths asked for, in order."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.routes, srv.requests = routes, []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv, f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _loopback_without_proxy(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _need(folder: Path, names: list[str], what: str) -> Path:
    """The folder if it holds `names`; else skip (fail under CI=true, where the data must be there)."""
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        msg = f"{what} not available: {', '.join(missing)} missing in {folder}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " (CI must provide it)")
        pytest.skip(msg)
    return folder


def shared_mnist(names=(TEST_IMAGES, TEST_LABELS, TRAIN_LABELS)) -> Path:
    """<$DLP_DATA_DIR>/mnist, the shared folder `make test` points at (../shared/data)."""
    root = os.environ.get("DLP_DATA_DIR")
    if not root:
        msg = "DLP_DATA_DIR is not set: run the tests with `make test`, which points it at ../shared/data"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return _need(Path(root) / "mnist", list(names), "shared MNIST files")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- fetch -----------------------------------------------------------------------------------------
def test_fetch_success_writes_the_exact_bytes_that_read_idx_reads(tmp_path):
    src = shared_mnist() / TEST_IMAGES
    data = src.read_bytes()
    with serve({"/m/" + TEST_IMAGES: (data, "ok")}) as (srv, base):
        path = fetch(TEST_IMAGES, [base + "m/" + TEST_IMAGES], mnist.SHA256[TEST_IMAGES], tmp_path)
    assert path == tmp_path / TEST_IMAGES
    assert path.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == [TEST_IMAGES]  # no temp file left behind
    x = read_idx(path)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    # A file already in place is returned without asking any server.
    assert fetch(TEST_IMAGES, ["http://127.0.0.1:9/never"], mnist.SHA256[TEST_IMAGES], tmp_path) == path


def test_fetch_wrong_checksum_deletes_the_file_and_names_the_url(tmp_path):
    data = b"not the file you are looking for\n" * 100
    dest = tmp_path / "dest"
    with serve({"/m/f.gz": (data, "ok")}) as (srv, base):
        with pytest.raises(UserError) as e:
            fetch("f.gz", [base + "m/f.gz"], "0" * 64, dest)
    msg = str(e.value)
    assert base + "m/f.gz" in msg and "checksum did not match" in msg and sha(data) in msg and "0" * 64 in msg
    assert list(dest.iterdir()) == []  # nothing left: neither the file nor a temp file


def test_fetch_server_dying_mid_transfer_is_a_failed_mirror_and_the_next_one_is_used(tmp_path):
    data = os.urandom(300_000)
    routes = {"/dead/f.bin": (data, "half"), "/good/f.bin": (data, "ok")}
    with serve(routes) as (srv, base):
        with pytest.raises(UserError) as e:
            fetch("f.bin", [base + "dead/f.bin"], sha(data), tmp_path)
        assert "after 150000 of 300000 bytes" in str(e.value) and base + "dead/f.bin" in str(e.value)
        assert list(tmp_path.iterdir()) == []  # the partial file is gone

        # 404, then the dying server, then a good mirror: the good one delivers, in that order.
        urls = [base + "nothere/f.bin", base + "dead/f.bin", base + "good/f.bin"]
        path = fetch("f.bin", urls, sha(data), tmp_path)
        assert srv.requests[-3:] == ["/nothere/f.bin", "/dead/f.bin", "/good/f.bin"]
    assert path.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_fetch_reports_every_failed_mirror_including_timeouts_and_refusals(tmp_path):
    data = b"x" * 1000
    with serve({"/slow/f": (data, "stall")}) as (srv, base):
        dead_port = f"http://127.0.0.1:{_free_port()}/f"
        t0 = time.perf_counter()
        with pytest.raises(UserError) as e:
            fetch("f", [base + "slow/f", base + "missing/f", dead_port], sha(data), tmp_path, timeout=0.3)
        assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    assert "could not download f" in msg
    assert f"{base}slow/f: transfer failed" in msg
    assert f"{base}missing/f: server answered HTTP 404" in msg
    assert f"{dead_port}: could not connect" in msg
    assert list(tmp_path.iterdir()) == []


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_fetch_never_writes_outside_dest_dir(tmp_path):
    for bad in ["../escape", "sub/file", "/etc/passwd", "..", ""]:
        with pytest.raises(ValueError):
            fetch(bad, ["http://127.0.0.1:9/x"], "0" * 64, tmp_path / "dest")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "dest").exists()


def test_mirrors_from_env(monkeypatch):
    monkeypatch.delenv("DLP_TEST_MIRRORS", raising=False)
    assert mirrors_from_env("DLP_TEST_MIRRORS", ["http://a/x/"]) == ["http://a/x/"]
    monkeypatch.setenv("DLP_TEST_MIRRORS", " http://b/y , http://c/z/ ,")
    assert mirrors_from_env("DLP_TEST_MIRRORS", ["http://a/x/"]) == ["http://b/y/", "http://c/z/"]
    assert mnist.MIRRORS == ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]


def test_ensure_files_downloads_only_what_is_missing(tmp_path):
    a, b = b"alpha" * 100, b"beta" * 100
    (tmp_path / "a").write_bytes(a)
    with serve({"/m/a": (a, "ok"), "/m/b": (b, "ok")}) as (srv, base):
        got = ensure_files(tmp_path, {"a": sha(a), "b": sha(b)}, [base + "m"])
    assert got == {"a": tmp_path / "a", "b": tmp_path / "b"}
    assert srv.requests == ["/m/b"] and (tmp_path / "b").read_bytes() == b


# -- MNIST end to end ------------------------------------------------------------------------------
@pytest.fixture
def mnist_env(tmp_path, monkeypatch):
    """A data folder holding the three shared MNIST files (not the train images), an empty cache, and a
    loopback server as the only mirror: Fashion-MNIST's train images stand in for MNIST's."""
    shared = shared_mnist()
    fashion = _need(DEBIAN_FASHION, [TRAIN_IMAGES], "Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    data_dir = tmp_path / "data"
    (data_dir / "mnist").mkdir(parents=True)
    for name in (TEST_IMAGES, TEST_LABELS, TRAIN_LABELS):
        (data_dir / "mnist" / name).symlink_to(shared / name)
    monkeypatch.setattr(paths, "DATA_DIR", None)
    monkeypatch.setenv("DLP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DLP_CACHE_DIR", str(tmp_path / "cache"))
    stand_in = (fashion / TRAIN_IMAGES).read_bytes()
    routes = {"/m/" + TRAIN_IMAGES: (stand_in, "ok")}
    routes.update({"/m/" + n: ((shared / n).read_bytes(), "ok") for n in (TEST_IMAGES, TEST_LABELS, TRAIN_LABELS)})
    with serve(routes) as (srv, base):
        # A dead mirror first: the loader falls through to the second one.
        monkeypatch.setenv("DLP_MNIST_MIRRORS", f"{base}gone/,{base}m/")
        checksums = {**mnist.SHA256, TRAIN_IMAGES: sha(stand_in)}  # this test's stand-in, not MNIST's
        yield srv, data_dir, tmp_path / "cache" / "mnist", checksums


def test_mnist_downloads_only_the_missing_file_into_the_cache_and_loads(mnist_env):
    srv, data_dir, cache, checksums = mnist_env
    files = mnist.mnist_files(checksums)
    assert srv.requests == ["/gone/" + TRAIN_IMAGES, "/m/" + TRAIN_IMAGES]
    assert files[TRAIN_IMAGES] == cache / TRAIN_IMAGES
    assert {files[n] for n in (TEST_IMAGES, TEST_LABELS, TRAIN_LABELS)} == {
        data_dir / "mnist" / n for n in (TEST_IMAGES, TEST_LABELS, TRAIN_LABELS)}
    assert sorted(os.listdir(cache)) == [TRAIN_IMAGES]  # read-only data folder untouched, no temp files

    # The registered loader finds the files (two folders) and downloads nothing more.
    bundle = load_dataset(DataConfig(dataset="mnist"), input_size=28)
    assert len(srv.requests) == 2
    tr, va, te = (bundle.splits[k] for k in ("train", "val", "test"))
    assert len(tr) + len(va) == 60000 and len(te) == 10000
    assert tuple(tr.x.shape[1:]) == (1, 28, 28) and tuple(te.x.shape[1:]) == (1, 28, 28)
    assert te.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    m = bundle.meta
    assert m["dataset"] == "mnist" and m["num_classes"] == 10 and m["classes"] == [str(i) for i in range(10)]
    assert m["polarity"] == "light-on-dark" and m["task"] == "classification" and m["in_channels"] == 1


def test_mnist_with_an_empty_data_folder_downloads_all_four(mnist_env, monkeypatch, tmp_path):
    srv, _, cache, checksums = mnist_env
    monkeypatch.setenv("DLP_DATA_DIR", str(tmp_path / "empty"))
    files = mnist.mnist_files(checksums)
    assert sorted(srv.requests) == sorted(["/gone/" + n for n in checksums] + ["/m/" + n for n in checksums])
    assert files == {n: cache / n for n in checksums}


def test_mnist_download_failure_is_a_clear_user_error(mnist_env, monkeypatch):
    srv, _, cache, _ = mnist_env
    with pytest.raises(UserError) as e:
        mnist.mnist_files()  # the real checksum: the stand-in train images are refused
    msg = str(e.value)
    assert TRAIN_IMAGES in msg and "checksum did not match" in msg and "DLP_MNIST_MIRRORS" in msg
    assert "/gone/" + TRAIN_IMAGES in msg and "HTTP 404" in msg
    assert list(cache.iterdir()) == []


# -- read_idx --------------------------------------------------------------------------------------
def test_read_idx_on_the_real_mnist_test_files():
    folder = shared_mnist((TEST_IMAGES, TEST_LABELS))
    x, y = read_idx(folder / TEST_IMAGES), read_idx(folder / TEST_LABELS)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and y.shape == (10000,)
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x.max() == 255 and x.min() == 0


def test_read_idx_on_truncated_files_names_the_path(tmp_path):
    raw = gzip.decompress((shared_mnist((TEST_LABELS,)) / TEST_LABELS).read_bytes())
    cut_gz = tmp_path / "cut-labels.gz"
    cut_gz.write_bytes(gzip.compress(raw)[:2000])  # a download stopped half way
    with pytest.raises(UserError, match="cut-labels.gz") as e:
        read_idx(cut_gz)
    assert "corrupt" in str(e.value)
    cut_raw = tmp_path / "cut-labels"
    cut_raw.write_bytes(raw[:5000])
    with pytest.raises(UserError, match="truncated") as e:
        read_idx(cut_raw)
    assert str(cut_raw) in str(e.value)
