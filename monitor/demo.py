"""``calmwatch demo``: play a handful of chats through the real API at human speed, so the console comes alive.

The conversations are posted exactly as a connector would post them, with the Python client
(:mod:`monitor.client`: ``POST /v1/conversations`` and ``/v1/messages``), against a running service
(``--url``) or one the demo starts in-process. They are staggered and paced like people typing, so the
supervisor console and the agent sidebars fill up while you watch. (``calmwatch replay`` is the other thing:
recorded chats through the pipeline offline, as fast as it scores, for a report.)

What is played: the invented chats shipped in ``monitor/web/demo/conversations.json`` (written for Calmwatch to
exercise the default rules), plus, with ``--from PATH``, conversations read by :mod:`monitor.replay`'s loader
(scenario files, JSONL of messages, or the support-conversations dataset).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import sys
import time
import webbrowser
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TextIO, TypeVar

import httpx

from monitor.client import AsyncCalmwatchClient, CalmwatchClient
from monitor.errors import ApiError, CalmwatchError
from monitor.schemas import Party, Role
from monitor.scoring import Scorer, VaderScorer
from monitor.settings import Settings

DEMO_FILE = Path(__file__).resolve().parent / "web" / "demo" / "conversations.json"
#: The folder above the package: a git checkout when run from one (an installed package has no tests/ there).
_CHECKOUT = Path(__file__).resolve().parent.parent

Sleep = Callable[[float], Awaitable[None]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class DemoTurn:
    role: Role
    text: str


@dataclass(frozen=True)
class DemoConversation:
    """One chat to play; ``key`` becomes the conversation id together with the run's id."""

    key: str
    customer: Party
    agent: Party
    channel: str | None
    turns: tuple[DemoTurn, ...]


@dataclass
class DemoResult:
    """What one played conversation raised: its conversation id and the rules, in order."""

    conversation_id: str
    turns: int = 0
    alerts: list[str] = field(default_factory=list)


def load_demo_conversations(path: Path = DEMO_FILE) -> list[DemoConversation]:
    """The shipped demo chats (or a file in the same format)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        DemoConversation(
            key=item["id"],
            customer=Party.model_validate(item["customer"]),
            agent=Party.model_validate(item["agent"]),
            channel=item.get("channel"),
            turns=tuple(DemoTurn(role=t["role"], text=t["text"]) for t in item["turns"]),
        )
        for item in data["conversations"]
    ]


def _slug(value: str, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._:@\-]+", "-", value).strip("-.")[:60].lower()
    return slug if slug and slug[0].isalnum() else fallback


#: Display names for customers a dataset leaves anonymous (the support conversations have only handles).
_STAND_IN_NAMES = ("Alex Morgan", "Jordan Silva", "Sam Carter", "Noor Haddad", "Chris Novak", "Mia Jensen",
                   "Ravi Menon", "Elena Petrova", "Omar Farouk", "Grace Liu")  # fmt: skip


def load_other_conversations(path: Path, *, limit: int, min_turns: int = 3) -> list[DemoConversation]:
    """Up to ``limit`` conversations with both a customer and an agent turn (and ``min_turns`` in all), from any
    format ``calmwatch replay`` reads. Agents are named by the file (a company, a scenario's agent); customers
    without a name get a stand-in name, so the nudges that use first names read naturally."""
    from monitor.replay import load_conversations  # the replay command owns the file formats

    picked: list[DemoConversation] = []
    for n, conv in enumerate(load_conversations(path), start=1):
        roles = {t.role for t in conv.turns}
        if roles != {"customer", "agent"} or len(conv.turns) < min_turns:
            continue
        agent_name = conv.agent_name or "Support"
        customer_name = conv.customer_name or _STAND_IN_NAMES[n % len(_STAND_IN_NAMES)]
        picked.append(
            DemoConversation(
                key=_slug(conv.conversation_id, f"conv-{n}"),
                customer=Party(id=f"customer-{n}", name=customer_name),
                agent=Party(id=_slug(agent_name, "agent"), name=agent_name),
                channel=None,
                turns=tuple(DemoTurn(t.role, t.text[:4000]) for t in conv.turns[:12] if t.text.strip()),
            )
        )
        if len(picked) >= limit:
            break
    return picked


def extra_sources(root: Path = _CHECKOUT) -> list[Path]:
    """In a checkout, the demo also plays a few scenario conversations (``tests/scenarios``) and, with the
    shared data beside the checkout, a few real support conversations; an installed package has neither."""
    candidates = [
        root / "tests" / "scenarios",
        root.parent / "shared" / "data" / "support-conversations" / "conversations.json",
    ]
    return [path for path in candidates if path.exists()]


def typing_delay(text: str) -> float:
    """Seconds a person takes to read the last turn and type this one: about 1.5 s plus 20 characters a second,
    at most 8 s, so a demo stays lively."""
    return min(8.0, 1.5 + len(text) / 20)


#: A demo chat ends this long (at speed 1) after its last turn, as a real one would: the board never fills
#: with stale "active" chats, and the supervisor still sees how it finished.
DEMO_LINGER_S = 20.0


class DemoPlayer:
    """Posts conversations through the API like a connector. ``sleep`` is injectable so tests need not wait.

    With ``end_after_s`` each chat is ended that long (scaled by ``speed``) after its last turn."""

    def __init__(
        self,
        client: AsyncCalmwatchClient,
        *,
        run_id: str,
        speed: float = 1.0,
        stagger_s: float = 3.0,
        sleep: Sleep = asyncio.sleep,
        out: TextIO | None = None,
        end_after_s: float | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._client = client
        self._run_id = run_id
        self._speed = speed
        self._stagger_s = stagger_s
        self._sleep = sleep
        self._out = out
        self._end_after_s = end_after_s

    def _say(self, line: str) -> None:
        if self._out is not None:
            print(line, file=self._out, flush=True)

    async def _retrying(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """A few retries when the service sheds load (503) or rate-limits (429), after the wait it asks for."""
        for attempt in range(5):
            try:
                return await call()
            except ApiError as exc:
                if exc.status not in (429, 503) or attempt == 4:
                    raise
                await self._sleep(exc.retry_after if exc.retry_after is not None else 0.5 * 2**attempt)
        raise AssertionError("unreachable")

    async def play(self, conversation: DemoConversation, *, start_after_s: float = 0.0) -> DemoResult:
        """Start the conversation, then post its turns one by one at typing speed."""
        await self._sleep(start_after_s / self._speed)
        cid = f"{conversation.key}-{self._run_id}"
        result = DemoResult(conversation_id=cid)
        await self._retrying(
            partial(
                self._client.start_conversation,
                cid,
                customer=conversation.customer.model_dump(),
                agent=conversation.agent.model_dump(),
                channel=conversation.channel,
            )
        )
        names = {
            "customer": conversation.customer.name or conversation.customer.id,
            "agent": conversation.agent.name or conversation.agent.id,
        }
        for n, turn in enumerate(conversation.turns, start=1):
            await self._sleep(typing_delay(turn.text) / self._speed)
            reply = await self._retrying(partial(self._client.send_message, cid, f"m{n}", turn.text, role=turn.role))
            result.turns += 1
            raised = [f"{a.severity}:{a.rule}" for a in reply.alerts]
            result.alerts += [a.rule for a in reply.alerts]
            s = reply.scores
            scores = f"anger {s.anger:.2f}  frustration {s.frustration:.2f}" if s.scored else "not scored".ljust(29)
            self._say(f"  {conversation.key[:16]:<16} {names[turn.role][:16]:<16} {scores}  {' '.join(raised)}")
        if self._end_after_s is not None:
            await self._sleep(self._end_after_s / self._speed)
            await self.end([result])
        return result

    async def play_all(self, conversations: Sequence[DemoConversation]) -> list[DemoResult]:
        """Every conversation at once, each starting ``stagger_s`` after the previous one."""
        return list(
            await asyncio.gather(
                *(self.play(c, start_after_s=i * self._stagger_s) for i, c in enumerate(conversations))
            )
        )

    async def end(self, results: Sequence[DemoResult]) -> None:
        """Take a finished round off the board (``--loop`` does this before the next round)."""
        for result in results:
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await self._client.end_conversation(result.conversation_id)


@dataclass
class DemoOptions:
    url: str | None = None
    speed: float = 1.0
    loop: bool = False
    token: str | None = None
    sources: list[Path] | None = None  # None: the extra sources of a checkout, when present (extra_sources)
    source_limit: int = 3
    open_browser: bool = False
    scorer: str | None = None
    host: str | None = None
    port: int | None = None


def _print_urls(base: str, conversations: Sequence[DemoConversation], token: str | None, out: TextIO) -> None:
    """Where to look. A key is never printed: the one the demo posts with is an ingest key, not a reader's."""
    agents = {c.agent.id: c.agent.name for c in conversations}
    width = max(len(f"Sidebar of {name or agent_id}") for agent_id, name in agents.items())
    print(f"\n  {'Supervisor console':<{width}}  {base}/", file=out)
    print(f"  {'Reports':<{width}}  {base}/reports", file=out)
    for agent_id, name in agents.items():
        print(f"  {'Sidebar of ' + (name or agent_id):<{width}}  {base}/sidebar/{agent_id}", file=out)
    if token:
        print("  (the pages ask for a supervisor or agent key)", file=out)
    print("", file=out, flush=True)


async def run_rounds(base: str, conversations: Sequence[DemoConversation], options: DemoOptions, out: TextIO) -> None:
    """Play once, or round after round with ``--loop`` (each round with fresh conversation ids)."""
    async with AsyncCalmwatchClient(base, options.token, timeout=30) as client:
        previous: list[DemoResult] = []
        while True:
            player = DemoPlayer(
                client,
                run_id=time.strftime("%m%d-%H%M%S"),
                speed=options.speed,
                out=out,
                end_after_s=DEMO_LINGER_S,
            )
            await player.end(previous)
            previous = await player.play_all(conversations)
            raised = sum(len(r.alerts) for r in previous)
            print(f"\n  Round done: {len(previous)} conversations, {raised} alerts.", file=out, flush=True)
            if not options.loop:
                return


def _answers(base: str) -> bool:
    with CalmwatchClient(base, timeout=1) as client:
        return client.healthy()


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _demo_scorer(settings: Settings, out: TextIO) -> Scorer:
    """The configured scorer; VADER when the trained model is not there, so that a demo always starts."""
    from monitor.scoring import load_scorer

    try:
        return load_scorer(settings.scorer, settings.model_path, threads=settings.scoring_threads)
    except CalmwatchError as exc:
        print(f"The trained model could not be loaded ({exc}); the demo scores with VADER instead.", file=out)
        return VaderScorer()


async def _serve_and_play(conversations: Sequence[DemoConversation], options: DemoOptions, out: TextIO) -> int:
    """Start the service in this process, play the chats into it, and keep serving until Ctrl-C."""
    import uvicorn

    from monitor.app import create_app
    from monitor.observability import configure_logging

    overrides = {"scorer": options.scorer, "host": options.host, "port": options.port}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    configure_logging("WARNING", settings.log_format)  # the player's own lines are the demo's output
    base = f"http://{settings.host}:{settings.port}"
    if not _port_free(settings.host, settings.port):
        print(f"calmwatch demo: port {settings.port} is taken; pass --port, or --url of a running service", file=out)
        return 1
    scorer = await asyncio.to_thread(_demo_scorer, settings, out)
    print(f"Starting Calmwatch on {base} (scorer: {scorer.name}) ...", file=out, flush=True)
    config = uvicorn.Config(
        create_app(settings, scorer=scorer),
        host=settings.host,
        port=settings.port,
        ws_max_size=settings.max_frame_bytes,
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            with contextlib.suppress(SystemExit):  # uvicorn exits this way when start-up fails; it logged why
                await serving
            print("calmwatch demo: the service did not start (see the log above)", file=out)
            return 1
        await asyncio.sleep(0.05)
    _print_urls(base, conversations, options.token, out)
    if options.open_browser:
        webbrowser.open(f"{base}/")
    playing = asyncio.create_task(run_rounds(base, conversations, options, out))
    await asyncio.wait({serving, playing}, return_when=asyncio.FIRST_COMPLETED)
    if playing.done():
        failure = playing.exception()
        if failure is not None:  # stop the service properly (it owns the embedded Redis) before reporting
            server.should_exit = True
            await serving
            raise failure
        print(f"  The console stays live at {base}/ ; press Ctrl-C to stop.", file=out, flush=True)
        await serving
    else:
        playing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await playing
    return 0


def demo_command(options: DemoOptions, out: TextIO = sys.stderr) -> int:
    """``calmwatch demo``: play into ``--url``, into a service already answering on the default port, or
    into one started here."""
    conversations = load_demo_conversations()
    sources = extra_sources() if options.sources is None else options.sources
    for path in sources:
        extra = load_other_conversations(path, limit=options.source_limit)
        print(f"Adding {len(extra)} conversations from {path}", file=out)
        conversations += extra
    try:
        return _run(conversations, options, out)
    except ApiError as exc:
        hint = " (pass --token with an ingest key)" if exc.status in (401, 403) else ""
        print(f"calmwatch demo: the service answered {exc.status} ({exc.code}: {exc.detail}){hint}", file=out)
        return 1


def _run(conversations: Sequence[DemoConversation], options: DemoOptions, out: TextIO) -> int:
    base = options.url.rstrip("/") if options.url else None
    if base is None:
        host = options.host or "127.0.0.1"
        candidate = f"http://{host}:{options.port or 8000}"
        if _answers(candidate):
            print(f"Calmwatch is already running on {candidate}; playing the chats into it.", file=out)
            base = candidate
    if base is None:
        return asyncio.run(_serve_and_play(conversations, options, out))
    if not _answers(base):
        print(f"calmwatch demo: nothing answers at {base}/healthz; start `calmwatch serve` first", file=out)
        return 1
    _print_urls(base, conversations, options.token, out)
    if options.open_browser:
        webbrowser.open(f"{base}/")
    asyncio.run(run_rounds(base, conversations, options, out))
    return 0
