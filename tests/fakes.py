"""Deterministic stand-ins used by pipeline and service tests (the real model has its own marked tests)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from monitor.schemas import TurnScores
from monitor.scoring import VaderSentiment

_ANGRY = re.compile(r"\b(furious|angry|ridiculous|unacceptable|useless|hate|worst|disgusting)\b", re.I)
_FRUSTRATED = re.compile(r"\b(still|again|nobody|waiting|weeks|third time|no refund|never)\b", re.I)


class KeywordScorer:
    """Anger and frustration from word lists, sentiment from VADER: predictable numbers for rule tests.

    Each angry word adds 0.45 to anger (so two make a turn clearly angry), each frustration cue 0.3.
    """

    name = "keywords"

    def __init__(self) -> None:
        self._vader = VaderSentiment()
        self.calls: list[int] = []  # batch sizes seen, so tests can check batching

    def score(self, texts: Sequence[str]) -> list[TurnScores]:
        self.calls.append(len(texts))
        out = []
        for text in texts:
            anger = min(1.0, 0.05 + 0.45 * len(_ANGRY.findall(text)))
            frustration = min(1.0, 0.05 + 0.3 * len(_FRUSTRATED.findall(text)))
            out.append(
                TurnScores(
                    anger=anger,
                    frustration=frustration,
                    sentiment=self._vader.compound(text),
                    emotions={"anger": anger, "neutral": 1.0 - anger},
                )
            )
        return out


class SwallowsOneCancellation:
    """Wraps an async call: the first call waits until it is cancelled, swallows the cancellation and then calls
    through, as redis-py 8.1 can when a cancellation lands while a connection is being set up (see
    ``monitor.background``). ``entered`` is set once that first call is waiting, ``swallowed`` once it swallowed."""

    def __init__(self, real: Callable[..., Awaitable[Any]]) -> None:
        self._real = real
        self.entered = asyncio.Event()
        self.swallowed = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.swallowed.is_set():
            self.entered.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.swallowed.set()  # and carry on
        return await self._real(*args, **kwargs)

    async def cancel_inside(self, running: asyncio.Task[Any]) -> None:
        """Cancel ``running`` while it waits in the first call, and wait until it has returned."""
        await asyncio.wait_for(self.entered.wait(), timeout=10)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, timeout=30)
        assert self.swallowed.is_set()
