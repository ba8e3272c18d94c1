"""The HTTP service of `dlp serve`: POST /predict, GET /health and /model, the web page and /openapi.json.

`build_app(predictor)` returns a FastAPI app around a model rebuilt from a run folder
(`dlpractice.runs.predictor.Predictor`). What `POST /predict` takes depends on the run's input kind
(its HTTP reader, `dlpractice.inputs`):
- image runs: the image file as the body (Content-Type image/png, image/jpeg, ... or
  application/octet-stream), or a multipart form with one or more files;
- tabular runs: JSON `{"rows": [...]}` (or the bare list), each row an object {column: value} as in a
  CSV with a header, or a list of values in the training CSV's column order (runs trained without a header);
- sequence runs: a JSON list of strings (or `{"texts": [...]}`).
Inputs are prepared by the very converters `dlp predict` uses, so both give the same answer.

Every error is JSON `{"error": "..."}` naming the problem (FastAPI's own `{"detail": ...}` answers too:
an unknown path, a wrong method, a bad query parameter). Bad input is a 4xx, never a 5xx: 400 unreadable
JSON or form, 404 no such path, 405 a wrong method, 413 a request over one of the `Limits` (the body's
bytes, an image's or all images' pixels, a string's or all strings' characters after Unicode normalisation,
the number of items), 415 a body of the wrong kind for this run, 422 a well-formed request the model
cannot take (a truncated PNG, an empty name, a missing column, `?top=0`, ...). A request whose decoding
and preparing takes longer than `Limits.max_seconds` is a 503 (with Retry-After): the budget depends on
the load as well as on the request, so a smaller request, or the same one later, may pass. /openapi.json
documents each of these statuses, and its request schema says what /predict takes (1 … max_items items,
strings of 1 … max_chars characters, the columns a row needs).

Concurrent requests share forward passes (`MicroBatcher`): while the model computes one batch, the
requests that arrive queue up and go together into the next one, so a lone request waits for nothing
and a busy server runs fewer, larger batches (bench/serve_load.py measures both).
"""
from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable

import torch
import torch.nn.functional as F
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import UserError
from ..inputs import INPUT_KINDS
from ..inputs.http import HTTPError, Limits, Payload

PAGE_FILES = {"/": ("page.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript"),
              "/page.css": ("page.css", "text/css")}
# The page may load only what this server serves: no CDN, font or script from elsewhere.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'")


# -- micro-batching -----------------------------------------------------------------------------------------
def stack(xs: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate request batches; id sequences of different lengths are right-padded with 0 (padding),
    which the sequence models ignore (they recover each length as the count of non-zero ids)."""
    width = max(x.shape[-1] for x in xs)
    if any(x.shape[1:] != xs[0].shape[1:] for x in xs):
        xs = [F.pad(x, (0, width - x.shape[-1])) for x in xs]
    return torch.cat(xs)


@dataclass
class MicroBatcher:
    """Runs `fn(batch)` on one worker thread; requests that arrive while it computes go together into
    the next call (up to `max_rows` rows). `max_rows` = 1 turns batching off."""
    fn: Callable[[torch.Tensor], torch.Tensor]
    max_rows: int = 64
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="model"))
    batches: int = 0     # forward passes run
    requests: int = 0    # requests answered
    _queue: asyncio.Queue | None = None
    _worker: asyncio.Task | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, x: torch.Tensor) -> torch.Tensor:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first call, or a new event loop (e.g. a test client's per-request loop)
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = loop.create_task(self._work())
        fut = loop.create_future()
        await self._queue.put((x, fut))
        return await fut

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            rows = len(items[0][0])
            while rows < self.max_rows and not self._queue.empty():
                items.append(self._queue.get_nowait())
                rows += len(items[-1][0])
            try:
                out = await loop.run_in_executor(self.pool, self.fn, stack([x for x, _ in items]))
            except Exception as e:  # noqa: BLE001  (handed to each waiting request, which reports it)
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.batches += 1
            self.requests += len(items)
            start = 0
            for x, fut in items:
                if not fut.done():
                    fut.set_result(out[start:start + len(x)])
                start += len(x)


# -- request size limit -------------------------------------------------------------------------------------
class RequestTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request whose Content-Length (or streamed body) exceeds `limit` bytes gets a 413
    without being read further."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _error(413, f"request body over {self.limit:,} bytes")(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise RequestTooLarge()
            return message
        await self.app(scope, limited, send)


class AsciiJSON(JSONResponse):
    """JSON with non-ASCII characters escaped: a label holding a lone surrogate (from a JSON "\\ud800"
    escape or a file name) still encodes, where UTF-8 output would fail with a 500."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return AsciiJSON({"error": message}, status_code=status, headers=headers)


ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
PREDICT_ERRORS = {
    400: "the body is not valid JSON, or not a readable multipart form",
    413: "over a limit of GET /model's `limits`: body bytes, items, an image's or all images' pixels, a "
         "string's or all strings' characters (after Unicode normalisation)",
    415: "a body of the wrong kind for this run (e.g. an image sent to a names run)",
    422: "a well-formed request the model cannot take (a damaged image, an empty name, a missing column, "
         "a bad query parameter such as top=0)",
    503: "decoding and preparing the request took over `max_seconds`: send fewer or smaller inputs, or retry",
}


def _responses(errors: dict[int, str]) -> dict:
    return {status: {"description": text, "content": {"application/json": {"schema": ERROR_SCHEMA}}}
            for status, text in errors.items()}


def _validation_message(e: RequestValidationError) -> str:
    """FastAPI's validation errors as one line: where, what is wrong, what was sent."""
    parts = []
    for err in e.errors()[:5]:
        loc = [str(x) for x in err.get("loc", ())]
        where = f"{loc[0]} parameter {'.'.join(loc[1:])}" if len(loc) > 1 else ".".join(loc) or "the request"
        got = f" (got {str(err['input'])[:40]!r})" if "input" in err and err["input"] is not None else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{got}")
    return "; ".join(parts) or "invalid request"


def _first_bad(t: torch.Tensor) -> int:
    return int((~torch.isfinite(t)).flatten(1).any(1).nonzero()[0, 0])


# -- the app -----------------------------------------------------------------------------------------------
async def _payload(request: Request, limits: Limits) -> Payload:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form(max_files=limits.max_items, max_fields=limits.max_items)
        files = [(v.filename or k, await v.read()) for k, v in form.multi_items() if not isinstance(v, str)]
        return Payload(ctype, files=files, seconds=limits.max_seconds)
    body = await request.body()
    if ctype.startswith("image/") or ctype == "application/octet-stream":
        return Payload(ctype, files=[("image", body)], seconds=limits.max_seconds)
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            return Payload(ctype, data=json.loads(body), is_json=True, seconds=limits.max_seconds)
        except (ValueError, RecursionError) as e:  # RecursionError: JSON nested thousands deep
            raise HTTPError(400, f"the body is not valid JSON ({type(e).__name__}: {str(e)[:80]})") from None
    return Payload(ctype, seconds=limits.max_seconds)


async def _prepare(reader, meta: dict, payload: Payload, limits: Limits):
    """The run's HTTP reader on a worker thread (decoding off the event loop), answered within
    `max_seconds`: the readers stop themselves past the budget between items (`Payload.check_time`), and
    one slow item (a single huge table) still gets its 503 on time while its thread finishes."""
    fut = asyncio.get_running_loop().run_in_executor(None, reader, meta, payload, limits)
    try:
        return await asyncio.wait_for(fut, timeout=limits.max_seconds)
    except asyncio.TimeoutError:
        raise HTTPError(503, f"preparing the request took over {limits.max_seconds:g} s: send fewer or smaller "
                             "inputs per request") from None


def model_info(pred, limits: Limits) -> dict:
    """What GET /model answers: task, classes, input, metrics and versions of the served run."""
    meta, ck_summary = pred.meta, pred.run.summary
    kind = INPUT_KINDS.get(meta["input"])
    info = {"run": pred.run.folder.name, "model": pred.cfg.model.name, "dataset": pred.cfg.data.dataset,
            "task": meta["task"], "input": kind.name, "how": kind.how, "classes": meta.get("classes"),
            "parameters": sum(p.numel() for p in pred.model.parameters()),
            "metrics": {k: v for k, v in ck_summary.items() if k.startswith("test_")},
            "primary_metric": ck_summary.get("primary_metric"), "best_epoch": ck_summary.get("best_epoch"),
            "versions": {**(ck_summary.get("versions") or {}), "torch_serving": torch.__version__},
            "limits": vars(limits)}
    info.update(kind.describe(meta))
    return info


def build_app(pred, limits: Limits | None = None, max_batch: int = 64) -> FastAPI:
    """The FastAPI app serving `pred` (a Predictor). Swagger UI and ReDoc are off (they load CDN assets);
    the page at / and the OpenAPI document at /openapi.json are served from this process."""
    limits = limits or Limits()
    kind = INPUT_KINDS.get(pred.meta["input"])
    if kind.http is None:
        raise UserError(f"runs with {kind.name} input are not served over HTTP")
    reader = kind.http
    model = pred.model

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():  # per thread: the worker thread needs its own
            return model(x)

    batcher = MicroBatcher(forward, max_rows=max_batch)
    info = model_info(pred, limits)
    started = time.time()
    app = FastAPI(title=f"dlp serve: {info['model']} on {info['dataset']}", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", version=str(info["versions"].get("dlpractice", "")),
                  description=f"POST /predict takes {kind.how}.")
    app.state.batcher, app.state.info = batcher, info

    @app.exception_handler(HTTPError)
    async def _http_error(request, e: HTTPError):
        return _error(e.status, e.message, {"Retry-After": "1"} if e.status == 503 else None)

    @app.exception_handler(StarletteHTTPException)
    async def _starlette_error(request, e: StarletteHTTPException):
        if e.status_code == 404:
            message = (f"no such path: {request.url.path}; this server answers POST /predict, GET /model, "
                       "GET /health, GET /openapi.json and the page at /")
        elif e.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
            allow = (e.headers or {}).get("Allow")
            message += f"; use {allow}" if allow else ""
        else:
            message = str(e.detail)
        return _error(e.status_code, message, e.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, e: RequestValidationError):
        return _error(422, _validation_message(e))

    @app.exception_handler(Exception)
    async def _server_error(request, e: Exception):  # a bug, not bad input: still an answer in the one shape
        return _error(500, f"internal error ({type(e).__name__}); the server log has the traceback")

    @app.exception_handler(UserError)
    async def _user_error(request, e: UserError):
        return _error(422, str(e))

    @app.exception_handler(RequestTooLarge)
    async def _too_large(request, e):
        return _error(413, f"request body over {limits.max_bytes:,} bytes")

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "uptime_s": round(time.time() - started, 1), "requests": batcher.requests,
                "batches": batcher.batches}

    @app.get("/model")
    async def model_endpoint() -> dict:
        return info

    content = kind.body(pred.meta, limits) if callable(kind.body) else kind.body
    body_doc = {"requestBody": {"required": True, "description": kind.how, "content": content}}

    @app.post("/predict", openapi_extra=body_doc, responses=_responses(PREDICT_ERRORS))
    async def predict(request: Request, top: int = Query(3, ge=1, le=1000,
                                                           description="classes per input")) -> list[dict]:
        payload = await _payload(request, limits)
        x, labels = await _prepare(reader, pred.meta, payload, limits)
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise HTTPError(422, f"input {_first_bad(x) + 1} overflows float32 (a value beyond ±3.4e38)")
        out = await batcher(x)
        if not torch.isfinite(out).all():
            raise HTTPError(422, f"the model's output for input {_first_bad(out) + 1} is not finite: its values are "
                                 "far outside what the model was trained on")
        return AsciiJSON(pred.describe(out, labels, top))

    def page(name: str, media: str):
        text = resources.files(__package__).joinpath(name).read_bytes()

        async def serve_file():
            return Response(text, media_type=media, headers={"Content-Security-Policy": CSP,
                                                             "Cache-Control": "no-cache"})
        return serve_file

    for route, (name, media) in PAGE_FILES.items():
        app.get(route, include_in_schema=False)(page(name, media))
    app.add_middleware(BodyLimit, limit=limits.max_bytes)
    return app
