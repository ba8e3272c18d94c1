"""`dlp serve` limits work, not only bytes: characters after Unicode normalisation (U+FDFA is 18 under NFKD)
per string and per request, pixels per request read from the image headers, a time budget for preparing
a request (a 503); every error is {"error": ...}; /openapi.json documents every status /predict returns
and what its body may hold. A names server keeps answering a valid request in well under 0.5 s while
adversarial requests are being refused."""
from __future__ import annotations

import io
import threading
import time

import httpx
import pytest

from test_serve_http import client, diabetes_run, names_run, served  # noqa: F401  (shared fixtures)

FDFA = "\ufdfa"   # ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM: 1 character, 18 after NFKD


def blank_png(w: int, h: int) -> bytes:
    from PIL import Image
    b = io.BytesIO()
    Image.new("L", (w, h)).save(b, "PNG")
    return b.getvalue()


def test_every_error_is_an_error_object(names_run, client):
    url = served(names_run)
    cases = [
        (client.post(f"{url}/predict?top=0", json=["Xu"]), 422, "query parameter top"),
        (client.post(f"{url}/predict?top=abc", json=["Xu"]), 422, "query parameter top"),
        (client.get(f"{url}/nope"), 404, "no such path: /nope"),
        (client.get(f"{url}/predict"), 405, "GET is not allowed on /predict"),
        (client.put(f"{url}/health"), 405, "PUT is not allowed on /health"),
        (client.post(f"{url}/predict", content=b"--b\r\nbroken", headers={"content-type": "multipart/form-data"}),
         400, ""),
    ]
    for r, status, message in cases:
        assert r.status_code == status, (r.request.url, r.status_code, r.text)
        body = r.json()
        assert set(body) == {"error"} and message in body["error"], (r.request.url, r.text)
    assert "POST" in cases[3][0].headers["allow"]


def test_characters_count_after_normalisation_and_per_request(names_run, client):
    url = served(names_run)
    r = client.post(f"{url}/predict", json=["Xu", FDFA * 20])            # 20 characters sent, 360 after NFKD
    assert r.status_code == 413 and "string 2 has 360 characters after Unicode normalisation" in r.json()["error"]
    r = client.post(f"{url}/predict", json=["a" * 100] * 200)             # 20,000 characters together
    assert r.status_code == 413 and "16,384 characters together" in r.json()["error"], r.text
    assert client.post(f"{url}/predict", json=["a" * 64] * 256).status_code == 200   # 16,384 exactly
    small = served(names_run, max_chars=8, max_total_chars=10)
    assert client.post(f"{small}/predict", json=["Müller"]).status_code == 200      # 7 sent, 6 after NFKD
    r = client.post(f"{small}/predict", json=["Müller", "Rossi"])
    assert r.status_code == 413 and "at string 2" in r.json()["error"]


def test_a_valid_request_is_answered_while_adversarial_ones_are_refused(names_run, client):
    """The hostile tester's request (256 strings of 256 × U+FDFA, 196 KB) held a names server 27.5 s; now it
    is refused at once, and valid requests sent meanwhile are answered in under 0.5 s (the median of 7: a
    busy machine may hold one of them back; bench/hostile_pass.py reports the largest wait)."""
    url = served(names_run)
    client.post(f"{url}/predict", json=["Nakamura"])                      # warm
    hostile = [FDFA * 256] * 256
    refused, stop = [], threading.Event()

    def attack():
        with httpx.Client(timeout=120) as c:
            for _ in range(40):                                           # bounded
                if stop.is_set():
                    break
                t = time.monotonic()
                r = c.post(f"{url}/predict", json=hostile)
                refused.append((r.status_code, time.monotonic() - t, r.json().get("error", "")))
    threads = [threading.Thread(target=attack, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while not refused and time.monotonic() < deadline:
        time.sleep(0.01)
    waits = []
    for name in ["Nakamura", "Müller", "Rossi", "Ivanov", "Schmidt", "Dubois", "Novak"]:
        t = time.monotonic()
        r = client.post(f"{url}/predict", json=[name])
        waits.append(time.monotonic() - t)
        assert r.status_code == 200, r.text
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert refused and all(s == 413 and "after Unicode normalisation" in e for s, _, e in refused), refused[:3]
    # the typical answer well under 0.5 s; one wait may be longer where other jobs take the cores
    assert sorted(waits)[len(waits) // 2] < 0.5 and max(waits) < 5, waits
    assert max(d for _, d, _ in refused) < 2.0, refused


def test_pixels_per_request_are_counted_from_headers(fashion_run, client):
    url = served(fashion_run)
    big = blank_png(2000, 2000)                                           # 4 Mpx in a few KB
    t = time.monotonic()
    r = client.post(f"{url}/predict", files=[("file", (f"b{i}.png", big, "image/png")) for i in range(200)])
    assert r.status_code == 413 and "16,000,000 pixels together" in r.json()["error"], r.text
    assert time.monotonic() - t < 2.0                                     # refused before decoding 800 Mpx
    small = served(fashion_run, max_total_pixels=50_000)
    img = blank_png(150, 150)                                             # 22,500 px each
    ok = client.post(f"{small}/predict", files=[("file", (f"i{i}.png", img, "image/png")) for i in range(2)])
    assert ok.status_code == 200, ok.text
    r = client.post(f"{small}/predict", files=[("file", (f"i{i}.png", img, "image/png")) for i in range(3)])
    assert r.status_code == 413 and "(at i2.png)" in r.json()["error"]


def test_over_the_time_budget_is_a_503(names_run, diabetes_run, client):
    for url, body in ((served(names_run, max_seconds=0.0), ["Xu"]),
                      (served(diabetes_run, max_seconds=0.0), {"rows": [[1] * 8]})):
        r = client.post(f"{url}/predict", json=body)
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert "took over 0 s" in r.json()["error"]
    from dlpractice.inputs.http import HTTPError, Payload
    p = Payload("application/json", seconds=0.05)
    p.check_time("nothing")                                               # within the budget
    time.sleep(0.06)
    with pytest.raises(HTTPError) as e:
        p.check_time("3 strings")
    assert e.value.status == 503 and "stopped after 3 strings" in e.value.message


def test_openapi_documents_every_status_and_what_is_accepted(names_run, diabetes_run, fashion_run, client):
    names = client.get(f"{served(names_run)}/openapi.json").json()["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(names["responses"])
    for status in ("400", "413", "415", "422", "503"):
        schema = names["responses"][status]["content"]["application/json"]["schema"]
        assert schema["required"] == ["error"]
    bare, wrapped = names["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert (bare["minItems"], bare["maxItems"]) == (1, 256) and wrapped["required"] == ["texts"]
    assert (bare["items"]["minLength"], bare["items"]["maxLength"]) == (1, 256)
    rows = client.get(f"{served(diabetes_run)}/openapi.json").json()["paths"]["/predict"]["post"]
    bare = rows["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0]
    by_name, by_position = bare["items"]["oneOf"]
    assert by_name["required"] == [f"c{j}" for j in range(8)] and (by_position["minItems"], by_position["maxItems"]) \
        == (8, 9)
    image = client.get(f"{served(fashion_run)}/openapi.json").json()["paths"]["/predict"]["post"]
    assert image["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]["file"]["minItems"] == 1
    # what the schema now excludes is what the server refuses
    assert client.post(f"{served(names_run)}/predict", json=[""]).status_code == 422
    assert client.post(f"{served(diabetes_run)}/predict", json={"rows": []}).status_code == 422


def test_a_request_uvicorn_cannot_parse_gets_a_json_error(names_run):
    """`Content-Length: abc` is refused by the HTTP layer before the app runs: still 400 {"error": ...}."""
    assert_malformed_length_is_json(served(names_run))


def assert_malformed_length_is_json(url: str) -> None:
    """POST with `Content-Length: abc` to the server at `url`: a 400 whose body is {"error": "malformed ..."}."""
    import json
    import socket
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n[]")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, raw
    assert "malformed HTTP request" in json.loads(body)["error"]
