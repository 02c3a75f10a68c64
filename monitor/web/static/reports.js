// The reports page: `GET /v1/reports` drawn as plain SVG charts and tables, redrawn whenever an alert or a
// verdict arrives on the live feed (`WS /v1/alerts`), so feedback given in a sidebar shows up here at once.

import { AuthRequired, LiveFeed, api, askForKey, h, showConnection, signInWith } from "./common.js";
import { timelineChart, timelineLegend } from "./timeline.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const ui = {
  totals: $("totals"),
  series: $("series"),
  falseAlarms: $("false-alarms"),
  recovery: $("recovery"),
  conversation: $("conversation"),
  timeline: $("timeline"),
  suggestions: $("suggestions"),
  audit: $("audit"),
  people: $("people"),
  window: $("window"),
  pill: $("connection"),
  banner: $("banner"),
};
let report = null;
let feed = null;

function svg(tag, attrs = {}, text = "") {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text) el.textContent = text;
  return el;
}

const ruleName = (rule) => rule.replaceAll("_", " ");
const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)} %`);
const signed = (v) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(2)}`);
const empty = (text) => h("p", { class: "rp-empty" }, text);

// ---------------------------------------------------------------- charts

function seriesChart(series, window) {
  const rules = Object.keys(series);
  if (!rules.length) return empty("No alerts in this window.");
  const buckets = series[rules[0]].length;
  const max = Math.max(1, ...rules.flatMap((r) => series[r]));
  const labelW = 110;
  const rowH = 26;
  const width = 460;
  const plotW = width - labelW - 36;
  const height = rules.length * rowH + 22;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "rp-chart",
    id: "series-chart",
    role: "img",
    "aria-label": `Alerts per rule in ${buckets} periods of ${Math.round(window.bucket_s / 60)} minutes`,
  });
  rules.forEach((rule, row) => {
    const top = row * rowH;
    const total = series[rule].reduce((a, b) => a + b, 0);
    chart.append(svg("text", { x: 0, y: top + 16 }, ruleName(rule)));
    chart.append(svg("text", { x: width - 4, y: top + 16, "text-anchor": "end", class: "rp-muted" }, String(total)));
    series[rule].forEach((count, i) => {
      if (!count) return;
      const barH = Math.max(2, (count / max) * (rowH - 6));
      const bar = svg("rect", {
        x: labelW + (i * plotW) / buckets,
        y: top + rowH - 4 - barH,
        width: Math.max(1, plotW / buckets - 1.5),
        height: barH,
        class: "bar-alerts",
        "data-rule": rule,
      });
      bar.append(svg("title", {}, `${ruleName(rule)}: ${count} alert${count === 1 ? "" : "s"}`));
      chart.append(bar);
    });
  });
  const since = new Date(report.window.since).toLocaleString();
  chart.append(svg("text", { x: labelW, y: height - 4, class: "rp-muted" }, since));
  chart.append(svg("text", { x: labelW + plotW, y: height - 4, "text-anchor": "end", class: "rp-muted" }, "now"));
  return chart;
}

function falseAlarmChart(rules) {
  const judged = rules.filter((r) => r.helpful + r.false_alarm > 0);
  if (!judged.length) return empty("No feedback yet. Agents mark nudges helpful or false alarm in their sidebar.");
  const width = 460;
  const rowH = 40;
  const labelW = 110;
  const plotW = 330;
  const max = Math.max(...judged.map((r) => r.helpful + r.false_alarm));
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${judged.length * rowH}`,
    class: "rp-chart",
    id: "false-alarm-chart",
    role: "img",
    "aria-label": judged.map((r) => `${ruleName(r.rule)}: ${pct(r.false_alarm_rate)} false alarms`).join("; "),
  });
  judged.forEach((r, row) => {
    const top = row * rowH;
    const helpfulW = (r.helpful / max) * plotW;
    const falseW = (r.false_alarm / max) * plotW;
    chart.append(svg("text", { x: 0, y: top + 15 }, ruleName(r.rule)));
    chart.append(svg("rect", { x: labelW, y: top + 4, width: helpfulW, height: 14, class: "bar-helpful" }));
    chart.append(
      svg("rect", { x: labelW + helpfulW, y: top + 4, width: falseW, height: 14, class: "bar-false", "data-rule": r.rule }),
    );
    chart.append(
      svg(
        "text",
        { x: labelW, y: top + 32, "data-rule": r.rule, class: "fa-rate rp-muted" },
        `${pct(r.false_alarm_rate)} false · ${r.helpful} helpful, ${r.false_alarm} false alarm${r.false_alarm === 1 ? "" : "s"}`,
      ),
    );
  });
  return chart;
}

function recoveryChart(rules) {
  const shown = rules.filter((r) => r.recovery.nudged.measured > 0 || r.recovery.cooldown.measured > 0);
  if (!shown.length) return empty("Nothing measured yet: recovery needs customer turns after an alert.");
  const values = shown.flatMap((r) => [r.recovery.nudged.recovery ?? 0, r.recovery.cooldown.recovery ?? 0]);
  const span = Math.max(0.1, ...values.map(Math.abs));
  const width = 1000;
  const labelW = 110;
  const plotW = 340;
  const zero = labelW + plotW / 2;
  const rowH = 46;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${shown.length * rowH + 8}`,
    class: "rp-chart",
    id: "recovery-chart",
    role: "img",
    "aria-label": shown
      .map(
        (r) =>
          `${ruleName(r.rule)}: after a nudge upset fell by ${signed(r.recovery.nudged.recovery)}, ` +
          `in cooldown by ${signed(r.recovery.cooldown.recovery)}`,
      )
      .join("; "),
  });
  chart.append(svg("line", { x1: zero, x2: zero, y1: 0, y2: shown.length * rowH, class: "rp-axis" }));
  shown.forEach((r, row) => {
    const top = row * rowH;
    chart.append(svg("text", { x: 0, y: top + 18 }, ruleName(r.rule)));
    [
      ["nudged", "bar-nudged", r.recovery.nudged],
      ["cooldown", "bar-cooldown", r.recovery.cooldown],
    ].forEach(([name, cls, agg], k) => {
      const value = agg.recovery;
      const y = top + 6 + k * 17;
      if (value !== null) {
        const w = (Math.abs(value) / span) * (plotW / 2);
        chart.append(
          svg("rect", { x: value >= 0 ? zero : zero - w, y, width: w, height: 13, class: cls, "data-group": name, "data-rule": r.rule }),
        );
      }
      const detail =
        value === null
          ? `${name}: no turns to compare`
          : `${name}: ${signed(value)} (${agg.measured} turn${agg.measured === 1 ? "" : "s"}, from ${agg.upset_before?.toFixed(2)}; calmed ${pct(agg.de_escalated_rate)}, escalated ${pct(agg.escalated_rate)})`;
      chart.append(svg("text", { x: labelW + plotW + 12, y: y + 11, class: k ? "rp-muted" : "" }, detail));
    });
    if (r.recovery.effect !== null) {
      chart.append(
        svg("text", { x: 0, y: top + 34, class: "effect rp-muted", "data-rule": r.rule }, `effect ${signed(r.recovery.effect)}`),
      );
    }
  });
  return chart;
}

function table(headers, rows) {
  return h(
    "table",
    { class: "rp-table" },
    h("thead", {}, h("tr", {}, headers.map(([text, num]) => h("th", { class: num ? "num" : "" }, text)))),
    h(
      "tbody",
      {},
      rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { class: headers[i][1] ? "num" : "" }, c)))),
    ),
  );
}

function peopleTables(agents, teams) {
  const headers = [
    ["", false],
    ["alerts", true],
    ["helpful", true],
    ["false alarms", true],
    ["false-alarm share", true],
    ["upset fell by", true],
    ["calmed down", true],
    ["escalated", true],
    ["median reply", true],
  ];
  const rows = (list) =>
    list.map((r) => [
      r.key,
      String(r.alerts),
      String(r.helpful),
      String(r.false_alarm),
      pct(r.false_alarm_rate),
      signed(r.nudged.recovery),
      pct(r.nudged.de_escalated_rate),
      pct(r.nudged.escalated_rate),
      r.nudged.median_reply_s === null ? "–" : `${Math.round(r.nudged.median_reply_s)} s`,
    ]);
  return [
    h("h3", {}, "Agents"),
    agents.length ? table([["agent", false], ...headers.slice(1)], rows(agents)) : empty("No alerts."),
    h("h3", {}, "Teams"),
    teams.length ? table([["team", false], ...headers.slice(1)], rows(teams)) : empty("No alerts."),
  ];
}

function suggestionsTable(suggestions) {
  if (!suggestions.length) {
    return empty(
      "No suggestions yet: a rule needs enough feedback (helpful and false alarms) before a better threshold shows.",
    );
  }
  return table(
    [
      ["rule", false],
      ["for", false],
      ["now", true],
      ["suggested", true],
      ["precision", true],
      ["recall", true],
      ["feedback", true],
      ["", false],
    ],
    suggestions.map((s) => {
      const status = h("span", { class: "rp-status", "aria-live": "polite" });
      const apply =
        s.scope === "all"
          ? h(
              "button",
              {
                type: "button",
                class: "btn btn-primary apply",
                dataset: { rule: s.rule },
                "aria-label": `Apply ${s.param} ${s.suggested.threshold} to ${ruleName(s.rule)}`,
                onclick: (event) => applySuggestion(s, event.currentTarget, status),
              },
              "Apply",
            )
          : h("span", { class: "rp-muted" }, "per-team: for information");
      return [
        `${ruleName(s.rule)} · ${s.param}`,
        s.scope === "all" ? "all agents" : `team ${s.scope}`,
        s.current.threshold.toFixed(2),
        s.suggested.threshold.toFixed(2),
        `${pct(s.current.precision)} → ${pct(s.suggested.precision)}`,
        `${pct(s.current.recall)} → ${pct(s.suggested.recall)}`,
        `${s.helpful} helpful, ${s.false_alarms} false`,
        h("span", {}, apply, status),
      ];
    }),
  );
}

async function applySuggestion(s, button, status) {
  button.disabled = true;
  status.textContent = "Applying…";
  try {
    const change = await api("/v1/rules/overrides", {
      method: "POST",
      body: {
        rule: s.rule,
        param: s.param,
        value: s.suggested.threshold,
        reason: `suggested from ${s.helpful + s.false_alarms} verdicts`,
      },
    });
    status.textContent = `Applied by ${change.by}`;
    scheduleReload();
  } catch (error) {
    button.disabled = false;
    status.textContent = error instanceof AuthRequired ? "Needs an admin key" : "Not applied";
  }
}

function renderAudit(audit) {
  ui.audit.replaceChildren(
    ...(audit.length
      ? audit.map((c) =>
          h(
            "li",
            {},
            `${new Date(c.at).toLocaleString()}: ${ruleName(c.rule)} ${c.param} ${c.old ?? "?"} → ${c.new} by ${c.by}` +
              (c.reason ? ` (${c.reason})` : ""),
          ),
        )
      : [h("li", {}, "None yet.")]),
  );
}

// ---------------------------------------------------------------- timeline

async function showTimeline(cid) {
  if (!cid) {
    ui.timeline.replaceChildren(empty("No conversation with alerts in this window."));
    return;
  }
  const data = await api(`/v1/reports/conversations/${encodeURIComponent(cid)}`);
  const items = data.alerts.map((a) =>
    h(
      "li",
      { dataset: { id: a.id } },
      `turn ${a.turn + 1}: ${a.severity} ${ruleName(a.rule)}` +
        (a.feedback ? ` · ${a.feedback === "helpful" ? "helpful" : "false alarm"}` : " · no feedback"),
    ),
  );
  ui.timeline.replaceChildren(timelineChart(data), timelineLegend(), h("ol", { class: "rp-audit" }, items));
}

function renderConversations(list) {
  const chosen = ui.conversation.value;
  ui.conversation.replaceChildren(
    ...list.map((c) =>
      h(
        "option",
        { value: c.conversation_id },
        `${c.customer || c.conversation_id} with ${c.agent} · ${c.alerts} alert${c.alerts === 1 ? "" : "s"}` +
          (c.helpful + c.false_alarm ? ` · ${c.helpful} helpful, ${c.false_alarm} false` : ""),
      ),
    ),
  );
  if (list.some((c) => c.conversation_id === chosen)) ui.conversation.value = chosen;
  return ui.conversation.value;
}

// ---------------------------------------------------------------- loading

function render() {
  const t = report.totals;
  ui.totals.textContent =
    `${t.alerts} alert${t.alerts === 1 ? "" : "s"} in ${t.conversations} conversation${t.conversations === 1 ? "" : "s"}; ` +
    `${t.feedback} with feedback, ${t.false_alarms} false alarm${t.false_alarms === 1 ? "" : "s"}. ` +
    `Recovery is measured over the next ${report.window.horizon_turns} customer turns.`;
  ui.series.replaceChildren(seriesChart(report.series, report.window));
  ui.falseAlarms.replaceChildren(falseAlarmChart(report.rules));
  ui.recovery.replaceChildren(recoveryChart(report.rules));
  ui.suggestions.replaceChildren(suggestionsTable(report.suggestions));
  ui.people.replaceChildren(...peopleTables(report.agents, report.teams));
  renderAudit(report.audit);
  document.body.dataset.loaded = String(Date.now());
}

async function load() {
  report = await api(`/v1/reports?hours=${encodeURIComponent(ui.window.value)}`);
  render();
  await showTimeline(renderConversations(report.conversations));
}

// One report request at a time per page: alerts that arrive while one is being built fold into one more
// request after it (building a report for a busy window takes a second or more: docs/reports.md).
let reloadTimer = 0;
let loading = null;
let again = false;
function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => {
    if (loading) {
      again = true;
      return;
    }
    loading = load()
      .catch(failed)
      .finally(() => {
        loading = null;
        if (again) {
          again = false;
          scheduleReload();
        }
      });
  }, 250);
}

async function failed(error) {
  if (error instanceof AuthRequired) {
    await askForKey("The reports need a supervisor key.");
    return boot();
  }
  ui.banner.hidden = false;
  ui.banner.textContent = "Calmwatch did not answer. Retrying…";
  setTimeout(() => load().then(() => (ui.banner.hidden = true), failed), 3000);
}

async function boot() {
  try {
    await signInWith();
  } catch {
    await askForKey("That key was not accepted.");
  }
  try {
    await load();
  } catch (error) {
    return failed(error);
  }
  if (feed) return feed.restart();
  feed = new LiveFeed({
    path: "/v1/alerts",
    cursor: `${Date.now()}-0`, // only what happens from now on: the report already has the past
    onEnvelope: (envelope) => {
      if (envelope.type === "alert" || envelope.type === "alert.feedback") scheduleReload();
    },
    onStatus: (s) => showConnection(s, { pill: ui.pill, banner: ui.banner }),
    onResume: scheduleReload,
    onAuthFailed: () => failed(new AuthRequired("feed")),
  });
  feed.start();
}

ui.window.addEventListener("change", scheduleReload);
ui.conversation.addEventListener("change", () => showTimeline(ui.conversation.value).catch(failed));
boot();
