"""Loopback load test of `dlp serve`: a bounded number of POST /predict requests at a fixed concurrency.

The server runs as a real `dlp serve RUN --port 0` child process (one torch thread, and its default worker
process that decodes requests: one on 2 cores; `--serve="--workers 0"` passes flags to it); the client is
one asyncio process with `--concurrency` keep-alive HTTP/1.1 connections, each with one request in flight,
until `--requests` have been answered (it stops by itself). The client is lean on purpose: it writes each
request's bytes (request line, headers, body) once built and reads back the status line, headers and the
whole `Content-Length` body of every answer, so each latency is a full HTTP round trip; a general client
(httpx spent ~5 ms of CPU per request here) would share the 2 cores with the server and measure mostly
itself. Each configuration is measured with micro-batching on (`--max-batch 64`) and off (`--max-batch 1`),
after 100 warm-up requests, and the table reports requests/s, p50 / p99 latency and the mean rows per
forward pass (from /health). `--repeat N` measures each configuration N times (a fresh server each time)
and reports the medians. Inputs: Fashion-MNIST test images as PNG for image runs, surnames for name runs,
rows of the diabetes CSV for table runs.

    python bench/serve_load.py RUN                      # 2,000 requests at concurrency 16
    python bench/serve_load.py                          # trains a 1-epoch course_cnn on Fashion-MNIST first
    python bench/serve_load.py RUN --requests 200       # smoke run
    python bench/serve_load.py RUN --repeat 3           # medians of 3 runs
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import urllib.request

NAMES = ["Nakamura", "Müller", "O'Neill", "Ivanov", "Rossi", "Schmidt", "Nguyen", "Kowalski", "Papadopoulos", "Smith"]


def bodies(run: Path) -> list[tuple[str, bytes]]:
    """Request bodies (Content-Type, bytes) matching the run's input kind."""
    meta = json.loads((run / "data.json").read_text())
    if meta["input"] == "image":
        from PIL import Image

        from dlpractice.data.idx import read_idx
        from dlpractice.data.paths import find_data
        from dlpractice.data.vision import DEBIAN_FASHION
        folder = find_data("fashion-mnist", ["t10k-images-idx3-ubyte.gz"], extra=[DEBIAN_FASHION])
        out = []
        for img in read_idx(folder / "t10k-images-idx3-ubyte.gz")[:64]:
            b = io.BytesIO()
            Image.fromarray(img).save(b, "PNG")
            out.append(("image/png", b.getvalue()))
        return out
    if meta["input"] == "sequence":
        return [("application/json", json.dumps([n]).encode()) for n in NAMES]
    import gzip

    from dlpractice.data.tabular import diabetes_file
    lines = gzip.open(diabetes_file(), "rt").read().splitlines()[:64]
    return [("application/json", json.dumps({"rows": [line.split(",")]}).encode()) for line in lines]


def raw_requests(host: str, bodies: list[tuple[str, bytes]]) -> list[bytes]:
    """Each body as the bytes of one keep-alive HTTP/1.1 POST /predict request."""
    return [f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}"
            "\r\n\r\n".encode() + body for ctype, body in bodies]


def start(run: Path, max_batch: int, flags: list[str] = ()) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "dlpractice", "serve", str(run), "--port", "0",
                          "--max-batch", str(max_batch), *flags], stdout=subprocess.PIPE, text=True, env=env)
    m = re.search(r"at (http://\S+?)/ ", p.stdout.readline())
    if not m:
        p.kill()
        raise SystemExit("dlp serve did not print its URL")
    return p, m.group(1)


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response: (status, body), the body read to its Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    if length is None:
        raise SystemExit(f"an answer without Content-Length: {head[:200]!r}")
    return status, await reader.readexactly(int(length.group(1)))


async def load(url: str, reqs: list[bytes], n: int, concurrency: int) -> tuple[float, list[float]]:
    """`n` requests over `concurrency` connections: (seconds for all, each request's seconds)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    left = iter(range(n))
    conns = [await asyncio.open_connection(host.strip("[]"), int(port)) for _ in range(concurrency)]

    async def worker(reader, writer):
        for i in left:
            t = time.perf_counter()
            writer.write(reqs[i % len(reqs)])
            status, body = await answer(reader)
            latencies.append(time.perf_counter() - t)
            if status != 200 or not body.startswith(b"["):
                raise SystemExit(f"request {i}: HTTP {status} {body[:200]!r}")
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker(r, w) for r, w in conns))
    finally:
        for _, w in conns:
            w.close()
    return time.perf_counter() - t0, latencies


def health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/health", timeout=60) as r:
        return json.loads(r.read())


def measure(run: Path, bodies: list[tuple[str, bytes]], n: int, concurrency: int, max_batch: int,
            flags: list[str] = ()) -> dict:
    p, url = start(run, max_batch, flags)
    try:
        reqs = raw_requests(url.removeprefix("http://"), bodies)
        asyncio.run(load(url, reqs, 100, concurrency))                       # warm-up
        before = health(url)
        wall, lat = asyncio.run(load(url, reqs, n, concurrency))
        after = health(url)
    finally:
        p.terminate()
        p.wait(timeout=10)
    lat_ms = sorted(x * 1000 for x in lat)
    batches = after["batches"] - before["batches"]
    return {"max_batch": max_batch, "requests": n, "rps": n / wall, "p50": statistics.median(lat_ms),
            "p99": lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))],
            "rows_per_pass": (after["requests"] - before["requests"]) / max(batches, 1)}


def median_row(rows: list[dict]) -> dict:
    """The median of each figure over repeated measurements of one configuration."""
    return {k: statistics.median(r[k] for r in rows) if k not in ("max_batch", "requests") else rows[0][k]
            for k in rows[0]}


def default_run(tmp: Path) -> Path:
    from dlpractice.config import load_config
    from dlpractice.train.loop import train
    cfg = load_config(overrides=["data.dataset=fashion-mnist", "model.name=course_cnn", "train.epochs=1",
                                 "data.limit_train=3000", "log.progress=false", "log.loggers=['csv']"])
    return Path(train(cfg, out=tmp / "run").folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("run", nargs="?", default=None, help="run folder (default: train a 1-epoch course_cnn)")
    ap.add_argument("--requests", type=int, default=2000, help="requests per configuration")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    ap.add_argument("--repeat", type=int, default=1, help="measurements per configuration (the table: medians)")
    ap.add_argument("--serve", default="", metavar="FLAGS",
                    help="more flags for dlp serve, e.g. --serve=\"--workers 0\"")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else default_run(Path(tmp))
        reqs = bodies(run)
        summary = json.loads((run / "summary.json").read_text())
        rows = []
        for mb in (64, 1):
            runs = [measure(run, reqs, args.requests, args.concurrency, mb, args.serve.split())
                    for _ in range(args.repeat)]
            for r in runs if args.repeat > 1 else []:
                print(f"--max-batch {mb}: {r['rps']:.0f} requests/s, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
                      f"{r['rows_per_pass']:.1f} rows per pass", flush=True)
            rows.append(median_row(runs))
    print(f"\n`dlp serve` loopback load: {summary.get('model')} on {summary.get('dataset')}, {args.requests} "
          f"requests at concurrency {args.concurrency}"
          f"{f' (medians of {args.repeat} runs)' if args.repeat > 1 else ''}"
          f"{f', dlp serve {args.serve}' if args.serve else ''}, server and client on {platform.machine()} "
          f"({os.cpu_count()} cores shared), {time.strftime('%Y-%m-%d')}\n")
    print("| micro-batching | requests/s | p50 latency (ms) | p99 latency (ms) | rows per forward pass |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        label = f"on (--max-batch {r['max_batch']})" if r["max_batch"] > 1 else "off (--max-batch 1)"
        print(f"| {label} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['rows_per_pass']:.1f} |")


if __name__ == "__main__":
    main()
