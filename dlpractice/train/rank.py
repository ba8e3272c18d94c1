"""One rank of a job that `launch.py` started: `python -m dlpractice.train.rank`, with the job folder in
$DLP_RANKS_JOB. It dies with its launcher (set before the seconds of importing torch), trains or resumes the
run the job names, and leaves a line in the job folder when it fails: what the launcher says."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path

JOB = "DLP_RANKS_JOB"   # the job folder, in the environment of every rank the launcher starts


def _say(job: Path, rank: int, kind: str, line: str) -> None:
    with contextlib.suppress(OSError):
        (job / f"rank{rank}.json").write_text(json.dumps({"kind": kind, "line": line}))


def _die_with_launcher() -> None:
    """SIGKILL this rank when the launcher dies (Linux), so that a killed job leaves no rank training."""
    with contextlib.suppress(Exception):
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG


def rank_main() -> int:
    """One rank of a job started by `launch.launch_run`."""
    job, rank = Path(os.environ[JOB]), int(os.environ.get("RANK", "0"))
    _die_with_launcher()
    if rank:   # only rank 0 speaks; the others' output goes to the job folder
        log = os.open(job / f"rank{rank}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
    spec = json.loads((job / "job.json").read_text())
    from ..config import from_dict
    from ..errors import UserError, one_line
    from . import loop
    from .skeleton import TrainingInterrupted
    try:
        cfg = from_dict(spec["config"])
        out = Path(spec["out"])
        run = loop.resume(out) if spec["resume"] else loop.train(cfg, out=out)
        return 0 if run is not None else 1
    except UserError as e:
        _say(job, rank, "user", one_line(e))
        return 2
    except TrainingInterrupted as e:
        _say(job, rank, "interrupted", str(e))
        return 130
    except KeyboardInterrupt:
        return 130
    except Exception as e:   # noqa: BLE001 — a bug or a lost peer: said by the launcher in one line
        import torch.distributed as dist
        lost = isinstance(e, getattr(dist, "DistError", ())) or "Connection closed by peer" in str(e)
        _say(job, rank, "lost" if lost else "crash", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        if not lost:
            traceback.print_exc()
        return 3 if lost else 1


if __name__ == "__main__":
    _rc = rank_main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_rc)   # no interpreter teardown: the launcher sees the end at once
