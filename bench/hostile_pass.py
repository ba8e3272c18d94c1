"""A hostile user's pass over the real `dlp`: bad settings, damaged data files and checkpoints, run folders
that hold the user's files, and hostile HTTP requests to a real `dlp serve`.

    python bench/hostile_pass.py [--work DIR]

Every input must end in one of two ways: accepted (exit 0, or a 2xx answer) where it is valid, or one
line `error: ...` with exit 2 (a 4xx `{"error": ...}` over HTTP) where it is not. Counted and printed:
tracebacks, silent accepts (a bad input that exited 0), other exit codes, files of the user's changed,
5xx answers and error bodies without "error". Exits 1 if any count is not 0.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

QUICK = ["--set", "train.epochs=1", "--set", "data.limit_train=64", "--set", "log.progress=false",
         "--set", "train.threads=1"]
DEEP = "[" * 50_000 + "]" * 50_000

# (what, arguments, must be refused)
SETTINGS = [(f"--set {s}", ["train", "--set", s, *QUICK], True) for s in [
    "train.seed=-1", "train.seed=4294967296", "data.val_fraction=nan", "schedule.pct_start=nan",
    "model.args.dropout=2", "model.args.hidden=[-1]", "model.args.hidden=[0]", "train.label_smoothing=2",
    "train.threads=100000", "optim.lr=1e308", "optim.lr=-1", "optim.lr=inf", "train.ema=nan", "train.ema=1.5",
    "optim.momentum=2.0", "schedule.gamma=nan", "optim.weight_decay=inf", "train.epochs=0", "data.batch_size=0",
    'optim.name="adamm"', 'model.name="lenet_bm"', 'schedule.name="cosin"', 'data.dataset="digitz"',
    'train.device="tpu"', "data.augment=['spin']", "train.early_stopping=-1", "train.checkpoint_every=-1",
    "data.options.colour=1", "optim.lrr=0.1", "trian.epochs=2", f"model.args.x={DEEP}", 'log.name="a/b"',
    "data.val_fraction=1.0", "schedule.step_size=0", "train.epochs=1e9", 'train.precision="fp8"',
]] + [(f"--set {s} (mlp)", ["train", "--set", 'model.name="mlp"', "--set", s, *QUICK], True) for s in [
    "model.args.hidden=[0]", "model.args.hidden=[-3]", "model.args.hidden=[1.5]", "model.args.members=0",
    "model.args.members=1000", "model.args.flip_average=2",
]] + [
    ("a valid quick run", ["train", *QUICK], False),
    ("data.limit_train=1 with BatchNorm", ["train", "--set", "data.limit_train=1", "--set", "train.epochs=1",
                                            "--set", "log.progress=false"], None),
    ("data.val_fraction=0.001", ["train", "--set", "data.val_fraction=0.001", *QUICK], None),
    ("--out of 300 characters", ["train", "--out", "n" * 300, *QUICK], True),
    ("--device tpu", ["train", "--device", "tpu", *QUICK], True),
    ("--resume of a missing folder", ["train", "--resume", "no-such-run"], True),
    ("lesson 99", ["lesson", "99"], True),
    ("lesson nope", ["lesson", "nope"], True),
    ("unknown command", ["trian"], True),
    ("--data-dir missing, names", ["--data-dir", "/nonexistent", "train", "--set", 'data.dataset="names-tutorial"',
                                   "--set", 'model.name="rnn_classifier"', *QUICK], None),
]


def dlp(args, cwd: Path, timeout: int = 300, env=None) -> subprocess.CompletedProcess:
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "dlpractice", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=e)


class Tally:
    def __init__(self):
        self.tried, self.rows = 0, []
        self.counts = {"tracebacks": 0, "silent accepts": 0, "other exit codes": 0, "user files changed": 0,
                       "5xx": 0, "error bodies without 'error'": 0}

    def cli(self, what: str, r: subprocess.CompletedProcess, refuse: bool | None) -> None:
        self.tried += 1
        bad = []
        if "Traceback" in r.stderr:
            bad.append("tracebacks")
        if r.returncode not in (0, 2):
            bad.append("other exit codes")
        elif r.returncode == 0 and refuse:
            bad.append("silent accepts")
        elif r.returncode == 2 and len([ln for ln in r.stderr.splitlines() if ln.strip()]) != 1:
            bad.append("tracebacks" if "Traceback" in r.stderr else "other exit codes")
        for b in dict.fromkeys(bad):
            self.counts[b] += 1
        self.rows.append((what, r.returncode, (r.stderr.strip().splitlines() or [""])[-1][:110], bad))

    def http(self, what: str, status: int, body) -> None:
        self.tried += 1
        bad = []
        if status >= 500 and status != 503:
            bad.append("5xx")
        if status >= 400 and not (isinstance(body, dict) and set(body) == {"error"}):
            bad.append("error bodies without 'error'")
        for b in bad:
            self.counts[b] += 1
        self.rows.append((what, status, json.dumps(body)[:110], bad))


def run_settings(t: Tally, work: Path) -> None:
    def one(item):
        what, args, refuse = item
        folder = work / re.sub(r"\W+", "_", what)[:60]
        folder.mkdir(parents=True, exist_ok=True)
        return what, dlp(args, folder), refuse
    with ThreadPoolExecutor(2) as pool:
        for what, r, refuse in pool.map(one, SETTINGS):
            t.cli(what, r, refuse)


def run_files(t: Tally, work: Path) -> Path:
    """Damaged data files, a user's folder as --out, damaged checkpoints; returns a good run folder."""
    import gzip
    good = work / "good"
    r = dlp(["train", "--out", good, *QUICK], work)
    assert r.returncode == 0, r.stderr
    csv_gz = work / "broken.csv.gz"
    csv_gz.write_bytes(gzip.compress(b"a,b,y\n" + b"1,2,0\n3,4,1\n" * 200)[:-40])
    for what, args in [
        ("csv: a cut-off gzip", ["--set", 'data.dataset="csv"', "--set", f'data.options.path="{csv_gz}"']),
        ("csv: not gzip at all", ["--set", 'data.dataset="csv"', "--set", f'data.options.path="{work / "x.csv.gz"}"']),
        ("csv: delimiter empty", ["--set", 'data.dataset="csv"', "--set", f'data.options.path="{csv_gz}"',
                                  "--set", 'data.options.delimiter=""']),
        ("text-csv: lowercase yes", ["--set", 'data.dataset="text-csv"', "--set", f'data.options.path="{csv_gz}"',
                                     "--set", 'data.options.lowercase="yes"', "--set", 'model.name="rnn_classifier"']),
        ("image-folder: size 0", ["--set", 'data.dataset="image-folder"', "--set", f'data.options.path="{work}"',
                                  "--set", "data.options.size=0"]),
    ]:
        (work / "x.csv.gz").write_text("plain text, not gzip\n")
        t.cli(what, dlp(["train", *args, *QUICK], work), True)
    mine = work / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text('{"mine": true}')
    (mine / "report.html").write_text("<p>mine</p>")
    r = dlp(["train", "--out", mine, *QUICK], work)
    t.cli("--out at a folder of the user's files", r, True)
    if (mine / "summary.json").read_text() != '{"mine": true}' or (mine / "report.html").read_text() != "<p>mine</p>":
        t.counts["user files changed"] += 1
    before = (good / "summary.json").read_bytes()
    t.cli("--resume of a finished run", dlp(["train", "--resume", good], work), False)
    if (good / "summary.json").read_bytes() != before:
        t.counts["user files changed"] += 1
    best = good / "checkpoints" / "best.pt"
    data = best.read_bytes()
    png = work / "digit.png"
    from PIL import Image
    Image.new("L", (8, 8), 200).save(png)
    for i, at in enumerate(range(100, len(data), max(1, len(data) // 23))):
        flipped = bytearray(data)
        flipped[at] ^= 0xFF
        best.write_bytes(bytes(flipped))
        t.cli(f"best.pt with byte {at} flipped", dlp(["predict", good, png], work), True)
    for what, content in [("best.pt empty", b""), ("best.pt cut in half", data[:len(data) // 2])]:
        best.write_bytes(content)
        t.cli(what, dlp(["predict", good, png], work), True)
    best.unlink()
    best.symlink_to(good / "checkpoints" / "last.pt")
    t.cli("best.pt a symlink", dlp(["predict", good, png], work), True)
    best.unlink()
    best.write_bytes(data)
    for what, args in [("predict --top 0", ["predict", good, png, "--top", "0"]),
                       ("predict --top -1", ["predict", good, png, "--top", "-1"]),
                       ("predict a missing image", ["predict", good, work / "nope.png"]),
                       ("predict a text file as image", ["predict", good, csv_gz]),
                       ("serve --port 70000", ["serve", good, "--port", "70000"]),
                       ("predict a folder that is not a run", ["predict", work, png])]:
        t.cli(what, dlp(args, work), True)
    return good


def run_http(t: Tally, run: Path, work: Path) -> None:
    p = subprocess.Popen([sys.executable, "-m", "dlpractice", "serve", str(run), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
    try:
        base = re.search(r"at (http://\S+/) ", p.stdout.readline()).group(1)
        from PIL import Image
        import io
        buf = io.BytesIO()
        Image.new("L", (8, 8), 200).save(buf, "PNG")
        png = buf.getvalue()
        requests = [
            ("POST /predict empty body", "predict", b"", "image/png"),
            ("POST /predict JSON to an image run", "predict", b"[1, 2]", "application/json"),
            ("POST /predict truncated PNG", "predict", png[:20], "image/png"),
            ("POST /predict text as PNG", "predict", b"hello", "image/png"),
            ("POST /predict no content type", "predict", png, ""),
            ("POST /predict?top=0", "predict?top=0", png, "image/png"),
            ("POST /predict?top=abc", "predict?top=abc", png, "image/png"),
            ("POST /predict broken multipart", "predict", b"--x\r\n\r\n", "multipart/form-data; boundary=x"),
            ("POST /predict huge declared image", "predict", png[:16] + (60000).to_bytes(4, "big") * 2 + png[24:],
             "image/png"),
            ("GET /nope", "nope", None, ""),
            ("POST /model", "model", b"{}", "application/json"),
            ("POST /predict valid", "predict", png, "image/png"),
        ]
        for what, path, body, ctype in requests:
            req = urllib.request.Request(base + path, data=body, headers={"Content-Type": ctype} if ctype else {},
                                         method="POST" if body is not None else "GET")
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    t.http(what, r.status, json.loads(r.read()))
            except urllib.error.HTTPError as e:
                raw = e.read()
                try:
                    t.http(what, e.code, json.loads(raw))
                except ValueError:
                    t.http(what, e.code, raw.decode(errors="replace"))
    finally:
        p.terminate()
        p.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temp folder)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="dlp-hostile-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0, t = time.time(), Tally()
    run_settings(t, work / "settings")
    good = run_files(t, work)
    run_http(t, good, work)
    for what, code, last, bad in t.rows:
        print(f"{'!!' if bad else 'ok'} {code:>3}  {what[:50]:<50}  {last}")
    print(f"\n{t.tried} inputs in {time.time() - t0:.0f} s: " + ", ".join(f"{k} {v}" for k, v in t.counts.items()))
    return 1 if any(t.counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
