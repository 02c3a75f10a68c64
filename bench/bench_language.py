"""Language detection on short chat turns: how often it is right, how often it takes an English turn for another
language (which would cost that turn its alerts), and what it costs per turn.

    .venv/bin/python -m bench.bench_language [--data ../shared/data] [--json out.json]

The labelled set is ``bench/data/short_turns.jsonl``: 100 support-chat turns of 2 to 11 words that we wrote,
16 English and 14 each in Spanish, German, French, Italian, Portuguese and Dutch. English turns from the shared
data (Banking77 test questions, XED subtitle lines, the customer turns of support-conversations), when
``--data`` has them, measure the false "not English" rate on real English text.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path

from monitor.language import _identifier, detect_language

HERE = Path(__file__).resolve().parent


def english_corpora(data: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    banking = data / "banking77" / "test.csv"
    if banking.is_file():
        with banking.open(encoding="utf-8") as f:
            out["banking77 test"] = [row[0] for row in list(csv.reader(f))[1:]]
    xed = data / "xed" / "en-annotated.tsv"
    if xed.is_file():
        out["xed (first 3000)"] = [line.split("\t")[0] for line in xed.read_text(encoding="utf-8").splitlines()[:3000]]
    support = data / "support-conversations" / "conversations.json"
    if support.is_file():
        dialogs = json.loads(support.read_text(encoding="utf-8"))
        out["support customer turns"] = [
            e["message"] for d in dialogs for e in d.get("dialogContent") or [] if "agent" not in e and e.get("message")
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    _identifier()
    load_s = time.perf_counter() - started
    rows = [json.loads(line) for line in (HERE / "data" / "short_turns.jsonl").read_text(encoding="utf-8").splitlines()]
    per_lang: dict[str, Counter[str]] = {}
    timings: list[float] = []
    for row in rows:
        t0 = time.perf_counter()
        found = detect_language(row["text"])
        timings.append(time.perf_counter() - t0)
        tally = per_lang.setdefault(row["lang"], Counter())
        tally["turns"] += 1
        if row["lang"] == "en":
            tally["right"] += found.scored
        else:
            tally["not_scored"] += not found.scored
            tally["right"] += found.code == row["lang"]
    corpora = {}
    for name, texts in english_corpora(args.data).items():
        t0 = time.perf_counter()
        lost = [t for t in texts if not detect_language(t).scored]
        elapsed = time.perf_counter() - t0
        timings.append(elapsed / max(1, len(texts)))
        corpora[name] = {
            "turns": len(texts),
            "not_english": len(lost),
            "us_per_turn": round(elapsed / len(texts) * 1e6),
            "examples": lost[:5],
        }
    result = {
        "model_load_s": round(load_s, 3),
        "short_turns": {lang: dict(c) for lang, c in per_lang.items()},
        "english_corpora": corpora,
        "short_turn_us_mean": round(sum(timings[: len(rows)]) / len(rows) * 1e6),
    }
    for lang, c in per_lang.items():
        extra = "" if lang == "en" else f", marked not scored {c['not_scored']}"
        print(f"{lang}: {c['right']}/{c['turns']} right{extra}")
    for name, corpus in corpora.items():
        print(
            f"{name}: {corpus['not_english']} of {corpus['turns']} English turns taken for another language "
            f"({corpus['us_per_turn']} us/turn)"
        )
    print(f"model load {load_s:.2f} s; short turns {result['short_turn_us_mean']} us/turn")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
