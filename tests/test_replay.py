"""``calmwatch replay``: reading the three input formats, running them through the pipeline, the report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.replay import (
    ReplayInputError,
    load_conversations,
    render_text,
    run_replay,
    summarise,
    to_json,
)
from monitor.rules import RuleEngine, load_rule_pack
from tests.conftest import make_settings
from tests.fakes import KeywordScorer

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "tests" / "scenarios"

SUPPORT = [  # the shape of shared/data/support-conversations/conversations.json, shortened
    {
        "agentURL": {"turn": "4", "tweet_ID": "9", "url_utterance": "@ana Thanks, a replacement is on its way."},
        "dialogContent": [
            {"client": "ana", "datetime": "2020-03-20T18:34:50.000Z", "message": "@Shop kettle broke", "tweet_ID": "1"},
            {"agent": "Shop", "datetime": "2020-03-20T18:43:36.000Z", "message": "@ana Which model?", "tweet_ID": "2"},
            {"client": "ana", "datetime": "2020-03-20T20:57:34.000Z", "message": "@Shop K-200", "tweet_ID": "3"},
        ],
        "dialogHeader": {"company": "Shop", "conversationDateTime": "2020-03-20T18:34:50.000Z",
                         "duration": "02:29:08.0", "sessionID": "Qt4M3sXk"},
    }
]  # fmt: skip

ANGRY_JSONL = [
    {
        "conversation_id": "c-1",
        "role": "customer",
        "text": "This is ridiculous and unacceptable!",
        "customer_name": "Ana",
    },
    {"conversation_id": "c-2", "role": "customer", "text": "Hi, quick question about my plan."},
    {"conversation_id": "c-1", "role": "agent", "text": "I understand, let me check."},
    {"conversation_id": "c-1", "role": "customer", "text": "Furious. I want to speak to a manager."},
]


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return load_rule_pack([REPO / "rules"])


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_support_format_appends_the_final_agent_reply(tmp_path: Path) -> None:
    """A support-conversations dialog becomes its turns plus the agentURL reply, timed at start + duration."""
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(SUPPORT), encoding="utf-8")
    [conv] = load_conversations(path)
    assert conv.conversation_id == "Qt4M3sXk"
    assert [t.role for t in conv.turns] == ["customer", "agent", "customer", "agent"]
    assert conv.turns[-1].text.endswith("on its way.")
    assert conv.turns[-1].sent_at is not None and conv.turns[-1].sent_at.isoformat() == "2020-03-20T21:03:58+00:00"
    assert conv.customer_name == "", "twitter handles are not names"


def test_jsonl_groups_turns_by_conversation(tmp_path: Path) -> None:
    """JSONL messages are grouped per conversation in file order, names taken from any line."""
    convs = load_conversations(write_jsonl(tmp_path / "m.jsonl", ANGRY_JSONL))
    assert [c.conversation_id for c in convs] == ["c-1", "c-2"]
    assert [t.role for t in convs[0].turns] == ["customer", "agent", "customer"]
    assert convs[0].customer_name == "Ana"


def test_bad_inputs_are_reported_with_the_place(tmp_path: Path) -> None:
    """A malformed JSONL line or a scenario typo names the file and the line or field."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"conversation_id": "c", "role": "customer", "text": "hi"}\n{"role": "boss"}\n', encoding="utf-8")
    with pytest.raises(ReplayInputError, match=r"bad\.jsonl:2"):
        load_conversations(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("id: x\ndescription: d\nturns:\n  - customer: hi\n    expcet: [anger]\n", encoding="utf-8")
    with pytest.raises(ReplayInputError, match=r"turns\.0\.expcet"):
        load_conversations(typo)


def test_scenario_directory_loads_every_scenario() -> None:
    """The shipped scenario suite parses, has at least 25 conversations, and each has expectations."""
    convs = load_conversations(SCENARIOS)
    assert len(convs) >= 25
    assert len({c.conversation_id for c in convs}) == len(convs)
    assert all(c.has_expectations for c in convs)
    assert sum(c.quiet == "all" for c in convs) >= 6, "calm conversations are part of the suite"


async def test_replay_runs_the_pipeline_and_summarises(tmp_path: Path, redis_url: str, engine: RuleEngine) -> None:
    """Turns go through scoring, state and rules; alerts, risk and the summary counts come back."""
    convs = load_conversations(write_jsonl(tmp_path / "m.jsonl", ANGRY_JSONL))
    results = await run_replay(
        convs, settings=make_settings(redis_url), engine=engine, scorer=KeywordScorer(), progress=False
    )
    by_id = {r.conversation.conversation_id: r for r in results}
    first = by_id["c-1"].turns
    assert {a.rule for a in first[0].alerts} >= {"anger"}
    assert first[0].anger is not None and first[0].anger > 0.5 and first[0].risk > 0.5
    assert "escalate" in {a.rule for a in first[2].alerts}
    assert all(not t.alerts for t in by_id["c-2"].turns)
    summary = summarise(results)
    assert summary["conversations"] == 2 and summary["conversations_with_alerts"] == 1
    assert summary["per_rule"]["anger"]["alerts"] >= 1
    assert summary["per_conversation"]["c-1"]["escalate"] == 1


async def test_cooldown_uses_the_conversation_clock(tmp_path: Path, redis_url: str, engine: RuleEngine) -> None:
    """Two angry turns 30 s apart raise `anger` once; 10 minutes apart (past its cooldown) twice."""
    times = {"close": ["10:00:00", "10:00:30"], "far": ["10:00:00", "10:10:00"]}
    rows = [
        {"conversation_id": cid, "role": "customer", "text": text, "sent_at": f"2026-01-01T{at}Z"}
        for cid, ats in times.items()
        for text, at in zip(["ridiculous, unacceptable", "useless and ridiculous"], ats, strict=True)
    ]
    convs = load_conversations(write_jsonl(tmp_path / "m.jsonl", rows))
    results = await run_replay(
        convs, settings=make_settings(redis_url), engine=engine, scorer=KeywordScorer(), progress=False
    )
    counts = {r.conversation.conversation_id: sum(a.rule == "anger" for _, a in r.alerts) for r in results}
    assert counts == {"close": 1, "far": 2}


async def test_replay_takes_the_turn_window_from_settings(tmp_path: Path, redis_url: str, engine: RuleEngine) -> None:
    """Replay is wired from Settings like the service: with a one-turn window an angry turn leaves risk at once."""
    rows = [
        {"conversation_id": "w", "role": "customer", "text": "ridiculous, unacceptable"},
        {"conversation_id": "w", "role": "customer", "text": "ok, thanks"},
    ]
    convs = load_conversations(write_jsonl(tmp_path / "m.jsonl", rows))
    runs = {
        window: await run_replay(
            convs, settings=make_settings(redis_url, turn_window=window), engine=engine, scorer=KeywordScorer(),
            progress=False,
        )
        for window in (1, 20)
    }  # fmt: skip
    assert runs[1][0].turns[1].risk < runs[20][0].turns[1].risk


async def test_unmet_expectations_are_reported(tmp_path: Path, redis_url: str, engine: RuleEngine) -> None:
    """A scenario expecting an alert that does not fire, or forbidding one that does, lists the problems."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "id: wrong\ndescription: d\nquiet: [anger]\nturns:\n"
        "  - customer: 'hello there'\n    expect: [escalate]\n"
        "  - customer: 'ridiculous, unacceptable, furious'\n",
        encoding="utf-8",
    )
    results = await run_replay(
        load_conversations(path),
        settings=make_settings(redis_url),
        engine=engine,
        scorer=KeywordScorer(),
        progress=False,
    )
    problems = results[0].problems()
    assert any("turn 1: expected 'escalate'" in p for p in problems)
    assert any("turn 2: 'anger' must stay quiet" in p for p in problems)
    summary = summarise(results)
    assert summary["scenarios"] == {"checked": 1, "failed": {"wrong": problems}}
    out = io.StringIO()
    render_text(results, summary, out)
    assert "✗ turn 1" in out.getvalue() and "scenario expectations: 0/1" in out.getvalue()
    assert to_json(results, summary)["conversations"][0]["problems"] == problems


def test_cli_replay_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`calmwatch replay FILE --json --scorer vader` prints one JSON document with turns and a summary."""
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(SUPPORT), encoding="utf-8")
    assert main(["replay", str(path), "--json", "--scorer", "vader", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["conversations"] == 1 and doc["summary"]["scorer"] == "vader"
    turns = doc["conversations"][0]["turns"]
    assert len(turns) == 4 and set(turns[0]["scores"]) == {"anger", "frustration", "sentiment", "scored", "language"}


def test_cli_replay_refuses_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing input file is exit code 2 with the path in the message."""
    assert main(["replay", str(tmp_path / "nope.json"), "--scorer", "vader"]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_scenarios_name_only_existing_rules(engine: RuleEngine) -> None:
    """Every rule id a scenario expects or forbids exists, so a typo cannot make a check pass vacuously."""
    known = set(engine.rule_ids)
    for conv in load_conversations(SCENARIOS):
        named = set(conv.raises) | (set() if conv.quiet == "all" else set(conv.quiet))
        named |= {r for t in conv.turns for r in (*t.expect, *t.forbid)}
        assert named <= known, (conv.conversation_id, named - known)
