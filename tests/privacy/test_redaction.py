"""Redaction finds cards, IBANs, phones, emails and addresses, and leaves the numbers a support chat is full of."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bench import redaction_quality
from monitor.alerts import AlertDraft, Firing
from monitor.errors import ConfigurationError
from monitor.privacy import KINDS, Redactor, parse_kinds
from monitor.privacy.redaction import MAX_PHONE_CANDIDATES
from monitor.runtime import build_pipeline, redis_client
from monitor.schemas import MAX_TEXT_CHARS
from tests.conftest import make_settings
from tests.test_runtime import FixedScorer, NoRules

EVERY_KIND = Redactor(KINDS)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("My card is 4111 1111 1111 1111, refund it", "My card is [CARD], refund it"),
        ("charged on 5555-5555-5555-4444 twice", "charged on [CARD] twice"),
        ("amex 378282246310005", "amex [CARD]"),
        ("write to ana.lopez@example.co.uk.", "write to [EMAIL]."),
        ("call +44 20 7946 0958 or (212) 555-0199", "call [PHONE] or [PHONE]"),
        ("my mobile is 07911 123456", "my mobile is [PHONE]"),
        ("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN [IBAN] thanks"),
        ("iban: gb82west12345698765432", "iban: [IBAN]"),
        ("from 203.0.113.7 and 2001:db8::1", "from [IP] and [IP]"),
        ("see https://help.example.com/a?b=1.", "see [URL]."),
        ("mail me: https://x.example/u/ana@example.com", "mail me: [URL]"),  # the address is part of the URL
    ],
)
def test_personal_data_becomes_typed_placeholders(text: str, redacted: str) -> None:
    """Each kind is replaced by its placeholder, and only the data itself (punctuation around it stays)."""
    assert EVERY_KIND.redact(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "Order #2025550143 still not here",  # ten digits that would be a valid US number
        "order no. 4155550132 arrived broken",
        "my customer id is 2019384756",
        "invoice 2024-000123 is wrong",
        "order number 112-4567890-1234567",
        "Ticket INC0012345, case 00123456",
        "tracking 1Z999AA10123456784 and 9400111899223856927184",
        "it cost $1,299.00, then 1,349.99 EUR, then 1234567.89 USD",
        "paid on 2024-11-05 at 14:30, again 05/11/2024 at 10:30:00",
        "app version 10.2.3.4, v1.2.3.4, firmware build 4.1.12.7",
        "IMEI 490154203237518",  # Luhn-valid, but no card network issues 15 digits starting with 4
        "it is the 1234 5678 9012 3456 number on the gift card",  # no card network starts with 1
        "4111 1111-1111 1111",  # mixed separators: not how a card is written
        "4111111111111112",  # Luhn fails
        "DE89 3704 0044 0532 0130 01",  # IBAN check digits fail
        "10.0.0.256 is no address, 3:2:1 no IPv6",
        "SKU 887276512345, EAN 4006381333931, ZIP 94105-1234",
        "call 1-800-848-9136 or 0800 123 4567",  # toll-free: a business's line, not a person's
        "i updated to beta (1.16.0.53)",  # a version, not an address
    ],
)
def test_near_misses_stay_intact(text: str) -> None:
    """Order, ticket and tracking numbers, prices, dates, times, versions and bad checksums are not redacted."""
    assert EVERY_KIND.redact(text) == text


def test_urls_are_kept_unless_asked_for() -> None:
    """The default kinds leave links readable, numbers in them too; an email address in one is still hidden."""
    assert Redactor().redact("see https://help.example.com/orders") == "see https://help.example.com/orders"
    article = "https://support.zoom.us/hc/en-us/articles/115005706806-Using-annotation"
    assert Redactor().redact(article) == article  # the id reads as a valid US phone number outside a link
    assert Redactor().redact("https://x.example/reset?u=ana@example.com") == "https://x.example/reset?u=[EMAIL]"
    assert Redactor().kinds == ("email", "phone", "card", "iban", "ip")


def test_only_the_configured_kinds_are_redacted() -> None:
    """CALMWATCH_REDACT=["email"] leaves phone numbers; [] switches redaction off."""
    text = "ana@example.com, +44 20 7946 0958"
    assert Redactor(["email"]).redact(text) == "[EMAIL], +44 20 7946 0958"
    assert Redactor([]).redact(text) == text and not Redactor([]).enabled


def test_phone_regions_decide_national_formats() -> None:
    """A number without + is read in the configured regions; with none, only +-numbers count."""
    assert Redactor(["phone"], phone_regions=["DE"]).redact("ruf 030 12345678 an") == "ruf [PHONE] an"
    assert Redactor(["phone"], phone_regions=["US"]).redact("ruf 030 12345678 an") == "ruf 030 12345678 an"
    assert Redactor(["phone"], phone_regions=[]).redact("07911 123456 / +44 7911 123456") == "07911 123456 / [PHONE]"


def test_bad_configuration_is_refused(flushed_redis: str) -> None:
    """Unknown kinds and regions are errors that name them, not silently ignored; the service's pipeline refuses
    a bad region with a ConfigurationError, and Settings a bad kind."""
    with pytest.raises(ValueError, match="'cards'"):
        parse_kinds(["email", "cards"])
    with pytest.raises(ValueError, match="XX"):
        Redactor(phone_regions=["XX"])
    assert parse_kinds(["IP", " email "]) == ("email", "ip")
    bad_region = make_settings(flushed_redis, redact_phone_regions=["XX"])
    with pytest.raises(ConfigurationError, match=r"CALMWATCH_REDACT_PHONE_REGIONS.*XX"):
        build_pipeline(bad_region, redis=redis_client(flushed_redis), scorer=FixedScorer(), rules=NoRules)
    with pytest.raises(ValidationError, match="redact"):
        make_settings(flushed_redis, redact=["cards"])


def test_a_turn_full_of_numbers_is_redacted_unchecked_past_the_limit() -> None:
    """Past MAX_PHONE_CANDIDATES runs of digits the rest are hidden without asking libphonenumber (bounded work)."""
    text = " x ".join(["123 4567 890"] * (MAX_PHONE_CANDIDATES + 5))
    assert len(text) < MAX_TEXT_CHARS
    redacted = Redactor(["phone"]).redact(text)
    assert redacted.count("123 4567 890") == MAX_PHONE_CANDIDATES  # checked: not valid numbers, kept
    assert redacted.count("[PHONE]") == 5


def test_alert_texts_are_redacted() -> None:
    """A nudge or reason that quotes the customer carries placeholders, not the data; the rest is unchanged."""
    draft = AlertDraft(
        rule="repeat_contact",
        firing=Firing(at=datetime(2026, 1, 1, tzinfo=UTC).timestamp(), severity="warning"),
        body={"rule": "repeat_contact", "nudge": "They said 'mail ana@example.com'",
              "reason": "phrase 'ana@example.com'", "customer_name": "Ana"},
    )  # fmt: skip
    redacted = Redactor().redact_alert(draft)
    assert redacted.body == {**draft.body, "nudge": "They said 'mail [EMAIL]'", "reason": "phrase '[EMAIL]'"}
    assert redacted.firing == draft.firing


def test_labelled_set_precision_and_recall() -> None:
    """On the labelled set (tests/fixtures/privacy/labelled.jsonl) nothing is missed and at most one in 20
    findings is wrong; bench/redaction_quality.py prints the table and every mistake."""
    quality = redaction_quality.evaluate(Redactor())
    assert quality.turns >= 60
    assert quality.recall() == 1.0, quality.mistakes
    assert quality.precision() >= 0.95, quality.mistakes
