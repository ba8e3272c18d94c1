"""Loopback load test of `dlp serve`: a bounded number of POST /predict requests at a fixed concurrency.

The server runs as a real `dlp serve RUN --port 0` child process (one torch thread); the client is one
asyncio process with `--concurrency` requests in flight until `--requests` have been answered (it stops
by itself). Each configuration is measured with micro-batching on (`--max-batch 64`) and off
(`--max-batch 1`), after 100 warm-up requests, and the table reports requests/s, p50 / p99 latency and
the mean rows per forward pass (from /health). Inputs: Fashion-MNIST test images as PNG for image runs,
surnames for name runs, rows of the diabetes CSV for table runs.

    python bench/serve_load.py RUN                      # 2,000 requests at concurrency 16
    python bench/serve_load.py                          # trains a 1-epoch course_cnn on Fashion-MNIST first
    python bench/serve_load.py RUN --requests 200       # smoke run
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

import httpx

NAMES = ["Nakamura", "Müller", "O'Neill", "Ivanov", "Rossi", "Schmidt", "Nguyen", "Kowalski", "Papadopoulos", "Smith"]


def bodies(run: Path) -> list[dict]:
    """Request bodies (httpx keyword arguments) matching the run's input kind."""
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
            out.append({"content": b.getvalue(), "headers": {"content-type": "image/png"}})
        return out
    if meta["input"] == "sequence":
        return [{"json": [n]} for n in NAMES]
    import gzip

    from dlpractice.data.tabular import diabetes_file
    lines = gzip.open(diabetes_file(), "rt").read().splitlines()[:64]
    return [{"json": {"rows": [line.split(",")]}} for line in lines]


def start(run: Path, max_batch: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "dlpractice", "serve", str(run), "--port", "0",
                          "--max-batch", str(max_batch)], stdout=subprocess.PIPE, text=True, env=env)
    m = re.search(r"at (http://\S+?)/ ", p.stdout.readline())
    if not m:
        p.kill()
        raise SystemExit("dlp serve did not print its URL")
    return p, m.group(1)


async def load(url: str, reqs: list[dict], n: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    left = iter(range(n))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def worker():
            for i in left:
                t = time.perf_counter()
                r = await client.post(f"{url}/predict", **reqs[i % len(reqs)])
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise SystemExit(f"request {i}: HTTP {r.status_code} {r.text[:200]}")
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, latencies


def measure(run: Path, reqs: list[dict], n: int, concurrency: int, max_batch: int) -> dict:
    p, url = start(run, max_batch)
    try:
        asyncio.run(load(url, reqs, 100, concurrency))                       # warm-up
        before = httpx.get(f"{url}/health").json()
        wall, lat = asyncio.run(load(url, reqs, n, concurrency))
        after = httpx.get(f"{url}/health").json()
    finally:
        p.terminate()
        p.wait(timeout=10)
    lat_ms = sorted(x * 1000 for x in lat)
    batches = after["batches"] - before["batches"]
    return {"max_batch": max_batch, "requests": n, "rps": n / wall, "p50": statistics.median(lat_ms),
            "p99": lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))],
            "rows_per_pass": (after["requests"] - before["requests"]) / max(batches, 1)}


def default_run(tmp: Path) -> Path:
    from dlpractice.config import load_config
    from dlpractice.train.loop import train
    cfg = load_config(overrides=["data.dataset=fashion-mnist", "model.name=course_cnn", "train.epochs=1",
                                 "data.limit_train=3000", "log.progress=false", "log.loggers=['csv']"])
    return Path(train(cfg, out=tmp / "run").folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", nargs="?", default=None, help="run folder (default: train a 1-epoch course_cnn)")
    ap.add_argument("--requests", type=int, default=2000, help="requests per configuration")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.run) if args.run else default_run(Path(tmp))
        reqs = bodies(run)
        summary = json.loads((run / "summary.json").read_text())
        rows = [measure(run, reqs, args.requests, args.concurrency, mb) for mb in (64, 1)]
    print(f"\n`dlp serve` loopback load: {summary.get('model')} on {summary.get('dataset')}, {args.requests} "
          f"requests at concurrency {args.concurrency}, server and client on {platform.machine()} "
          f"({os.cpu_count()} cores shared), {time.strftime('%Y-%m-%d')}\n")
    print("| micro-batching | requests/s | p50 latency (ms) | p99 latency (ms) | rows per forward pass |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        label = f"on (--max-batch {r['max_batch']})" if r["max_batch"] > 1 else "off (--max-batch 1)"
        print(f"| {label} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['rows_per_pass']:.1f} |")


if __name__ == "__main__":
    main()
