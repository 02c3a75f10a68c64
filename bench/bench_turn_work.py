"""The work a turn costs outside the model, for the worst inputs we can find: VADER, the whole rule pack, and
the redaction of personal data (which reads the whole turn, since the whole turn is stored).

No accepted input may take more than the budget (50 ms of CPU, issue 20) outside the model: otherwise one
hostile but valid message stalls the scoring thread, and every connection with it. This benchmark times a set
of known-bad shapes (long emoji runs, spaced-out letters, punctuation runs, repeated letters, masked profanity)
at the longest accepted length, plus random mixtures of those pieces (a fuzz), each as the newest turn of a
full window of equally bad turns, and reports the slowest against the budget.

    .venv/bin/python -m bench.bench_turn_work [--fuzz 300] [--seed 1] [--budget-ms 50] [--json out.json]

Exit code 1 when the slowest input is over the budget. Timing lives here and not in a test assertion: the
machine's speed drifts, so the figure is a measurement to read, not a pass/fail in CI.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from monitor.pipeline import as_judged
from monitor.privacy import Redactor
from monitor.rules import load_rule_pack
from monitor.schemas import (
    MAX_TEXT_CHARS,
    ConversationMeta,
    ConversationSnapshot,
    Party,
    Role,
    TurnRecord,
    TurnScores,
)
from monitor.scoring.vader import VaderSentiment
from monitor.settings import default_rules_dir

PIECES = [
    "😡", "🤬😤", "👍🏽", "❤️", "!!!", "?!", "WHY ", "NOBODY HELPS ", "f u c k ", "s.h.i.t ", "f*ck ", "sh!t ",
    "noooooooo ", "!!!!!!!!!!!!", "not ", "but ", "never ", "@agent ", "https://x.example/a ", "idiot ",
    "I hate this ", "ÄÖÜ ", "a a a a ", "_-_-_ ", "\u200b", "😡 " * 3, "kinda ", "sort of ",
    "+44 20 7946 0958 ", "4111 1111 1111 1111 ", "ana@example.com ", "192.168.0.1 ", "(212) 555-0199 ", "- ",
]  # fmt: skip
SHAPES = {
    "emoji run": "😡" * MAX_TEXT_CHARS,
    "emoji with spaces": "😡 " * (MAX_TEXT_CHARS // 2),
    "mixed shouting": ("I HATE this!!! 😡 " * 600)[:MAX_TEXT_CHARS],
    "spaced letters": "a " * (MAX_TEXT_CHARS // 2),
    "spaced letters, no end": ("a " * (MAX_TEXT_CHARS // 2))[:-1] + "x",
    "punctuation": "!?" * (MAX_TEXT_CHARS // 2),
    "one long word": "a" * MAX_TEXT_CHARS,
    "repeated letters": "nooo" * (MAX_TEXT_CHARS // 4),
    "masked profanity": "f*ck " * (MAX_TEXT_CHARS // 5),
    "negations": "not but never " * (MAX_TEXT_CHARS // 14),
    # Shapes that make redaction work: numbers libphonenumber must check, card and IBAN look-alikes, dotted quads.
    "phone numbers": ("call +1 415 555 0132 " * 400)[:MAX_TEXT_CHARS],
    "invalid phone numbers": ("123 4567 890 x " * 600)[:MAX_TEXT_CHARS],
    "spaced digits": "12 " * (MAX_TEXT_CHARS // 3),
    "card numbers": ("4111 1111 1111 1111 " * 400)[:MAX_TEXT_CHARS],
    "iban look-alikes": "DE89 " * (MAX_TEXT_CHARS // 5),
    "dotted digits": "1." * (MAX_TEXT_CHARS // 2),
}


def _turn(i: int, text: str) -> TurnRecord:
    scores = TurnScores(anger=0.9, frustration=0.9, sentiment=-0.9, emotions={})
    role: Role = "customer" if i % 2 == 0 else "agent"
    return TurnRecord(message_id=f"m{i}", role=role, text=text, sent_at=datetime.now(UTC), scores=scores)


def time_turn(
    text: str, *, vader: VaderSentiment, engine: object, window: int, redactor: Redactor | None = None
) -> float:
    """CPU seconds for VADER on ``text``, the rules on a window of ``window`` turns of it (fresh caches), and
    the redaction of the whole new turn (the default kinds when no redactor is given)."""
    from monitor.rules import RuleEngine

    assert isinstance(engine, RuleEngine)
    meta = ConversationMeta(
        conversation_id="c",
        customer=Party(id="u", name="Ana Smith"),
        agent=Party(id="a", name="Jo"),
        started_at=datetime.now(UTC),
    )
    # Each turn's text differs by a suffix, so the rules' per-text feature cache cannot hide the work.
    turns = [as_judged(_turn(i, f"{text[: MAX_TEXT_CHARS - 4]}{i:04d}")) for i in range(window)]
    snapshot = ConversationSnapshot(meta=meta, turns=turns)
    redactor = redactor or Redactor()
    started = time.process_time()
    redactor.redact(text)
    vader.compound(turns[-1].text)
    engine.evaluate(snapshot)
    engine.risk(snapshot)
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fuzz", type=int, default=300, help="random inputs to try besides the known shapes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget-ms", type=float, default=50.0)
    parser.add_argument("--window", type=int, default=20, help="turns the rules see (CALMWATCH_TURN_WINDOW)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)

    vader = VaderSentiment()
    engine = load_rule_pack([default_rules_dir()])
    rng = random.Random(args.seed)
    inputs = dict(SHAPES)
    for n in range(args.fuzz):
        text = ""
        while len(text) < MAX_TEXT_CHARS:
            text += rng.choice(PIECES) * rng.randint(1, 40)
        inputs[f"fuzz {n}"] = text[:MAX_TEXT_CHARS]
    redactor = Redactor()
    results = {
        name: time_turn(text, vader=vader, engine=engine, window=args.window, redactor=redactor) * 1000
        for name, text in inputs.items()
    }
    worst = sorted(results.items(), key=lambda item: item[1], reverse=True)
    print(f"{len(results)} inputs of up to {MAX_TEXT_CHARS} characters, window {args.window}; slowest (CPU ms):")
    for name, ms in worst[:8]:
        print(f"  {ms:8.2f}  {name}")
    slowest = worst[0][1]
    verdict = "within" if slowest <= args.budget_ms else "OVER"
    print(f"slowest {slowest:.2f} ms: {verdict} the {args.budget_ms:.0f} ms budget")
    if args.json:
        args.json.write_text(json.dumps({"budget_ms": args.budget_ms, "slowest_ms": slowest, "worst": worst[:20]}))
    return 0 if slowest <= args.budget_ms else 1


if __name__ == "__main__":
    sys.exit(main())
