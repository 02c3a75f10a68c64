"""``calmwatch replay FILE --html report.html``: a replay as one self-contained page, for tuning a pack offline.

The page holds a per-rule summary (alerts, conversations, false-alarm candidates, and the recovery after the
rule's alerts against its cooldown turns, computed by :mod:`monitor.outcomes` exactly as ``/reports`` does)
and one timeline per conversation, drawn in the browser by the reports page's own ``timeline.js`` (inlined,
with the styles, so the file opens anywhere with no service running and nothing fetched).
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.outcomes import Outcome, compare, cooldown_outcomes, nudged_outcomes
from monitor.replay import ConversationResult
from monitor.reports import timeline
from monitor.rules import RuleEngine
from monitor.settings import Settings

_STATIC = Path(__file__).resolve().parent / "web" / "static"
#: Timelines drawn at most; a support-conversations file holds thousands (the summary still counts them all).
MAX_TIMELINES = 500

_BOOT = """
const data = JSON.parse(document.getElementById("replay-data").textContent);
for (const conv of data) {
  const slot = document.querySelector(`.tl-slot[data-cid="${CSS.escape(conv.conversation_id)}"]`);
  if (slot) slot.replaceChildren(timelineChart(conv), timelineLegend());
}
document.body.dataset.drawn = String(data.length);
"""

_PAGE_CSS = """
body { margin: 0; }
header.rp-top { padding: 12px 22px; background: var(--brand); color: #fff; }
header.rp-top h1 { margin: 0; font-size: 1.15rem; }
main { padding: 14px 22px 40px; max-width: 1100px; }
table { border-collapse: collapse; width: 100%; font-size: 0.88rem; background: var(--surface); }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--border); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
section.conv { margin: 22px 0; }
section.conv h3 { margin: 0 0 2px; font-size: 1rem; }
.muted { color: var(--muted); font-size: 0.86rem; margin: 0 0 6px; }
.problems { color: var(--critical); font-size: 0.86rem; }
"""


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _rule_rows(
    results: Sequence[ConversationResult], summary: dict[str, Any], engine: RuleEngine, settings: Settings
) -> str:
    nudged: dict[str, list[Outcome]] = defaultdict(list)
    cooldown: dict[str, list[Outcome]] = defaultdict(list)
    for res in results:
        if res.record is None:
            continue
        for o in nudged_outcomes(res.record, horizon=settings.outcome_horizon_turns):
            nudged[o.rule].append(o)
        for o in cooldown_outcomes(
            res.record, engine, window=settings.turn_window, horizon=settings.outcome_horizon_turns
        ):
            cooldown[o.rule].append(o)
    candidates = Counter(c["rule"] for c in summary["false_alarm_candidates"])
    rows = []
    for rule, row in summary["per_rule"].items():
        result = compare(nudged.get(rule, []), cooldown.get(rule, []))
        a, b = result["nudged"], result["cooldown"]
        assert isinstance(a, dict) and isinstance(b, dict)
        effect = result["effect"]
        rows.append(
            f'<tr data-rule="{html.escape(rule)}"><td>{html.escape(rule)}</td>'
            f'<td class="num">{row["alerts"]}</td><td class="num">{row["conversations"]}</td>'
            f'<td class="num">{candidates[rule]}</td>'
            f'<td class="num">{_fmt(a["recovery"], True)} ({a["measured"]})</td>'
            f'<td class="num">{_fmt(b["recovery"], True)} ({b["measured"]})</td>'
            f'<td class="num">{_fmt(effect if isinstance(effect, float) else None, True)}</td></tr>'
        )
    return "\n".join(rows)


def render_html(
    results: Sequence[ConversationResult], summary: dict[str, Any], engine: RuleEngine, settings: Settings
) -> str:
    """The whole page as text."""
    drawn = [r for r in results if r.record is not None][:MAX_TIMELINES]
    data = [timeline(r.record, {}) for r in drawn if r.record is not None]
    sections = []
    for res in drawn:
        conv = res.conversation
        cid = res.record.meta.conversation_id if res.record else conv.conversation_id
        names = " / ".join(n for n in (conv.customer_name, conv.agent_name) if n)
        problems = "".join(f"<li>{html.escape(p)}</li>" for p in res.problems())
        sections.append(
            f'<section class="conv" data-cid="{html.escape(cid)}"><h3>{html.escape(conv.conversation_id)}</h3>'
            f'<p class="muted">{html.escape(conv.description)}{" · " + html.escape(names) if names else ""} · '
            f"{len(res.turns)} turns, {sum(len(t.alerts) for t in res.turns)} alerts</p>"
            f'<div class="tl-slot" data-cid="{html.escape(cid)}"></div>'
            f"{f'<ul class=problems>{problems}</ul>' if problems else ''}</section>"
        )
    more = len(results) - len(drawn)
    s = summary
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    styles = "\n".join((_STATIC / name).read_text(encoding="utf-8") for name in ("base.css", "timeline.css"))
    script = (_STATIC / "timeline.js").read_text(encoding="utf-8")
    scenarios = s["scenarios"]
    checked = (
        f" Scenario expectations: {scenarios['checked'] - len(scenarios['failed'])}/{scenarios['checked']} met."
        if scenarios["checked"]
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Calmwatch replay · {s["conversations"]} conversations</title>
<style>{styles}{_PAGE_CSS}</style>
</head>
<body>
<header class="rp-top"><h1>Calmwatch replay</h1></header>
<main>
<p class="muted">{s["conversations"]} conversations, {s["turns"]} turns, {s["alerts"]} alerts; scorer
{html.escape(str(s.get("scorer", "")))}; rules {html.escape(", ".join(s.get("rules", [])))}.{checked}</p>
<h2>Per rule</h2>
<p class="muted">Recovery: how far the customer's anger or frustration fell over the next
{settings.outcome_horizon_turns} customer turns after the rule's alerts, against the turns where its cooldown kept it
quiet (number of measured turns in brackets); effect is the difference. False-alarm candidates: warnings on calm or
happy customer turns.</p>
<table id="per-rule"><thead><tr><th>rule</th><th class="num">alerts</th><th class="num">conversations</th>
<th class="num">false-alarm candidates</th><th class="num">recovery after alerts</th>
<th class="num">in cooldown</th><th class="num">effect</th></tr></thead>
<tbody>{_rule_rows(results, summary, engine, settings)}</tbody></table>
<h2>Conversations</h2>
{"".join(sections)}
{f'<p class="muted">… and {more} more conversations, not drawn.</p>' if more > 0 else ""}
</main>
<script type="application/json" id="replay-data">{payload}</script>
<script type="module">
{script}
{_BOOT}
</script>
</body>
</html>
"""


def write_html(
    path: Path, results: Sequence[ConversationResult], summary: dict[str, Any], engine: RuleEngine, settings: Settings
) -> None:
    path.write_text(render_html(results, summary, engine, settings), encoding="utf-8")
