"""Issue 21, item 3: with default settings agent turns are never given to the model (no emotion scores, no
emotion-based rules), while the agent rules that read words still fire; CALMWATCH_SCORE_AGENTS=true scores them."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.rules import load_rule_pack
from monitor.runtime import build_pipeline, redis_client
from monitor.schemas import ChatMessage, ConversationStart, Party, TurnScores
from tests.conftest import make_settings
from tests.fakes import KeywordScorer
from tests.paths import REPO_ROOT


class RecordingScorer:
    """The keyword scorer behind the async protocol, remembering every text it was given."""

    def __init__(self) -> None:
        self.inner = KeywordScorer()
        self.texts: list[str] = []

    async def score(self, text: str) -> TurnScores:
        self.texts.append(text)
        return self.inner.score([text])[0]


CANNED = "Thank you for your patience, our team is looking into your order right now."
CHAT: Sequence[tuple[str, str]] = (
    ("customer", "This is ridiculous and unacceptable, my order is still not here"),
    ("agent", CANNED),  # use_name: a reply to an upset customer without "Ana"
    ("customer", "Useless. I am furious, still waiting after three weeks"),
    ("agent", CANNED),  # canned_reply
    ("agent", "I hate this useless ridiculous job, it is the worst"),  # angry words: "negative" needs scores
    ("agent", "Calm down, there is nothing i can do about it"),  # agent_tone: dismissive
)


async def run_chat(redis_url: str, **settings: object) -> tuple[RecordingScorer, list[dict[str, object]]]:
    """The chat through a pipeline with the real rule pack; the scorer and every turn's answer."""
    client = redis_client(redis_url)
    scorer, engine = RecordingScorer(), load_rule_pack([REPO_ROOT / "rules"])
    pipeline = build_pipeline(make_settings(redis_url, **settings), redis=client, scorer=scorer, rules=lambda: engine)
    await pipeline.start_conversation(
        ConversationStart(conversation_id="c1", customer=Party(id="u", name="Ana Smith"), agent=Party(id="a"))
    )
    answers = []
    for n, (role, text) in enumerate(CHAT):
        message = ChatMessage(conversation_id="c1", message_id=f"m{n}", role=role, text=text)  # type: ignore[arg-type]
        reply = await pipeline.handle_message(message)
        answers.append({"role": role, "scores": reply.scores, "rules": {a.rule for a in reply.alerts},
                        "reasons": [a.reason for a in reply.alerts]})  # fmt: skip
    stored = await pipeline.store.turns("c1")
    await client.aclose()
    assert all((t.scores is None) == (t.role == "agent" and not settings.get("score_agents")) for t in stored)
    return scorer, answers


async def test_agent_turns_are_not_scored_by_default_and_word_rules_still_fire(flushed_redis: str) -> None:
    """The model reads only customer turns; agent turns answer scored: false with no numbers; canned_reply,
    use_name and agent_tone (dismissive) fire on words, agent_tone's score-based "negative" never does."""
    scorer, answers = await run_chat(flushed_redis)
    assert scorer.texts == [text for role, text in CHAT if role == "customer"]
    for answer in answers:
        scores = answer["scores"]
        if answer["role"] == "agent":
            assert scores.model_dump() == {  # type: ignore[attr-defined]
                "anger": None, "frustration": None, "sentiment": None, "scored": False, "language": None
            }  # fmt: skip
        else:
            assert scores.scored and scores.anger is not None  # type: ignore[attr-defined]
    assert [sorted(a["rules"]) for a in answers if a["role"] == "agent"] == [  # type: ignore[call-overload]
        ["use_name"],
        ["canned_reply"],
        [],
        ["agent_tone"],
    ]
    assert any("dismissive" in reason for reason in answers[5]["reasons"])  # type: ignore[attr-defined]


async def test_score_agents_gives_agent_turns_to_the_model(flushed_redis: str) -> None:
    """CALMWATCH_SCORE_AGENTS=true: every turn is scored, and an angry agent reply is judged "negative"."""
    scorer, answers = await run_chat(flushed_redis, score_agents=True)
    assert scorer.texts == [text for _, text in CHAT]
    assert all(answer["scores"].scored for answer in answers)  # type: ignore[attr-defined]
    assert any("negative" in reason for reason in answers[4]["reasons"])  # type: ignore[attr-defined]
