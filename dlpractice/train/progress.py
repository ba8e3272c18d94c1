"""Progress inside an epoch: tqdm's bar on a terminal; elsewhere (a log file, a notebook, `2>&1 | tee`) one
plain line per tenth of the epoch with examples/s and the time left, once the epoch has run for
QUIET_SECONDS (a short epoch's own line comes soon enough)."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator

from tqdm import tqdm

QUIET_SECONDS = 2.0   # no plain progress lines in an epoch's first 2 s


class PlainProgress:
    """Yields the batches of `it` and, at each tenth of the epoch's `total` steps, writes
    `epoch E: 30% (120/400 steps), 9,800 examples/s, about 12 s left` to `stream`."""

    def __init__(self, it: Iterable, total: int, initial: int, epoch: int, batch_size: int, stream=None):
        self.it, self.total, self.done, self.epoch, self.batch_size = it, total, initial, epoch, batch_size
        self.stream = stream or sys.stderr

    def __iter__(self) -> Iterator:
        start, first = time.perf_counter(), self.done
        tenth = (10 * self.done) // max(1, self.total) + 1   # the next tenth to report
        for item in self.it:
            yield item
            self.done += 1
            if tenth <= 9 and 10 * self.done >= tenth * self.total:
                tenth = (10 * self.done) // self.total + 1
                elapsed = time.perf_counter() - start
                if elapsed >= QUIET_SECONDS:
                    rate = (self.done - first) / elapsed   # steps per second this epoch
                    print(f"epoch {self.epoch}: {100 * self.done // self.total}% ({self.done}/{self.total} steps), "
                          f"{rate * self.batch_size:,.0f} examples/s, about {(self.total - self.done) / rate:.0f} s left",
                          file=self.stream, flush=True)


def epoch_progress(it: Iterable, total: int, initial: int, epoch: int, batch_size: int, enabled: bool):
    """The epoch's batches with progress: a bar on a terminal, plain lines elsewhere, nothing when not `enabled`."""
    if not enabled:
        return it
    if sys.stderr.isatty():
        return tqdm(it, total=total, initial=initial, desc=f"epoch {epoch}", unit="ex", unit_scale=batch_size,
                    leave=False)
    return PlainProgress(it, total, initial, epoch, batch_size)
