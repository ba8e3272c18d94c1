"""CLI commands that put a run's model in front of others: `dlp serve` (HTTP + web page) and `dlp export`."""
from __future__ import annotations

import math
import os
import socket
import sys

from .help import Help


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0 = a free port), so the URL is known before uvicorn starts."""
    from ..errors import UserError
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UserError(f"--host {host}: cannot resolve it ({e.strerror}); use e.g. 127.0.0.1") from None
    family, kind, proto, _, addr = infos[0]
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only then (without it,
    # Nagle's algorithm and delayed ACKs hold each response back ~40 ms)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port (0 picks a "
                        "free one)") from None
    sock.listen(128)
    return sock


def _limits(args):
    """The request limits from the `--max-...` flags, each checked against its range (config.ServeLimits)."""
    from dataclasses import fields

    from ..config import ServeLimits, _bound_broken
    from ..fields import range_text
    from ..errors import UserError
    values = {}
    for f in fields(ServeLimits):
        v = getattr(args, f.name)
        if isinstance(v, float) and not math.isfinite(v) or (broken := _bound_broken(f.metadata, v)):
            raise UserError(f"--{f.name.replace('_', '-')} must be {broken or 'finite'} (range "
                            f"{range_text(f.metadata)}); got {v!r}")
        values[f.name] = v
    return ServeLimits(**values)


def cmd_serve(args) -> int:
    from ..errors import UserError
    if args.max_batch < 1:
        raise UserError(f"--max-batch must be at least 1, got {args.max_batch}")
    workers = min(4, max(1, (os.cpu_count() or 1) - 1)) if args.workers is None else args.workers
    if not 0 <= workers <= 64:
        raise UserError(f"--workers must be 0–64, got {args.workers}")
    limits = _limits(args)
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be 0–65535 (0 picks a free one), got {args.port}")
    # The model is rebuilt (and a wrong run folder refused) before anything binds a port.
    from ..runs.predictor import Predictor
    pred = Predictor(args.run, args.checkpoint)
    import uvicorn

    from ..serve.http import build_app
    app = build_app(pred, limits, max_batch=args.max_batch, compiled=not args.eager, workers=workers)
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    info = app.state.info
    print(f"serving {args.run} ({info['model']} on {info['dataset']}: {info['says']}) at http://{shown}:{port}/ "
          "— POST /predict, GET /model, GET /health; Ctrl-C stops", flush=True)
    from ..serve.wire import http_protocol
    # loop "auto": uvloop when it is installed (the `serve` extra), asyncio's own loop otherwise
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, access_log=args.log_level == "info",
                                           timeout_keep_alive=30, http=http_protocol(), loop="auto"))
    server.run(sockets=[sock])
    return 0


def cmd_export(args) -> int:
    from ..serve.export import export
    report = export(args.run, args.format, args.out, checkpoint=args.checkpoint, check=args.check,
                    force=args.force)
    print(f"wrote {report['path']} ({report['format']}, {report['bytes'] / 1024:.0f} KiB; input {report['input']} "
          f"{report['input_shape']}, output logits {report['output_shape']})")
    if "check" in report:
        c = report["check"]
        print(f"check: {c['runtime']} vs PyTorch on {c['inputs']} inputs in batches of {c['batch_sizes']}"
              + (f", lengths {c['lengths']}" if c.get("lengths") else "")
              + f": max |difference| {c['max_abs_diff']:.2e} (tolerance {c['tolerance']:.0e}) — "
              + ("ok" if c["ok"] else "FAILED"), file=sys.stdout if c["ok"] else sys.stderr)
        return 0 if c["ok"] else 1
    return 0


def add_commands(sub) -> None:
    fmt = Help
    p = sub.add_parser("serve", help="serve a run's model over HTTP: POST /predict and a web page to draw or type on",
                       formatter_class=fmt)
    p.add_argument("run", help="run folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (the URL is printed)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint")
    from dataclasses import fields

    from ..config import ServeLimits
    from ..fields import range_text
    for f in fields(ServeLimits):   # what one request may hold: 413 (503 for time) beyond
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default, metavar="N",
                       help=f"at most N {f.metadata['help']} (range {range_text(f.metadata)})")
    p.add_argument("--max-batch", type=int, default=64,
                   help="rows per forward pass when concurrent requests are batched together (1: no batching)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes that decode and prepare request bodies beside the server's threads (0: none; "
                        "default: the cores but one, at most 4)")
    p.add_argument("--eager", action="store_true",
                   help="run the model as PyTorch modules (default: traced to TorchScript and optimised for "
                        "inference where its logits equal the model's within 1e-5)")
    p.add_argument("--log-level", default="warning", choices=["warning", "info"], help="uvicorn logging")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="export a run's model to ONNX or TorchScript, optionally checked against PyTorch",
                       formatter_class=fmt)
    p.add_argument("run", help="run folder")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"], help="file format")
    p.add_argument("--out", default=None, help="file to write (default: RUN/export/model.onnx or model.torchscript.pt)")
    p.add_argument("--check", action="store_true",
                   help="run the file (onnxruntime / torch.jit.load) on test inputs and compare with PyTorch "
                        "(exit 1 if any output differs by more than 1e-5)")
    p.add_argument("--force", action="store_true", help="replace an existing file at --out")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"], help="which checkpoint")
    p.set_defaults(func=cmd_export)
