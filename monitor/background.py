"""Stopping background tasks for good.

redis-py 8.1 can swallow a cancellation that arrives while a connection is being set up; the task then carries on
to its next command. A loop that survived its cancellation keeps consuming Redis groups beside the service that
replaced it, or (inside the webhook dispatcher) starts an attempt after its HTTP client was closed. So a task is
cancelled again until it has really ended, and the caller only tears down what the tasks use afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any

import structlog

log = structlog.get_logger("background")


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], *, patience_s: float = 10.0) -> None:
    """Cancel ``tasks`` and wait for them, cancelling again every 0.5 s those still running; give up (with an
    error in the log) after ``patience_s``. Errors the tasks ended with are logged, not raised."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    pending = {t for t in tasks if not t.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.5)
        if loop.time() > deadline:
            log.error("background tasks did not stop", tasks=[t.get_name() for t in pending])
            break
        for task in pending:
            task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("background task ended with an error", task=task.get_name(), error=str(task.exception()))


async def run_loops(
    loops: Mapping[str, Coroutine[Any, Any, None]],
    *,
    stopping: Callable[[], None] | None = None,
    then: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``loops`` (name -> coroutine) as tasks until they all end or this is cancelled; either way every loop
    has ended when it returns, and only then is ``then`` awaited (to close what the loops used).

    Why not a plain ``gather``: a cancelled ``gather`` returns as soon as its first child is cancelled, so a loop
    that swallowed its cancellation would go on using what the caller closes next. ``stopping`` is called before
    the loops are cancelled, to tell them to take on no new work. The stop runs to its end even when the caller is
    cancelled again meanwhile (the runtime does that every 0.5 s); the cancellation carries on afterwards."""
    tasks = [asyncio.create_task(coroutine, name=name) for name, coroutine in loops.items()]

    async def stop() -> None:
        if stopping is not None:
            stopping()
        await cancel_and_wait(tasks)
        if then is not None:
            await then()

    try:
        await asyncio.gather(*tasks)
    finally:
        stopped = asyncio.create_task(stop())
        while not stopped.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(stopped)
        stopped.result()
