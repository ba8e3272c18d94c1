"""`dlp train --nproc N` (and `--nnodes M --rdzv-endpoint HOST:PORT` on each of M machines): torch's elastic
launcher (`torch.distributed.launcher.api`, what torchrun runs) starts N processes here, one rank each,
which meet through a c10d rendezvous and train one run with DistributedDataParallel.

Each rank runs `python -m dlpractice.train.rank` on a job folder that holds the run's
config; rank 0 speaks and writes the run folder, the others log to the job folder. A rank that fails leaves
a line there: a user error is said as the one line it is (exit 2); a rank that dies or crashes ends the job
with a line naming it and the resume command (exit 1)."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..config import RunConfig, from_dict
from ..errors import UserError
from ..runs.folder import Run, has_checkpoint, plan_run_dir
from .skeleton import TrainingInterrupted, check_ranks, machine_threads

from .rank import JOB


class RanksFailed(UserError):
    """A rank died or crashed: the job stopped (exit 1, not a user error)."""
    exit_code = 1


@dataclass
class Launch:
    """Where this machine's ranks meet the others': `nnodes` machines at the c10d `endpoint` (HOST:PORT),
    this one hosting the rendezvous when `node_rank` is 0; torch restarts a failed job `max_restarts` times
    (from the last checkpoint)."""
    nnodes: int = 1
    node_rank: int = 0
    endpoint: str | None = None
    max_restarts: int = 0


def wants_launch(cfg: RunConfig, launch: Launch | None) -> bool:
    """Whether training `cfg` here means starting ranks (not when this process already is one)."""
    from ..runs.ranks import launched_world
    return launched_world() == 1 and "TORCHELASTIC_RUN_ID" not in os.environ and (
        cfg.train.nproc > 1 or (launch is not None and launch.nnodes > 1))


def _endpoint(launch: Launch, out) -> str:
    """The rendezvous endpoint; for one machine, a free port on loopback. Bad values refused here."""
    if launch.nnodes == 1 and launch.endpoint is None:
        return "127.0.0.1:0"
    if launch.endpoint is None:
        raise UserError(f"--nnodes {launch.nnodes} needs --rdzv-endpoint HOST:PORT, the same on every machine "
                        "(HOST: the machine with --node-rank 0)")
    if out is None:
        raise UserError("training on several machines needs --out, the run folder on storage every machine "
                        "sees (the same path on each)")
    host, _, port = launch.endpoint.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--rdzv-endpoint must be HOST:PORT with a port 1–65535; got '{launch.endpoint}'")
    if not 0 <= launch.node_rank < launch.nnodes:
        raise UserError(f"--node-rank must be 0–{launch.nnodes - 1} for --nnodes {launch.nnodes}; "
                        f"got {launch.node_rank}")
    if launch.node_rank == 0:   # this machine hosts the rendezvous: its port must be free
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, int(port)))
            except OSError as e:
                raise UserError(f"--rdzv-endpoint {launch.endpoint}: cannot listen there ({e.strerror}); "
                                "choose a free port (the same on every machine)") from None
    return launch.endpoint


def launch_run(cfg: RunConfig, out, launch: Launch | None = None, resume: bool = False) -> Run:
    """Train (or, with `resume`, continue) the run at `out` on `cfg.train.nproc` ranks of this machine
    (and those of the other machines of `launch`). Returns the finished run."""
    launch = launch or Launch()
    n = cfg.train.nproc
    if n > machine_threads():
        raise UserError(f"--nproc {n} is more than 4 × this machine's {os.cpu_count()} cores")
    check_ranks(cfg, n * launch.nnodes)
    endpoint = _endpoint(launch, out)
    folder = Path(out) if resume else plan_run_dir(cfg, out)   # a used --out is refused before any rank starts
    from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed.elastic")]:
        logging.getLogger(name).setLevel(logging.CRITICAL)   # what fails is said below, in one line
    with tempfile.TemporaryDirectory(prefix="dlp-ranks-") as tmp:
        job = Path(tmp)
        (job / "job.json").write_text(json.dumps({"config": cfg.to_dict(), "out": str(folder.absolute()),
                                                  "resume": resume}))
        run_id = f"dlp-{zlib.crc32(str(folder.absolute()).encode()):08x}" if launch.nnodes > 1 else uuid.uuid4().hex
        lc = LaunchConfig(min_nodes=launch.nnodes, max_nodes=launch.nnodes, nproc_per_node=n, run_id=run_id,
                          rdzv_backend="c10d", rdzv_endpoint=endpoint, max_restarts=launch.max_restarts,
                          rdzv_configs={"is_host": launch.node_rank == 0, "timeout": cfg.train.dist_timeout},
                          monitor_interval=0.1, logs_specs=DefaultLogsSpecs(log_dir=str(job / "torch")))
        os.environ[JOB] = str(job)
        try:
            elastic_launch(lc, sys.executable)("-m", "dlpractice.train.rank")
        except ChildFailedError as e:
            raise _failure(job, folder, n, {r: f.exitcode for r, f in e.failures.items()}) from None
        except SignalException:
            said = _said(job)
            stopped = [m for m in said.values() if m["kind"] == "interrupted"]
            if stopped:
                raise TrainingInterrupted(stopped[0]["line"]) from None
            raise KeyboardInterrupt from None
        except Exception as e:   # the rendezvous itself: a host that cannot be reached, a closed port
            if type(e).__module__.startswith("torch.distributed"):
                raise UserError(f"the ranks could not meet at {endpoint} ({type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}); check --rdzv-endpoint and that "
                                "every machine runs the same command") from None
            raise
        finally:
            os.environ.pop(JOB, None)
    return Run(folder)


def _said(job: Path) -> dict[int, dict]:
    """What each failed rank wrote about itself: {rank: {"kind", "line"}}."""
    out = {}
    for p in job.glob("rank*.json"):
        with contextlib.suppress(OSError, ValueError):
            out[int(p.stem[4:])] = json.loads(p.read_text())
    return out


def _failure(job: Path, folder: Path, n: int, codes: dict[int, int]) -> Exception:
    """The one line for a failed job: a user error or a Ctrl-C as the rank said it; else which rank crashed
    or died, and how to continue."""
    said = _said(job)

    def first(kind: str) -> int | None:
        return min((r for r, m in said.items() if m["kind"] == kind), default=None)

    if (r := first("user")) is not None:
        return UserError(said[r]["line"])
    if (r := first("interrupted")) is not None:
        return TrainingInterrupted(said[r]["line"])
    if (r := first("crash")) is not None:
        what = f"rank {r} failed with {said[r]['line']}{_keep_log(job, folder, r)}"
    else:
        what = _death(codes, said)
    again = (f"dlp train --resume {folder}" + (f" --nproc {n}" if n > 1 else "")
             if has_checkpoint(folder) else "the same command again (no checkpoint was written yet)")
    return RanksFailed(f"{what}; the job stopped. Continue with: {again}")


def _death(codes: dict[int, int], said: dict[int, dict]) -> str:
    """Which rank ended a job that no rank explained: one killed by a signal other than the launcher's
    SIGTERM first, else the first that exited."""
    killed = sorted(((code != -signal.SIGTERM, r) for r, code in codes.items() if code < 0), reverse=True)
    if killed:
        r = killed[0][1]
        return f"rank {r} was killed ({signal.Signals(-codes[r]).name})"
    if codes:
        r = min(codes)
        lost = " after losing the other ranks (a machine or its network went away)" \
            if said.get(r, {}).get("kind") == "lost" else ""
        return f"rank {r} stopped with exit code {codes[r]}{lost}"
    return "a rank stopped"


def _keep_log(job: Path, folder: Path, rank: int) -> str:
    """A failed rank's output (ranks other than 0 write theirs to the job folder), copied into the run
    folder: where the line points for the traceback."""
    log = job / f"rank{rank}.log"
    if not rank or not folder.is_dir() or not log.is_file():
        return " (its traceback is above)" if not rank else ""
    with contextlib.suppress(OSError):
        (folder / f"rank{rank}.log").write_bytes(log.read_bytes())
        return f" (its output: {folder / f'rank{rank}.log'})"
    return ""
