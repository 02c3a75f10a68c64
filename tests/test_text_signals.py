"""The text signals behind the rules: shouting, profanity and abuse, near-duplicates, names, phrases."""

from __future__ import annotations

import pytest

from monitor.text_signals import (
    ProfanityMatcher,
    abuse,
    compile_phrases,
    find_phrase,
    first_name,
    mentions_name,
    normalise_reply,
    reply_similarity,
    shouting,
)

MATCHER = ProfanityMatcher(ignore_words=["god", "hell", "kill"], extra_words=["fck"])
INSULTS = frozenset({"idiot", "useless", "moron"})


@pytest.mark.parametrize(
    "text", ["f*ck this", "sh1t", "sh!t happens", "f u c k", "s.h.i.t", "fuuuuck", "what the fck", "a$$hole", "shit!!!"]
)
def test_obfuscated_profanity_is_found(text: str) -> None:
    """Masked, leetspeak, spaced-out and stretched spellings are matched against the lexicon."""
    assert MATCHER.find(text), text


@pytest.mark.parametrize("text", ["oh my god", "kill the process", "Scunthorpe", "assess the class", "I'm fine"])
def test_clean_text_and_ignored_words_pass(text: str) -> None:
    """Ignored lexicon words and innocent words containing a profane substring are not profanity."""
    assert MATCHER.find(text) == []


@pytest.mark.parametrize(
    ("text", "aimed"),
    [
        ("fuck you", True),
        ("f*** off", True),
        ("you are useless", True),
        ("you guys are such idiots", False),  # "idiots" is not in this test's insult list
        ("you fucking moron", True),
        ("this fucking router", False),
        ("useless app, can you help me?", False),
    ],
)
def test_abuse_is_aimed_only_at_a_person(text: str, aimed: bool) -> None:
    """Profanity or an insult counts as aimed at the agent only when it targets 'you'."""
    assert abuse(text, MATCHER, INSULTS).aimed is aimed


def test_shouting_versus_acronyms() -> None:
    """Whole sentences in capitals are loud; acronyms, codes and a lone capital word are not."""
    assert shouting("WHERE IS MY PARCEL").longest_loud_run == 4
    assert shouting("My SSD and BIOS on DSM 7.2").loud_words == 0
    assert shouting("RAID SSD NVME", acronyms=frozenset({"SSD"})).loud_words == 0
    assert shouting("I want a REFUND today").loud_words == 1
    assert shouting("what???").punctuation_runs == 1
    assert shouting("what??").punctuation_runs == 0


def test_near_duplicate_replies() -> None:
    """Punctuation, case, @mentions, links and -ise/-ize spelling do not hide a repeated reply."""
    a = "@ana We apologise for the delay. Please DM us your order number: https://x.co/1"
    b = "We apologize for the delay, please DM us your order number!"
    assert normalise_reply(a) == normalise_reply(b)
    assert reply_similarity(a, b) == 1.0
    assert reply_similarity(a, "Your replacement ships today with express tracking.") < 0.6


def test_names_match_case_and_accent_insensitively() -> None:
    """First names match whole words regardless of case and accents."""
    assert first_name("  José  Ramírez ") == "José"
    assert first_name("") == ""
    assert mentions_name("thanks JOSE, one moment", "José")
    assert not mentions_name("Joseph will help", "José")


def test_phrases_match_whole_words_with_wildcards() -> None:
    """Phrase lists match whole words, folded, and '*' extends a word."""
    pattern = compile_phrases(["speak to a manager", "cancelling my *", "competitor*"])
    assert find_phrase(pattern, "Can I SPEAK to a   Manager?") == "speak to a manager"
    assert find_phrase(pattern, "I'm cancelling my subscription") == "cancelling my subscription"
    assert find_phrase(pattern, "speak to a managerial person") is None
    assert find_phrase(pattern, "your competitors do it") == "competitors"
    assert find_phrase(compile_phrases([]), "anything") is None
