"""``calmwatch replay --html``: one self-contained page with a per-rule summary and a timeline per conversation."""

from __future__ import annotations

import json
import re
from pathlib import Path

from monitor.cli import main
from monitor.replay import load_conversations, run_replay, summarise
from monitor.replay_html import render_html
from monitor.rules import load_rule_pack
from tests.conftest import make_settings
from tests.fakes import KeywordScorer
from tests.paths import REPO_ROOT

SCENARIOS = REPO_ROOT / "tests" / "scenarios"


def embedded_data(page: str) -> list[dict[str, object]]:
    match = re.search(r'<script type="application/json" id="replay-data">(.*?)</script>', page, re.S)
    assert match is not None
    data: list[dict[str, object]] = json.loads(match.group(1))
    return data


async def test_page_holds_every_conversation_and_the_per_rule_recovery(redis_url: str) -> None:
    """Each replayed conversation's turns and alerts are embedded for its timeline; each rule that fired has a row."""
    engine = load_rule_pack([REPO_ROOT / "rules"])
    settings = make_settings(redis_url)
    convs = load_conversations(SCENARIOS / "01_angry_refund.yaml") + load_conversations(
        SCENARIOS / "13_sustained_anger.yaml"
    )
    results = await run_replay(convs, settings=settings, engine=engine, scorer=KeywordScorer(), progress=False)
    summary = summarise(results)
    page = render_html(results, summary, engine, settings)
    data = embedded_data(page)
    assert [d["conversation_id"] for d in data] == [r.record.meta.conversation_id for r in results if r.record]
    for conv, res in zip(data, results, strict=True):
        assert len(conv["turns"]) == len(res.turns)  # type: ignore[arg-type]
        assert len(conv["alerts"]) == sum(len(t.alerts) for t in res.turns)  # type: ignore[arg-type]
    for rule in summary["per_rule"]:
        assert f'<tr data-rule="{rule}">' in page
    assert "export function timelineChart" in page  # drawn by the reports page's own code, inlined
    assert "<script src=" not in page and "<link" not in page  # nothing fetched: the file works on its own


def test_cli_writes_the_page(tmp_path: Path) -> None:
    """`calmwatch replay DIR --html out.html` writes the page beside its usual output."""
    out = tmp_path / "out.html"
    main(["replay", str(SCENARIOS / "01_angry_refund.yaml"), "--scorer", "vader", "--no-progress", "--html", str(out)])
    assert len(embedded_data(out.read_text(encoding="utf-8"))) == 1
