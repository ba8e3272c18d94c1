"""`dlp serve`: the real server on a free loopback port answers like `dlp predict` for images, table rows
and names; bad input is a clear 4xx; /model, /health, the page and the OpenAPI document; the CLI binds
127.0.0.1 with --port 0 and refuses a missing run folder before binding.

Shared with test_serve_browser / test_serve_fuzz / test_export: `tiny_run` (small real runs, trained once
per session), `served` (one in-process uvicorn per run folder, on its own thread) and `start_server` (the
same for a given app).
"""
from __future__ import annotations

import asyncio
import gzip
import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import assert_same_top, require_data

QUIET = ["log.progress=false", "log.loggers=['csv']", "train.device=cpu"]
RUN_SETTINGS = {
    # a 2-epoch bi-GRU (hidden 32) on 2,000 names: about 63% test accuracy, predictions differ by name
    "names": ["data.dataset=names", "data.limit_train=2000", "model.name=rnn_classifier",
              "model.args={hidden_size=32, embedding_dim=16, num_layers=2}", "optim.name=adam", "optim.lr=0.01",
              "optim.weight_decay=0.0", "train.epochs=2", "train.eval_test=false"],
    # the same as an ensemble of two independently initialised copies (models/ensemble.py)
    "names_ensemble": ["data.dataset=names", "data.limit_train=2000", "model.name=rnn_classifier",
                       "model.args={hidden_size=32, embedding_dim=16, num_layers=2, members=2}", "optim.name=adam",
                       "optim.lr=0.01", "optim.weight_decay=0.0", "train.epochs=2", "train.eval_test=false"],
    # lecture 7's network on Pima diabetes (a CSV without a header: columns c0 … c7 and the target)
    # a softmax classifier on hand-made features (FFT magnitudes + db2 wavelet coefficients) of 2,000 images
    "features": ["data.dataset=fashion-mnist", "data.limit_train=2000",
                 "data.options={features='fft+wavelet', wavelet='db2', level=2}", "model.name=tabular_classifier",
                 "model.args={hidden=[]}", "train.epochs=1", "train.eval_test=false"],
    "diabetes": ["data.dataset=diabetes", "model.name=tabular_mlp", "model.args={hidden=[6, 4]}",
                 "optim.name=adam", "optim.lr=0.01", "train.epochs=3"],
}
_RUNS: dict[str, Path] = {}
_SERVERS: dict[tuple, str] = {}


def tiny_run(kind: str, tmp_path_factory) -> Path:
    """A small real run folder of `kind` (names, diabetes), trained once per test session."""
    if kind not in _RUNS:
        from dlpractice.config import DataConfig, load_config
        from dlpractice.data import load_dataset
        from dlpractice.train.loop import train
        require_data(lambda: load_dataset(DataConfig(dataset=RUN_SETTINGS[kind][0].split("=")[1])))
        cfg = load_config(overrides=RUN_SETTINGS[kind] + QUIET)
        _RUNS[kind] = train(cfg, out=tmp_path_factory.mktemp(kind) / "run").folder
    return _RUNS[kind]


def served(folder, **limits) -> str:
    """The base URL of a real uvicorn serving `folder` on a free 127.0.0.1 port (one per folder and limits,
    on a daemon thread for the rest of the session)."""
    key = (str(folder), tuple(sorted(limits.items())))
    if key not in _SERVERS:
        from dlpractice.serve.http import Limits, build_app
        from dlpractice.runs.predictor import Predictor
        _SERVERS[key] = start_server(build_app(Predictor(folder), Limits(**limits)))
    return _SERVERS[key]


def start_server(app, http=None) -> str:
    """Run `app` in a real uvicorn (with `http`, by default the protocol `dlp serve` uses) on a free
    127.0.0.1 port, on a daemon thread for the rest of the session; its base URL once it has started."""
    import uvicorn

    from dlpractice.cli.serve import _bind
    from dlpractice.serve.wire import http_protocol
    sock = _bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", http=http or http_protocol()))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 180                           # sized for a machine other jobs share
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="session")
def names_run(tmp_path_factory):
    return tiny_run("names", tmp_path_factory)


@pytest.fixture(scope="session")
def diabetes_run(tmp_path_factory):
    return tiny_run("diabetes", tmp_path_factory)


@pytest.fixture(scope="module")
def client():
    import httpx
    with httpx.Client(timeout=120) as c:
        yield c


def dlp_predict(capsys, *args) -> list[dict]:
    """`dlp predict ... --json` through the real CLI entry point (in-process: no second torch import)."""
    from dlpractice.cli import main
    capsys.readouterr()
    assert main(["predict", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_same(got: list[dict], want: list[dict]) -> None:
    """Same inputs, same classes in the same order, probabilities equal up to float32 rounding (the server
    may batch requests together)."""
    assert [r["input"] for r in got] == [r["input"] for r in want]
    for g, w in zip(got, want):
        assert_same_top(g["top"], w["top"])


def fashion_test_images(n: int) -> np.ndarray:
    from dlpractice.data.idx import read_idx
    from dlpractice.data.paths import find_data
    from dlpractice.data.vision import DEBIAN_FASHION
    folder = find_data("fashion-mnist", ["t10k-images-idx3-ubyte.gz"], extra=[DEBIAN_FASHION])
    return read_idx(folder / "t10k-images-idx3-ubyte.gz")[:n]


def png_bytes(img: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image
    b = io.BytesIO()
    Image.fromarray(img).save(b, fmt)
    return b.getvalue()


# -- predictions equal `dlp predict` ---------------------------------------------------------------------------
def test_images_over_http_equal_dlp_predict(fashion_run, client, capsys, tmp_path):
    """Fashion-MNIST test images as PNG (as drawn: dark on light too) and JPEG, sent one per request, as one
    multipart request, and as 16 concurrent requests: the same top-5 as `dlp predict` on the same files."""
    url = served(fashion_run)
    images = fashion_test_images(12)
    files = []
    for i, img in enumerate(images):
        fmt, suffix = ("JPEG", "jpg") if i % 4 == 3 else ("PNG", "png")
        data = png_bytes(255 - img if i % 3 == 1 else img, fmt)
        (tmp_path / f"t{i}.{suffix}").write_bytes(data)
        files.append((f"t{i}.{suffix}", data, f"image/{fmt.lower()}"))
    want = dlp_predict(capsys, fashion_run, *(tmp_path / f for f, _, _ in files), "--top", "5")
    for w in want:
        w["input"] = Path(w["input"]).name
    one_by_one = []
    for name, data, ctype in files:
        r = client.post(f"{url}/predict?top=5", content=data, headers={"content-type": ctype})
        assert r.status_code == 200, r.text
        one_by_one += [{**r.json()[0], "input": name}]
    assert_same(one_by_one, want)
    r = client.post(f"{url}/predict?top=5", files=[("file", f) for f in files])
    assert r.status_code == 200, r.text
    assert_same(r.json(), want)
    # concurrent requests share forward passes (micro-batching) and still get their own answers
    import httpx

    async def burst():
        async with httpx.AsyncClient(timeout=120) as ac:
            return await asyncio.gather(*(ac.post(f"{url}/predict?top=5", content=files[i % 12][1],
                                                  headers={"content-type": files[i % 12][2]}) for i in range(16)))
    rs = asyncio.run(burst())
    assert_same([{**r.json()[0], "input": files[i % 12][0]} for i, r in enumerate(rs)],
                [want[i % 12] for i in range(16)])
    assert want[0]["top"][0]["class"] in ("Ankle boot", "Sneaker", "Sandal")  # test image 0 is an ankle boot


def test_a_features_run_predicts_a_png_as_it_evaluates_the_image(tmp_path_factory, client, capsys, tmp_path):
    """A run on hand-made features (data/features.py): `dlp predict` and POST /predict turn a PNG of a test image
    into the features it was evaluated on (the transform and its statistics come from the run folder), so both
    answer what the model gives that image's test-split features; the page knows the kind."""
    from dlpractice.runs.predictor import Predictor
    run = tiny_run("features", tmp_path_factory)
    pred = Predictor(run)
    assert pred.meta["input"] == "image-features" and pred.meta["in_features"] == pred.meta["features"]["count"]
    images = fashion_test_images(6)
    for i, img in enumerate(images):
        (tmp_path / f"t{i}.png").write_bytes(png_bytes(img))
    got = dlp_predict(capsys, run, *(tmp_path / f"t{i}.png" for i in range(6)), "--top", "10")
    with torch.no_grad():
        probs = pred.probabilities(pred.split("test", str(run)).x[:6])
    classes = pred.meta["classes"]
    for row, p in zip(got, probs):
        assert_same_top(row["top"], [{"class": classes[j], "probability": float(p[j])}
                                     for j in p.argsort(descending=True).tolist()])
    url = served(run)
    r = client.post(f"{url}/predict?top=10", content=png_bytes(images[0]), headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    assert_same_top(r.json()[0]["top"], got[0]["top"])
    info = client.get(f"{url}/model").json()
    assert info["input"] == "image-features" and info["features"]["wavelet"] == "db2"
    assert info["input_shape"] == [pred.meta["in_features"]] and info["image"]["size"] == 28


def test_table_rows_over_http_equal_dlp_predict(diabetes_run, client, capsys, tmp_path):
    """Diabetes rows from the real CSV as JSON lists (with and without the target) and as objects by column
    name: the same probabilities as `dlp predict --csv` on the same lines."""
    from dlpractice.data.tabular import diabetes_file
    lines = gzip.open(diabetes_file(), "rt").read().splitlines()[:30]
    (tmp_path / "rows.csv").write_text("\n".join(lines) + "\n")
    want = dlp_predict(capsys, diabetes_run, "--csv", tmp_path / "rows.csv", "--top", "2")
    url = served(diabetes_run)
    rows = [line.split(",") for line in lines]
    as_numbers = [[float(v) for v in r[:-1]] for r in rows]       # JSON numbers, target left out
    as_objects = [{f"c{j}": v for j, v in enumerate(r[:-1])} | {"diabetes": r[-1]} for r in rows]
    for body in ({"rows": rows}, as_numbers, {"rows": as_objects}):
        r = client.post(f"{url}/predict?top=2", json=body)
        assert r.status_code == 200, r.text
        assert_same(r.json(), want)
    assert {r["top"][0]["class"] for r in want} <= {"0", "1"}


def test_names_over_http_equal_dlp_predict(names_run, client, capsys):
    names = ["Nakamura", "Müller", "O'Neill", "Ivanov", "Xu", "Abdulrahmanovich", "Rossi", "Schmidt"]
    want = dlp_predict(capsys, names_run, "--text", *names, "--top", "4")
    url = served(names_run)
    r = client.post(f"{url}/predict?top=4", json=names)
    assert r.status_code == 200, r.text
    assert_same(r.json(), want)
    alone = [client.post(f"{url}/predict?top=4", json={"texts": [n]}).json()[0] for n in names]
    assert_same(alone, want)
    assert len({r["top"][0]["class"] for r in want}) >= 2   # a model that tells names apart


def test_micro_batcher_groups_waiting_requests():
    """Requests that arrive while a batch is computing go together into the next forward pass; each gets
    its own rows back, and id sequences of different lengths are padded to one batch."""
    from dlpractice.serve.http import MicroBatcher
    seen = []

    def fn(x):
        seen.append(x.shape)
        time.sleep(0.05)
        return x.sum(1, keepdim=True)
    b = MicroBatcher(fn, max_rows=64)

    async def go():
        xs = [torch.ones(1, 3, dtype=torch.long)] + [torch.ones(i, 1 + i, dtype=torch.long) for i in range(1, 6)]
        first = asyncio.ensure_future(b(xs[0]))
        await asyncio.sleep(0.01)                       # the first batch is computing
        rest = await asyncio.gather(*(b(x) for x in xs[1:]))
        return [await first, *rest]
    outs = asyncio.run(go())
    assert seen == [(1, 3), (15, 6)] and (b.batches, b.requests) == (2, 6)
    assert [o.flatten().tolist() for o in outs] == [[3], [2], [3, 3], [4, 4, 4], [5] * 4, [6] * 5]


# -- what the server says about itself ---------------------------------------------------------------------------
@pytest.mark.parametrize("meta, says", [
    ({"task": "binary", "input": "tabular", "classes": ["died", "survived"],
      "tabular": {"numeric": [{"name": "age"}], "categorical": [{"name": "sex", "categories": ["f", "m"]}]}},
     "tells survived from died for table rows of 2 columns"),
    ({"task": "regression", "input": "tabular", "tabular": {"numeric": [{"name": "x"}]}},
     "predicts a number from table rows of 1 column"),
    ({"task": "classification", "input": "image-features", "classes": list("abc"), "size": 28,
      "features": {"kind": "fft", "count": 420}}, "sorts 28×28 grey images (as 420 fft features) into 3 classes"),
])
def test_the_model_is_said_in_words(meta, says):
    from dlpractice.inputs import INPUT_KINDS
    from dlpractice.serve.http import in_words
    assert in_words(meta, INPUT_KINDS.get(meta["input"])) == says


def test_model_health_page_and_openapi(fashion_run, client):
    url = served(fashion_run)
    summary = json.loads((Path(fashion_run) / "summary.json").read_text())
    info = client.get(f"{url}/model").json()
    assert info["task"] == "classification" and info["input"] == "image" and info["input_shape"] == [1, 28, 28]
    assert info["classes"][0] == "T-shirt/top" and len(info["classes"]) == 10
    assert info["says"] == "sorts 28×28 grey images into 10 classes"
    assert info["metrics"]["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert info["versions"]["torch"] == torch.__version__ and info["parameters"] > 1000
    health = client.get(f"{url}/health").json()
    assert health["status"] == "ok"
    page = client.get(f"{url}/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/", "/page.js", "/page.css"):
        text = client.get(f"{url}{asset}").text
        assert not re.search(r"(src|href)=\"(https?:)?//", text) and "url(http" not in text, asset
    assert client.get(f"{url}/docs").status_code == 404 and client.get(f"{url}/redoc").status_code == 404
    spec = client.get(f"{url}/openapi.json").json()
    assert "image/png" in spec["paths"]["/predict"]["post"]["requestBody"]["content"]


# -- bad input: a clear 4xx ---------------------------------------------------------------------------------------
def test_bad_inputs_are_clear_4xx(fashion_run, names_run, diabetes_run, client):
    from PIL import Image
    img, names, rows = served(fashion_run, max_pixels=1_000_000), served(names_run), served(diabetes_run)
    good = png_bytes(fashion_test_images(1)[0])
    huge = io.BytesIO()
    Image.new("L", (3000, 3000)).save(huge, "PNG")           # 9 Mpx, a few KB compressed
    png = {"content-type": "image/png"}
    cases = [
        (img, dict(content=b"hello, not an image", headers=png), 422, "not an image"),
        (img, dict(content=good[:120], headers=png), 422, "damaged or truncated"),
        (img, dict(content=huge.getvalue(), headers=png), 413, "too large"),
        (img, dict(content=b"", headers=png), 422, "not an image"),
        (img, dict(json={"image": "x"}), 415, "takes the image file as the body"),
        (img, dict(files=[("file", ("notes.txt", b"text", "text/plain"))]), 422, "notes.txt is not an image"),
        (img, dict(content=b"x" * (4 * 1024 * 1024 + 1), headers=png), 413, "request body over"),
        (names, dict(json=["Nakamura", "   "]), 422, "empty or whitespace-only text (input 2)"),
        (names, dict(json=[]), 422, "empty"),
        (names, dict(json={"names": ["a"]}), 422, "expected a JSON list of strings"),
        (names, dict(json=["Nakamura", 7]), 422, "item 2 is a int"),
        (names, dict(json=["x" * 300]), 413, "at most 256"),
        (names, dict(content=b"[\"Nakamura\"", headers={"content-type": "application/json"}), 400, "not valid JSON"),
        (names, dict(content=b"[" * 100_000, headers={"content-type": "application/json"}), 400, "not valid JSON"),
        (names, dict(content=b"Nakamura", headers={"content-type": "text/plain"}), 415, "takes JSON"),
        (rows, dict(json={"rows": [{"c0": 1}]}), 422, "lacks column(s) c1, c2"),
        (rows, dict(json={"rows": [[1, 2, 3]]}), 422, "has 3 columns"),
        (rows, dict(json={"rows": [{"c0": "abc"} | {f"c{j}": 0 for j in range(1, 8)}]}), 422, "c0"),
        (rows, dict(json={"rows": [[1] * 8, [1] * 7]}), 422, "row 2 has 7 values"),
        (rows, dict(json={"rows": [{"c0": [1]}]}), 422, "expected a number, a string or null"),
        (rows, dict(json={"rows": [{}] * 300}), 413, "at most 256"),
    ]
    for url, kw, status, message in cases:
        r = client.post(f"{url}/predict", **kw)
        assert r.status_code == status and message in r.json()["error"], (kw.get("json"), r.status_code, r.text)
    r = client.post(f"{img}/predict?top=zero", content=good, headers=png)
    assert r.status_code == 422 and "query parameter top" in r.json()["error"]
    for url in (img, names, rows):
        assert client.get(f"{url}/health").json()["status"] == "ok"


# -- the CLI ----------------------------------------------------------------------------------------------------
def test_serve_cli_port_0_prints_url_limits_from_flags_and_missing_run_fails_before_binding(fashion_run, tmp_path, capsys):
    from dlpractice.cli import main
    assert main(["serve", str(tmp_path / "nope"), "--port", "0"]) == 2
    err = capsys.readouterr()
    assert "error: " in err.err and "is not a run folder" in err.err and "serving" not in err.out
    for flag, value, message in [("--max-chars", "0", "--max-chars must be ≥ 1"),
                                 ("--max-seconds", "nan", "--max-seconds must be finite")]:
        assert main(["serve", str(fashion_run), flag, value]) == 2
        assert message in capsys.readouterr().err
    p = subprocess.Popen([sys.executable, "-m", "dlpractice", "serve", str(fashion_run), "--port", "0",
                          "--max-total-pixels", "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        m = re.search(r"at (http://127\.0\.0\.1:(\d+)/)", line)
        assert m and int(m.group(2)) > 0, (line, p.stderr.read() if p.poll() is not None else "")
        import httpx
        assert httpx.get(m.group(1) + "health", timeout=60).json()["status"] == "ok"
        from PIL import Image
        png = io.BytesIO()
        Image.new("L", (28, 28)).save(png, "PNG")
        files = [("file", (f"{i}.png", png.getvalue(), "image/png")) for i in range(2)]
        r = httpx.post(m.group(1) + "predict", files=files[:1], timeout=60)
        assert r.status_code == 200, r.text                                      # 784 pixels
        r = httpx.post(m.group(1) + "predict", files=files, timeout=60)
        assert r.status_code == 413 and "1,000 pixels together" in r.json()["error"], r.text   # the flag holds
    finally:
        p.terminate()
        p.wait(timeout=10)
