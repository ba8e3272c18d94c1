"""A hostile user's pass over the real `dlp`: every setting outside and at its bounds, damaged data files and
checkpoints, run folders that hold the user's files, a full disk, kill -9 at random moments, hostile HTTP.
    python bench/hostile_pass.py [--work DIR] [--only CATEGORY] [--subprocess]

Categories: config, cli, data, checkpoints, runfolders, disk, kill, http. Every input must end in one of two ways:
accepted (exit 0, or a 2xx answer) where it is valid, or one stderr line `error: ...` with exit 2 (a 4xx
`{"error": ...}` over HTTP, 503 for time budgets) where it is not; no traceback, nothing of the user's changed.
Inputs run in forked children of one process that imported torch once (no torch op runs in it, so no thread pool
is forked); a sample of ~20, or all with --subprocess, run as a real `python -m dlpractice`. Exits 1 if any count
is not 0.
"""
from __future__ import annotations

import argparse, hashlib, http.client, io, json, os, random, re, shlex, shutil, signal, subprocess, sys  # noqa: E401
import tempfile, threading, time, traceback  # noqa: E401
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile_cases as hc  # noqa: E402
from hostile_cases import QUICK, Case, sets, train  # noqa: E402

COUNTS = ("tracebacks", "silent accepts", "valid inputs refused", "refusals not one error line", "other exit codes",
          "hangs", "user files changed", "checkpoints unloadable", "5xx", "error bodies without error",
          "metrics differ after kill", "run incomplete after kill", "code executed from a checkpoint", "slow under load")
CATEGORIES = ("config", "cli", "data", "checkpoints", "runfolders", "disk", "kill", "http")
PY = sys.executable

class Tally:
    def __init__(self):
        self.rows, self.counts = [], dict.fromkeys(COUNTS, 0)
    def add(self, cat, what, code, last, bad, detail="", why=""):
        for b in dict.fromkeys(bad):
            self.counts[b] += 1
        self.rows.append({"cat": cat, "what": what, "code": code, "last": last, "bad": list(dict.fromkeys(bad)),
                          "detail": detail, "why": why})

def preimport():
    """Everything a child may import, imported once here; no torch op runs (no OpenMP pool to fork)."""
    import importlib, pkgutil  # noqa: E401
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot, sklearn.datasets, sklearn.model_selection, torch, torch._dynamo  # noqa: F401,E401
    import dlpractice
    for m in pkgutil.walk_packages(dlpractice.__path__, "dlpractice."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)
    for extra in ("onnx", "onnxruntime", "uvicorn", "fastapi"):
        try:
            importlib.import_module(extra)
        except ImportError:
            pass

def snapshot(paths) -> dict:
    out = {}
    for p in paths:
        for f in ([p] if not p.is_dir() or p.is_symlink() else sorted(p.rglob("*"))):
            if f.is_symlink():
                out[str(f)] = "link:" + os.readlink(f)
            elif f.is_file():
                out[str(f)] = hashlib.sha1(f.read_bytes()).hexdigest()
    return out

def changed(before: dict) -> list[str]:
    now = snapshot([Path(p) for p in before])
    return [p for p, h in before.items() if now.get(p) != h]

def forked(fn, *args, timeout=120):
    """fn(*args) in a forked child (torch ops allowed there); its JSON-able result, or {'error': text}."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            import torch
            torch.set_num_threads(1)
            res = json.dumps(fn(*args))
        except BaseException as e:  # noqa: BLE001
            res = json.dumps({"error": f"{type(e).__name__}: {e}"})
        os.write(w, res.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return json.loads(text or '{"error": "no answer"}')

def child(c: Case, folder: Path, out: Path, err: Path):
    code = 1
    try:
        os.setpgid(0, 0)
        os.chdir(folder)
        for k, v in c.env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, str(v))
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                (2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            f = os.open(path, flags, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
        import torch
        torch.set_num_threads(1)
        from dlpractice.cli import main
        try:
            code = main([str(a) for a in c.argv])
        except SystemExit as e:
            code = e.code
            if isinstance(code, str):
                print(code, file=sys.stderr)
        except BaseException:  # noqa: BLE001  (as Python's top level: the traceback, exit 1)
            traceback.print_exc()
            code = 1
        code = 0 if code is None else code if isinstance(code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)

def command(c: Case) -> str:
    env = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in c.env.items())
    return (env + " " if env else "") + "dlp " + " ".join(shlex.quote(str(a)) for a in c.argv)

def judge(c: Case, code, out: str, err: str, hung: bool) -> list[str]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if "Traceback (most recent call last)" in err:
        return ["tracebacks"]
    if hung:
        return ["hangs"]
    if code == 0:
        return ["silent accepts"] if c.refuse else []
    if code == 2:
        return ([] if len(lines) == 1 and lines[0].startswith("error:") else ["refusals not one error line"]) + \
            (["valid inputs refused"] if c.refuse is False else [])
    return ["other exit codes"]

class Runner:
    def __init__(self, work: Path, tally: Tally, jobs: int = 2, all_subprocess: bool = False):
        self.work, self.t, self.jobs, self.all_sub, self.n = work, tally, jobs, all_subprocess, 0
        for d in ("cases", "logs"):
            shutil.rmtree(work / d, ignore_errors=True)
    def start(self, c: Case):
        self.n += 1
        folder = c.cwd or self.work / "cases" / c.cat / f"{self.n:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        if c.setup:
            c.setup(folder)
        keep = snapshot([folder / k for k in c.keep])
        whole = snapshot([folder])
        out, err = self.work / "logs" / f"{self.n:04d}.out", self.work / "logs" / f"{self.n:04d}.err"
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(b"")
        err.write_bytes(b"")
        if c.sub or self.all_sub:
            with open(out, "wb") as fo, open(err, "wb") as fe:
                p = subprocess.Popen([PY, "-m", "dlpractice", *map(str, c.argv)], cwd=folder, stdout=fo, stderr=fe,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1", **{k: str(v) for k, v in c.env.items()}})
            pid = p.pid
        else:
            p, pid = None, os.fork()
            if pid == 0:
                child(c, folder, out, err)
        return {"c": c, "pid": pid, "p": p, "t0": time.time(), "folder": folder, "out": out, "err": err,
                "keep": keep, "whole": whole}
    def finish(self, j, code, hung):
        c, out, err = j["c"], j["out"].read_text(errors="replace"), j["err"].read_text(errors="replace")
        if c.serve and "serving " in out:
            code, hung = 0, False
        if c.cat == "setup":
            return
        bad = judge(c, code, out, err, hung)
        lost = changed(j["keep"]) + (changed(j["whole"]) if code != 0 else [])
        if lost:
            bad.append("user files changed")
        if hc.MARKER and hc.MARKER.exists():
            bad.append("code executed from a checkpoint")
            hc.MARKER.unlink()
        if c.check:
            bad += c.check(j["folder"])
        tail = [ln for ln in err.splitlines() if ln.strip()]
        mode = "subprocess" if c.sub or self.all_sub else "fork"
        detail = (f"$ {command(c)}   [{mode}, in {j['folder']}, {time.time() - j['t0']:.1f} s]\n"
                  + "\n".join("  " + ln[:300] for ln in tail[-4:]) + (f"\n  changed: {lost[:3]}" if lost else ""))
        self.t.add(c.cat, c.what, "hang" if hung else code, (tail or [""])[-1][:120], bad, detail, c.why)
        if not bad and c.cwd is None:
            shutil.rmtree(j["folder"], ignore_errors=True)
    def run(self, cases: list[Case]):
        queue, running = list(cases), []
        while queue or running:
            while queue and len(running) < self.jobs:
                c = queue.pop(0)
                try:
                    running.append(self.start(c))
                except Exception as e:  # noqa: BLE001  (a setup that needs root, a mount, ...)
                    print(f"   skipped {c.cat}: {c.what}: setup failed ({type(e).__name__}: {e})")
            for j in list(running):
                if j["p"] is not None:
                    rc = j["p"].poll()
                    done, code = rc is not None, rc
                else:
                    pid, st = os.waitpid(j["pid"], os.WNOHANG)
                    done, code = pid != 0, os.waitstatus_to_exitcode(st) if pid else None
                late = time.time() - j["t0"] > j["c"].timeout
                serving = j["c"].serve and "serving " in j["out"].read_text(errors="replace")
                if not done and (late or serving):
                    try:
                        os.killpg(j["pid"], signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    j["p"].wait() if j["p"] else os.waitpid(j["pid"], 0)
                    done, code = True, -9
                if done:
                    running.remove(j)
                    self.finish(j, code, late and not serving and code == -9)
            time.sleep(0.02)

# -- fixtures: good runs to damage, serve and compare ----------------------------------------------------------------
def fixtures(run: Runner, work: Path) -> dict:
    fx = work / "fixtures"
    fx.mkdir(parents=True, exist_ok=True)
    specs = {"img": [], "names": hc.NAMES, "table": hc.TABLE, "gan": hc.GAN}
    run.run([Case("fixtures", f"a quick run: {k}", ["train", "--out", k, *sets(*QUICK, *pre)], False, cwd=fx, timeout=400)
             for k, pre in specs.items() if not (fx / k / "summary.json").is_file()])
    paths = {k: fx / k for k in specs}
    missing = [k for k, p in paths.items() if not (p / "summary.json").is_file()]
    if missing:
        sys.exit(f"fixture runs failed: {missing}; see {work / 'logs'}")
    (fx / "digit.png").write_bytes(hc.png())
    if not (fx / "img-unfinished").is_dir():
        shutil.copytree(fx / "img", fx / "img-unfinished")
        (fx / "img-unfinished" / "summary.json").unlink()
    res = forked(hc.ckpt_blobs, str(fx / "img"), str(fx / "blobs"), str(hc.MARKER))
    if isinstance(res, dict):
        sys.exit(f"could not build the damaged checkpoints: {res}")
    return {**paths, "fx": fx, "png": fx / "digit.png", "img-unfinished": fx / "img-unfinished", "blobs": fx / "blobs"}

def _load_all(run: str) -> dict:
    from dlpractice.errors import UserError
    from dlpractice.runs.checkpoint import load_checkpoint
    bad = []
    for p in sorted(Path(run, "checkpoints").glob("*.pt")):
        try:
            load_checkpoint(p)
        except UserError as e:
            bad.append(f"{p.name}: {e}")
    return {"bad": bad}

def loads(run: Path):
    """A check: every checkpoint file that exists in `run` loads."""
    def check(folder):
        res = forked(_load_all, str(run))
        return ["checkpoints unloadable"] if res.get("bad") or "error" in res else []
    return check

# -- a full disk: tmpfs of several sizes, and one filled between two epochs ----------------------------------------------
def disk(run: Runner, work: Path):
    base = work / "disk"
    try:
        hc.mount(base / "probe", "16k")
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"   disk: skipped, cannot mount a tmpfs here ({e})")
        return
    why = "a disk too small is refused, a large enough one accepted"
    run.run([Case("disk", f"train --out on a {s} tmpfs", train("train.epochs=2") + ["--out", str(hc.mount(base / s, s) / "run")],
                  None, check=loads(base / s / "run"), why=why) for s in ("12k", "40k", "600k", "1100k", "1600k", "1620k", "1640k", "1660k", "1700k", "4m")])
    full = hc.mount(base / "fill", "4m")
    three = train("train.epochs=3")
    run.run([Case("setup", "reference", three + ["--out", "ref"], False, cwd=base),
             Case("setup", "killed after epoch 2 is logged", three + ["--out", str(full / "run")], None, cwd=base,
                  env={"DLPRACTICE_CRASH_AT": "epoch-logged:2"})])
    with open(full / "filler", "wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 12, 1 << 9):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    run.run([Case("disk", "--resume with the disk full (after a kill in epoch 2)", ["train", "--resume", str(full / "run")],
                  True, cwd=base, keep=[full / "run" / "checkpoints"], check=loads(full / "run"))])
    (full / "filler").unlink()
    same = lambda folder: [] if (full / "run" / "metrics.csv").read_bytes() == (base / "ref" / "metrics.csv").read_bytes() \
        else ["metrics differ after kill"]  # noqa: E731
    run.run([Case("disk", "--resume once space is free again", ["train", "--resume", str(full / "run")], False, cwd=base,
                  check=lambda f: loads(full / "run")(f) + same(f))])

# -- kill -9 at random moments, then what a user does ------------------------------------------------------------------
def kill(t: Tally, work: Path, n: int = 10, seed: int = 0):
    base = work / "kill"
    shutil.rmtree(base, ignore_errors=True)
    cmd = [PY, "-m", "dlpractice", "train", *sets("data.dataset=digits", "model.name=mlp", "train.epochs=3",
                                                    "train.checkpoint_every=4", "train.threads=1", "log.progress=false"),
           "--out", "RUN"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    (base / "ref").mkdir(parents=True)
    (base / "ref2").mkdir()
    def timed(folder):   # seconds to the first line (the run starts writing) and to the end
        t0, p = time.time(), subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        p.stdout.readline()
        first = time.time() - t0
        rest, err = p.communicate(timeout=300)
        return first, time.time() - t0, p.returncode, err.decode(errors="replace")
    with ThreadPoolExecutor(2) as pool:   # two at once, as the kills run, so the timing is theirs
        (first, span, rc, err), _ = pool.map(timed, [base / "ref", base / "ref2"])
    if rc:
        t.add("kill", "the uninterrupted reference run", rc, err[-120:], ["other exit codes"])
        return
    ref = (base / "ref" / "RUN" / "metrics.csv").read_bytes()
    # half over the whole run, half over the part that writes files (from its first line on)
    delays = [random.Random(seed + i).uniform(0.5 if i % 2 else first, span) for i in range(n)]
    def one(i):
        d = base / f"k{i}"
        d.mkdir()
        p = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(delays[i])
        p.kill()
        p.wait()
        steps = [("again", subprocess.run(cmd, cwd=d, capture_output=True, text=True, env=env, timeout=300))]
        if steps[0][1].returncode == 2 and "dlp train --resume RUN" in steps[0][1].stderr:
            steps.append(("--resume", subprocess.run(cmd[:4] + ["--resume", "RUN"], cwd=d, capture_output=True, text=True,
                                                     env=env, timeout=300)))
        return i, steps
    with ThreadPoolExecutor(2) as pool:
        for i, steps in pool.map(one, range(n)):
            last = steps[-1][1]
            bad = judge(Case("kill", "", [], False), last.returncode, last.stdout, last.stderr, False)
            if len(steps) == 2:
                bad += judge(Case("kill", "", [], True), 2, "", steps[0][1].stderr, False)
            m = base / f"k{i}" / "RUN" / "metrics.csv"
            if not m.is_file() or m.read_bytes() != ref:
                bad.append("metrics differ after kill")
            if not all((m.parent / f).is_file() for f in ("summary.json", "report.html", "curves.png")):
                bad.append("run incomplete after kill")
            tail = [ln for s in steps for ln in s[1].stderr.splitlines() if ln.strip()]
            t.add("kill", f"kill -9 after {delays[i]:.2f} s of {span:.1f}, then {' + '.join(s for s, _ in steps)}",
                  last.returncode, (tail or [""])[-1][:120], bad,
                  f"$ {shlex.join(cmd[2:])}  [in {base / f'k{i}'}]\n" + "\n".join("  " + ln for ln in tail[-4:]))

# -- HTTP: real `dlp serve` servers of an image, a names and a table run -----------------------------------------------
def send(port, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw[:160].decode(errors="replace")
    except (OSError, http.client.HTTPException) as e:
        return 0, f"<no answer: {type(e).__name__}: {e}>"
    finally:
        conn.close()

def multipart(files, boundary="hostile"):
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{n}"\r\n'
             f"Content-Type: image/png\r\n\r\n".encode() + d + b"\r\n" for n, d in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}

def requests(kind: str) -> list:
    """(what, method, path, body, headers, ok): ok True must be 2xx, False must be 4xx, None either."""
    J = {"Content-Type": "application/json"}
    P = {"Content-Type": "image/png"}
    good = {"img": (hc.png(), P), "names": (b'["Nakamura"]', J), "table": (json.dumps({"rows": [[0.1] * 8]}).encode(), J)}
    body, h = good[kind]
    rq = [("GET /health", "GET", "/health", None, {}, True), ("GET /model", "GET", "/model", None, {}, True),
          ("GET /", "GET", "/", None, {}, True), ("GET /openapi.json", "GET", "/openapi.json", None, {}, True),
          ("POST /predict valid", "POST", "/predict", body, h, True), ("?top=1", "POST", "/predict?top=1", body, h, True),
          ("GET /nope", "GET", "/nope", None, {}, False), ("GET /../../etc/passwd", "GET", "/../../etc/passwd", None, {}, False),
          ("POST /model", "POST", "/model", b"{}", J, False), ("PUT /predict", "PUT", "/predict", body, h, False),
          ("DELETE /predict", "DELETE", "/predict", None, {}, False), ("GET /predict", "GET", "/predict", None, {}, False),
          ("HEAD /health", "HEAD", "/health", None, {}, None), ("OPTIONS /predict", "OPTIONS", "/predict", None, {}, False),
          ("no body, no type", "POST", "/predict", b"", {}, False), ("text/plain", "POST", "/predict", b"hi", {"Content-Type": "text/plain"}, False),
          ("invalid JSON", "POST", "/predict", b"{", J, False), ("JSON 10000 levels deep", "POST", "/predict", b"[" * 10000 + b"]" * 10000, J, False),
          ("a JSON NaN", "POST", "/predict", b"[NaN]", J, False),
          ("Content-Length abc", "POST", "/predict", body, {**h, "Content-Length": "abc"}, False),
          ("Content-Length 5 MB, not sent", "POST", "/predict", body, {**h, "Content-Length": "5000000"}, False),
          ("a 5 MB body", "POST", "/predict", b"[" + b'"a",' * 1_250_000 + b'"a"]', J, False),
          ("form-urlencoded", "POST", "/predict", b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, False),
          ("multipart, broken", "POST", "/predict", b"--x\r\n\r\n", {"Content-Type": "multipart/form-data; boundary=x"}, False),
          ("multipart, no boundary", "POST", "/predict", b"--x--", {"Content-Type": "multipart/form-data"}, False),
          ("a path of 10,000 characters", "GET", "/" + "a" * 10000, None, {}, False),
          ("a header of 64 KB", "GET", "/health", None, {"X-Big": "a" * 65536}, None)]
    rq += [(f"?top={v}", "POST", f"/predict?top={v}", body, h, False) for v in ("0", "-1", "abc", "99999", "1.5", "")]
    big = hc.png(size=(2000, 2000))
    if kind == "img":
        from PIL import Image
        buf = io.BytesIO()
        Image.new("L", (2001, 2000)).save(buf, "PNG")
        rq += [(f"a {n}", "POST", "/predict", hc.IMAGES[n](), P, ok) for n, ok in [
            ("corrupt.png", False), ("text.png", False), ("gray16.png", True), ("float.tif", True), ("palette.png", True),
            ("rgba.png", True), ("cmyk.jpg", True), ("huge.png", False), ("empty.png", False), ("one-pixel.png", True),
            ("wide.png", True)]]
        rq += [("a JPEG as octet-stream", "POST", "/predict", hc.png(fmt="JPEG"), {"Content-Type": "application/octet-stream"}, True),
               ("a GIF", "POST", "/predict", hc.png(fmt="GIF"), {"Content-Type": "image/gif"}, True),
               ("a truncated PNG", "POST", "/predict", body[:30], P, False), ("JSON to an image run", "POST", "/predict", b"[1]", J, False),
               ("2000×2000 (4 Mpx)", "POST", "/predict", big, P, True), ("2001×2000", "POST", "/predict", buf.getvalue(), P, False),
               ("multipart, 1 file", "POST", "/predict", *multipart([("a.png", body)]), True),
               ("multipart, 10 files", "POST", "/predict", *multipart([(f"{i}.png", body) for i in range(10)]), True),
               ("multipart, 300 files", "POST", "/predict", *multipart([(f"{i}.png", body) for i in range(300)]), False),
               ("multipart, 5 × 4 Mpx", "POST", "/predict", *multipart([(f"{i}.png", big) for i in range(5)]), False),
               ("multipart, an empty file", "POST", "/predict", *multipart([("e.png", b"")]), False),
               ("multipart, one bad of 2", "POST", "/predict", *multipart([("a.png", body), ("b.png", b"junk")]), False),
               ("multipart, a text field only", "POST", "/predict", b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
                {"Content-Type": "multipart/form-data; boundary=x"}, False)]
    elif kind == "names":
        for v, ok in [(["Nakamura", "Müller", "O'Neill"], True), ({"texts": ["Mueller"]}, True), ([], False), ({}, False),
                      ([1], False), ([[]], False), ([""], False), (["   "], False), ("Nakamura", False), (["x" * 300], False),
                      (["\ufdfa" * 256], False), (["\ufdfa" * 14], True), (["\u0000"], False), (["a\u0000b"], None),
                      (["Li"] * 257, False), (["Li"] * 256, True), ([None], False), ([True], False), ({"texts": "a"}, False),
                      ({"rows": []}, False), (["\ud800"], None), (["😀"], None), (["e\u0301" * 100], None),
                      (["a" * 100] * 256, False), ([["a"]], False), ({"texts": ["a"], "x": 1}, False)]:
            rq.append((f"JSON {json.dumps(v)[:50]}", "POST", "/predict", json.dumps(v).encode(), J, ok))
        rq += [("a PNG to a names run", "POST", "/predict", hc.png(), P, False),
               ("charset=utf-8", "POST", "/predict", body, {"Content-Type": "application/json; charset=utf-8"}, True),
               ("application/vnd.api+json", "POST", "/predict", body, {"Content-Type": "application/vnd.api+json"}, True)]
    else:
        row = {f"c{i}": 0.1 for i in range(8)}
        for v, ok in [([[0.1] * 8], True), ({"rows": [[0.1] * 9]}, True), ({"rows": [row]}, None), ({"rows": [[1] * 7]}, False),
                      ({"rows": []}, False), ([], False), ({}, False), ([1], False), ([[]], False), ({"rows": [["a"] * 8]}, False),
                      ({"rows": [[None] * 8]}, True), ({"rows": [[0.1] * 8] * 257}, False), ({"rows": [[0.1] * 8] * 256}, True),
                      ({"rows": [[{"a": 1}] * 8]}, False), ({"rows": [[True] * 8]}, None), ({"rows": [["x" * 300] * 8]}, False),
                      ({"rows": [row, [0.1] * 8]}, False), ({"rows": {"c0": 1}}, False), ({"rows": [[0.1] * 8], "x": 1}, False),
                      ({"rows": [[1e38] * 8]}, None)]:
            rq.append((f"JSON {json.dumps(v)[:50]}", "POST", "/predict", json.dumps(v).encode(), J, ok))
        rq += [("a value 1e400", "POST", "/predict", b'{"rows": [[1e400, 0, 0, 0, 0, 0, 0, 0]]}', J, False),
               ("a NaN cell", "POST", "/predict", b'{"rows": [[NaN, 0, 0, 0, 0, 0, 0, 0]]}', J, None)]
    return rq

def judge_http(ok, status, body) -> list[str]:
    bad = ["5xx"] if status >= 500 and status != 503 else []
    if status == 0 or status >= 400 and not (isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str)):
        bad.append("error bodies without error")
    if ok is True and not 200 <= status < 300:
        bad.append("valid inputs refused")
    if ok is False and 200 <= status < 300:
        bad.append("silent accepts")
    return bad

def http_pass(t: Tally, fx: dict, work: Path):
    servers = {}
    for k in ("img", "names", "table"):
        log = open(work / f"serve-{k}.log", "w")
        servers[k] = (subprocess.Popen([PY, "-m", "dlpractice", "serve", str(fx[k]), "--port", "0"], stdout=subprocess.PIPE,
                                       stderr=log, text=True, cwd=work, env={**os.environ, "OMP_NUM_THREADS": "1"}), log)
    try:
        ports = {}
        for k, (p, _) in servers.items():
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", p.stdout.readline())
            if not m:
                t.add("http", f"dlp serve of the {k} run starts", p.poll(), "", ["other exit codes"])
                continue
            ports[k] = int(m.group(1))
        for k, port in ports.items():
            for what, method, path, body, headers, ok in requests(k):
                status, answer = send(port, method, path, body, headers)
                bad = judge_http(ok, status, answer)
                log = (work / f"serve-{k}.log").read_text(errors="replace").strip().splitlines()
                t.add("http", f"{k}: {what}", status, json.dumps(answer, ensure_ascii=True)[:120], bad,
                      f"$ curl -X {method} 'http://127.0.0.1:PORT{path[:80]}' ({len(body or b'')} bytes, {headers.get('Content-Type', 'no type')})"
                      f" → {status} {json.dumps(answer, ensure_ascii=True)[:300]}" + (f"\n  server log: {log[-1][:300]}" if bad and log else ""),
                      "" if ok is not None else "see the category notes")
        if "names" in ports:
            heavy = json.dumps(["\ufdfa" * 256] * 256).encode()
            stop, waits = threading.Event(), []
            def hammer():
                while not stop.is_set():
                    send(ports["names"], "POST", "/predict", heavy, {"Content-Type": "application/json"})
            threads = [threading.Thread(target=hammer) for _ in range(2)]
            for th in threads:
                th.start()
            time.sleep(1)
            for _ in range(5):
                t0 = time.time()
                status, _ = send(ports["names"], "POST", "/predict", b'["Nakamura"]', {"Content-Type": "application/json"})
                waits.append((time.time() - t0, status))
                time.sleep(0.2)
            stop.set()
            for th in threads:
                th.join()
            worst = max(w for w, _ in waits)
            t.add("http", "names: 5 valid names while 2 threads send U+FDFA×256 ×256", max(s for _, s in waits),
                  f"max wait {worst:.3f} s", (["slow under load"] if worst >= 0.5 else []) + (
                      ["valid inputs refused"] if any(s != 200 for _, s in waits) else []),
                  "waits: " + ", ".join(f"{w:.3f} s ({s})" for w, s in waits))
    finally:
        for p, log in servers.values():
            p.terminate()
            p.wait(timeout=30)
            log.close()

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temp folder)")
    ap.add_argument("--only", choices=CATEGORIES, default=None, help="run one category")
    ap.add_argument("--subprocess", action="store_true", help="run every input as a real `python -m dlpractice`")
    ap.add_argument("--jobs", type=int, default=2, help="inputs run at once")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="dlp-hostile-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DLP_DATA_DIR") and Path("/work/shared/data").is_dir():
        os.environ["DLP_DATA_DIR"] = "/work/shared/data"
    hc.MARKER = work / "MARKER-code-ran-from-a-checkpoint"
    t0, t = time.time(), Tally()
    preimport()
    print(f"imports {time.time() - t0:.1f} s; work in {work}", flush=True)
    run = Runner(work, t, args.jobs, args.subprocess)
    want = [args.only] if args.only else list(CATEGORIES)
    try:
        fx = fixtures(run, work) if set(want) & {"cli", "checkpoints", "runfolders", "http"} else {}
        cases = []
        for cat, make in [("config", lambda: hc.config_cases() + hc.args_cases() + hc.toml_cases()),
                          ("cli", lambda: hc.cli_cases(fx)), ("data", hc.file_cases),
                          ("checkpoints", lambda: hc.ckpt_cases(fx)), ("runfolders", lambda: hc.runfolder_cases(fx))]:
            cases += make() if cat in want else []
        for c in random.Random(0).sample([c for c in cases if not c.serve], min(20, len(cases))):
            c.sub = True
        print(f"{len(cases)} inputs through the CLI ...", flush=True)
        run.run(cases)
        if "disk" in want:
            disk(run, work)
        if "kill" in want:
            kill(t, work)
        if "http" in want:
            http_pass(t, fx, work)
    finally:
        for m in reversed(hc.MOUNTS):
            subprocess.run(["umount", "-l", str(m)], capture_output=True)
    report(t, work, time.time() - t0)
    return 1 if any(t.counts.values()) else 0

def report(t: Tally, work: Path, seconds: float):
    for r in t.rows:
        print(f"{'!!' if r['bad'] else 'ok'} {str(r['code']):>4}  {r['cat']:<11} {r['what'][:58]:<58}  {r['last'][:100]}")
    cats = list(dict.fromkeys(r["cat"] for r in t.rows))
    print("\nFAILURES")
    for cat in cats:
        for r in (r for r in t.rows if r["cat"] == cat and r["bad"]):
            print(f"[{cat}] {r['what']}: {', '.join(r['bad'])}\n  {r['detail']}")
    print("\nUNCLEAR (either outcome allowed)")
    for r in (r for r in t.rows if r["why"]):
        print(f"[{r['cat']}] {r['what']} → {r['code']} {r['last'][:90]}  ({r['why']})")
    (work / "results.json").write_text(json.dumps(t.rows, indent=1, ensure_ascii=False))
    print(f"\n{len(t.rows)} inputs in {seconds:.0f} s: " + ", ".join(f"{k} {v}" for k, v in t.counts.items()))

if __name__ == "__main__":
    sys.exit(main())
