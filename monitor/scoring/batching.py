"""Micro-batching: turns that arrive together are scored together, off the event loop, with backpressure.

A transformer forward pass over 32 short turns costs little more than over one, so scoring each turn on its
own wastes most of the model's throughput. :class:`MicroBatcher` keeps a bounded queue of pending turns; one
worker task takes the first waiting turn, collects more until ``max_batch`` turns or ``max_wait_ms`` have
passed, and scores them with one ``scorer.score(texts)`` call in a single-thread executor, so the event loop
never blocks on the model. While a batch runs, new turns queue up and form the next batch at once: under
load the batches fill by themselves and the wait only matters when traffic is light. That is why the service's
default wait is 0 ms (take what is queued, never hold a batch open): on 2 cores a batch-1 forward pass takes
15-30 ms, so at 50 turns/s any wait makes each cycle nearly as long as the gap between turns and latency
queues up (see ``batch_max_wait_ms`` in :mod:`monitor.settings`).

Memory is bounded: at most ``max_queue`` turns wait and ``max_batch`` are in flight. When the queue is full
:meth:`MicroBatcher.score` raises :class:`QueueFull` immediately (the API answers 503) instead of queueing
without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from monitor.errors import BatcherClosed, QueueFull
from monitor.schemas import TurnScores
from monitor.scoring import Scorer
from monitor.settings import Settings


@dataclass
class BatcherStats:
    """Counters for metrics and the benchmark: how full the batches were."""

    batches: int = 0
    turns: int = 0
    failed_batches: int = 0
    busy_s: float = 0.0

    @property
    def mean_batch(self) -> float:
        return self.turns / self.batches if self.batches else 0.0


_Item = tuple[str, "asyncio.Future[TurnScores]"]


class MicroBatcher:
    """Collects concurrent :meth:`score` calls into batches for one :class:`~monitor.scoring.Scorer`."""

    def __init__(self, scorer: Scorer, *, max_batch: int, max_wait_ms: float, max_queue: int) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and max_wait_ms >= 0")
        self.scorer = scorer
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.stats = BatcherStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False

    @classmethod
    def from_settings(cls, scorer: Scorer, settings: Settings) -> MicroBatcher:
        """A batcher with the service's ``batch_max_size``, ``batch_max_wait_ms`` and ``score_queue_max``."""
        return cls(
            scorer,
            max_batch=settings.batch_max_size,
            max_wait_ms=settings.batch_max_wait_ms,
            max_queue=settings.score_queue_max,
        )

    @property
    def queue_depth(self) -> int:
        """Turns waiting for a batch (not counting the batch being scored)."""
        return self._queue.qsize() if self._queue is not None else 0

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done() and not self._closing

    async def start(self) -> None:
        """Create the queue, the single-thread executor and the worker task on the running loop."""
        if self._worker is not None:
            raise RuntimeError("MicroBatcher already started")
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calmwatch-score")
        self._closing = False
        self._worker = asyncio.create_task(self._run(), name="calmwatch-micro-batcher")

    async def score(self, text: str) -> TurnScores:
        """Score one turn together with whatever else arrives now; raises :class:`QueueFull` under overload."""
        if self._queue is None or not self.running:
            raise BatcherClosed()
        future: asyncio.Future[TurnScores] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((text, future))
        except asyncio.QueueFull:
            raise QueueFull() from None
        return await future

    async def aclose(self, drain_timeout_s: float = 10.0) -> None:
        """Stop taking turns, score everything already queued (up to ``drain_timeout_s``), stop the worker."""
        if self._worker is None or self._queue is None:
            return
        self._closing = True
        queue, worker = self._queue, self._worker
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.join(), drain_timeout_s)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        while not queue.empty():  # only left after a timeout: fail them rather than leave callers hanging
            _, future = queue.get_nowait()
            queue.task_done()
            if not future.done():
                future.set_exception(BatcherClosed())
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._worker = None
        self._executor = None

    async def _collect(self, queue: asyncio.Queue[_Item]) -> list[_Item]:
        """The next batch: block for one turn, then gather more until full or ``max_wait`` has passed."""
        batch = [await queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        try:
            while len(batch) < self.max_batch:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0 or self._closing:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
        except asyncio.CancelledError:
            _fail(batch, queue)
            raise
        return batch

    async def _run(self) -> None:
        assert self._queue is not None and self._executor is not None
        queue, loop = self._queue, asyncio.get_running_loop()
        while True:
            batch = await self._collect(queue)
            live = [(text, fut) for text, fut in batch if not fut.done()]  # callers that gave up are skipped
            try:
                if live:
                    started = time.perf_counter()
                    texts = [text for text, _ in live]
                    try:
                        results = await loop.run_in_executor(self._executor, self.scorer.score, texts)
                        if len(results) != len(texts):
                            raise RuntimeError(f"scorer returned {len(results)} results for {len(texts)} texts")
                    except asyncio.CancelledError:  # aclose() gave up waiting: tell the callers
                        _fail(live, None)
                        raise
                    except Exception as exc:  # the scorer's failure belongs to the callers, not to the worker
                        self.stats.failed_batches += 1
                        for _, fut in live:
                            if not fut.done():
                                fut.set_exception(exc)
                    else:
                        for (_, fut), result in zip(live, results, strict=True):
                            if not fut.done():
                                fut.set_result(result)
                    self.stats.batches += 1
                    self.stats.turns += len(live)
                    self.stats.busy_s += time.perf_counter() - started
            finally:
                for _ in batch:
                    queue.task_done()


def _fail(items: list[_Item], queue: asyncio.Queue[_Item] | None) -> None:
    """Fail the callers of taken-but-unscored turns with :class:`BatcherClosed` (the worker is stopping)."""
    for _, future in items:
        if not future.done():
            future.set_exception(BatcherClosed())
        if queue is not None:
            queue.task_done()
