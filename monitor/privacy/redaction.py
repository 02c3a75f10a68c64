"""Personal data in a turn's text replaced by typed placeholders, before the text is stored or leaves the process.

Each kind is found by a cheap candidate pattern and kept only if a real check passes, so that the numbers a
support chat is full of (order and ticket numbers, tracking codes, prices, dates, versions) stay readable:

* ``card``: 13-19 digits (groups split by one kind of separator), a card network's prefix and length, and the
  Luhn sum;
* ``iban``: the ISO 13616 shape of the country and, via python-stdnum's IBAN registry, its BBAN format
  and the mod-97 check digits;
* ``phone``: Google's libphonenumber (the ``phonenumbers`` port), which knows each country's numbering plan,
  over each run of phone characters; numbers without ``+`` are read in the configured regions, a number
  right after "order", "ticket", "#" and the like is an identifier, not a phone, and toll-free, premium-rate
  and shared-cost numbers are a business's, not a person's;
* ``ip``: IPv4 and IPv6 addresses the standard library's ``ipaddress`` accepts;
* ``email`` and ``url``: a pattern (there is no checksum to test; an address is what it looks like).

Where two findings overlap, the one that starts first wins, then the longer one (an email address inside a URL
is part of the URL). When URLs are kept (the default), phone numbers and IP addresses are not looked for inside
them (article ids in help links read as phone numbers); email addresses and card numbers still are.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

from monitor.alerts import AlertDraft

Kind = Literal["email", "phone", "card", "iban", "ip", "url"]
KINDS: tuple[Kind, ...] = get_args(Kind)
#: What ``CALMWATCH_REDACT`` is by default: everything but URLs, which in support chats are mostly the
#: company's own help pages and order-tracking links that an agent needs to read.
DEFAULT_KINDS: tuple[Kind, ...] = ("email", "phone", "card", "iban", "ip")
#: Regions whose national phone formats (no ``+``) are recognised by default.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB")

PLACEHOLDERS: dict[Kind, str] = {kind: f"[{kind.upper()}]" for kind in KINDS}

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b")  # fmt: skip
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""
# Digits in groups with one kind of separator (space or dash) between them; not glued to other digits/letters.
_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ -]?\d){12,18}(?![\w]|[.,/-]\d)")
# Issuer prefixes (IIN ranges) of the card networks in use, with the lengths each issues: Luhn alone lets one
# random number in ten through, and other Luhn-checked numbers (a phone's 15-digit IMEI) have other lengths.
_CARD_NETWORKS: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = tuple(
    (re.compile(prefix), frozenset(lengths))
    for prefix, lengths in (
        (r"4", {13, 16, 19}),  # Visa
        (r"5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720", {16}),  # Mastercard
        (r"3[47]", {15}),  # American Express
        (r"30[0-5]|3095|36|3[89]", {14, 16, 19}),  # Diners Club
        (r"6011|64[4-9]|65", {16, 19}),  # Discover
        (r"35(?:2[89]|[3-8]\d)", {16, 17, 18, 19}),  # JCB
        (r"62", {16, 17, 18, 19}),  # UnionPay
        (r"5018|5020|5038|5893|6304|6759|676[1-3]", set(range(13, 20))),  # Maestro
    )
)
_IBAN = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}(?![\w])")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:.])")
# A number right after one of these names an order, a ticket or a parcel, not a telephone ("order #2025550143").
_IDENTIFIER_BEFORE = re.compile(
    r"(?:\b(?:order|ticket|case|invoice|ref|reference|tracking|booking|confirmation|reservation|serial|sku|po|rma|"
    r"account|customer|member|membership|policy|claim|parcel|package|shipment|item|product|model|part|id)"
    r"(?:\s*(?:number|num|no\.?|id|code|#))?(?:\s+(?:is|was))?|#)[\s:#.-]*$",
    re.IGNORECASE,
)
# A stretch of characters a written phone number is made of: "+44 (0)20 7946-0958", "415.555.0132".
_PHONE_RUN = re.compile(r"(?<![\w+])\+?\(?\d[\d \t().\-/]{4,40}\d(?![\w])")
_PHONE_MIN_DIGITS = 7
#: Runs of phone characters checked with libphonenumber in one turn; runs beyond this are redacted unchecked.
MAX_PHONE_CANDIDATES = 24
_VALID = phonenumbers.Leniency.VALID
# A dotted quad right after "v", "version", "beta" and the like is a version string, not an address ("updated to
# beta (1.16.0.53)" in a real support chat).
_VERSION_BEFORE = re.compile(
    r"(?:\bv|\b(?:version|ver|build|beta|alpha|release|update|updated to|upgraded to|patch|firmware)\s*\(?)$",
    re.IGNORECASE,
)
# Numbers a business has, not a person: a toll-free line is the company's, whoever writes it in a chat.
_BUSINESS_NUMBER_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.UAN,
    }
)


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind and where it is in the text (``text[start:end]``)."""

    kind: Kind
    start: int
    end: int


def parse_kinds(kinds: Iterable[str]) -> tuple[Kind, ...]:
    """The kinds named (any case), in :data:`KINDS` order; ``ValueError`` names the one it does not know."""
    wanted = {kind.strip().lower() for kind in kinds if kind.strip()}
    unknown = sorted(wanted - set(KINDS))
    if unknown:
        raise ValueError(f"unknown redaction kind(s) {unknown}; known: {list(KINDS)}")
    return tuple(kind for kind in KINDS if kind in wanted)


def _emails(text: str) -> Iterable[Finding]:
    for match in _EMAIL.finditer(text):
        yield Finding("email", match.start(), match.end())


def _urls(text: str) -> Iterable[Finding]:
    for match in _URL.finditer(text):
        end = match.end()
        while end > match.start() and text[end - 1] in _URL_TRAILING:
            end -= 1
        yield Finding("url", match.start(), end)


def _cards(text: str) -> Iterable[Finding]:
    for match in _CARD.finditer(text):
        candidate = match.group()
        if len(set(re.sub(r"\d", "", candidate))) > 1:
            continue  # "1234 5678-9012": a card is written with one kind of separator, if any
        digits = re.sub(r"\D", "", candidate)
        issued = any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in _CARD_NETWORKS)
        if issued and luhn.is_valid(digits):
            yield Finding("card", match.start(), match.end())


def _before(text: str, at: int) -> str:
    """The few words before ``at``: where a context pattern anchored at ``$`` looks (searching the whole text
    before every finding would make a turn of many findings quadratic)."""
    return text[max(0, at - 40) : at]


def _digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _mod97(compact: str) -> bool:
    """ISO 13616's check: country and check digits moved to the end, letters as 10..35, the number mod 97 is 1."""
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ibans(text: str) -> Iterable[Finding]:
    for match in _IBAN.finditer(text):
        candidate = match.group()
        # The pattern runs on over spaced groups ("DE89 3704 ... 00 thanks" would take "thanks" if it were
        # alphanumeric enough): a spaced IBAN ends at a group's end, so try the whole, then each group boundary.
        ends = [len(candidate), *(i for i in range(len(candidate) - 1, 14, -1) if candidate[i] == " ")]
        for end in ends:
            compact = candidate[:end].replace(" ", "").upper()
            if 15 <= len(compact) <= 34 and _mod97(compact) and stdnum_iban.is_valid(compact):
                yield Finding("iban", match.start(), match.start() + end)
                break


def _ips(text: str) -> Iterable[Finding]:
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            candidate = match.group()
            if candidate.count(":") >= 2 and not any(c in candidate for c in "abcdefABCDEF") and "::" not in candidate:
                continue  # "10:30:00" is a time; IPv6 written in full almost always has a letter or a "::"
            if _VERSION_BEFORE.search(_before(text, match.start())):
                continue
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                continue
            yield Finding("ip", match.start(), match.end())


#: Kinds not looked for inside a link that is kept: ids in paths are numbers, not phones or addresses.
_NOT_IN_LINKS = frozenset({"phone", "ip"})


def _inside(finding: Finding, spans: Sequence[Finding]) -> bool:
    return any(span.start <= finding.start and finding.end <= span.end for span in spans)


class Redactor:
    """Finds and replaces the configured kinds; built once (from settings) and shared, it keeps no state."""

    def __init__(self, kinds: Iterable[str] = DEFAULT_KINDS, *, phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS):
        self.kinds = parse_kinds(kinds)
        regions = [region.upper() for region in phone_regions]
        unknown = sorted(set(regions) - phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"unknown phone region(s) {unknown}: use ISO 3166 codes such as US, GB, DE")
        # With no region at all, only numbers written with "+" are recognised.
        self.phone_regions = tuple(regions) or ("ZZ",)
        if "phone" in self.kinds:  # libphonenumber loads a region's metadata on first use: not on a live turn
            for region in self.phone_regions:
                list(phonenumbers.PhoneNumberMatcher("+1 650 253 0000, 020 7946 0958", region))

    @property
    def enabled(self) -> bool:
        return bool(self.kinds)

    def _phones(self, text: str) -> Iterable[Finding]:
        # libphonenumber is thorough but slow (0.1-0.4 ms a call and region), and over a whole 8,000-character
        # turn of spaced digits it took 400 ms. So it only reads the short runs of phone characters a number can
        # be, and only the first MAX_PHONE_CANDIDATES of them; any further runs are redacted unchecked (a turn
        # with that many numbers in it is no chat turn, and a missed phone number costs more than a hidden
        # order number).
        runs = [m for m in _PHONE_RUN.finditer(text) if _PHONE_MIN_DIGITS <= _digit_count(m.group()) <= 15]
        for n, run in enumerate(runs):
            if n >= MAX_PHONE_CANDIDATES:
                yield Finding("phone", run.start(), run.end())
                continue
            matches = self._phones_in(run.group())
            for start, end in matches:
                start, end = run.start() + start, run.start() + end
                if text[start] != "+" and _IDENTIFIER_BEFORE.search(_before(text, start)):
                    continue
                yield Finding("phone", start, end)

    def _phones_in(self, run: str) -> list[tuple[int, int]]:
        for region in self.phone_regions:
            matches = list(phonenumbers.PhoneNumberMatcher(run, region, leniency=_VALID))
            if matches:
                return [
                    (m.start, m.end)
                    for m in matches
                    if phonenumbers.number_type(m.number) not in _BUSINESS_NUMBER_TYPES
                ]
        return []

    def find(self, text: str) -> list[Finding]:
        """The findings to replace, in text order, none overlapping."""
        finders = {"email": _emails, "url": _urls, "card": _cards, "iban": _ibans, "ip": _ips, "phone": self._phones}
        found = [finding for kind in self.kinds for finding in finders[kind](text)]
        if "url" not in self.kinds and any(f.kind in _NOT_IN_LINKS for f in found):
            # With links kept, the numbers in them are kept too: an article id in a help link
            # (".../articles/115005706806-Using-annotation") reads as a phone number, and the link would break.
            links = list(_urls(text))
            found = [f for f in found if f.kind not in _NOT_IN_LINKS or not _inside(f, links)]
        found.sort(key=lambda f: (f.start, -(f.end - f.start)))
        kept: list[Finding] = []
        for finding in found:
            if not kept or finding.start >= kept[-1].end:
                kept.append(finding)
        return kept

    def redact(self, text: str) -> str:
        """``text`` with every finding replaced by its placeholder (``[CARD]``, ``[EMAIL]``, ...)."""
        if not self.kinds:
            return text
        parts: list[str] = []
        at = 0
        for finding in self.find(text):
            parts += [text[at : finding.start], PLACEHOLDERS[finding.kind]]
            at = finding.end
        parts.append(text[at:])
        return "".join(parts)

    def redact_alert(self, draft: AlertDraft) -> AlertDraft:
        """The draft with its texts redacted: a nudge or reason may quote what was said ("{phrase}")."""
        if not self.kinds:
            return draft
        body = {**draft.body, "nudge": self.redact(draft.body["nudge"]), "reason": self.redact(draft.body["reason"])}
        return dataclasses.replace(draft, body=body)
