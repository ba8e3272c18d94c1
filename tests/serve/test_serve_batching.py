"""`dlp serve` batches for real: concurrent requests against a real uvicorn server share forward passes
(/health counts fewer batches than requests) and get the answers they get alone, within float rounding;
the fast lane and FastAPI's route answer alike; worker processes prepare requests as the threads do; the
model served is the TorchScript trace where that is the same computation; h11, the fallback protocol,
refuses in JSON too."""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import torch

from conftest import assert_same_top
from test_serve_http import client, fashion_test_images, names_run, png_bytes, served, start_server  # noqa: F401

PNG = {"content-type": "image/png"}


def health(client, url: str) -> tuple[int, int]:
    h = client.get(f"{url}/health").json()
    return h["requests"], h["batches"]


def burst(url: str, bodies: list[bytes], query: str = "?top=5") -> list[httpx.Response]:
    """All `bodies` as concurrent POST /predict requests, one connection each."""
    async def go():
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=len(bodies))) as ac:
            return await asyncio.gather(*(ac.post(f"{url}/predict{query}", content=b, headers=PNG) for b in bodies))
    return asyncio.run(go())


def test_concurrent_requests_share_forward_passes_and_get_their_own_answers(fashion_run, client):
    url = served(fashion_run)
    pngs = [png_bytes(img) for img in fashion_test_images(16)]
    before = health(client, url)
    alone = []
    for png in pngs:                                      # one at a time: a forward pass each
        r = client.post(f"{url}/predict?top=5", content=png, headers=PNG)
        assert r.status_code == 200, r.text
        alone.append(r.json()[0]["top"])
    after = health(client, url)
    assert (after[0] - before[0], after[1] - before[1]) == (16, 16)
    for _ in range(3):                                    # 16 in flight: they queue behind each forward pass
        rs = burst(url, pngs)
        for r, want in zip(rs, alone):
            assert r.status_code == 200, r.text
            assert_same_top(r.json()[0]["top"], want)     # the same answer, batched with others
    requests, batches = (a - b for a, b in zip(health(client, url), after))
    assert requests == 48 and batches < requests, (requests, batches)


def test_max_batch_1_runs_one_request_per_forward_pass(fashion_run, client):
    from dlpractice.runs.predictor import Predictor
    from dlpractice.serve.http import build_app
    url = start_server(build_app(Predictor(fashion_run), max_batch=1))
    pngs = [png_bytes(img) for img in fashion_test_images(8)]
    assert all(r.status_code == 200 for r in burst(url, pngs))
    assert health(client, url) == (8, 8)


def test_the_fast_lane_and_fastapis_route_answer_alike(fashion_run, client):
    """`?top=5` takes the fast lane, `?top=05` (FastAPI parses it) and multipart forms the route."""
    url = served(fashion_run)
    img = fashion_test_images(1)[0]
    png = png_bytes(img)
    fast = client.post(f"{url}/predict?top=5", content=png, headers=PNG)
    routed = client.post(f"{url}/predict?top=05", content=png, headers=PNG)
    form = client.post(f"{url}/predict?top=5", files=[("file", ("image", png, "image/png"))])
    assert fast.status_code == routed.status_code == form.status_code == 200
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    for r in (routed, form):
        assert_same_top(r.json()[0]["top"], fast.json()[0]["top"])
    for query in ("", "?top=3", "?top=03"):               # a refusal: the same status and words either way
        r = client.post(f"{url}/predict{query}", content=png[:40], headers=PNG)
        assert r.status_code == 422 and r.json() == {"error": "image is not an image PIL can read (PNG, JPEG, BMP, "
                                                              "GIF, ...)"}, r.text


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="worker processes need POSIX")
def test_worker_processes_prepare_as_the_threads_do(fashion_run, names_run, client):
    from dlpractice.runs.predictor import Predictor
    from dlpractice.serve.http import build_app
    for run, good, bad, media in ((fashion_run, png_bytes(fashion_test_images(1)[0]), b"\x89PNG broken", "image/png"),
                                  (names_run, b'["Nakamura", "M\\u00fcller"]', b'["Xu", ""]', "application/json")):
        app = build_app(Predictor(run), workers=1)
        url = start_server(app)
        assert len(app.state.workers.up) == 1            # up before the server answers
        threads = served(run)                            # the same run, prepared on threads
        for body in (good, bad, b"[1,"):
            got, want = (client.post(f"{u}/predict?top=4", content=body, headers={"content-type": media})
                         for u in (url, threads))
            assert got.status_code == want.status_code, (got.text, want.text)
            if want.status_code == 200:
                for g, w in zip(got.json(), want.json()):
                    assert g["input"] == w["input"]
                    assert_same_top(g["top"], w["top"])
            else:
                assert got.json() == want.json()
        assert app.state.workers.up[0].waiting == {}     # every answer came back from the worker


def test_served_model_is_traced_where_that_is_the_same_computation(fashion_run, names_run):
    from dlpractice.runs.predictor import Predictor
    from dlpractice.serve.export import served_model
    pred = Predictor(fashion_run)
    model, runtime = served_model(pred)
    assert runtime == "torchscript"
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        assert (model(x) - pred.model(x)).abs().max() <= 1e-5
    assert served_model(Predictor(names_run))[1] == "pytorch"   # variable lengths: the packed model itself


def test_micro_batcher_finishes_each_request_on_the_worker_thread():
    """With `finish`, each request gets what finish made of its rows, or the exception meant for it alone."""
    from dlpractice.serve.batching import MicroBatcher
    threads = set()

    def finish(out, parts):
        import threading
        threads.add(threading.current_thread().name)
        return [ValueError(tag) if tag == "bad" else (tag, out[rows].flatten().tolist()) for rows, tag in parts]

    def fn(x):
        time.sleep(0.05)
        return x * 10
    b = MicroBatcher(fn, finish=finish)

    async def go():
        first = asyncio.ensure_future(b(torch.ones(1, 1), "a"))
        await asyncio.sleep(0.01)                       # the first batch is computing
        rest = [asyncio.ensure_future(b(torch.full((n, 1), float(n)), tag)) for n, tag in ((2, "b"), (1, "bad"))]
        return [await first, *await asyncio.gather(*rest, return_exceptions=True)]
    a, b2, bad = asyncio.run(go())
    assert a == ("a", [10.0]) and b2 == ("b", [20.0, 20.0]) and isinstance(bad, ValueError)
    assert (b.batches, b.requests) == (2, 3) and threads == {"model_0"}


def test_the_h11_protocol_without_httptools_also_refuses_in_json(names_run):
    """httptools is optional: h11's protocol, the fallback, answers what it cannot parse as the other does."""
    from dlpractice.runs.predictor import Predictor
    from dlpractice.serve.http import build_app
    from dlpractice.serve.wire import JsonErrorH11Protocol
    from test_serve_limits import assert_malformed_length_is_json
    assert_malformed_length_is_json(start_server(build_app(Predictor(names_run)), http=JsonErrorH11Protocol))
