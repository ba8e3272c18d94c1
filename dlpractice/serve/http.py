"""The HTTP service of `dlp serve`: POST /predict, GET /health and /model, the web page and /openapi.json.

`build_app(predictor)` returns a FastAPI app around a model rebuilt from a run folder
(`dlpractice.runs.predictor.Predictor`). What `POST /predict` takes depends on the run's input kind
(its HTTP reader, `dlpractice.inputs`):
- image runs: the image file as the body (Content-Type image/png, image/jpeg, ... or
  application/octet-stream), or a multipart form with one or more files;
- tabular runs: JSON `{"rows": [...]}` (or the bare list), each row an object {column: value} as in a
  CSV with a header, or a list of values in the training CSV's column order (runs trained without a header);
- sequence runs: a JSON list of strings (or `{"texts": [...]}`).
Inputs are prepared by the very converters `dlp predict` uses, so both give the same answer (up to float
rounding: the server runs the model traced to TorchScript where that gives the same logits within 1e-5,
`export.served_model`; `dlp serve --eager` runs the PyTorch modules).

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

A request's work is done off the event loop in two stages. Decoding and preparing: in a worker process
for a plain body (`preparing.Workers`, outside the server's GIL; `dlp serve --workers`), else on one of
two threads. The forward pass: on the one model thread, shared by concurrent requests (`MicroBatcher`):
while the model computes one batch, the requests that arrive queue up and go together into the next one,
so a lone request waits for nothing and a busy server runs fewer, larger batches; the answers' JSON is
made there too, a batch at a time. Plain POST /predict requests take a fast lane past FastAPI's routing
(`ServeApp`), with the same answers and errors. bench/serve_load.py measures it, batching on and off.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import UserError
from ..inputs import INPUT_KINDS
from ..inputs.http import HTTPError, Limits, Payload
from ..runs.tasks import TASKS
from .batching import MicroBatcher
from .export import served_model
from .preparing import Workers, body_payload, read
from .wire import BodyLimit, RequestTooLarge, ascii_json, media_type, plain_predict, read_body
from .wire import error_response as _error

PAGE_FILES = {"/": ("page.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript"),
              "/page.css": ("page.css", "text/css")}
# The page may load only what this server serves: no CDN, font or script from elsewhere.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'")


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


# -- the app -----------------------------------------------------------------------------------------------
async def _payload(request: Request, limits: Limits) -> Payload:
    ctype = media_type(request.headers.get("content-type", ""))
    if ctype == "multipart/form-data":
        form = await request.form(max_files=limits.max_items, max_fields=limits.max_items)
        files = [(v.filename or k, await v.read()) for k, v in form.multi_items() if not isinstance(v, str)]
        return Payload(ctype, files=files, seconds=limits.max_seconds)
    return body_payload(ctype, await request.body(), limits)


async def _in_time(fut: asyncio.Future, limits: Limits):
    """A request's preparing (`fut`: on a worker thread or process, off the event loop), answered within
    `max_seconds`: the readers stop themselves past the budget between items (`Payload.check_time`), and
    one slow item (a single huge table) still gets its 503 on time while its thread finishes."""
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
    info["says"] = in_words(meta, kind)
    return info


def in_words(meta: dict, kind) -> str:
    """What the served model does, for a learner: "sorts 28×28 grey images into 10 classes" (the task's `says`
    with the input kind's noun), never the internal ids."""
    classes = meta.get("classes") or []
    return TASKS.get(meta["task"]).says.format(what=kind.noun(meta), n=len(classes),
                                               first=classes[0] if classes else "no",
                                               second=classes[-1] if len(classes) > 1 else "yes")


class ServeApp(FastAPI):
    """FastAPI with a fast lane: `fast_predict(scope, receive, send, media type, top)` answers the plain
    POST /predict requests (`wire.plain_predict`) before FastAPI's middleware, routing and dependency
    injection see them (on 2 cores they took over half of the event loop's time per request); every other
    request goes through FastAPI as before."""
    fast_predict = None

    async def __call__(self, scope, receive, send) -> None:
        if self.fast_predict is not None and (plain := plain_predict(scope)) is not None:
            return await self.fast_predict(scope, receive, send, *plain)
        await super().__call__(scope, receive, send)


def build_app(pred, limits: Limits | None = None, max_batch: int = 64, compiled: bool = True,
              workers: int = 0) -> FastAPI:
    """The FastAPI app serving `pred` (a Predictor). Swagger UI and ReDoc are off (they load CDN assets);
    the page at / and the OpenAPI document at /openapi.json are served from this process. `compiled`:
    run the model as `export.served_model` makes it (TorchScript where that gives the same logits);
    False: as PyTorch modules. `workers`: processes that decode and prepare plain bodies
    (`preparing.Workers`; 0: all on the server's threads)."""
    limits = limits or Limits()
    kind = INPUT_KINDS.get(pred.meta["input"])
    if kind.http is None:
        raise UserError(f"runs with {kind.name} input are not served over HTTP")
    # Two threads decode and prepare what the worker processes do not: one works while the other waits
    # for the GIL, and a slow request holds up only one; more threads only hand the GIL around more (on
    # 2 cores 6 threads, the default executor's, answered fewer requests/s than 2).
    threads = ThreadPoolExecutor(2, thread_name_prefix="prepare")
    processes = Workers(kind.name, pred.meta, limits, workers)

    model, runtime = (served_model(pred) if compiled else (pred.model, "pytorch"))

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():  # per thread: the worker thread needs its own
            return model(x)

    def finish(out: torch.Tensor, parts: list[tuple[slice, tuple[list[str], int]]]) -> list:
        """On the model's worker thread: the batch's outputs → each request's JSON body (a part's tag: its
        labels and `top`), or the 422 of an output that is not finite. One check and one `describe` per
        batch (per `top` asked for) instead of one per request: a fifth of the time."""
        finite = torch.isfinite(out.reshape(len(out), -1)).all(1).tolist()
        answers: list = [None] * len(parts)
        groups: dict[int, list[int]] = {}   # top → the requests asking for it
        alone: list[int] = []
        for i, (rows, (labels, top)) in enumerate(parts):
            if not all(finite[rows]):
                answers[i] = HTTPError(422, f"the model's output for input {finite[rows].index(False) + 1} is not "
                                            "finite: its values are far outside what the model was trained on")
            elif len(labels) == rows.stop - rows.start:   # one label a row: the batch's answers split back
                groups.setdefault(top, []).append(i)
            else:
                alone.append(i)
        for top, members in groups.items():
            try:
                rows = out if len(members) == len(parts) else torch.cat([out[parts[i][0]] for i in members])
                described = pred.describe(rows, [label for i in members for label in parts[i][1][0]], top)
                start = 0
                for i in members:
                    answers[i] = ascii_json(described[start:start + len(parts[i][1][0])])
                    start += len(parts[i][1][0])
            except Exception:  # noqa: BLE001  (one answer failing: each alone, so the others still go)
                alone += members
        for i in alone:
            (rows, (labels, top)) = parts[i]
            try:
                answers[i] = ascii_json(pred.describe(out[rows], labels, top))
            except Exception as e:  # noqa: BLE001  (handed to its own request, which reports it)
                answers[i] = e
        return answers

    batcher = MicroBatcher(forward, max_rows=max_batch, finish=finish)
    info = model_info(pred, limits)
    started = time.time()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await processes.start()   # before the first request: a worker takes ~2 s to import torch
        yield
        await processes.stop()

    app = ServeApp(title=f"dlp serve: {info['model']} on {info['dataset']}", docs_url=None, redoc_url=None,
                   openapi_url="/openapi.json", version=str(info["versions"].get("dlpractice", "")),
                   description=f"POST /predict takes {kind.how}.", lifespan=lifespan)
    app.state.batcher, app.state.info, app.state.runtime, app.state.workers = batcher, info, runtime, processes

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

    async def respond(payload: Payload, top: int) -> Response:
        x, labels = await _in_time(asyncio.get_running_loop().run_in_executor(
            threads, read, kind.http, pred.meta, payload, limits), limits)
        return await answer(x, labels, top)

    async def answer(x: torch.Tensor, labels: list[str], top: int) -> Response:
        return Response(await batcher(x, (labels, top)), media_type="application/json")

    @app.post("/predict", openapi_extra=body_doc, responses=_responses(PREDICT_ERRORS))
    async def predict(request: Request, top: int = Query(3, ge=1, le=1000,
                                                           description="classes per input")) -> list[dict]:
        return await respond(await _payload(request, limits), top)

    # The fast lane refuses what a plain POST /predict can raise with the very handlers above, and a bug
    # as FastAPI's ServerErrorMiddleware does: the one 500 answer, then the traceback to uvicorn's log.
    refusals = {HTTPError: _http_error, UserError: _user_error, RequestTooLarge: _too_large}
    body_limit = BodyLimit(None, limits.max_bytes)

    async def fast_predict(scope, receive, send, ctype: str, top: int) -> None:
        if (response := body_limit.refuse(scope)) is None:
            try:
                body = await read_body(body_limit.limited(receive))
                if (prepared := processes.submit(ctype, body, time.monotonic())) is None:
                    response = await respond(body_payload(ctype, body, limits), top)
                else:
                    response = await answer(*await _in_time(prepared, limits), top)
            except tuple(refusals) as e:
                response = await next(h for cls, h in refusals.items() if isinstance(e, cls))(None, e)
            except Exception as e:
                await (await _server_error(None, e))(scope, receive, send)
                raise
        await response(scope, receive, send)
    app.fast_predict = fast_predict

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
