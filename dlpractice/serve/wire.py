"""What lies between the socket and `dlp serve`'s app: uvicorn's HTTP/1.1 protocols, the JSON of every
answer, the body size limit, and the fast lane of plain POST /predict requests.

A request uvicorn cannot parse (a `Content-Length: abc`, a broken request line) gets `400 {"error": ...}`
like every other refusal, instead of uvicorn's plain-text "Invalid HTTP request received.";
`http_protocol()` picks the httptools protocol (a C parser, several times faster per request than h11's
pure Python) when httptools is installed."""
from __future__ import annotations

import json
import re

import h11
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol


# -- uvicorn's protocols --------------------------------------------------------------------------------------
def _bad_request(msg: str) -> bytes:
    return json.dumps({"error": f"malformed HTTP request ({msg.rstrip('.')}); check its request line "
                                "and headers (e.g. Content-Length must be a number)"}).encode()


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = _bad_request(msg)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


try:   # httptools is an optional speed-up (the `serve` extra installs it)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:
    HttpToolsProtocol = None

if HttpToolsProtocol is not None:
    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            body = _bad_request(msg)
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: "
                                 + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
            self.transport.close()


def http_protocol() -> type:
    """The HTTP/1.1 protocol class for uvicorn: httptools' parser if it is installed, else h11's."""
    return JsonErrorH11Protocol if HttpToolsProtocol is None else JsonErrorHttpToolsProtocol


# -- answers --------------------------------------------------------------------------------------------------
def ascii_json(content) -> bytes:
    """JSON with non-ASCII characters escaped: a label holding a lone surrogate (from a JSON "\\ud800"
    escape or a file name) still encodes, where UTF-8 output would fail with a 500."""
    return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class AsciiJSON(JSONResponse):
    """A JSON response rendered by `ascii_json`."""

    def render(self, content) -> bytes:
        return ascii_json(content)


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """The one shape of every refusal: `{"error": message}`."""
    return AsciiJSON({"error": message}, status_code=status, headers=headers)


# -- request size limit ---------------------------------------------------------------------------------------
class RequestTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request whose Content-Length (or streamed body) exceeds `limit` bytes gets a 413
    without being read further."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    def refuse(self, scope) -> JSONResponse | None:
        """The 413 for a request whose Content-Length is over the limit (or not a number), else None."""
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return error_response(413, f"request body over {self.limit:,} bytes")
        return None

    def limited(self, receive):
        """`receive` that raises RequestTooLarge once the body read so far is over the limit."""
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise RequestTooLarge()
            return message
        return limited

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if (refusal := self.refuse(scope)) is not None:
            return await refusal(scope, receive, send)
        await self.app(scope, self.limited(receive), send)


# -- the fast lane --------------------------------------------------------------------------------------------
TOP = re.compile(rb"top=([1-9][0-9]{0,3})")


def media_type(content_type: str) -> str:
    """`image/png; q=1` → `image/png`."""
    return content_type.split(";")[0].strip().lower()


def plain_predict(scope) -> tuple[str, int] | None:
    """(media type, top) of a request the fast lane answers: POST /predict with a body that is not a
    multipart form and no query or a plain `?top=N` in 1 … 1000; None for anything else (a form, any other
    query: what FastAPI has to parse, or refuse, in its own words)."""
    if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST" or scope.get("root_path"):
        return None
    query = scope["query_string"]
    top = 3 if not query else (int(m.group(1)) if (m := TOP.fullmatch(query)) else 0)
    ctype = media_type(next((v for k, v in scope["headers"] if k == b"content-type"), b"").decode("latin-1"))
    return (ctype, top) if 1 <= top <= 1000 and ctype != "multipart/form-data" else None


async def read_body(receive) -> bytes:
    """The whole request body from ASGI `receive` (as Starlette's `Request.body`)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
