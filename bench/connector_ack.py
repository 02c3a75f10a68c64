"""How fast a connector webhook is answered while its turns wait to be scored: a burst of signed Chatwoot
``message_created`` webhooks against a running service, sent as fast as ``--senders`` clients can.

Measures what the platform sees (the time to the 200, p50/p99/max) and, apart, how long the service takes to
score the whole burst (until every conversation holds all its turns). The platform's timeout (3-5 s) must be
far above the first; the second only grows the queue.

    CALMWATCH_CHATWOOT_WEBHOOK_SECRET=s3cret calmwatch serve &
    .venv/bin/python -m bench.connector_ack --url http://127.0.0.1:8000 --secret s3cret --webhooks 400
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import time

import httpx

TEXTS = [
    "Hi, my parcel has not arrived yet",
    "It is still not here and nobody answers, I have been waiting for weeks",
    "This is ridiculous and unacceptable, I am furious",
    "Thanks, that helps",
]


def webhook(number: int, conversation: int, secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "event": "message_created",
            "id": 700_000 + number,
            "content": TEXTS[number % len(TEXTS)],
            "message_type": "incoming",
            "created_at": "2026-11-30T09:12:40.000Z",
            "private": False,
            "sender": {"id": conversation, "name": "Bench", "type": "contact"},
            "conversation": {"id": conversation, "meta": {"sender": {"id": conversation, "name": "Bench"}}},
            "account": {"id": 99},
        }
    ).encode()
    ts = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "X-Chatwoot-Timestamp": ts,
        "X-Chatwoot-Signature": f"sha256={signature}",
    }
    return body, headers


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--webhooks", type=int, default=400)
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    run = int(time.time()) % 100_000 * 1000  # fresh conversation ids per run
    jobs = [(n, run + n % args.conversations) for n in range(args.webhooks)]
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            number, conversation = queue.get_nowait()
            body, headers = webhook(run + number, conversation, args.secret)
            started = time.perf_counter()
            response = await client.post("/v1/connectors/chatwoot", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()

    async with httpx.AsyncClient(base_url=args.url, timeout=30) as client:
        burst = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(args.senders)))
        sent_s = time.perf_counter() - burst
        pending = {run + c for c in range(args.conversations)}
        per_conversation = args.webhooks // args.conversations
        while pending:
            for conversation in list(pending):
                detail = await client.get(f"/v1/conversations/chatwoot:99:{conversation}")
                if detail.status_code == 200 and len(detail.json()["turns"]) >= per_conversation:
                    pending.discard(conversation)
            await asyncio.sleep(0.1)
        scored_s = time.perf_counter() - burst
    ordered = sorted(latencies)
    print(
        json.dumps(
            {
                "webhooks": args.webhooks,
                "senders": args.senders,
                "ack_p50_ms": round(statistics.median(ordered) * 1000, 1),
                "ack_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
                "ack_max_ms": round(ordered[-1] * 1000, 1),
                "burst_sent_s": round(sent_s, 2),
                "all_scored_s": round(scored_s, 2),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
