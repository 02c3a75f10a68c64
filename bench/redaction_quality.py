"""Precision and recall of redaction on a labelled set of chat turns, per kind of personal data.

The set (``tests/fixtures/privacy/labelled.jsonl``) holds turns with card numbers, email addresses, phone
numbers, IBANs and IP addresses, and about as many near-misses that must stay intact: order, ticket, tracking
and booking numbers, prices and amounts with currency, dates, times, version strings, IMEIs, SKUs. A finding
counts as right only if its kind and its exact text match a label.

    .venv/bin/python -m bench.redaction_quality [--data tests/fixtures/privacy/labelled.jsonl] [--kinds ...]
                                                [--phone-regions US GB ...]
    .venv/bin/python -m bench.redaction_quality \
        --conversations ../shared/data/support-conversations/conversations.json [--digit-runs]

Prints a table and every wrong or missed finding; the test suite holds the floors (tests/privacy/). With
``--conversations`` (anything ``calmwatch replay`` reads) it lists every finding in those unlabelled turns, with
its context, for a reader to judge: the set above was written together with the rules, real chats were not.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from monitor.privacy import DEFAULT_KINDS, Redactor
from monitor.privacy.redaction import DEFAULT_PHONE_REGIONS
from monitor.replay import load_conversations

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "privacy" / "labelled.jsonl"


@dataclass
class Quality:
    """Counts per kind, and the mistakes, so a reader sees what went wrong and not just how often."""

    true_pos: Counter[str] = field(default_factory=Counter)
    false_pos: Counter[str] = field(default_factory=Counter)
    false_neg: Counter[str] = field(default_factory=Counter)
    mistakes: list[str] = field(default_factory=list)
    turns: int = 0

    def precision(self, kind: str | None = None) -> float:
        tp, fp = self._sum(self.true_pos, kind), self._sum(self.false_pos, kind)
        return tp / (tp + fp) if tp + fp else 1.0

    def recall(self, kind: str | None = None) -> float:
        tp, fn = self._sum(self.true_pos, kind), self._sum(self.false_neg, kind)
        return tp / (tp + fn) if tp + fn else 1.0

    @staticmethod
    def _sum(counts: Counter[str], kind: str | None) -> int:
        return counts[kind] if kind else sum(counts.values())


def evaluate(redactor: Redactor, data: Path = DEFAULT_DATA) -> Quality:
    """Run the redactor over every labelled turn; labels of kinds it does not redact are left out."""
    quality = Quality()
    for line in data.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        text: str = row["text"]
        quality.turns += 1
        expected = Counter((kind, value) for kind, value in row["pii"] if kind in redactor.kinds)
        found = Counter((f.kind, text[f.start : f.end]) for f in redactor.find(text))
        for (kind, _value), n in (found & expected).items():
            quality.true_pos[kind] += n
        for (kind, value), n in (found - expected).items():
            quality.false_pos[kind] += n
            quality.mistakes.append(f"wrong  {kind:<6} {value!r} in {text!r}")
        for (kind, value), n in (expected - found).items():
            quality.false_neg[kind] += n
            quality.mistakes.append(f"missed {kind:<6} {value!r} in {text!r}")
    return quality


# What could be a number worth a look: seven digits or more, in one run of digits and separators.
_DIGIT_RUN = re.compile(r"\+?\(?\d[\d \-().]{5,}\d")
_LINK = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


def list_findings(redactor: Redactor, source: Path, *, digit_runs: bool = False) -> int:
    """Every finding in the turns of ``source``, one line each with 40 characters of context; a count per kind.
    With ``digit_runs``, also every run of seven or more digits outside links that is not a finding (``left``),
    so a reader can look for what was missed."""
    turns = [turn.text for conversation in load_conversations(source) for turn in conversation.turns]
    counts: Counter[str] = Counter()
    for text in turns:
        findings = redactor.find(text)
        shown: list[tuple[str, int, int]] = [(f.kind, f.start, f.end) for f in findings]
        if digit_runs:
            unlinked = _LINK.sub(lambda m: " " * len(m.group()), text)
            shown += [
                ("left", m.start(), m.end())
                for m in _DIGIT_RUN.finditer(unlinked)
                if sum(c.isdigit() for c in m.group()) >= 7
                and not any(f.start <= m.start() < f.end or m.start() <= f.start < m.end() for f in findings)
            ]
        for kind, start, end in shown:
            counts[kind] += 1
            context = text[max(0, start - 40) : end + 20].replace("\n", " ")
            print(f"{kind:<6} {text[start:end]!r:<32} | {context}")
    kinds = [*redactor.kinds, *(["left"] if digit_runs else [])]
    print(f"{len(turns)} turns; findings: " + ", ".join(f"{k} {counts[k]}" for k in kinds))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--kinds", nargs="+", default=list(DEFAULT_KINDS))
    parser.add_argument("--phone-regions", nargs="*", default=list(DEFAULT_PHONE_REGIONS))
    parser.add_argument("--conversations", type=Path, help="list the findings in these unlabelled conversations")
    parser.add_argument("--digit-runs", action="store_true", help="with --conversations: the other digit runs too")
    args = parser.parse_args(argv)
    redactor = Redactor(args.kinds, phone_regions=args.phone_regions)
    if args.conversations:
        return list_findings(redactor, args.conversations, digit_runs=args.digit_runs)
    quality = evaluate(redactor, args.data)
    print(f"{quality.turns} turns, kinds {' '.join(args.kinds)}")
    print(f"{'kind':<8}{'labelled':>9}{'found':>7}{'right':>7}{'precision':>11}{'recall':>8}")
    for kind in [*args.kinds, None]:
        right = quality._sum(quality.true_pos, kind)
        labelled = right + quality._sum(quality.false_neg, kind)
        found = right + quality._sum(quality.false_pos, kind)
        name = kind or "all"
        print(f"{name:<8}{labelled:>9}{found:>7}{right:>7}{quality.precision(kind):>11.3f}{quality.recall(kind):>8.3f}")
    for mistake in quality.mistakes:
        print(mistake)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
