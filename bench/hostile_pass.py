"""A hostile user's pass over the real `dlp`: every setting outside and at its bounds, damaged data files and checkpoints,
run folders holding the user's files, a full disk, kill -9 at random moments, hostile HTTP (inputs: bench/hostile_cases.py).

    python bench/hostile_pass.py [--work DIR] [--only config|cli|data|checkpoints|runfolders|disk|kill|http] [--subprocess]

Each input must be accepted (exit 0, a 2xx answer) where valid, and refused where not with one stderr line `error: ...` and
exit 2 (a 4xx `{"error": ...}` over HTTP, 503 for time budgets): no traceback, nothing of the user's changed. Inputs run in
children forked from one process that imported torch once and ran no torch op (so no thread pool is forked); a sample of
20 (all with --subprocess) runs as a real `python -m dlpractice`. Exits 1 if any count is not 0."""
from __future__ import annotations

import argparse, hashlib, http.client, json, os, random, re, shlex, shutil, signal, subprocess, sys  # noqa: E401
import tempfile, threading, time, traceback  # noqa: E401
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile_cases as hc  # noqa: E402
from hostile_cases import QUICK, Case, png, sets, train  # noqa: E402

COUNTS = ("tracebacks", "silent accepts", "valid inputs refused", "refusals not one error line", "other exit codes",
          "hangs", "user files changed", "checkpoints unloadable", "5xx", "error bodies without error",
          "metrics differ after kill", "run incomplete after kill", "code executed from a checkpoint", "slow under load")
CATEGORIES = ("config", "cli", "data", "checkpoints", "runfolders", "disk", "kill", "http")
PY, ROWS = sys.executable, []
def tally(cat, what, code, last, bad, detail="", why=""):
    ROWS.append({"cat": cat, "what": what, "code": code, "last": last, "bad": list(dict.fromkeys(bad)), "detail": detail, "why": why})
def preimport():
    """Everything a child may import, imported once here; no torch op runs (no OpenMP pool to fork)."""
    import importlib, matplotlib, pkgutil  # noqa: E401
    matplotlib.use("Agg")
    import dlpractice, matplotlib.pyplot, sklearn.datasets, sklearn.model_selection, torch._dynamo  # noqa: F401,E401
    for name in [m.name for m in pkgutil.walk_packages(dlpractice.__path__, "dlpractice.")] + ["onnx", "onnxruntime"]:
        with suppress(ImportError):
            importlib.import_module(name) if not name.endswith("__main__") else None
def snapshot(paths) -> dict:
    files = [f for p in paths for f in ([p] if not p.is_dir() or p.is_symlink() else sorted(p.rglob("*")))]
    return {str(f): "link:" + os.readlink(f) if f.is_symlink() else hashlib.sha1(f.read_bytes()).hexdigest()
            for f in files if f.is_symlink() or f.is_file()}
def changed(before: dict) -> list[str]:
    return [p for p, h in before.items() if snapshot([Path(p)]).get(p) != h]
def forked(fn, *args):
    """fn(*args) in a forked child (torch ops allowed there): its JSON-able result, or {'error': ...}."""
    r, w = os.pipe()
    if (pid := os.fork()) == 0:
        try:
            __import__("torch").set_num_threads(1)
            res = json.dumps(fn(*args))
        except BaseException as e:  # noqa: BLE001
            res = json.dumps({"error": f"{type(e).__name__}: {e}"})
        os.write(w, res.encode())
        os._exit(0)
    os.close(w)
    text = os.fdopen(r).read()
    os.waitpid(pid, 0)
    return json.loads(text or '{"error": "no answer"}')
def child(c: Case, folder: Path, out: Path, err: Path):
    """In the forked child: chdir, env, fds 0/1/2, then `main(argv)` as Python's top level would run it."""
    code = 1
    try:
        os.setpgid(0, 0), os.chdir(folder)
        [os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, str(v)) for k, v in c.env.items()]
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out, os.O_WRONLY | os.O_TRUNC), (2, err, os.O_WRONLY | os.O_TRUNC)):
            os.dup2(f := os.open(path, flags), fd)
            os.close(f)
        sys.stdin, sys.stdout = open(0, closefd=False), open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
        __import__("torch").set_num_threads(1)
        from dlpractice.cli import main
        try:
            code = main([str(a) for a in c.argv])
        except SystemExit as e:
            code = e.code
            print(code, file=sys.stderr) if isinstance(code, str) else None
        except BaseException:  # noqa: BLE001  (as Python's top level: the traceback, exit 1)
            traceback.print_exc()
            code = 1
        code = 0 if code is None else code if isinstance(code, int) else 1
        [s.flush() for s in (sys.stdout, sys.stderr)]
    finally:
        os._exit(code & 0xFF)
def judge(refuse, code, err: str, hung: bool) -> list[str]:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if "Traceback (most recent call last)" in err or hung or code not in (0, 2):
        return ["tracebacks" if "Traceback (most recent" in err else "hangs" if hung else "other exit codes"]
    if code == 0:
        return ["silent accepts"] if refuse else []
    return ([] if len(lines) == 1 and lines[0].startswith("error:") else ["refusals not one error line"]) + \
        (["valid inputs refused"] if refuse is False else [])
class Runner:
    """Runs cases `jobs` at a time, each in a forked child (or a real subprocess), with a timeout."""
    def __init__(self, work: Path, jobs: int = 2, all_subprocess: bool = False):
        self.work, self.jobs, self.all_sub, self.n = work, jobs, all_subprocess, 0
        [shutil.rmtree(work / d, ignore_errors=True) for d in ("cases", "logs", "kill")]
        (work / "logs").mkdir(parents=True)
    def start(self, c: Case) -> dict:
        self.n += 1
        folder = c.cwd or self.work / "cases" / c.cat / f"{self.n:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        c.setup(folder) if c.setup else None
        j = {"c": c, "folder": folder, "keep": snapshot([folder / k for k in c.keep]), "whole": snapshot([folder]), "p": None,
             "out": self.work / "logs" / f"{self.n:04d}.out", "err": self.work / "logs" / f"{self.n:04d}.err"}
        [j[k].write_bytes(b"") for k in ("out", "err")]
        if c.sub or self.all_sub:
            env = {**{k: v for k, v in os.environ.items() if c.env.get(k, "") is not None}, "OMP_NUM_THREADS": "1",
                   **{k: str(v) for k, v in c.env.items() if v is not None}}
            with open(j["out"], "wb") as fo, open(j["err"], "wb") as fe:
                j["p"] = subprocess.Popen([PY, "-m", "dlpractice", *map(str, c.argv)], cwd=folder, stdout=fo, stderr=fe, env=env,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        elif (pid := os.fork()) == 0:
            child(c, folder, j["out"], j["err"])
        j["pid"], j["t0"] = j["p"].pid if j["p"] else pid, time.time()
        return j
    def finish(self, j: dict, code, hung: bool):
        c, out, err = j["c"], j["out"].read_text(errors="replace"), j["err"].read_text(errors="replace")
        if c.serve and "serving " in out:
            code, hung = 0, False
        if c.cat == "setup":
            return
        lost = changed(j["keep"]) + (changed(j["whole"]) if code != 0 else [])
        bad = judge(c.refuse, code, err, hung) + (["user files changed"] if lost else []) + (c.check(j["folder"]) if c.check else [])
        bad += ["code executed from a checkpoint"] if hc.MARKER.exists() and not hc.MARKER.unlink() else []
        tail = [ln for ln in err.splitlines() if ln.strip()]
        env = " ".join(f"{k}={shlex.quote(str(v))}" if v is not None else f"-u {k}" for k, v in c.env.items())
        tally(c.cat, c.what, "hang" if hung else code, (tail or [""])[-1][:120], bad,
              f"$ {'env ' + env + ' ' if env else ''}dlp {shlex.join(map(str, c.argv))}   [{'subprocess' if j['p'] else 'fork'}, "
              f"in {j['folder']}, {time.time() - j['t0']:.1f} s]\n" + "\n".join("    " + ln[:300] for ln in tail[-4:])
              + (f"\n    changed: {lost[:3]}" if lost else ""), c.why)
        shutil.rmtree(j["folder"], ignore_errors=True) if not bad and c.cwd is None else None
    def run(self, cases: list[Case]):
        queue, running = list(cases), []
        while queue or running:
            while queue and len(running) < self.jobs:
                try:
                    running.append(self.start(c := queue.pop(0)))
                except Exception as e:  # noqa: BLE001  (a setup that needs a mount, ...)
                    print(f"   skipped {c.cat}: {c.what}: setup failed ({type(e).__name__}: {e})", flush=True)
            for j in list(running):
                code = j["p"].poll() if j["p"] else (lambda w: os.waitstatus_to_exitcode(w[1]) if w[0] else None)(
                    os.waitpid(j["pid"], os.WNOHANG))
                serving = j["c"].serve and "serving " in j["out"].read_text(errors="replace")
                if stop := code is None and (serving or time.time() - j["t0"] > j["c"].timeout):
                    with suppress(ProcessLookupError):
                        os.killpg(j["pid"], signal.SIGKILL)
                    code = j["p"].wait() if j["p"] else os.waitstatus_to_exitcode(os.waitpid(j["pid"], 0)[1])
                if code is not None:
                    running.remove(j)
                    self.finish(j, code, stop and not serving)
            time.sleep(0.02)
def fixtures(run: Runner, work: Path) -> dict:
    """Good quick runs (image, names, table, GAN) to damage, serve and compare; the damaged checkpoints."""
    (fx := work / "fixtures").mkdir(parents=True, exist_ok=True)
    specs = {"img": [], "names": hc.NAMES, "table": hc.TABLE, "gan": hc.GAN}
    run.run([Case("fixtures", f"a quick run: {k}", ["train", "--out", k, *sets(*QUICK, *pre)], False, cwd=fx, timeout=400)
             for k, pre in specs.items() if not (fx / k / "summary.json").is_file()])
    if [k for k in specs if not (fx / k / "summary.json").is_file()]:
        sys.exit(f"a fixture run failed; see {work / 'logs'}")
    (fx / "digit.png").write_bytes(png())
    if not (fx / "img-unfinished").is_dir():
        shutil.copytree(fx / "img", fx / "img-unfinished")
        (fx / "img-unfinished" / "summary.json").unlink()
    if isinstance(res := forked(hc.ckpt_blobs, str(fx / "img"), str(fx / "blobs"), str(hc.MARKER)), dict):
        sys.exit(f"could not build the damaged checkpoints: {res}")
    return {**{k: fx / k for k in specs}, "fx": fx, "png": fx / "digit.png", "img-unfinished": fx / "img-unfinished", "blobs": fx / "blobs"}
def _load_all(run: str) -> list[str]:   # the checkpoint files in `run` that do not load
    from dlpractice.errors import UserError
    from dlpractice.runs.checkpoint import load_checkpoint
    def fails(p):
        with suppress(UserError):
            return load_checkpoint(p) and ""
        return p.name
    return [b for p in sorted(Path(run, "checkpoints").glob("*.pt")) if (b := fails(p))]
def loads(run: Path):
    """A check: every checkpoint file that exists in `run` loads (in a forked child)."""
    return lambda folder: ["checkpoints unloadable"] if forked(_load_all, str(run)) != [] else []
def disk(run: Runner, work: Path):
    """Tmpfs of several sizes filling at different moments, then one filled between two epochs of a run."""
    base = work / "disk"
    try:
        hc.mount(base / "probe", "16k")
    except (OSError, subprocess.CalledProcessError) as e:
        return print(f"   disk: skipped, cannot mount a tmpfs here ({e})")
    run.run([Case("disk", f"train {e} epochs --out on a {s} tmpfs", train(f"train.epochs={e}") + ["--out", str(hc.mount(base / f"{s}-{e}", s) / "run")],
                  None, check=loads(base / f"{s}-{e}" / "run"), why="a disk too small is refused, a large enough one accepted") for s, e in (
        ("12k", 2), ("40k", 2), ("600k", 2), ("1100k", 2), ("1300k", 2), ("1600k", 2), ("4m", 2), *((s, 1) for s in ("1064k", "1100k", "1108k", "1112k", "1124k")))])
    full, three = hc.mount(base / "fill", "4m"), train("train.epochs=3")
    run.run([Case("setup", "reference", three + ["--out", "ref"], False, cwd=base),
             Case("setup", "killed after epoch 2 is logged", three + ["--out", str(full / "run")], None, cwd=base,
                  env={"DLPRACTICE_CRASH_AT": "epoch-logged:2"})])
    with open(full / "filler", "wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 12, 1 << 9):
            with suppress(OSError):
                while f.write(b"\0" * chunk):
                    pass
    run.run([Case("disk", "--resume with the disk full (run killed in epoch 2)", ["train", "--resume", str(full / "run")],
                  True, cwd=base, keep=[full / "run" / "checkpoints"], check=loads(full / "run"))])
    (full / "filler").unlink()
    m1, m2 = full / "run" / "metrics.csv", base / "ref" / "metrics.csv"
    run.run([Case("disk", "--resume once space is free again (metrics as a straight run's)", ["train", "--resume", str(full / "run")],
                  False, cwd=base, check=lambda f: loads(full / "run")(f) + ([] if m1.read_bytes() == m2.read_bytes() else ["metrics differ after kill"]))])
def kill(work: Path, n: int = 10, seed: int = 0):
    """Real `dlp train` killed with SIGKILL at random moments, then what a user does: the same command, then
    `dlp train --resume RUN` when told to; metrics.csv must equal an uninterrupted run's."""
    base, env = work / "kill", {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [PY, "-m", "dlpractice", "train", *sets("data.dataset=digits", "model.name=mlp", "train.epochs=3", "train.checkpoint_every=4",
                                                    "train.threads=1", "log.progress=false"), "--out", "RUN"]
    def timed(folder):   # seconds to its first stdout line (when it starts writing) and to the end
        folder.mkdir(parents=True)
        t0, p = time.time(), subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        first = (p.stdout.readline(), time.time() - t0)[1]
        return first, (p.communicate(timeout=300), time.time() - t0)[1], p.returncode
    with ThreadPoolExecutor(2) as pool:   # two at once, as the kills run, so the timing is theirs
        (first, span, rc), _ = pool.map(timed, [base / "ref", base / "ref2"])
    if rc:
        return tally("kill", "the uninterrupted reference run", rc, "", ["other exit codes"])
    ref = (base / "ref" / "RUN" / "metrics.csv").read_bytes()
    delays = [random.Random(seed + i).uniform(0.5 if i % 2 else first, span) for i in range(n)]  # half from its first line
    def one(i):
        (d := base / f"k{i}").mkdir()
        p = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(delays[i])
        p.kill(), p.wait()
        steps = [("again", subprocess.run(cmd, cwd=d, capture_output=True, text=True, env=env, timeout=300))]
        if steps[0][1].returncode == 2 and "dlp train --resume RUN" in steps[0][1].stderr:
            steps.append(("--resume", subprocess.run(cmd[:4] + ["--resume", "RUN"], cwd=d, capture_output=True, text=True, env=env, timeout=300)))
        return i, steps
    with ThreadPoolExecutor(2) as pool:
        for i, steps in pool.map(one, range(n)):
            last, m = steps[-1][1], base / f"k{i}" / "RUN" / "metrics.csv"
            bad = judge(False, last.returncode, last.stderr, False) + (judge(True, 2, steps[0][1].stderr, False) if len(steps) == 2 else [])
            bad += ["metrics differ after kill"] if not m.is_file() or m.read_bytes() != ref else []
            bad += [] if all((m.parent / f).is_file() for f in ("summary.json", "report.html", "curves.png")) else ["run incomplete after kill"]
            tail = [ln for s in steps for ln in s[1].stderr.splitlines() if ln.strip()]
            tally("kill", f"kill -9 after {delays[i]:.2f} s of {span:.1f}, then {' + '.join(s for s, _ in steps)}", last.returncode,
                  (tail or [""])[-1][:120], bad, f"$ dlp {shlex.join(cmd[3:])}   [in {base / f'k{i}'}; then: {', '.join(s for s, _ in steps)}]\n"
                  + "\n".join("    " + ln for ln in tail[-4:]) + f"\n    files: {sorted(os.listdir(m.parent)) if m.parent.is_dir() else None}")
def send(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        status, raw = (r := conn.getresponse()).status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, f"<no answer: {type(e).__name__}: {e}>"
    finally:
        conn.close()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw[:160].decode(errors="replace")
def multipart(files, boundary="hostile"):
    return b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{n}"\r\nContent-Type: image/png\r\n\r\n'
                    .encode() + d + b"\r\n" for n, d in files) + f"--{boundary}--\r\n".encode(), \
        {"Content-Type": f"multipart/form-data; boundary={boundary}"}
J, P = {"Content-Type": "application/json"}, {"Content-Type": "image/png"}
HTTP_WHY = {"HEAD": "a HEAD answer has no body; 200 or 405 both fine", "64 KB": "the HTTP layer may refuse a huge header",
            "\\u": "characters the vocabulary never saw (NUL, lone surrogates, combining marks) map to its unknown id",
            "c0": "rows by column name for a run trained without a header", "true": "booleans read as 1 / 0, as in a CSV",
            "1e+38": "finite in float32, but far off the training range", "NaN": "a NaN cell may be read as missing (imputed)"}
def requests(kind: str) -> list:
    """(what, method, path, body, headers, ok): ok True must be 2xx, False 4xx, None either (HTTP_WHY)."""
    body, h = {"img": (png(), P), "names": (b'["Nakamura"]', J), "table": (json.dumps({"rows": [[0.1] * 8]}).encode(), J)}[kind]
    rq = [(f"{m} {u}", m, u, b, hd, ok) for m, u, b, hd, ok in [
        ("GET", "/health", None, {}, True), ("GET", "/model", None, {}, True), ("GET", "/", None, {}, True),
        ("GET", "/openapi.json", None, {}, True), ("POST", "/predict", body, h, True), ("POST", "/predict?top=1", body, h, True),
        ("GET", "/nope", None, {}, False), ("GET", "/../../etc/passwd", None, {}, False), ("POST", "/model", b"{}", J, False),
        ("PUT", "/predict", body, h, False), ("DELETE", "/predict", None, {}, False), ("GET", "/predict", None, {}, False),
        ("HEAD", "/health", None, {}, None), ("OPTIONS", "/predict", None, {}, False), ("GET", "/" + "a" * 10000, None, {}, False)]]
    rq += [(f"?top={v}", "POST", f"/predict?top={v}", body, h, False) for v in ("0", "-1", "abc", "99999", "1.5", "")]
    rq += [(w, "POST", "/predict", b, hd, ok) for w, b, hd, ok in [
        ("no body, no type", b"", {}, False), ("text/plain", b"hi", {"Content-Type": "text/plain"}, False), ("invalid JSON", b"{", J, False),
        ("JSON 10000 levels deep", b"[" * 10000 + b"]" * 10000, J, False), ("a JSON NaN", b"[NaN]", J, False),
        ("Content-Length abc", body, {**h, "Content-Length": "abc"}, False),
        ("Content-Length 5 MB, not sent", body, {**h, "Content-Length": "5000000"}, False),
        ("a 5 MB body", b"[" + b'"a",' * 1_250_000 + b'"a"]', J, False),
        ("form-urlencoded", b"a=1", {"Content-Type": "application/x-www-form-urlencoded"}, False),
        ("multipart, broken", b"--x\r\n\r\n", {"Content-Type": "multipart/form-data; boundary=x"}, False),
        ("multipart, no boundary", b"--x--", {"Content-Type": "multipart/form-data"}, False),
        ("a header of 64 KB", body, {**h, "X-Big": "a" * 65536}, None)]]
    if kind == "img":
        big = png(size=(2000, 2000), value=128)
        rq += [(f"a {n}", "POST", "/predict", hc.IMAGES[n](), P, ok) for n, ok in [
            ("corrupt.png", False), ("text.png", False), ("gray16.png", True), ("float.tif", True), ("palette.png", True),
            ("rgba.png", True), ("cmyk.jpg", True), ("huge.png", False), ("empty.png", False), ("one-pixel.png", True), ("wide.png", True)]]
        rq += [(w, "POST", "/predict", b, hd, ok) for w, b, hd, ok in [
            ("a JPEG as octet-stream", png(fmt="JPEG"), {"Content-Type": "application/octet-stream"}, True),
            ("a GIF", png(fmt="GIF"), {"Content-Type": "image/gif"}, True), ("a truncated PNG", body[:30], P, False),
            ("JSON to an image run", b"[1]", J, False), ("2000×2000 (4 Mpx)", big, P, True),
            ("2001×2000", png(size=(2001, 2000), value=128), P, False), ("multipart, 1 file", *multipart([("a.png", body)]), True),
            ("multipart, 10 files", *multipart([(f"{i}.png", body) for i in range(10)]), True),
            ("multipart, 300 files", *multipart([(f"{i}.png", body) for i in range(300)]), False),
            ("multipart, 5 × 4 Mpx", *multipart([(f"{i}.png", big) for i in range(5)]), False),
            ("multipart, an empty file", *multipart([("e.png", b"")]), False),
            ("multipart, one bad of 2", *multipart([("a.png", body), ("b.png", b"junk")]), False),
            ("multipart, a text field only", b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
             {"Content-Type": "multipart/form-data; boundary=x"}, False)]]
        return rq
    row = {f"c{i}": 0.1 for i in range(8)}
    values = [(["Nakamura", "Müller", "O'Neill"], True), ({"texts": ["Mueller"]}, True), ([], False), ({}, False), ([1], False),
              ([[]], False), ([""], False), (["   "], False), ("Nakamura", False), (["x" * 300], False), (["\ufdfa" * 256], False),
              (["\ufdfa" * 14], True), (["\u0000"], None), (["a\u0000b"], None), (["Li"] * 257, False), (["Li"] * 256, True),
              ([None], False), ([True], False), ({"texts": "a"}, False), ({"rows": []}, False), (["\ud800"], None), (["😀"], True),
              (["e\u0301" * 100], None), (["a" * 100] * 256, False), ([["a"]], False), ({"texts": ["a"], "x": 1}, False)] \
        if kind == "names" else [
              ([[0.1] * 8], True), ({"rows": [[0.1] * 9]}, True), ({"rows": [row]}, None), ({"rows": [[1] * 7]}, False), ({"rows": []}, False),
              ([], False), ({}, False), ([1], False), ([[]], False), ({"rows": [["a"] * 8]}, False), ({"rows": [[None] * 8]}, True),
              ({"rows": [[0.1] * 8] * 257}, False), ({"rows": [[0.1] * 8] * 256}, True), ({"rows": [[{"a": 1}] * 8]}, False),
              ({"rows": [[True] * 8]}, None), ({"rows": [["x" * 300] * 8]}, False), ({"rows": [row, [0.1] * 8]}, False),
              ({"rows": {"c0": 1}}, False), ({"rows": [[0.1] * 8], "x": 1}, False), ({"rows": [[1e38] * 8]}, None)]
    rq += [(f"JSON {json.dumps(v)[:50]}", "POST", "/predict", json.dumps(v).encode(), J, ok) for v, ok in values]
    return rq + ([("a PNG to a names run", "POST", "/predict", png(), P, False),
                  ("charset=utf-8", "POST", "/predict", body, {"Content-Type": "application/json; charset=utf-8"}, True),
                  ("application/vnd.api+json", "POST", "/predict", body, {"Content-Type": "application/vnd.api+json"}, True)]
                 if kind == "names" else [("a value 1e400", "POST", "/predict", b'{"rows": [[1e400, 0, 0, 0, 0, 0, 0, 0]]}', J, False),
                                          ("a NaN cell", "POST", "/predict", b'{"rows": [[NaN, 0, 0, 0, 0, 0, 0, 0]]}', J, None)])
def judge_http(method, ok, status, body) -> list[str]:
    shaped = isinstance(body, dict) and set(body) == {"error"} and isinstance(body["error"], str)
    return (["5xx"] if status >= 500 and status != 503 else []) + (["error bodies without error"] if status == 0 or status >= 400
                                                                    and method != "HEAD" and not shaped else []) + \
        (["valid inputs refused"] if ok is True and not 200 <= status < 300 else []) + (["silent accepts"] if ok is False and 200 <= status < 300 else [])
def http_pass(fx: dict, work: Path):
    """~170 requests to real `dlp serve RUN --port 0` servers of the image, names and table runs."""
    servers, ports = {k: subprocess.Popen([PY, "-m", "dlpractice", "serve", str(fx[k]), "--port", "0"], stdout=subprocess.PIPE, text=True,
                                          stderr=open(work / f"serve-{k}.log", "w"), cwd=work, env={**os.environ, "OMP_NUM_THREADS": "1"})
                      for k in ("img", "names", "table")}, {}
    try:
        for k, p in servers.items():
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", p.stdout.readline())
            ports[k] = int(m.group(1)) if m else tally("http", f"dlp serve of the {k} run starts", p.poll(), "", ["other exit codes"])
        for k, port in ((k, v) for k, v in ports.items() if v):
            for what, method, path, body, headers, ok in requests(k):
                status, answer = send(port, method, path, body, headers)
                bad, shown = judge_http(method, ok, status, answer), json.dumps(answer, ensure_ascii=True)
                log = (work / f"serve-{k}.log").read_text(errors="replace").strip().splitlines()
                why = next((w for key, w in HTTP_WHY.items() if key in what), "see the notes") if ok is None else ""
                tally("http", f"{k}: {what}", status, shown[:120], bad, f"$ curl -X {method} 'http://127.0.0.1:PORT{path[:60]}' "
                      f"({len(body or b'')} bytes, {headers.get('Content-Type', 'no Content-Type')}) → {status} {shown[:300]}"
                      + (f"\n    server log: {log[-1][:300]}" if bad and log else ""), why)
        if ports.get("names"):
            heavy, stop, waits, seen = json.dumps(["\ufdfa" * 256] * 256).encode(), threading.Event(), [], []
            def hammer():
                while not stop.is_set():
                    seen.append(send(ports["names"], "POST", "/predict", heavy, J)[0])
            threads = [threading.Thread(target=hammer) for _ in range(2)]
            [th.start() for th in threads] and time.sleep(1)
            for _ in range(5):
                t0, (status, _) = time.time(), send(ports["names"], "POST", "/predict", b'["Nakamura"]', J)
                waits.append((time.time() - t0, status))
                time.sleep(0.2)
            stop.set()
            [th.join() for th in threads]
            worst = max(w for w, _ in waits)
            tally("http", "names: 5 valid names while 2 threads send U+FDFA×256 ×256", max(s for _, s in waits), f"max wait {worst:.3f} s",
                  (["slow under load"] if worst >= 0.5 else []) + (["valid inputs refused"] if any(s != 200 for _, s in waits) else []),
                  "waits: " + ", ".join(f"{w:.3f} s ({s})" for w, s in waits) + f"; the heavy requests: {len(seen)}, statuses {sorted(set(seen))}")
    finally:
        [(p.terminate(), p.wait(timeout=30)) for p in servers.values()]
def report(work: Path, seconds: float):
    counts = {k: sum(k in r["bad"] for r in ROWS) for k in COUNTS}
    for r in ROWS:
        print(f"{'!!' if r['bad'] else 'ok'} {str(r['code']):>4}  {r['cat']:<11} {r['what'][:58]:<58}  {r['last'][:100]}")
    print("\nFAILURES, by category\n" + "\n".join(f"[{cat}] {r['what']}: {', '.join(r['bad'])}\n    {r['detail']}"
                                                   for cat in dict.fromkeys(r["cat"] for r in ROWS) for r in ROWS if r["cat"] == cat and r["bad"]))
    print("\nUNCLEAR: either outcome allowed\n" + "\n".join(f"[{r['cat']}] {r['what']} → {r['code']} {r['last'][:90]}  ({r['why']})"
                                                         for r in ROWS if r["why"]))
    (work / "results.json").write_text(json.dumps(ROWS, indent=1, ensure_ascii=False))
    print(f"\n{len(ROWS)} inputs in {seconds:.0f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return any(counts.values())
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temp folder)")
    ap.add_argument("--only", choices=CATEGORIES, default=None, help="run one category")
    ap.add_argument("--subprocess", action="store_true", help="run every input as a real `python -m dlpractice`")
    ap.add_argument("--jobs", type=int, default=2, help="inputs run at once (default 2)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="dlp-hostile-")).resolve()
    os.environ.setdefault("DLP_DATA_DIR", "/work/shared/data") if Path("/work/shared/data").is_dir() else None
    t0, want, hc.MARKER = time.time(), [args.only] if args.only else list(CATEGORIES), work / "MARKER-code-ran-from-a-checkpoint"
    preimport()
    print(f"imports {time.time() - t0:.1f} s; work in {work}", flush=True)
    run = Runner(work, args.jobs, args.subprocess)
    try:
        fx = fixtures(run, work) if set(want) & {"cli", "checkpoints", "runfolders", "http"} else {}
        cases = [c for cat, make in [("config", lambda: hc.config_cases() + hc.args_cases() + hc.toml_cases() + hc.launch_cases()),
                                     ("cli", lambda: hc.cli_cases(fx)), ("data", hc.file_cases),
                                     ("checkpoints", lambda: hc.ckpt_cases(fx)), ("runfolders", lambda: hc.runfolder_cases(fx))]
                 if cat in want for c in make()]
        [setattr(c, "sub", True) for c in random.Random(0).sample([c for c in cases if not c.serve], min(20, len(cases)))]
        print(f"{len(cases)} inputs through the command line ...", flush=True)
        run.run(cases)
        disk(run, work) if "disk" in want else None
        kill(work) if "kill" in want else None
        http_pass(fx, work) if "http" in want else None
    finally:
        [subprocess.run(["umount", "-l", str(m)], capture_output=True) for m in reversed(hc.MOUNTS)]
    return 1 if report(work, time.time() - t0) else 0

if __name__ == "__main__":
    sys.exit(main())
