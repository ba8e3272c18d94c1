"""The ranks of a run: one process (rank 0 of 1), or one of the processes of a `torch.distributed` job that
torchrun or `dlp train --nproc N` started. What the loops and evaluation need from the others: sums added
over ranks, objects gathered from or sent by rank 0, a barrier, and the same buffers everywhere.

Collectives go through torch.distributed (gloo on CPU, nccl on CUDA) with `train.dist_timeout` on each, so a
lost rank ends the job instead of hanging it."""
from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes the run folder, logs and prints."""
        return self.rank == 0

    def sum_dict(self, sums: dict) -> dict:
        """{name: float} added over the ranks (float64, keys in sorted order; every rank has the same keys)."""
        if self.world == 1:
            return sums
        import torch.distributed as dist
        keys = sorted(sums)
        t = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64)
        dist.all_reduce(t)
        return dict(zip(keys, t.tolist()))

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank (pickled: plain data and tensors)."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def from_main(self, obj):
        """Rank 0's `obj` on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as dist
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist
            dist.barrier()

    def same_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (BatchNorm's running statistics) copied to every rank, so that every rank
        evaluates and saves the same model."""
        if self.world == 1:
            return
        import torch.distributed as dist
        for b in module.buffers():
            dist.broadcast(b.data, src=0)

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 does the body first (e.g. writes a cache), then the others."""
        if not self.main:
            self.barrier()
        yield
        if self.main:
            self.barrier()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module that training steps call: `module` itself on one rank, else DistributedDataParallel
        around it (its gradients averaged over ranks in each backward). `module` keeps its own weights, so
        its state_dict is what checkpoints hold either way."""
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel
        dev = next(module.parameters()).device
        return DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)

    def share(self, n: int) -> slice:
        """This rank's part of a global batch of `n` examples: near-equal contiguous shares (the first
        `n % world` ranks hold one more)."""
        base, extra = divmod(n, self.world)
        lo = self.rank * base + min(self.rank, extra)
        return slice(lo, lo + base + (self.rank < extra))


ONE = Ranks()
_current = ONE


def current() -> Ranks:
    """The ranks of the run this process trains now (`ONE` outside a distributed job)."""
    return _current


def launched_world() -> int:
    """How many ranks the launcher (torchrun, `dlp train --nproc`) started; 1 when none did."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def _attempt_store(timeout_s: int):
    """The launcher's store, under a prefix of this attempt: after torch restarts a failed job
    (`--max-restarts`), the new ranks would otherwise find the dead ones' addresses there and fail to connect."""
    import torch.distributed as dist
    rank = int(os.environ["RANK"])
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "False").lower() == "true"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), launched_world(),
                          is_master=rank == 0 and not agent, timeout=datetime.timedelta(seconds=timeout_s))
    return dist.PrefixStore(f"dlp-attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


@contextlib.contextmanager
def joined(timeout_s: int, device_type: str = "cpu"):
    """The process group of a launched job for the duration of one run (gloo, or nccl on CUDA), set as
    `current()`; outside a job, `ONE`."""
    global _current
    world = launched_world()
    if world == 1:
        yield ONE
        return
    if _current is not ONE:   # a run inside a rank's run (the GAN score's classifier): this rank's alone
        outer, _current = _current, ONE
        try:
            yield ONE
        finally:
            _current = outer
        return
    import torch.distributed as dist
    backend = "nccl" if device_type == "cuda" and dist.is_nccl_available() else "gloo"
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(backend, store=_attempt_store(timeout_s), rank=int(os.environ["RANK"]), world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s))
    _current = Ranks(dist.get_rank(), dist.get_world_size(), local, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    quiet = contextlib.redirect_stdout(open(os.devnull, "w")) if _current.rank else contextlib.nullcontext()
    try:
        with quiet:   # rank 0 alone speaks on stdout (its errors still reach stderr)
            yield _current
    finally:
        _current = ONE
    # Left only after a run that finished: a failing rank's process ends without waiting for the others.
    dist.destroy_process_group()
