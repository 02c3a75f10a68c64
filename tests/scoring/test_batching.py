"""The micro-batcher: batching, ordering, backpressure, failures and shutdown, with a scripted fake scorer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from monitor.api.errors import status_for
from monitor.errors import OverloadedError
from monitor.schemas import TurnScores
from monitor.scoring.batching import BatcherClosed, MicroBatcher, QueueFull
from monitor.settings import Settings


class RecordingScorer:
    """Scores ``len(text) / 100`` as anger; records batch sizes; can be held on an event or made to fail."""

    name = "recording"

    def __init__(self, *, hold: bool = False, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.released_in_time: list[bool] = []
        if not hold:
            self.release.set()
        self.fail_on = fail_on

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        self.batches.append(list(texts))
        self.started.set()
        self.released_in_time.append(self.release.wait(timeout=10))
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError("scorer exploded")
        return [TurnScores(anger=min(1.0, len(t) / 100), frustration=0.0, sentiment=0.0) for t in texts]


async def _started(batcher: MicroBatcher) -> MicroBatcher:
    await batcher.start()
    return batcher


async def test_concurrent_turns_share_one_batch_and_keep_their_order() -> None:
    """Ten turns submitted together are scored in one call and each caller gets its own text's score."""
    scorer = RecordingScorer()
    batcher = await _started(MicroBatcher(scorer, max_batch=32, max_wait_ms=0, max_queue=100))
    texts = ["x" * n for n in range(1, 11)]
    results = await asyncio.gather(*(batcher.score(t) for t in texts))
    await batcher.aclose()
    assert scorer.batches == [texts]
    assert [r.anger for r in results] == [len(t) / 100 for t in texts]
    assert batcher.stats.batches == 1 and batcher.stats.mean_batch == 10


async def test_batches_are_capped_at_max_batch() -> None:
    """With max_batch=4, ten simultaneous turns become batches of 4, 4 and 2."""
    scorer = RecordingScorer()
    batcher = await _started(MicroBatcher(scorer, max_batch=4, max_wait_ms=0, max_queue=100))
    await asyncio.gather(*(batcher.score(str(i)) for i in range(10)))
    await batcher.aclose()
    assert [len(b) for b in scorer.batches] == [4, 4, 2]


async def test_max_wait_collects_turns_that_arrive_slightly_later() -> None:
    """A turn arriving within max_wait of the first joins its batch instead of starting a new one."""
    scorer = RecordingScorer()
    batcher = await _started(MicroBatcher(scorer, max_batch=8, max_wait_ms=2_000, max_queue=100))

    async def late() -> TurnScores:
        await asyncio.sleep(0.01)
        return await batcher.score("late")

    await asyncio.gather(batcher.score("early"), late(), *(batcher.score(f"t{i}") for i in range(6)))
    await batcher.aclose()
    assert len(scorer.batches) == 1 and {"early", "late"} <= set(scorer.batches[0])


async def test_full_queue_raises_queue_full_instead_of_growing() -> None:
    """While one batch is in flight and max_queue turns wait, the next turn is refused with QueueFull."""
    scorer = RecordingScorer(hold=True)
    batcher = await _started(MicroBatcher(scorer, max_batch=1, max_wait_ms=0, max_queue=2))
    first = asyncio.create_task(batcher.score("in flight"))
    assert await asyncio.to_thread(scorer.started.wait, 10)
    waiting = [asyncio.create_task(batcher.score(f"queued {i}")) for i in range(2)]
    await asyncio.sleep(0)
    assert batcher.queue_depth == 2
    with pytest.raises(QueueFull) as excinfo:
        await batcher.score("one too many")
    assert isinstance(excinfo.value, OverloadedError) and status_for(excinfo.value) == 503
    scorer.release.set()
    await asyncio.gather(first, *waiting)
    assert batcher.queue_depth == 0
    await batcher.aclose()


async def test_the_event_loop_keeps_running_while_the_model_works() -> None:
    """The scorer runs in the executor: the loop itself releases a scorer that is blocked mid-batch."""
    scorer = RecordingScorer(hold=True)
    batcher = await _started(MicroBatcher(scorer, max_batch=4, max_wait_ms=0, max_queue=10))
    pending = asyncio.create_task(batcher.score("hello"))
    assert await asyncio.to_thread(scorer.started.wait, 10)
    scorer.release.set()  # only reachable if the loop is not blocked by the scorer
    assert (await pending).anger == pytest.approx(0.05)
    await batcher.aclose()
    assert scorer.released_in_time == [True]


async def test_a_failing_batch_fails_its_callers_and_the_worker_survives() -> None:
    """A scorer exception reaches every caller of that batch; the next turn is scored normally."""
    scorer = RecordingScorer(fail_on="boom")
    batcher = await _started(MicroBatcher(scorer, max_batch=8, max_wait_ms=0, max_queue=10))
    results = await asyncio.gather(batcher.score("boom"), batcher.score("fine"), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert (await batcher.score("after")).anger == pytest.approx(0.05)
    assert batcher.stats.failed_batches == 1
    await batcher.aclose()


async def test_aclose_finishes_queued_work_then_refuses_new_turns() -> None:
    """Turns queued before aclose() are all scored; afterwards score() raises BatcherClosed (a QueueFull)."""
    scorer = RecordingScorer(hold=True)
    batcher = await _started(MicroBatcher(scorer, max_batch=2, max_wait_ms=0, max_queue=10))
    tasks = [asyncio.create_task(batcher.score(f"turn {i}")) for i in range(5)]
    assert await asyncio.to_thread(scorer.started.wait, 10)
    closing = asyncio.create_task(batcher.aclose())
    await asyncio.sleep(0)
    with pytest.raises(BatcherClosed):
        await batcher.score("too late")
    scorer.release.set()
    await closing
    assert [t.result().anger for t in tasks] == [0.06] * 5
    assert sum(len(b) for b in scorer.batches) == 5


async def test_aclose_timeout_fails_stuck_callers_instead_of_hanging() -> None:
    """If the model does not finish within aclose's timeout, waiting callers get BatcherClosed."""
    scorer = RecordingScorer(hold=True)
    batcher = await _started(MicroBatcher(scorer, max_batch=1, max_wait_ms=0, max_queue=10))
    tasks = [asyncio.create_task(batcher.score(f"t{i}")) for i in range(3)]
    assert await asyncio.to_thread(scorer.started.wait, 10)
    closing = asyncio.create_task(batcher.aclose(drain_timeout_s=0.05))
    await asyncio.sleep(0.2)
    scorer.release.set()  # let the executor thread finish so shutdown(wait=True) returns
    await closing
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, BatcherClosed) for o in outcomes)


async def test_score_before_start_is_refused() -> None:
    """A batcher that was never started refuses turns instead of queueing them forever."""
    batcher = MicroBatcher(RecordingScorer(), max_batch=4, max_wait_ms=1, max_queue=4)
    with pytest.raises(BatcherClosed):
        await batcher.score("hi")
    assert batcher.queue_depth == 0


def test_invalid_settings_are_rejected() -> None:
    """Zero-sized batches or queues are configuration errors."""
    with pytest.raises(ValueError):
        MicroBatcher(RecordingScorer(), max_batch=0, max_wait_ms=1, max_queue=4)


def test_from_settings_uses_the_service_settings() -> None:
    """The service's batch size, wait and queue bound come from Settings (CALMWATCH_BATCH_MAX_SIZE, ...)."""
    settings = Settings(batch_max_size=7, batch_max_wait_ms=3.0, score_queue_max=11)
    batcher = MicroBatcher.from_settings(RecordingScorer(), settings)
    assert (batcher.max_batch, batcher.max_wait_s, batcher.max_queue) == (7, 0.003, 11)
