"""End-to-end load on the running service: conversations replayed through ``WS /v1/stream`` at an offered rate.

Measures what a connector sees: turns/s answered, latency from send to the ``scored`` answer (p50/p99), errors,
alerts raised, and the service's RSS. It starts its own ``calmwatch serve`` (with the embedded Redis in a
temporary state dir) unless ``--url`` names a running one.

    .venv/bin/python -m bench.stream_load --rates 10 50 200 --seconds 20 [--scorer vader|model]

The conversations are the 525 support conversations when ``--conversations`` points at them, else the scenario
files shipped in tests/scenarios (turn texts only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import psutil
import websockets
import yaml

from bench.serving import service

ROOT = Path(__file__).resolve().parent.parent


def load_turns(path: Path | None) -> list[tuple[str, str]]:
    """(role, text) pairs, conversation after conversation."""
    turns: list[tuple[str, str]] = []
    if path is not None:
        for conv in json.loads(path.read_text()):
            for item in conv["dialogContent"]:
                turns.append(("customer" if "client" in item else "agent", item["message"]))
        return turns
    for file in sorted((ROOT / "tests" / "scenarios").glob("*.yaml")):
        data = yaml.safe_load(file.read_text())
        for turn in data.get("turns", []):
            role = "customer" if "customer" in turn else "agent"
            turns.append((role, turn[role]))
    return turns


async def run_rate(url: str, turns: list[tuple[str, str]], rate: float, seconds: float, tag: str) -> dict[str, float]:
    """Offer `rate` turns/s for `seconds` on one connector connection, in conversations of six turns."""
    latencies: list[float] = []
    errors = alerts = 0
    sent_at: dict[str, float] = {}
    total = int(rate * seconds)
    async with websockets.connect(url + "/v1/stream", max_size=2**20) as ws:

        async def receive() -> None:
            nonlocal errors, alerts
            answered = 0
            while answered < total:
                reply = json.loads(await ws.recv())
                if reply["type"] == "conversation.started":
                    continue
                answered += 1
                if reply["type"] == "error":
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - sent_at[reply["message_id"]])
                alerts += len(reply["alerts"])

        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        for i in range(total):
            cid = f"{tag}-{i // 6}"
            if i % 6 == 0:
                await ws.send(json.dumps({"type": "conversation.start", "conversation_id": cid,
                                          "customer": {"id": "u" + cid, "name": "Alex Doe"},
                                          "agent": {"id": f"agent{i % 7}", "name": "Sam"}}))  # fmt: skip
            role, text = turns[i % len(turns)]
            mid = f"m{i}"
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent_at[mid] = time.perf_counter()
            await ws.send(json.dumps({"type": "message", "conversation_id": cid, "message_id": mid,
                                      "role": role, "text": text[:4000]}))  # fmt: skip
        await receiver
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "offered_per_s": rate,
        "answered_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
        "errors": errors,
        "alerts": alerts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--scorer", choices=["model", "vader"], default="model")
    parser.add_argument("--conversations", type=Path, help="support-conversations/conversations.json")
    args = parser.parse_args()
    turns = load_turns(args.conversations)
    print(f"{len(turns)} turns to cycle through; scorer={args.scorer}; {os.cpu_count()} CPUs", flush=True)
    with service(args.scorer) as (where, proc):
        url, pid = f"ws://{where}", proc.pid
        for n, rate in enumerate(args.rates):
            try:
                result = asyncio.run(run_rate(url, turns, rate, args.seconds, tag=f"r{n}"))
            except websockets.ConnectionClosed as exc:
                # past capacity the service stops reading (TCP backpressure), and a connector whose keepalive
                # pings go unanswered drops the connection: a result to report, and the end of this run
                print(json.dumps({"offered_per_s": rate, "failed": f"connection closed: {exc}"}), flush=True)
                break
            rss = psutil.Process(pid).memory_info().rss / 2**20
            print(json.dumps({**result, "service_rss_mb": round(rss)}), flush=True)


if __name__ == "__main__":
    main()
