"""The fork server behind the tests' `dlp(...)` (conftest.py): one process imports torch and the CLI once,
then for each request forks a child that runs `dlpractice.cli.main(argv)` the way `python -m dlpractice`
does — its own process, working directory, environment, stdout and stderr, and exit code (an uncaught
exception prints its traceback and exits 1) — without paying ~3 s of imports per call.

The server itself never runs a torch operation, so no OpenMP thread pool exists when it forks. Protocol,
one JSON line each way: request {"argv", "cwd", "env", "stdout", "stderr"} → {"pid"}, then {"code"}."""
from __future__ import annotations

import io
import json
import os
import sys
import traceback


def _child(main, req: dict) -> None:
    code = 1
    try:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)         # never the request pipe
        for fd, path in ((1, req["stdout"]), (2, req["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = ["dlp", *req["argv"]]
        try:
            result = main(req["argv"])
            code = 0 if result is None else int(result)
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                print(e.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        import atexit
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def serve() -> None:
    import torch  # noqa: F401  (imported once, here; never run before a fork)

    import dlpractice.data  # noqa: F401
    from dlpractice.cli import main
    # What nearly every command loads next, also imported once (no thread pool runs before a fork): the
    # data sets' scikit-learn (splits, bundled sets; ~2 s) and matplotlib's Agg backend for the figures (~1 s).
    import sklearn.datasets  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import dlpractice.train.loop  # noqa: F401
    import dlpractice.track.report  # noqa: F401
    reply = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(main, req)
        print(json.dumps({"pid": pid}), file=reply, flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), file=reply, flush=True)


if __name__ == "__main__":
    serve()
