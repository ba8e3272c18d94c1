"""Behaviour snapshot: what a user sees from the quick lessons, predict, serve and export, as one JSON.

Used to prove that a move-only change (issue 17, the layer redesign) changes no behaviour: run it
before and after on the same machine and compare.

    python bench/behaviour_snapshot.py --work /tmp/snap-before --json before.json
    python bench/behaviour_snapshot.py --work /tmp/snap-after --json after.json --compare before.json

It runs, through the real `dlp` command (`python -m dlpractice`, one thread, DLP_DATA_DIR as given):
`dlp demo`, `dlp lesson N --quick` for lectures 1–13, `dlp lesson titanic|names_tuned|gan --quick`; then
on those runs `dlp predict` (image, tabular, tabular-derived, sequence), `dlp sample` (noise), one
`POST /predict` per input kind against a real `dlp serve`, and `dlp export --check`. Recorded: the
sha256 of every metrics.csv (deterministic values only; timings live in timing.csv), of every
result/cv/comparison JSON with its timing and path fields dropped, the predict and export output
lines, the sample PNG's sha256 and the HTTP answers. `--compare` prints each difference and exits 1
when there is one.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

LESSONS = [str(n) for n in range(1, 14)] + ["titanic", "names_tuned", "gan"]
# Keys whose values are timings, paths or versions, or (lecture 3's race, lecture 8's epoch timing) what a
# wall-clock budget reached: they differ from run to run on any code.
VOLATILE = re.compile(r"second|time|folder|path|date|version|run$|runs_dir|out$|per_s|_ms_|budget|"
                      r"^(gd|sgd|minibatch)_(final_cost|samples|updates)", re.I)


def dlp(*args: str, env: dict, check: bool = True) -> str:
    p = subprocess.run([sys.executable, "-m", "dlpractice", *args], env=env, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"dlp {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stable(value):
    """A JSON value with its timing, path and version fields dropped (they differ run to run)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in sorted(value.items()) if not VOLATILE.search(k)}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def run_files(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.rglob("metrics.csv")):
        out[str(p.relative_to(folder))] = sha(p.read_bytes())
    for p in sorted(folder.rglob("*.json")):   # result, cv, comparison, lesson, summary, data, per-class ...
        out[str(p.relative_to(folder))] = sha(json.dumps(stable(json.loads(p.read_text())),
                                                         sort_keys=True).encode())
    for p in sorted(folder.rglob("*.md")):     # report tables (final_loss.md, ...), timing rows left out
        lines = [ln for ln in p.read_text().splitlines() if not VOLATILE.search(ln.split("|")[1] if "|" in ln else "")]
        out[str(p.relative_to(folder))] = sha("\n".join(lines).encode())
    return out


def make_inputs(work: Path, data_dir: Path) -> dict:
    """Three digit PNGs, five diabetes rows, five Titanic test rows (and their JSON forms)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    inputs = work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    images = []
    for i in (0, 1, 2):
        p = inputs / f"digit{i}.png"
        Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).resize((28, 28)).save(p)
        images.append(str(p))
    lines = gzip.open(data_dir / "diabetes" / "diabetes.csv.gz", "rt").read().splitlines()[:5]
    (inputs / "diabetes.csv").write_text("\n".join(lines) + "\n")
    titanic = (data_dir / "titanic" / "test.csv").read_text().splitlines()[:6]
    (inputs / "titanic.csv").write_text("\n".join(titanic) + "\n")
    import csv
    rows = list(csv.DictReader(titanic))
    return {"images": images, "diabetes_csv": str(inputs / "diabetes.csv"),
            "diabetes_rows": [[float(v) for v in line.split(",")[:-1]] for line in lines],
            "titanic_csv": str(inputs / "titanic.csv"), "titanic_rows": rows,
            "names": ["Nakamura", "Müller", "O'Neill", "Smith", "Zhang"]}


def post(url: str, body: bytes, content_type: str) -> dict:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return {"status": r.status, "body": json.loads(r.read())}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": json.loads(e.read())}


def serve_answers(run: Path, requests: list[tuple[bytes, str]], env: dict) -> list:
    p = subprocess.Popen([sys.executable, "-m", "dlpractice", "serve", str(run), "--port", "0"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = p.stdout.readline()
        m = re.search(r"at (http://\S+/) ", line)
        if not m:
            raise SystemExit(f"dlp serve {run} did not start: {line}{p.stdout.read()}")
        base = m.group(1)
        with urllib.request.urlopen(base + "model", timeout=60) as r:
            info = stable(json.loads(r.read()))
        return [info] + [post(base + "predict", body, ctype) for body, ctype in requests]
    finally:
        p.terminate()
        p.wait(timeout=30)


def snapshot(work: Path, data_dir: Path) -> dict:
    env = {**os.environ, "DLP_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    work.mkdir(parents=True, exist_ok=True)
    snap: dict = {"runs": {}, "predict": {}, "serve": {}, "export": {}}
    folders = {}
    t0 = time.time()
    folders["demo"] = work / "demo"
    if not (folders["demo"] / "summary.json").is_file():
        dlp("demo", "--out", str(work / "demo"), env=env)
    for name in LESSONS:   # a lesson already run into --work (lesson.json written) is kept
        folders[name] = work / f"lesson-{name}"
        if not (folders[name] / "lesson.json").is_file():
            dlp("lesson", name, "--quick", "--out", str(folders[name]), env=env)
        print(f"  lesson {name} --quick ({time.time() - t0:.0f} s)", flush=True)
    for name, folder in folders.items():
        snap["runs"][name] = run_files(folder)
    inp = make_inputs(work, data_dir)
    image_run, fashion_run = folders["demo"], folders["10"]
    tabular_run = folders["7"] / "fold0"
    derived_run, names_run, gan_run = folders["titanic"] / "fold0", folders["names_tuned"], folders["gan"]
    p = snap["predict"]
    p["image"] = dlp("predict", str(image_run), *inp["images"], "--json", env=env)
    p["image-fashion"] = dlp("predict", str(fashion_run), *inp["images"], "--json", env=env)
    p["tabular"] = dlp("predict", str(tabular_run), "--csv", inp["diabetes_csv"], "--json", env=env)
    p["tabular-derived"] = dlp("predict", str(derived_run), "--csv", inp["titanic_csv"], "--json", env=env)
    p["sequence"] = dlp("predict", str(names_run), "--text", *inp["names"], "--json", env=env)
    sample = work / "sample.png"
    dlp("sample", str(gan_run), "-n", "16", "--out", str(sample), env=env)
    p["noise"] = sha(sample.read_bytes())
    p["evaluate"] = dlp("evaluate", str(image_run), "--json", env=env)
    for k, v in p.items():   # inputs are named by their path, which holds the work folder
        p[k] = v.replace(str(work.resolve()), "WORK")
    png = Path(inp["images"][0]).read_bytes()
    s = snap["serve"]
    s["image"] = serve_answers(image_run, [(png, "image/png")], env)
    s["tabular"] = serve_answers(tabular_run, [(json.dumps({"rows": inp["diabetes_rows"]}).encode(),
                                                "application/json")], env)
    s["tabular-derived"] = serve_answers(derived_run, [(json.dumps({"rows": inp["titanic_rows"]}).encode(),
                                                        "application/json")], env)
    s["sequence"] = serve_answers(names_run, [(json.dumps(inp["names"]).encode(), "application/json")], env)
    for kind, run in [("image", image_run), ("tabular", tabular_run), ("tabular-derived", derived_run),
                      ("sequence", names_run)]:
        out = work / f"export-{kind}.onnx"
        line = dlp("export", str(run), "--check", "--out", str(out), env=env)
        snap["export"][kind] = line.replace(str(out), "OUT")
    snap["seconds"] = round(time.time() - t0)
    return snap


def differences(old, new, where: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            if k == "seconds":
                continue
            if k not in old or k not in new:
                out.append(f"{where}/{k}: only in {'after' if k in new else 'before'}")
            else:
                out += differences(old[k], new[k], f"{where}/{k}")
        return out
    return [] if old == new else [f"{where}: {str(old)[:200]!r} → {str(new)[:200]!r}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="empty folder for the runs")
    ap.add_argument("--json", required=True, help="where to write the snapshot")
    ap.add_argument("--data-dir", default=os.environ.get("DLP_DATA_DIR") or "../shared/data",
                    help="data folder (the shared data)")
    ap.add_argument("--compare", default=None, help="an earlier snapshot: print differences, exit 1 if any")
    ap.add_argument("--rescan", action="store_true",
                    help="only re-read the run files of an earlier --work folder into the --json snapshot")
    args = ap.parse_args()
    if args.rescan:
        snap = json.loads(Path(args.json).read_text())
        snap["runs"] = {name: run_files(Path(args.work) / (name if name == "demo" else f"lesson-{name}"))
                        for name in snap["runs"]}
        snap["predict"] = {k: v.replace(str(Path(args.work).resolve()), "WORK") for k, v in snap["predict"].items()}
    else:
        snap = snapshot(Path(args.work), Path(args.data_dir).resolve())
    Path(args.json).write_text(json.dumps(snap, indent=1, sort_keys=True, ensure_ascii=False))
    n = sum(len(v) for v in snap["runs"].values())
    print(f"{n} run files, {len(snap['predict'])} predict, {len(snap['serve'])} serve, "
          f"{len(snap['export'])} export outputs in {snap['seconds']} s → {args.json}")
    if args.compare:
        diff = differences(json.loads(Path(args.compare).read_text()), snap)
        print("\n".join(diff) if diff else f"identical to {args.compare}")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
