"""Live-chat load on `calmwatch serve --workers N`: many simulated chats, a turn every ~20 s each, and a check that
the alerts raised are exactly those `calmwatch replay` raises for the same conversations.

Each chat is one of the support conversations (``--conversations``; else the scenario files in tests/scenarios),
its turns sent in order ``--gap`` seconds apart, the chats' first turns spread evenly over the first gap, so the
offered rate is chats / gap turns/s throughout. The chats are spread over ``--connections`` connector websockets
(``/v1/stream``), which the kernel spreads over the workers sharing the port. Reported per run: offered and
answered turns/s, p50/p99 from a turn's first send to its answer, the answers resent after 0.5 s as a connector
does (``overloaded``, ``unavailable``), how the connections were spread over the workers, and the comparison
with the replay: alerts missing, extra (a duplicate counts as extra).

``--kill-after S`` SIGKILLs one worker S seconds into each run; the connections it held reconnect and resend their
unanswered turns, as a connector does (uvicorn starts a new worker meanwhile).

    .venv/bin/python -m bench.chat_load --chats 1000 2000 --workers 1 2 --seconds 40 --scorer model \\
        --conversations ../shared/data/support-conversations/conversations.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
import yaml

from bench.serving import service

ROOT = Path(__file__).resolve().parent.parent
CUSTOMER, AGENT = "Alex Doe", "Sam"
RETRY_OVERLOADED_S = 0.5
#: Error answers a connector resends after a short wait (the API says so: each comes with ``retry_after_s``).
RETRIED = ("overloaded", "rate_limited", "unavailable")
#: The chats all come in on the open API's one principal, whose default rate limit (500/s, burst 1,000) is meant
#: for one connector, not a contact centre: lifted here, since the figures are about capacity.
UNLIMITED = {"CALMWATCH_INGEST_RATE_PER_S": "100000", "CALMWATCH_INGEST_BURST": "100000"}


def load_conversations(path: Path | None) -> list[list[tuple[str, str]]]:
    """Each conversation's (role, text) turns, in order."""
    conversations: list[list[tuple[str, str]]] = []
    if path is not None:
        for conv in json.loads(path.read_text()):
            turns = [("customer" if "client" in i else "agent", i["message"][:4000]) for i in conv["dialogContent"]]
            if turns:
                conversations.append(turns)
        return conversations
    for file in sorted((ROOT / "tests" / "scenarios").glob("*.yaml")):
        data = yaml.safe_load(file.read_text())
        turns = [("customer", t["customer"]) if "customer" in t else ("agent", t["agent"]) for t in data["turns"]]
        conversations.append(turns)
    return conversations


@dataclass
class Turn:
    cid: str
    index: int  # 1-based, as calmwatch replay numbers turns
    role: str
    text: str
    due: float  # seconds from the start of the run
    sent_at: datetime | None = None
    first_send: float | None = None

    @property
    def message_id(self) -> str:
        """Unique on its connection (stream answers name the message, not the conversation)."""
        return f"{self.cid}.t{self.index}"

    def event(self) -> str:
        assert self.sent_at is not None
        return json.dumps({"type": "message", "conversation_id": self.cid, "message_id": self.message_id,
                           "role": self.role, "text": self.text, "sent_at": self.sent_at.isoformat()})  # fmt: skip


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    retried: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    alerts: int = 0


def start_event(cid: str) -> str:
    return json.dumps({"type": "conversation.start", "conversation_id": cid, "customer": {"id": "u-" + cid,
                       "name": CUSTOMER}, "agent": {"id": "agent1", "name": AGENT}})  # fmt: skip


class Connector:
    """One connector websocket carrying some chats: sends each turn when due and waits for every answer; after a
    dropped connection it reconnects and resends what was not answered (starts are idempotent, so they go too)."""

    def __init__(self, url: str, turns: list[Turn], stats: Stats) -> None:
        self.url, self.stats = url, stats
        self.started: list[str] = []
        self.queue = sorted(turns, key=lambda t: t.due)
        self.position = 0  # turns of the queue sent at least once
        self.pending: dict[str, Turn] = {}  # sent, not answered yet
        self._resends: set[asyncio.Future[None]] = set()

    @property
    def busy(self) -> bool:
        return self.position < len(self.queue) or bool(self.pending)

    async def run(self, t0: float) -> None:
        while self.busy:
            try:
                async with websockets.connect(f"ws://{self.url}/v1/stream", max_size=2**22, open_timeout=30) as ws:
                    await self._session(ws, t0)
            except (websockets.ConnectionClosed, OSError):
                self.stats.reconnects += 1
                await asyncio.sleep(0.2)

    async def _session(self, ws: Any, t0: float) -> None:
        for cid in self.started:  # after a reconnect: starts are idempotent, and the next worker may be new
            await ws.send(start_event(cid))
        for turn in sorted(self.pending.values(), key=lambda t: t.due):
            await ws.send(turn.event())
        receiver = asyncio.ensure_future(self._receive(ws))
        try:
            while self.position < len(self.queue):
                turn = self.queue[self.position]
                wait = t0 + turn.due - time.perf_counter()
                if wait > 0:
                    done, _ = await asyncio.wait({receiver}, timeout=wait)
                    if done:
                        receiver.result()
                if turn.cid not in self.started:  # a chat starts just before its first turn
                    self.started.append(turn.cid)
                    await ws.send(start_event(turn.cid))
                turn.sent_at, turn.first_send = datetime.now(UTC), time.perf_counter()
                self.pending[turn.message_id] = turn
                self.position += 1
                await ws.send(turn.event())
            await receiver
        finally:
            receiver.cancel()

    async def _receive(self, ws: Any) -> None:
        while self.busy:
            reply = json.loads(await ws.recv())
            if reply["type"] == "conversation.started":
                continue
            if reply["type"] == "error" and "message_id" not in reply:
                if reply.get("code") not in RETRIED:
                    raise RuntimeError(f"an error answer naming no message: {reply}")  # a turn would wait for ever
                # A start refused: its chat's next turn is answered unknown_conversation, and both go again then.
                self.stats.retried[f"{reply['code']} (a start)"] += 1
                continue
            turn = self.pending.get(reply.get("message_id", ""))
            if turn is None:  # the answer to a resend of a turn answered already
                continue
            if reply["type"] == "error":
                if reply.get("code") == "unknown_conversation":  # its start was refused (overload): both again
                    self.stats.retried[reply["code"]] += 1
                    self._later(ws, [start_event(turn.cid), turn.event()])
                    continue
                if reply.get("code") not in RETRIED:
                    raise RuntimeError(f"error answer: {reply}")
                self.stats.retried[reply["code"]] += 1
                self._later(ws, [turn.event()])
                continue
            del self.pending[turn.message_id]
            assert turn.first_send is not None
            self.stats.latencies.append(time.perf_counter() - turn.first_send)
            self.stats.alerts += len(reply["alerts"])

    def _later(self, ws: Any, events: list[str]) -> None:
        resend = asyncio.ensure_future(self._resend_later(ws, events))
        self._resends.add(resend)
        resend.add_done_callback(self._resends.discard)

    @staticmethod
    async def _resend_later(ws: Any, events: list[str]) -> None:
        await asyncio.sleep(RETRY_OVERLOADED_S)
        with contextlib.suppress(websockets.ConnectionClosed):
            for event in events:
                await ws.send(event)


async def run(url: str, conversations: list[list[tuple[str, str]]], chats: int, args: argparse.Namespace,
              tag: str) -> tuple[dict[str, Any], list[Turn]]:  # fmt: skip
    """Offer ``chats`` chats for ``args.seconds``; the figures and every turn sent."""
    all_turns: list[Turn] = []
    per_connection: list[list[Turn]] = [[] for _ in range(args.connections)]
    for c in range(chats):
        cid = f"{tag}-{c}"
        offset = c / chats * args.gap
        conv = conversations[c % len(conversations)]
        turns = [Turn(cid, i + 1, role, text, offset + i * args.gap) for i, (role, text) in enumerate(conv)]
        turns = [t for t in turns if t.due < args.seconds]
        per_connection[c % args.connections].extend(turns)
        all_turns.extend(turns)
    stats = Stats()
    t0 = time.perf_counter() + 1.0
    await asyncio.gather(*(Connector(url, mine, stats).run(t0) for mine in per_connection))
    elapsed = time.perf_counter() - t0
    lat = sorted(stats.latencies)
    return {
        "chats": chats,
        "offered_per_s": round(len(all_turns) / args.seconds, 1),
        "answered_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(lat), 1),
        "p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1),
        "retried": dict(stats.retried),
        "reconnects": stats.reconnects,
        "answered": len(lat),
        "turns": len(all_turns),
    }, all_turns


def live_alerts(url: str) -> Counter[tuple[str, str, str, str]]:
    """Every alert the service raised: (conversation, message id, rule, severity)."""
    found: Counter[tuple[str, str, str, str]] = Counter()
    cursor = "0"
    with httpx.Client(base_url=f"http://{url}", timeout=30) as client:
        while True:
            page = client.get("/v1/alerts", params={"since": cursor, "limit": 1000}).json()
            found.update(
                (a["conversation_id"], a["message_id"].rpartition(".")[2], a["rule"], a["severity"]) for a in page
            )
            if len(page) < 1000:
                return found
            cursor = page[-1]["id"]


def replay_alerts(turns: list[Turn], scorer: str) -> Counter[tuple[str, str, str, str]]:
    """What `calmwatch replay` raises for the turns sent, with the times they were sent."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
        for t in sorted(turns, key=lambda t: (t.cid, t.index)):
            assert t.sent_at is not None
            out.write(json.dumps({"conversation_id": t.cid, "message_id": t.message_id, "role": t.role,
                                  "text": t.text, "sent_at": t.sent_at.isoformat(), "customer_name": CUSTOMER,
                                  "agent_name": AGENT}) + "\n")  # fmt: skip
    try:
        cmd = [sys.executable, "-m", "monitor.cli", "replay", out.name, "--json", "--no-progress", "--scorer", scorer]
        report = json.loads(subprocess.run(cmd, check=False, capture_output=True, text=True).stdout)
    finally:
        os.unlink(out.name)
    found: Counter[tuple[str, str, str, str]] = Counter()
    for conv in report["conversations"]:
        for turn in conv["turns"]:
            found.update(
                (conv["conversation_id"], f"t{turn['index']}", a["rule"], a["severity"]) for a in turn["alerts"]
            )
    return found


def connections_per_worker(proc: subprocess.Popen[bytes], port: int) -> dict[int, int]:
    """Worker pid -> connector connections it holds (established TCP connections on the service's port)."""
    parent = psutil.Process(proc.pid)
    workers = [c for c in parent.children() if "spawn_main" in " ".join(c.cmdline())] or [parent]
    held = {}
    for worker in workers:
        with contextlib.suppress(psutil.Error):
            conns = worker.net_connections(kind="tcp")
            held[worker.pid] = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)
    return held


def kill_a_worker(proc: subprocess.Popen[bytes], port: int) -> None:
    """SIGKILL the uvicorn worker holding the most connector connections (not the embedded Redis)."""
    held = connections_per_worker(proc, port)
    victim = max(held, key=lambda pid: held[pid])
    print(f"  killing worker {victim}, which holds {held[victim]} of {sum(held.values())} connections", flush=True)
    os.kill(victim, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=40, help="length of each run (keep it under the shortest "
                        "cooldown, 180 s, so the replay's clock and the live one agree on every cooldown)")  # fmt: skip
    parser.add_argument("--gap", type=float, default=20, help="seconds between two turns of one chat")
    parser.add_argument("--connections", type=int, default=16, help="connector websockets the chats are spread over")
    parser.add_argument("--scorer", choices=["model", "vader"], default="model")
    parser.add_argument("--conversations", type=Path, help="support-conversations/conversations.json")
    parser.add_argument("--kill-after", type=float, default=None, help="SIGKILL one worker this many seconds in")
    parser.add_argument("--log", type=Path, help="append the service's warnings and errors to this file")
    args = parser.parse_args()
    conversations = load_conversations(args.conversations)
    print(f"{len(conversations)} conversations; scorer={args.scorer}; {os.cpu_count()} CPUs; "
          f"{args.seconds:g} s runs, a turn every {args.gap:g} s per chat", flush=True)  # fmt: skip
    for workers in args.workers:
        for chats in args.chats:
            print(json.dumps(one_run(workers, chats, conversations, args)), flush=True)


def one_run(workers: int, chats: int, conversations: list[list[tuple[str, str]]], args: argparse.Namespace) -> Any:
    """One row: a fresh service with ``workers`` workers, ``chats`` chats, then the replay comparison."""
    spread: dict[int, int] = {}
    with service(args.scorer, workers=workers, env=UNLIMITED, log=args.log) as (url, proc):
        port = int(url.rpartition(":")[2])
        timers = [threading_timer(3.0, lambda: spread.update(connections_per_worker(proc, port)))]
        if args.kill_after is not None:
            timers.append(threading_timer(args.kill_after + 1.0, lambda: kill_a_worker(proc, port)))
        result, turns = asyncio.run(run(url, conversations, chats, args, tag=f"w{workers}c{chats}"))
        for timer in timers:
            timer.cancel()
        live = live_alerts(url)
    expected = replay_alerts(turns, args.scorer)
    missing, extra = expected - live, live - expected
    for item in list(missing.items())[:3] + list(extra.items())[:3]:
        print("  differs:", item, flush=True)
    row = {"workers": workers, **result, "connections_per_worker": sorted(spread.values())}
    row.update(alerts=sum(live.values()), replay_alerts=sum(expected.values()), missing=sum(missing.values()),
               extra=sum(extra.values()), duplicates=sum(n - 1 for n in live.values() if n > 1))  # fmt: skip
    if args.kill_after is not None:
        row["killed_worker_at_s"] = args.kill_after
    return row


def threading_timer(after_s: float, action: Any) -> Any:
    import threading

    timer = threading.Timer(after_s, action)
    timer.daemon = True
    timer.start()
    return timer


if __name__ == "__main__":
    main()
