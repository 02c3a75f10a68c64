"""``calmwatch replay``: run recorded conversations through the real pipeline, offline, and show what fired.

The same :class:`~monitor.pipeline.Pipeline` the service runs, wired the same way from the same
:class:`~monitor.settings.Settings` (:func:`monitor.runtime.build_pipeline`: scoring through the
micro-batcher, state and cooldowns in a real Redis-protocol server, the rule engine), processes every turn;
only the transport is missing. The Redis is a private embedded server unless ``settings.redis_url`` names
one: the command never writes into the service's Redis, where replayed alerts would reach consoles and
webhooks. Three input formats are read:

* **scenarios** (``.yaml``/``.json``, one conversation per file, or a directory of them): the test suite's
  format, with per-turn expectations (``expect``/``forbid``) and conversation-wide ones (``raises``,
  ``quiet``); replay reports which expectations are met;
* **JSONL of messages**: one JSON object a line, ``{"conversation_id", "role", "text"}`` plus optional
  ``message_id``, ``sent_at``, ``customer_name``, ``agent_name``; turns are grouped by conversation in
  file order;
* **support conversations**: the list-of-dialogs JSON of ``shared/data/support-conversations`` (customer
  turns under ``client``, agent turns under ``agent``, the final agent reply in ``agentURL``).

Output: every turn with its scores, the conversation's risk and the alerts it raised, then a summary
(alerts per rule, per conversation, and false-alarm candidates to read), or all of it as JSON; with ``--html``
also a page of per-conversation timelines and a per-rule summary (:mod:`monitor.replay_html`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor.alerts import AlertLog
from monitor.errors import ReplayInputError
from monitor.outcomes import CALM_LEVEL, ConversationRecord
from monitor.pipeline import Pipeline
from monitor.rules import RuleEngine
from monitor.runtime import build_pipeline, open_redis, running_batcher
from monitor.schemas import ChatMessage, ConversationStart, Party, Role, utcnow
from monitor.scoring import Scorer
from monitor.settings import Settings

# ------------------------------------------------------------------------------------------------ inputs


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScenarioTurn(_Strict):
    """One turn of a scenario: exactly one of ``customer``/``agent`` holds the text."""

    customer: str | None = None
    agent: str | None = None
    expect: list[str] = Field(default_factory=list, description="rules that must raise an alert on this turn")
    forbid: list[str] = Field(default_factory=list, description="rules that must not raise one on this turn")
    nudge_has: dict[str, list[str]] = Field(
        default_factory=dict, description="rule -> texts its nudge on this turn must contain (it must fire)"
    )
    nudge_lacks: dict[str, list[str]] = Field(
        default_factory=dict, description="rule -> texts its nudge on this turn must not contain"
    )
    supervisor: list[str] = Field(default_factory=list, description="rules whose alert here must reach the supervisor")
    language: str | None = Field(
        default=None, description="'en': the turn must be scored; another code: left unscored as that language"
    )
    note: str = ""
    after_s: float = Field(default=30.0, ge=0, description="seconds since the previous turn (cooldowns use it)")

    @model_validator(mode="after")
    def _one_speaker(self) -> ScenarioTurn:
        if (self.customer is None) == (self.agent is None):
            raise ValueError("a turn needs exactly one of 'customer' or 'agent'")
        return self

    @property
    def role(self) -> Role:
        return "customer" if self.customer is not None else "agent"

    @property
    def text(self) -> str:
        return self.customer if self.customer is not None else str(self.agent)


class Scenario(_Strict):
    """A hand-written conversation with the alerts it must and must not raise."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,100}$")
    description: str
    customer_name: str = ""
    agent_name: str = "Sam Lee"
    raises: list[str] = Field(default_factory=list, description="rules that must fire somewhere")
    quiet: list[str] | Literal["all"] = Field(default_factory=list, description="rules that must never fire")
    turns: list[ScenarioTurn] = Field(min_length=1)


@dataclass
class ReplayTurn:
    role: Role
    text: str
    sent_at: datetime | None = None
    expect: list[str] = field(default_factory=list)
    forbid: list[str] = field(default_factory=list)
    nudge_has: dict[str, list[str]] = field(default_factory=dict)
    nudge_lacks: dict[str, list[str]] = field(default_factory=dict)
    supervisor: list[str] = field(default_factory=list)
    language: str | None = None  # expected: "en" scored, another code unscored as that language

    @property
    def has_expectations(self) -> bool:
        expectations = (self.expect, self.forbid, self.nudge_has, self.nudge_lacks, self.supervisor, self.language)
        return any(bool(e) for e in expectations)


@dataclass
class ReplayConversation:
    """A conversation to replay, whatever file format it came from."""

    conversation_id: str
    turns: list[ReplayTurn]
    customer_name: str = ""
    agent_name: str = ""
    description: str = ""
    source: str = ""
    raises: list[str] = field(default_factory=list)
    quiet: list[str] | Literal["all"] = field(default_factory=list)

    @property
    def has_expectations(self) -> bool:
        return bool(self.raises or self.quiet or any(t.has_expectations for t in self.turns))


def _scenario_conversation(scenario: Scenario, source: str) -> ReplayConversation:
    return ReplayConversation(
        conversation_id=scenario.id,
        turns=[
            ReplayTurn(
                t.role,
                t.text,
                at,
                list(t.expect),
                list(t.forbid),
                dict(t.nudge_has),
                dict(t.nudge_lacks),
                list(t.supervisor),
                t.language,
            )
            for t, at in zip(scenario.turns, _timeline(scenario.turns), strict=True)
        ],
        customer_name=scenario.customer_name,
        agent_name=scenario.agent_name,
        description=scenario.description,
        source=source,
        raises=list(scenario.raises),
        quiet=scenario.quiet if scenario.quiet == "all" else list(scenario.quiet),
    )


#: Scenarios have no clock of their own; their turns are laid out from this instant, ``after_s`` apart.
SCENARIO_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DEFAULT_GAP = timedelta(seconds=30)


def _timeline(turns: Sequence[ScenarioTurn]) -> list[datetime]:
    at, out = SCENARIO_START, []
    for turn in turns:
        at += timedelta(seconds=turn.after_s)
        out.append(at)
    return out


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _duration(value: object) -> timedelta:
    match = re.match(r"^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$", str(value or ""))
    if not match:
        return timedelta(0)
    h, m, s = match.groups()
    return timedelta(hours=int(h), minutes=int(m), seconds=float(s))


def _slug(value: str, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._:@\-]", "-", value).strip("-")[:100]
    return slug if slug and slug[0].isalnum() else fallback


def _support_conversation(item: dict[str, Any], index: int, source: str) -> ReplayConversation:
    """One dialog of the support-conversations dataset. Twitter handles are not names, so names stay empty."""
    header = item.get("dialogHeader") or {}
    turns: list[ReplayTurn] = []
    seen: set[str] = set()
    for entry in item.get("dialogContent") or []:
        role: Role = "agent" if "agent" in entry else "customer"
        text = str(entry.get("message") or "")
        if text.strip():
            turns.append(ReplayTurn(role, text, _parse_time(entry.get("datetime"))))
        seen.add(str(entry.get("tweet_ID")))
    final = item.get("agentURL") or {}
    utterance = str(final.get("url_utterance") or "")
    if utterance.strip() and str(final.get("tweet_ID")) not in seen:
        started = _parse_time(header.get("conversationDateTime"))
        at = started + _duration(header.get("duration")) if started else None
        turns.append(ReplayTurn("agent", utterance, at))
    return ReplayConversation(
        conversation_id=_slug(str(header.get("sessionID") or ""), f"conv-{index}"),
        turns=turns,
        agent_name=str(header.get("company") or ""),
        description=str(header.get("company") or ""),
        source=f"{source}[{index}]",
    )


def _jsonl_conversations(path: Path) -> list[ReplayConversation]:
    by_id: dict[str, ReplayConversation] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cid = str(row["conversation_id"])
            role = row["role"]
            text = str(row["text"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ReplayInputError(f"{path}:{lineno}: expected a JSON object with conversation_id, role, text") from exc
        if role not in ("customer", "agent"):
            raise ReplayInputError(f"{path}:{lineno}: role must be 'customer' or 'agent', not {role!r}")
        conv = by_id.setdefault(cid, ReplayConversation(_slug(cid, f"conv-{len(by_id)}"), [], source=str(path)))
        conv.customer_name = str(row.get("customer_name") or conv.customer_name)
        conv.agent_name = str(row.get("agent_name") or conv.agent_name)
        conv.turns.append(ReplayTurn(role, text, _parse_time(row.get("sent_at"))))
    return list(by_id.values())


def _structured_conversations(path: Path, data: object) -> list[ReplayConversation]:
    if isinstance(data, list) and data and isinstance(data[0], dict) and "dialogContent" in data[0]:
        return [_support_conversation(item, i, str(path)) for i, item in enumerate(data)]
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_scenario_conversation(Scenario.model_validate(item), str(path)))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            prefix = f"[{i}]." if isinstance(data, list) else ""
            raise ReplayInputError(f"{path}: {prefix}{where}: {err['msg']}") from exc
    return out


def load_conversations(path: Path) -> list[ReplayConversation]:
    """Read one file (or every ``*.yaml``/``*.json``/``*.jsonl`` in a directory, by name) in any supported format."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json", ".jsonl"))
        return [conv for f in files for conv in load_conversations(f)]
    if not path.is_file():
        raise ReplayInputError(f"{path}: no such file or directory")
    if path.suffix == ".jsonl":
        return _jsonl_conversations(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ReplayInputError(f"{path}: cannot parse: {exc}") from exc
    return _structured_conversations(path, data)


# ------------------------------------------------------------------------------------------------ running


@dataclass
class AlertView:
    rule: str
    severity: str
    audience: list[str]
    nudge: str
    reason: str


@dataclass
class TurnResult:
    index: int
    role: Role
    text: str
    anger: float | None  # None: the model did not read the turn (see ``language``)
    frustration: float | None
    sentiment: float | None
    risk: float
    alerts: list[AlertView]
    expect: list[str] = field(default_factory=list)
    forbid: list[str] = field(default_factory=list)
    language: str | None = None
    expect_language: str | None = None
    nudge_has: dict[str, list[str]] = field(default_factory=dict)
    nudge_lacks: dict[str, list[str]] = field(default_factory=dict)
    supervisor: list[str] = field(default_factory=list)

    def alert(self, rule: str) -> AlertView | None:
        return next((a for a in self.alerts if a.rule == rule), None)


@dataclass
class ConversationResult:
    conversation: ReplayConversation
    turns: list[TurnResult]
    record: ConversationRecord | None = None  # as stored by the pipeline: what the HTML report's outcomes read

    @property
    def alerts(self) -> Iterator[tuple[TurnResult, AlertView]]:
        for turn in self.turns:
            for alert in turn.alerts:
                yield turn, alert

    def problems(self) -> list[str]:
        """Unmet scenario expectations, each a sentence naming the turn and the rule."""
        out: list[str] = []
        fired_anywhere = {a.rule for _, a in self.alerts}
        for turn in self.turns:
            fired = {a.rule for a in turn.alerts}
            out += [
                f"turn {turn.index}: expected {r!r}, got {sorted(fired) or 'nothing'}"
                for r in turn.expect
                if r not in fired
            ]
            out += [f"turn {turn.index}: {r!r} must not fire ({_reason(turn, r)})" for r in turn.forbid if r in fired]
            for rule, texts in turn.nudge_has.items():
                alert = turn.alert(rule)
                if alert is None:
                    out.append(f"turn {turn.index}: expected {rule!r} (nudge check), got {sorted(fired) or 'nothing'}")
                    continue
                out += [
                    f"turn {turn.index}: {rule!r} nudge lacks {t!r}: {alert.nudge!r}"
                    for t in texts
                    if t not in alert.nudge
                ]
            for rule, texts in turn.nudge_lacks.items():
                alert = turn.alert(rule)
                nudge = alert.nudge if alert else ""
                out += [f"turn {turn.index}: {rule!r} nudge must not say {t!r}: {nudge!r}" for t in texts if t in nudge]
            if turn.expect_language is not None:
                got = "en" if turn.anger is not None else turn.language
                if got != turn.expect_language:
                    want = "scored" if turn.expect_language == "en" else f"not scored ({turn.expect_language})"
                    out.append(f"turn {turn.index}: expected {want}, got {got or 'not scored'}")
            for rule in turn.supervisor:
                alert = turn.alert(rule)
                if alert is None or "supervisor" not in alert.audience:
                    where = "not raised" if alert is None else f"audience {alert.audience}"
                    out.append(f"turn {turn.index}: {rule!r} must reach the supervisor ({where})")
        out += [
            f"expected {r!r} somewhere in the conversation" for r in self.conversation.raises if r not in fired_anywhere
        ]
        quiet = self.conversation.quiet
        for turn, alert in self.alerts:
            if quiet == "all" or alert.rule in quiet:
                out.append(f"turn {turn.index}: {alert.rule!r} must stay quiet here ({alert.reason})")
        return out


def _reason(turn: TurnResult, rule: str) -> str:
    return next((a.reason for a in turn.alerts if a.rule == rule), "")


#: The replayed turn's own time, per conversation task: cooldowns then see the gaps the conversation had,
#: not the milliseconds a replay takes.
_REPLAY_NOW: ContextVar[datetime | None] = ContextVar("replay_now", default=None)


def _replay_clock() -> datetime:
    return _REPLAY_NOW.get() or utcnow()


async def _replay_one(
    pipeline: Pipeline, conv: ReplayConversation, prefix: str, log: AlertLog | None = None
) -> ConversationResult:
    cid = f"{prefix}{conv.conversation_id}"[:128]
    await pipeline.start_conversation(
        ConversationStart(
            conversation_id=cid,
            customer=Party(id="customer", name=conv.customer_name),
            agent=Party(id="agent", name=conv.agent_name),
            channel="replay",
        )
    )
    results: list[TurnResult] = []
    at = SCENARIO_START
    for index, turn in enumerate(conv.turns, start=1):
        # A turn without a time comes DEFAULT_GAP after the previous one, so cooldowns behave as in a live chat.
        at = turn.sent_at or at + DEFAULT_GAP
        message = ChatMessage(
            conversation_id=cid,
            message_id=f"t{index}",
            role=turn.role,
            text=turn.text[:8000],
            sent_at=at,
        )
        _REPLAY_NOW.set(message.sent_at)
        reply = await pipeline.handle_message(message)
        results.append(
            TurnResult(
                index=index,
                role=turn.role,
                text=turn.text,
                anger=reply.scores.anger,
                frustration=reply.scores.frustration,
                sentiment=reply.scores.sentiment,
                risk=reply.risk,
                alerts=[AlertView(a.rule, a.severity, list(a.audience), a.nudge, a.reason) for a in reply.alerts],
                expect=turn.expect,
                forbid=turn.forbid,
                language=reply.scores.language,
                expect_language=turn.language,
                nudge_has=turn.nudge_has,
                nudge_lacks=turn.nudge_lacks,
                supervisor=turn.supervisor,
            )
        )
    record = None
    meta = await pipeline.store.meta(cid)
    if log is not None and meta is not None:
        alerts = await log.get_many(await pipeline.store.alert_ids(cid))
        record = ConversationRecord(meta, await pipeline.store.turns(cid), alerts)
    return ConversationResult(conv, results, record)


async def run_replay(
    conversations: Sequence[ReplayConversation],
    *,
    settings: Settings,
    engine: RuleEngine,
    scorer: Scorer,
    concurrency: int = 8,
    progress: bool | None = None,
) -> list[ConversationResult]:
    """Replay conversations through the service's pipeline on a real Redis; results come back in input order.

    With no ``settings.redis_url`` an embedded server is started in a temporary directory and removed
    afterwards. Conversations run ``concurrency`` at a time (turns within one stay in order), so the
    micro-batcher sees several turns at once as it would in service.
    """
    async with (
        open_redis(settings.redis_url, attempts=settings.redis_connect_attempts) as redis,
        running_batcher(scorer, settings) as batcher,
    ):
        pipeline = build_pipeline(settings, redis=redis, scorer=batcher, rules=lambda: engine, clock=_replay_clock)
        prefix = f"replay-{id(pipeline):x}-"
        limit = asyncio.Semaphore(max(1, concurrency))
        results: list[ConversationResult | None] = [None] * len(conversations)
        bar = _progress_bar(len(conversations), progress)

        async def one(i: int, conv: ReplayConversation) -> None:
            async with limit:
                results[i] = await _replay_one(pipeline, conv, prefix, AlertLog(redis))
            if bar is not None:
                bar.update(1)

        try:
            await asyncio.gather(*(one(i, c) for i, c in enumerate(conversations)))
        finally:
            if bar is not None:
                bar.close()
        return [r for r in results if r is not None]


def _progress_bar(total: int, progress: bool | None) -> Any:
    """A tqdm bar on stderr for long replays; ``None`` (auto) shows it for 20+ conversations on a terminal."""
    if progress is False or (progress is None and total < 20):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="conv", desc="replay", disable=None if progress is None else False)


# ------------------------------------------------------------------------------------------------ summary


def summarise(results: Sequence[ConversationResult]) -> dict[str, Any]:
    """Counts for the report: alerts per rule and per conversation, false-alarm candidates, expectations."""
    per_rule: Counter[str] = Counter()
    convs_per_rule: dict[str, set[str]] = defaultdict(set)
    per_conversation: dict[str, dict[str, int]] = {}
    candidates: list[dict[str, Any]] = []
    for res in results:
        cid = res.conversation.conversation_id
        counts: Counter[str] = Counter()
        for turn, alert in res.alerts:
            per_rule[alert.rule] += 1
            counts[alert.rule] += 1
            convs_per_rule[alert.rule].add(cid)
            # Customer-side warnings on a turn the model reads as calm, or on a happy turn, deserve a look;
            # agent-side rules (canned_reply, agent_tone) judge the agent, whatever the customer's mood.
            if turn.anger is None or turn.frustration is None or turn.sentiment is None:
                continue  # an unscored turn is neither calm nor happy to the model
            calm_turn = max(turn.anger, turn.frustration) < CALM_LEVEL
            happy_turn = turn.sentiment >= 0.5
            if turn.role == "customer" and alert.severity != "info" and (calm_turn or happy_turn):
                why = (
                    "positive turn"
                    if happy_turn
                    else f"calm turn (anger {turn.anger:.2f}, frustration {turn.frustration:.2f})"
                )
                candidates.append(
                    {
                        "conversation": cid,
                        "turn": turn.index,
                        "rule": alert.rule,
                        "severity": alert.severity,
                        "why": why,
                        "reason": alert.reason,
                        "text": turn.text[:160],
                    }
                )
        if counts:
            per_conversation[cid] = dict(counts)
    n = len(results)
    with_alerts = len(per_conversation)
    severe = sum(any(a.severity != "info" for _, a in r.alerts) for r in results)
    per_severity = Counter(a.severity for r in results for _, a in r.alerts)
    scenario_results = [r for r in results if r.conversation.has_expectations]
    failed = {r.conversation.conversation_id: r.problems() for r in scenario_results if r.problems()}
    return {
        "conversations": n,
        "turns": sum(len(r.turns) for r in results),
        "alerts": sum(per_rule.values()),
        "conversations_with_alerts": with_alerts,
        "conversations_with_alerts_rate": round(with_alerts / n, 4) if n else 0.0,
        "conversations_with_warnings": severe,
        "conversations_with_warnings_rate": round(severe / n, 4) if n else 0.0,
        "per_severity": dict(per_severity),
        "per_rule": {
            rule: {
                "alerts": count,
                "conversations": len(convs_per_rule[rule]),
                "per_conversation": round(count / n, 4) if n else 0.0,
            }
            for rule, count in per_rule.most_common()
        },
        "per_conversation": per_conversation,
        "false_alarm_candidates": candidates,
        "scenarios": {"checked": len(scenario_results), "failed": failed},
    }


# ------------------------------------------------------------------------------------------------ output

_SEVERITY_MARK = {"info": "·", "warning": "!", "critical": "‼"}


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def render_text(
    results: Sequence[ConversationResult], summary: dict[str, Any], out: IO[str], *, only_alerts: bool = False
) -> None:
    """Human-readable report: each turn with scores and alerts, then the summary."""
    for res in results:
        conv = res.conversation
        if only_alerts and not any(t.alerts for t in res.turns):
            continue
        names = " / ".join(n for n in (conv.customer_name, conv.agent_name) if n)
        out.write(f"\n== {conv.conversation_id}  {_one_line(conv.description, 70)}  {names}\n")
        for t in res.turns:
            if only_alerts and not t.alerts:
                continue
            if t.anger is None or t.frustration is None or t.sentiment is None:
                scores = f"not scored ({t.language or 'agent turn'})".ljust(31) + f" risk {t.risk:.2f}"
            else:
                scores = f"ang {t.anger:.2f} fru {t.frustration:.2f} sen {t.sentiment:+.2f} risk {t.risk:.2f}"
            out.write(f"  {t.index:>2} {t.role:<8} {scores} | {_one_line(t.text, 90)}\n")
            for a in t.alerts:
                mark = _SEVERITY_MARK.get(a.severity, "?")
                out.write(f"       {mark} {a.rule} [{a.severity} -> {','.join(a.audience)}] {a.reason}\n")
                out.write(f"         nudge: {_one_line(a.nudge, 110)}\n")
        for problem in res.problems():
            out.write(f"  ✗ {problem}\n")
    s = summary
    out.write("\n== summary\n")
    out.write(
        f"conversations {s['conversations']}, turns {s['turns']}, alerts {s['alerts']}; "
        f"conversations with any alert: {s['conversations_with_alerts']} "
        f"({s['conversations_with_alerts_rate']:.1%})\n"
    )
    out.write(
        f"conversations with a warning or critical alert: {s['conversations_with_warnings']} "
        f"({s['conversations_with_warnings_rate']:.1%}); alerts by severity: "
        + ", ".join(f"{k} {v}" for k, v in sorted(s["per_severity"].items()))
        + "\n"
    )
    out.write("alerts per rule:\n")
    for rule, row in s["per_rule"].items():
        out.write(
            f"  {rule:<14} {row['alerts']:>4} alerts in {row['conversations']:>4} conversations "
            f"({row['per_conversation']:.3f} per conversation)\n"
        )
    if s["per_conversation"]:
        out.write("alerts per conversation (most first):\n")
        ranked = sorted(s["per_conversation"].items(), key=lambda kv: -sum(kv[1].values()))
        for cid, counts in ranked[:25]:
            detail = ", ".join(f"{r} {c}" for r, c in sorted(counts.items()))
            out.write(f"  {cid:<40} {sum(counts.values()):>3}  {detail}\n")
        if len(ranked) > 25:
            out.write(f"  ... and {len(ranked) - 25} more\n")
    cands = s["false_alarm_candidates"]
    out.write(f"false-alarm candidates (warning/critical where the customer was calm or happy): {len(cands)}\n")
    for c in cands[:40]:
        out.write(f"  {c['conversation']} turn {c['turn']} {c['rule']} ({c['why']}): {_one_line(c['text'], 80)}\n")
    sc = s["scenarios"]
    if sc["checked"]:
        out.write(f"scenario expectations: {sc['checked'] - len(sc['failed'])}/{sc['checked']} conversations met\n")


def to_json(results: Sequence[ConversationResult], summary: dict[str, Any]) -> dict[str, Any]:
    """The whole report as one JSON-ready object (``--json``)."""
    return {
        "conversations": [
            {
                "conversation_id": r.conversation.conversation_id,
                "source": r.conversation.source,
                "turns": [
                    {
                        "index": t.index,
                        "role": t.role,
                        "text": t.text,
                        "scores": {
                            "anger": t.anger,
                            "frustration": t.frustration,
                            "sentiment": t.sentiment,
                            "scored": t.anger is not None,
                            "language": t.language,
                        },
                        "risk": t.risk,
                        "alerts": [a.__dict__ for a in t.alerts],
                    }
                    for t in r.turns
                ],
                "problems": r.problems(),
            }
            for r in results
        ],
        "summary": summary,
    }


# ------------------------------------------------------------------------------------------------ command


def replay_command(
    files: Sequence[Path],
    *,
    rules_paths: Sequence[Path] | None = None,
    scorer_name: Literal["model", "vader"] | None = None,
    model_path: Path | None = None,
    as_json: bool = False,
    only_alerts: bool = False,
    limit: int | None = None,
    concurrency: int = 8,
    progress: bool | None = None,
    out: IO[str] | None = None,
    html: Path | None = None,
) -> int:
    """``calmwatch replay``: 0 when all ran and every scenario expectation held, 1 if one failed, 2 on bad input."""
    import sys

    from monitor.errors import RulePackError
    from monitor.observability import configure_logging
    from monitor.rules import load_rule_pack
    from monitor.scoring import load_scorer

    out = out or sys.stdout
    configure_logging("WARNING", "console")  # the report is the output; per-turn service logs would drown it
    # Everything as the service has it, but never its Redis: replayed alerts must not reach its consoles and
    # webhooks, so the replay runs on a private embedded server (an init value beats CALMWATCH_REDIS_URL).
    overrides: dict[str, Any] = {"redis_url": None}
    if rules_paths:
        overrides["rules_paths"] = list(rules_paths)
    if scorer_name:
        overrides["scorer"] = scorer_name
    if model_path:
        overrides["model_path"] = model_path
    settings = Settings(**overrides)
    try:
        conversations = [c for f in files for c in load_conversations(f)]
        engine = load_rule_pack(settings.rules_paths)
    except (ReplayInputError, RulePackError) as exc:
        print(f"calmwatch replay: {exc}", file=sys.stderr)
        return 2
    if limit is not None:
        conversations = conversations[:limit]
    scorer = load_scorer(settings.scorer, settings.model_path, threads=settings.scoring_threads)
    results = asyncio.run(
        run_replay(
            conversations, settings=settings, engine=engine, scorer=scorer, concurrency=concurrency, progress=progress
        )
    )
    summary = summarise(results)
    summary["scorer"] = scorer.name
    summary["rules"] = [str(p) for p in engine.sources]
    if html is not None:
        from monitor.replay_html import write_html

        write_html(html, results, summary, engine, settings)
        print(f"calmwatch replay: wrote {html}", file=sys.stderr)
    try:
        if as_json:
            json.dump(to_json(results, summary), out, ensure_ascii=False, indent=1)
            out.write("\n")
        else:
            render_text(results, summary, out, only_alerts=only_alerts)
    except BrokenPipeError:  # `calmwatch replay ... | head` is fine
        return 0
    return 1 if summary["scenarios"]["failed"] else 0
