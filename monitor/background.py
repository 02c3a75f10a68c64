"""Stopping background tasks for good.

redis-py 8.1 can swallow a cancellation that arrives while a connection is being set up; the task then carries on
to its next command. A loop that survived its cancellation keeps consuming Redis groups beside the service that
replaced it, or (inside the webhook dispatcher) starts an attempt after its HTTP client was closed. So a task is
cancelled again until it has really ended, and the caller only tears down what the tasks use afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
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
