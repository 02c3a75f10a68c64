// A conversation's timeline as inline SVG: the customer's anger (solid red) and frustration (dashed amber) turn
// by turn, the agent's turns as ticks, each alert as a marker at its turn, and its feedback on the marker
// (✓ helpful, ✗ false alarm). Used by the reports page and inlined into `calmwatch replay --html` pages, so a
// replay and the live service draw conversations the same way. No dependencies.

const SVG_NS = "http://www.w3.org/2000/svg";
const SEVERITY_ROW = { critical: 0, warning: 1, info: 2 };

function svgNode(tag, attrs = {}, text = "") {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text) el.textContent = text;
  return el;
}

/**
 * `data`: `{conversation_id, customer, agent, turns: [{index, role, anger, frustration, text}], alerts: [{turn,
 * rule, severity, nudge, feedback}]}` (what `GET /v1/reports/conversations/{id}` answers). Returns an `<svg>`.
 */
export function timelineChart(data, { width = 760, height = 220, threshold = 0.6 } = {}) {
  const pad = { left: 34, right: 12, top: 54, bottom: 26 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const n = Math.max(1, data.turns.length);
  const x = (i) => pad.left + (n === 1 ? plotW / 2 : (i / (n - 1)) * plotW);
  const y = (v) => pad.top + (1 - Math.min(1, Math.max(0, v))) * plotH;
  // Turns the model did not read (another language) have null scores: they get no point on the curves.
  const customer = data.turns.filter((t) => t.role === "customer" && t.anger !== null && t.frustration !== null);
  const judged = data.alerts.filter((a) => a.feedback);
  const label =
    `Timeline of ${data.customer || data.conversation_id}: ${data.turns.length} turns, ${customer.length} from the ` +
    `customer; ${data.alerts.length} alert${data.alerts.length === 1 ? "" : "s"}, ${judged.length} with feedback`;
  const svg = svgNode("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "timeline",
    role: "img",
    "aria-label": label,
    "data-cid": data.conversation_id,
  });
  svg.append(svgNode("title", {}, label));

  // Axes: 0, threshold and 1 on y; turn numbers on x.
  for (const v of [0, 0.5, 1]) {
    svg.append(svgNode("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "tl-grid" }));
    svg.append(svgNode("text", { x: pad.left - 6, y: y(v) + 4, class: "tl-axis", "text-anchor": "end" }, v.toFixed(1)));
  }
  svg.append(
    svgNode("line", { x1: pad.left, x2: width - pad.right, y1: y(threshold), y2: y(threshold), class: "tl-threshold" }),
  );
  const every = Math.max(1, Math.ceil(n / 12));
  for (const t of data.turns) {
    if (t.index % every === 0 || t.index === n - 1) {
      svg.append(svgNode("text", { x: x(t.index), y: height - 8, class: "tl-axis", "text-anchor": "middle" }, `${t.index + 1}`));
    }
    if (t.role === "agent") {
      const tick = svgNode("line", { x1: x(t.index), x2: x(t.index), y1: y(0) - 6, y2: y(0), class: "tl-agent" });
      tick.append(svgNode("title", {}, `agent, turn ${t.index + 1}: ${t.text}`));
      svg.append(tick);
    }
  }

  for (const [key, cls] of [
    ["frustration", "tl-frustration"],
    ["anger", "tl-anger"],
  ]) {
    const pts = customer.map((t) => `${x(t.index).toFixed(1)},${y(t[key]).toFixed(1)}`);
    if (pts.length > 1) svg.append(svgNode("polyline", { points: pts.join(" "), class: `tl-line ${cls}` }));
    for (const t of customer) {
      const dot = svgNode("circle", { cx: x(t.index), cy: y(t[key]), r: 3, class: `tl-dot ${cls}` });
      dot.append(svgNode("title", {}, `turn ${t.index + 1}, ${key} ${t[key].toFixed(2)}: ${t.text}`));
      svg.append(dot);
    }
  }

  // Alerts above the plot, one row per severity; feedback drawn on the marker.
  const stacked = new Map();
  for (const alert of data.alerts) {
    const key = `${alert.turn}`;
    const k = stacked.get(key) ?? 0;
    stacked.set(key, k + 1);
    const cx = x(alert.turn) + k * 4;
    const cy = 10 + (SEVERITY_ROW[alert.severity] ?? 2) * 14;
    const g = svgNode("g", {
      class: `tl-alert tl-sev-${alert.severity}`,
      "data-rule": alert.rule,
      "data-feedback": alert.feedback ?? "",
      "data-turn": alert.turn,
    });
    g.append(svgNode("line", { x1: cx, x2: cx, y1: cy + 5, y2: y(0), class: "tl-alert-stem" }));
    g.append(svgNode("path", { d: `M${cx - 6},${cy - 5} L${cx + 6},${cy - 5} L${cx},${cy + 5} Z`, class: "tl-marker" }));
    if (alert.feedback === "helpful") {
      g.append(svgNode("text", { x: cx + 8, y: cy + 4, class: "tl-fb tl-fb-helpful" }, "✓"));
    } else if (alert.feedback === "false_alarm") {
      g.append(svgNode("text", { x: cx + 8, y: cy + 4, class: "tl-fb tl-fb-false" }, "✗"));
    }
    const verdict = alert.feedback ? ` (${alert.feedback === "helpful" ? "helpful" : "false alarm"})` : "";
    g.append(svgNode("title", {}, `${alert.severity} ${alert.rule} at turn ${alert.turn + 1}${verdict}: ${alert.nudge}`));
    svg.append(g);
  }
  return svg;
}

/** The legend that goes with the chart (text, so it does not depend on colour alone). */
export function timelineLegend() {
  const p = document.createElement("p");
  p.className = "tl-legend";
  p.innerHTML =
    '<span class="legend-key legend-anger">anger</span> <span class="legend-key legend-frustration">frustration</span> ' +
    "<span>▼ alert (top row critical, then warning, info)</span> <span>✓ helpful</span> <span>✗ false alarm</span> " +
    "<span>| agent turn</span>";
  return p;
}
