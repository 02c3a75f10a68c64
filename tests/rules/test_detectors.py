"""The default rule pack on hand-built snapshots: each detector fires where it should and stays quiet
otherwise. Scores are given explicitly per turn (no scorer), so each test pins the exact numbers a rule sees."""

from __future__ import annotations

import pytest

from monitor.rules import RuleEngine
from tests.rules.conftest import Turn, fired


def test_anger_fires_on_an_angry_turn_with_numbers(engine: RuleEngine) -> None:
    """An angry customer turn raises `anger` with the score and threshold in the reason."""
    out = fired(engine, [("customer", "This is ridiculous, fix it", 0.82, 0.3, -0.5)])
    assert out["anger"].severity == "warning"
    assert out["anger"].audience == ["agent"]
    assert "0.82" in out["anger"].reason and "0.60" in out["anger"].reason
    assert "Zoë" in out["anger"].nudge
    assert out["anger"].cooldown_s == 180


def test_calm_turn_raises_nothing(engine: RuleEngine) -> None:
    """A calm customer question raises no alert at all."""
    assert fired(engine, [("customer", "Hi, how do I reset my router password?", 0.02, 0.1, 0.0)]) == {}


def test_anger_only_watches_customer_turns(engine: RuleEngine) -> None:
    """An agent turn with a high anger score is not an `anger` alert (agent_tone handles agents)."""
    out = fired(engine, [("customer", "hi"), ("agent", "I understand, let me look.", 0.9, 0.0, 0.0)])
    assert "anger" not in out


def test_frustration_high_and_rising(engine: RuleEngine) -> None:
    """`frustration` fires as warning when high, and as info when it climbs over recent turns."""
    high = fired(engine, [("customer", "Still nothing.", 0.2, 0.75, -0.3)])
    assert high["frustration"].severity == "warning" and high["frustration"].reason.startswith("high:")
    rising = fired(
        engine,
        [
            ("customer", "a", 0.05, 0.1),
            ("agent", "b"),
            ("customer", "c", 0.1, 0.3),
            ("agent", "d"),
            ("customer", "e", 0.2, 0.5),
        ],
    )
    assert rising["frustration"].severity == "info"
    assert "0.10 -> 0.30 -> 0.50" in rising["frustration"].reason
    flat = fired(engine, [("customer", "a", 0.05, 0.45), ("agent", "b"), ("customer", "c", 0.05, 0.5)])
    assert "frustration" not in flat


@pytest.mark.parametrize(
    "text",
    [
        "WHY IS MY ORDER STILL NOT HERE",
        "I have asked THREE TIMES ALREADY",
        "Where is my refund???",
        "This is not ok!!!",
    ],
)
def test_shouting_fires(engine: RuleEngine, text: str) -> None:
    """Capitals and !!!/??? runs from a non-happy customer raise `shouting`."""
    assert "shouting" in fired(engine, [("customer", text, 0.3, 0.3, -0.2)])


@pytest.mark.parametrize(
    "text",
    [
        "My SSD is not detected after the BIOS update on DSM 7.2",
        "Order AB-129934 arrived, RMA number is RX55",
        "Is HDMI ARC supported on the LG TV?",
        "I said NO thanks, I'm fine",
    ],
)
def test_acronyms_and_codes_are_not_shouting(engine: RuleEngine, text: str) -> None:
    """Acronyms, product codes and order numbers in a normal sentence are not shouting."""
    assert "shouting" not in fired(engine, [("customer", text, 0.1, 0.2, 0.0)])


def test_punctuation_alone_needs_an_upset_turn(engine: RuleEngine) -> None:
    """A calm 'where is it???' is not shouting; the same with frustration is."""
    assert "shouting" not in fired(engine, [("customer", "where did my camp go?!?!", 0.05, 0.1, 0.0)])
    assert "shouting" in fired(engine, [("customer", "where did my camp go?!?!", 0.2, 0.45, -0.2)])


def test_happy_capitals_are_not_shouting(engine: RuleEngine) -> None:
    """'THANK YOU SO MUCH!!!' from a delighted customer is not shouting."""
    assert "shouting" not in fired(engine, [("customer", "THANK YOU SO MUCH!!!", 0.02, 0.02, 0.8)])


def test_vulgarity_levels(engine: RuleEngine) -> None:
    """Swearing at a thing is info, abuse aimed at the agent is warning, repeated abuse adds the supervisor."""
    swearing = fired(engine, [("customer", "this f*cking router died again", 0.4, 0.5, -0.4)])
    assert swearing["vulgarity"].severity == "info"
    aimed = fired(engine, [("customer", "you are useless, sh1t service", 0.7, 0.5, -0.7)])
    assert aimed["vulgarity"].severity == "warning" and aimed["vulgarity"].audience == ["agent"]
    repeated = fired(
        engine,
        [
            ("customer", "you are useless", 0.7, 0.5, -0.5),
            ("agent", "I'm sorry to hear that."),
            ("customer", "f u c k you", 0.8, 0.5, -0.6),
        ],
    )
    assert repeated["vulgarity"].audience == ["agent", "supervisor"]
    assert "abusive turns in the last 6 customer turns: 2" in repeated["vulgarity"].reason
    assert repeated["escalate"].severity == "critical"


def test_happy_swearing_is_quiet(engine: RuleEngine) -> None:
    """A delighted customer who swears ("holy shit, it works") raises nothing."""
    assert fired(engine, [("customer", "holy shit it works, you guys are fucking legends", 0.05, 0.02, 0.85)]) == {}


def test_canned_reply_catches_small_edits(engine: RuleEngine) -> None:
    """A repeated reply with changed punctuation and British spelling is flagged; a new reply is not."""
    first = "We apologize for the inconvenience, our team is looking into it and will update you."
    again = "We apologise for the inconvenience - our team is looking into it, and will update you!"
    out = fired(engine, [("agent", first), ("customer", "ok but when?", 0.2, 0.4), ("agent", again)])
    assert "canned_reply" in out and "%" in out["canned_reply"].reason
    other = "I've asked the warehouse and your parcel leaves tomorrow morning with tracking."
    assert "canned_reply" not in fired(engine, [("agent", first), ("customer", "when?"), ("agent", other)])


def test_use_name_fires_without_name_and_accepts_accents(engine: RuleEngine) -> None:
    """`use_name` fires when an upset customer's name is missing from replies; 'zoe' matches 'Zoë'."""
    base: list[Turn] = [("customer", "This is the third time I ask!", 0.7, 0.7, -0.5)]
    without = fired(engine, [*base, ("agent", "I understand, let me check that for you.")])
    assert "use_name" in without
    with_name = fired(engine, [*base, ("agent", "I understand, ZOE, let me check that for you.")])
    assert "use_name" not in with_name
    calm = fired(engine, [("customer", "Quick question", 0.05, 0.1), ("agent", "Sure, go ahead.")])
    assert "use_name" not in calm
    nameless = fired(engine, [*base, ("agent", "I understand.")], customer="")
    assert "use_name" not in nameless


def test_escalate_on_request_threat_sustained_and_rising(engine: RuleEngine) -> None:
    """`escalate` is critical for agent and supervisor, with the trigger named in the reason."""
    asked = fired(engine, [("customer", "Let me speak to your manager.", 0.4, 0.5, -0.2)])["escalate"]
    assert asked.severity == "critical" and asked.audience == ["agent", "supervisor"]
    assert asked.reason.startswith("asked:")
    threat = fired(engine, [("customer", "I'll be contacting my lawyer about this", 0.3, 0.4, -0.3)])
    assert threat["escalate"].reason.startswith("threat:")
    sustained = fired(
        engine,
        [
            ("customer", "a", 0.7, 0.5),
            ("agent", "b"),
            ("customer", "c", 0.75, 0.5),
            ("agent", "d"),
            ("customer", "e", 0.8, 0.6),
        ],
    )
    assert sustained["escalate"].reason.startswith("sustained:")
    rising = fired(
        engine,
        [
            ("customer", "a", 0.1, 0.2),
            ("agent", "b"),
            ("customer", "c", 0.3, 0.5),
            ("agent", "d"),
            ("customer", "e", 0.85, 0.5),
        ],
    )
    assert rising["escalate"].reason.startswith("rising:")
    one_jump = fired(engine, [("customer", "a", 0.1, 0.2), ("agent", "b"), ("customer", "c", 0.85, 0.5)])
    assert "escalate" not in one_jump, "one angry turn is the anger rule's job, not yet a trend"
    assert "escalate" not in fired(engine, [("customer", "a", 0.5, 0.2), ("agent", "b"), ("customer", "c", 0.65)])


def test_escalate_ignores_ordinary_cancellations(engine: RuleEngine) -> None:
    """Cancelling an order or asking about a 'manager' app account is not a threat or a request."""
    out = fired(engine, [("customer", "Can I cancel my order 5512 and reorder in blue?", 0.05, 0.1, 0.0)])
    assert "escalate" not in out


@pytest.mark.parametrize(
    ("text", "variant"),
    [
        ("Calm down, as I already said the refund takes 5 days.", "dismissive"),
        ("PLEASE READ THE INSTRUCTIONS AGAIN", "shouting"),
        ("That is a stupid question, you idiot", "rude"),
    ],
)
def test_agent_tone(engine: RuleEngine, text: str, variant: str) -> None:
    """Dismissive, shouting or rude agent replies raise `agent_tone` with the variant in the reason."""
    out = fired(engine, [("customer", "hello?", 0.3, 0.4), ("agent", text, 0.2, 0.1, -0.1)])
    assert out["agent_tone"].reason.startswith(variant + ":")


def test_kind_agent_reply_has_good_tone(engine: RuleEngine) -> None:
    """A warm, ordinary agent reply raises no `agent_tone`."""
    out = fired(
        engine, [("customer", "hello?"), ("agent", "Hi Zoë, thanks for waiting! Let me check.", 0.02, 0.0, 0.6)]
    )
    assert "agent_tone" not in out


def test_de_escalated_fires_once_after_the_peak(engine: RuleEngine) -> None:
    """`de_escalated` fires on the first calm turn after an angry one, not on the calm turns after it."""
    turns: list[Turn] = [
        ("customer", "awful", 0.8, 0.7, -0.6),
        ("agent", "I'm on it."),
        ("customer", "ok thanks, that works", 0.05, 0.1, 0.5),
    ]
    assert fired(engine, turns)["de_escalated"].severity == "info"
    later = [*turns, ("agent", "Great."), ("customer", "cheers", 0.02, 0.05, 0.4)]
    assert "de_escalated" not in fired(engine, later)
    shouted = [*turns[:2], ("customer", "PLZ FIX IT", 0.05, 0.05, 0.3)]
    assert "de_escalated" not in fired(engine, shouted), "capitals are not calm, whatever the model says"


def test_follow_up_and_apology_loop(engine: RuleEngine) -> None:
    """A promised call-back raises `follow_up`; a third apology in four replies raises `apology_loop`."""
    assert "follow_up" in fired(engine, [("customer", "ok"), ("agent", "I'll call you back at 3pm today.")])
    sorry = [
        ("customer", "x"),
        ("agent", "Sorry about that."),
        ("customer", "y"),
        ("agent", "Apologies again."),
        ("customer", "z"),
        ("agent", "I'm so sorry for this."),
    ]
    assert "apology_loop" in fired(engine, sorry)


@pytest.mark.parametrize(
    "text",
    [
        "I have asked FIVE times and nobody cares",
        "This is the third time I'm writing to you about this refund.",
        "Still no reply from your billing team, two weeks on.",
        "I’ve already explained this to two of your colleagues.",
    ],
)
def test_repeat_contact_fires_on_chasing_in_words_the_model_reads_as_calm(engine: RuleEngine, text: str) -> None:
    """Having to chase is flagged from the words, even at scores the anger and frustration rules ignore."""
    candidate = fired(engine, [("customer", text, 0.2, 0.3)]).get("repeat_contact")
    assert candidate is not None and candidate.severity == "warning"
    assert "Zoë has had to chase this" in candidate.nudge


@pytest.mark.parametrize(
    "text",
    [
        "I asked about the price of the blue one, is it in stock?",
        "For the first time in years I'm happy with a provider, thanks!",
        "It has worked every time since the update.",
        "The app crashed three times now, any idea why?",
        "My order is on hold for verification, how long does that take?",
    ],
)
def test_repeat_contact_ignores_ordinary_asking(engine: RuleEngine, text: str) -> None:
    assert "repeat_contact" not in fired(engine, [("customer", text)])


def test_repeat_contact_watches_only_the_customer(engine: RuleEngine) -> None:
    """An agent saying "I already explained" is the agent_tone rule's business, not a customer chasing."""
    assert "repeat_contact" not in fired(engine, [("customer", "hi"), ("agent", "As I already explained, no.")])


def test_unscored_turns_feed_only_the_word_rules(engine: RuleEngine) -> None:
    """A turn the model did not read (``scores`` None) is neither angry nor calm to the score rules, while
    the rules that read words (capitals, manager requests and threats, abuse) still fire on it."""
    quiet = fired(engine, [("customer", "Das ist eine Frechheit, ich warte seit Wochen", None)])
    assert not {"anger", "frustration", "de_escalated"} & set(quiet)
    loud = fired(engine, [("customer", "DAS IST EINE ABSOLUTE FRECHHEIT HIER", None)])
    assert loud["shouting"].reason.endswith("not scored")
    assert "escalate" in fired(engine, [("customer", "I want to speak to your manager", None)])
    # An upset scored turn, then an unscored one: no "calmed down" (nothing says it is calm) and no rise.
    after = fired(engine, [("customer", "a", 0.8, 0.7), ("agent", "b"), ("customer", "c", None)])
    assert "de_escalated" not in after and "escalate" not in after
    # "Angry for three turns in a row" needs three scored turns: an unscored one is not counted as angry.
    gap = [("customer", "a", 0.7, 0.5), ("customer", "b", None), ("customer", "c", 0.75, 0.5)]
    assert "escalate" not in fired(engine, gap)
    assert fired(engine, [*gap, ("customer", "d", 0.8, 0.6)])["escalate"].reason.startswith("sustained:")


def test_reasons_are_plain_english(engine: RuleEngine) -> None:
    """Reasons count in words a person reads ("2 replies", "1 insult"), never "repl(ies)" or "insult(s)"."""
    upset = ("customer", "You idiot, where is my parcel", 0.9, 0.7, -0.6)
    one = fired(engine, [upset, ("agent", "Let me check the tracking for you.")])
    two = fired(engine, [upset, ("agent", "Let me check."), ("customer", "Hurry", 0.8, 0.7), ("agent", "Checking.")])
    reasons = [a.reason for out in (one, two) for a in out.values()]
    assert "the agent's last reply does not use the first name" in one["use_name"].reason
    assert "none of the agent's last 2 replies" in two["use_name"].reason
    assert not [r for r in reasons if "(s)" in r or "(ies)" in r]


def test_de_escalated_is_not_a_threat_read_as_calm(engine: RuleEngine) -> None:
    """A calm-sounding threat to cancel after an angry turn is not "has calmed down"."""
    angry = ("customer", "This is outrageous", 0.9, 0.8, -0.7)
    calm = fired(engine, [angry, ("agent", "Sorry."), ("customer", "OK thanks, that works for me", 0.1, 0.1, 0.5)])
    assert "de_escalated" in calm
    threat = [angry, ("agent", "Sorry."), ("customer", "Thanks. I'm cancelling my contract today.", 0.1, 0.1, 0.5)]
    assert "de_escalated" not in fired(engine, threat)
