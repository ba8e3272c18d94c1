"""Micro-batching for `dlp serve`: concurrent requests' inputs go through the model in one forward pass."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F


def stack(xs: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate request batches; id sequences of different lengths are right-padded with 0 (padding),
    which the sequence models ignore (they recover each length as the count of non-zero ids)."""
    width = max(x.shape[-1] for x in xs)
    if any(x.shape[1:] != xs[0].shape[1:] for x in xs):
        xs = [F.pad(x, (0, width - x.shape[-1])) for x in xs]
    return torch.cat(xs)


# finish(outputs of the batch, [(a request's rows as a slice, its tag), ...]) → one answer per request,
# or the exception that request is to raise
Finish = Callable[[torch.Tensor, list[tuple[slice, Any]]], list]


@dataclass
class MicroBatcher:
    """Runs `fn(batch)` on one worker thread; requests that arrive while it computes go together into
    the next call (up to `max_rows` rows). `max_rows` = 1 turns batching off.

    `await batcher(x)` answers x's rows of the output. With `finish`, `await batcher(x, tag)` answers
    what `finish` makes of them: it runs on the worker thread right after the forward pass, once for the
    whole batch (turning logits into response bodies there, a batch at a time, keeps that work and its
    hand-offs of the GIL off the event loop)."""
    fn: Callable[[torch.Tensor], torch.Tensor]
    max_rows: int = 64
    finish: Finish | None = None
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="model"))
    batches: int = 0     # forward passes run
    requests: int = 0    # requests answered
    _queue: asyncio.Queue | None = None
    _worker: asyncio.Task | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, x: torch.Tensor, tag: Any = None):
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first call, or a new event loop (e.g. a test client's per-request loop)
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = loop.create_task(self._work())
        fut = loop.create_future()
        self._queue.put_nowait((x, tag, fut))
        return await fut

    def _run(self, items: list) -> list:
        """On the worker thread: one forward pass over the items' rows → one answer (or exception) each."""
        out = self.fn(stack([x for x, _, _ in items]))
        parts, start = [], 0
        for x, tag, _ in items:
            parts.append((slice(start, start + len(x)), tag))
            start += len(x)
        if self.finish is None:
            return [out[rows] for rows, _ in parts]
        return self.finish(out, parts)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            rows = len(items[0][0])
            while rows < self.max_rows and not self._queue.empty():
                items.append(self._queue.get_nowait())
                rows += len(items[-1][0])
            try:
                answers = await loop.run_in_executor(self.pool, self._run, items)
            except Exception as e:  # noqa: BLE001  (handed to each waiting request, which reports it)
                answers = [e] * len(items)
            else:
                self.batches += 1
                self.requests += len(items)
            for (_, _, fut), answer in zip(items, answers):
                if fut.done():
                    continue
                if isinstance(answer, Exception):
                    fut.set_exception(answer)
                else:
                    fut.set_result(answer)
