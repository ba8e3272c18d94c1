"""1,000 malformed requests (hypothesis) against the real servers of an image, a names and a table run:
no 5xx, every refusal is {"error": "..."}, and each server still answers /health afterwards."""
from __future__ import annotations

import io
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_same_top
from test_serve_http import fashion_test_images, served, tiny_run

JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/problem+json"]
OTHER_TYPES = ["image/png", "image/jpeg", "application/octet-stream", "text/plain", "", "multipart/form-data",
               "multipart/form-data; boundary=zz", "application/x-www-form-urlencoded", "image/", "*/*"]

scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=30)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=6), max_leaves=25)
row_values = st.dictionaries(st.sampled_from([f"c{j}" for j in range(9)] + ["diabetes", "x", ""]), scalars,
                             max_size=10)
names = st.lists(st.text(max_size=40) | scalars, max_size=8)


def _png() -> bytes:
    from PIL import Image
    b = io.BytesIO()
    Image.fromarray(fashion_test_images(1)[0]).save(b, "PNG")
    return b.getvalue()


@st.composite
def broken_image(draw, png: bytes) -> bytes:
    """A real PNG, cut short or with some bytes overwritten (headers, chunk lengths, pixel data)."""
    data = bytearray(png)
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def requests(draw, png: bytes):
    """(server, content type, body, files, query) for POST /predict: mostly malformed, some well-formed."""
    server = draw(st.sampled_from(["image", "names", "rows"]))
    query = draw(st.sampled_from(["", "?top=3", "?top=0", "?top=-1", "?top=abc", "?top=99999", "?top=1&top=2"]))
    shape = draw(st.sampled_from(["json", "rows", "names", "bytes", "image", "multipart", "nested", "text"]))
    files = None
    if shape == "json":
        ctype, body = draw(st.sampled_from(JSON_TYPES)), json.dumps(draw(json_values)).encode()
    elif shape == "rows":
        rows = draw(st.lists(row_values | st.lists(scalars, max_size=10), max_size=5))
        body = json.dumps({"rows": rows} if draw(st.booleans()) else rows).encode()
        ctype = "application/json"
    elif shape == "names":
        ctype, body = "application/json", json.dumps(draw(names)).encode()
    elif shape == "bytes":
        ctype, body = draw(st.sampled_from(JSON_TYPES + OTHER_TYPES)), draw(st.binary(max_size=600))
    elif shape == "image":
        ctype, body = draw(st.sampled_from(["image/png", "application/octet-stream", "application/json"])), \
            draw(broken_image(png))
    elif shape == "multipart":
        parts = draw(st.lists(st.tuples(st.text(max_size=10), st.binary(max_size=200) | broken_image(png)),
                              max_size=4))
        ctype, body = None, None
        files = [("file", (name or "f", data, "image/png")) for name, data in parts] or None
        if files is None:  # an empty multipart form
            ctype, body = "multipart/form-data; boundary=b", b"--b--\r\n"
    elif shape == "nested":
        depth = draw(st.integers(1, 5_000))  # json's recursion limit is about 1,000
        ctype, body = "application/json", b"[" * depth + b"]" * draw(st.integers(0, depth))
    else:
        ctype, body = draw(st.sampled_from(OTHER_TYPES)), draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    return server, ctype, body, files, query


@pytest.fixture(scope="module")
def urls(fashion_run, tmp_path_factory):
    return {"image": served(fashion_run), "names": served(tiny_run("names", tmp_path_factory)),
            "rows": served(tiny_run("diabetes", tmp_path_factory))}


def test_a_thousand_malformed_requests_get_4xx_never_5xx(urls, tmp_path_factory):
    from dlpractice.runs.predictor import Predictor
    names_folder = tiny_run("names", tmp_path_factory)
    statuses = {}
    png = _png()
    with httpx.Client(timeout=120) as client:
        @settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(requests(png))
        def one(req):
            server, ctype, body, files, query = req
            headers = {"content-type": ctype} if ctype is not None else {}
            r = client.post(f"{urls[server]}/predict{query}", content=body, files=files, headers=headers)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (server, ctype, body[:200] if body else files, r.status_code, r.text)
            if r.status_code >= 400:
                payload = r.json()
                assert set(payload) == {"error"} and payload["error"], r.text   # never FastAPI's "detail"
        one()
        assert sum(statuses.values()) == 1000
        assert sum(n for s, n in statuses.items() if 400 <= s < 500) >= 900, statuses   # mostly refused, clearly
        for url in urls.values():
            assert client.get(f"{url}/health").json()["status"] == "ok"
        # and the servers still predict correctly after all that
        want = Predictor(names_folder).predict(["Nakamura"], top=3)
        r = client.post(f"{urls['names']}/predict", json=["Nakamura"])
        got = r.json()[0]["top"]
        assert_same_top(got, want[0]["top"])
