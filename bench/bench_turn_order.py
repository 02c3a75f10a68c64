"""The cost of ordering turns in Redis: one process, many conversations each sending turns faster than they are
committed, so most turns wait behind an earlier one of their conversation. No model (a keyword scorer) and no
HTTP, so what is left is the pipeline's own work and its Redis round trips.

    .venv/bin/python -m bench.bench_turn_order [--conversations 100 --turns 6 --gap-ms 3 --runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

import structlog

from monitor.redis_server import EmbeddedRedis
from monitor.rules import load_rule_pack
from monitor.runtime import build_pipeline, redis_client
from monitor.schemas import ChatMessage, ConversationStart, Party, TurnScores
from monitor.settings import Settings
from tests.fakes import KeywordScorer

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["hello there", "this is ridiculous and unacceptable", "I am furious", "ok thanks", "still waiting", "fine"]


class _Direct:
    def __init__(self) -> None:
        self.inner = KeywordScorer()

    async def score(self, text: str) -> TurnScores:
        return self.inner.score([text])[0]


async def one_run(url: str, conversations: int, turns: int, gap_s: float, tag: str) -> float:
    redis = redis_client(url)
    settings = Settings(redis_url=url, rules_paths=[ROOT / "rules"])
    engine = load_rule_pack(settings.rules_paths)
    pipeline = build_pipeline(settings, redis=redis, scorer=_Direct(), rules=lambda: engine)
    for c in range(conversations):
        await pipeline.start_conversation(
            ConversationStart(conversation_id=f"{tag}{c}", customer=Party(id="u"), agent=Party(id="a"))
        )

    async def conversation(c: int) -> None:
        sent = []
        for t in range(turns):
            message = ChatMessage(conversation_id=f"{tag}{c}", message_id=f"m{t}", role="customer", text=TEXTS[t % 6])
            sent.append(asyncio.ensure_future(pipeline.handle_message(message)))
            await asyncio.sleep(gap_s)
        await asyncio.gather(*sent)

    started = time.perf_counter()
    await asyncio.gather(*(conversation(c) for c in range(conversations)))
    elapsed = time.perf_counter() - started
    await redis.aclose()
    return conversations * turns / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--gap-ms", type=float, default=3.0, help="between two turns of one conversation")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with (
        tempfile.TemporaryDirectory(prefix="cwo-", dir="/tmp") as tmp,
        EmbeddedRedis(Path(tmp), appendonly=False) as srv,
    ):
        for run in range(args.runs):
            rate = asyncio.run(one_run(srv.url, args.conversations, args.turns, args.gap_ms / 1000, tag=f"r{run}-"))
            print(f"run {run + 1}: {rate:.0f} turns/s", flush=True)


if __name__ == "__main__":
    main()
