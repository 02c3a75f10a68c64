// Inline SVG sparklines of a customer's anger and frustration over their turns (0..1 on the y axis).
// Anger is a solid red line, frustration a dashed amber one, so the two differ without relying on colour.

const NS = "http://www.w3.org/2000/svg";

function node(tag, attrs = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

function points(values, width, height, pad) {
  // The newest turn is always at the right edge; a single turn is a dot there.
  const step = values.length > 1 ? (width - 2 * pad) / (values.length - 1) : 0;
  const x0 = values.length > 1 ? pad : width - pad;
  return values.map((v, i) => [x0 + i * step, pad + (1 - Math.min(1, Math.max(0, v))) * (height - 2 * pad)]);
}

function pct(value) {
  return `${Math.round(value * 100)}%`;
}

/**
 * `scores` is a list of `{anger, frustration}`, oldest first. Returns an `<svg role="img">` whose label says
 * what a sighted user sees: how many turns, and where anger and frustration stand now.
 */
export function sparkline(scores, { width = 150, height = 38, pad = 4, threshold = 0.6 } = {}) {
  const svg = node("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: "sparkline",
    role: "img",
    focusable: "false",
  });
  const last = scores[scores.length - 1];
  const summary = last
    ? `Customer anger and frustration over ${scores.length} turn${scores.length === 1 ? "" : "s"}: ` +
      `anger now ${pct(last.anger)}, frustration now ${pct(last.frustration)}`
    : "No customer turns yet";
  svg.setAttribute("aria-label", summary);
  svg.append(node("title"));
  svg.firstChild.textContent = summary;

  const y = pad + (1 - threshold) * (height - 2 * pad);
  svg.append(node("rect", { x: 0, y: 0, width, height: y, class: "spark-hot", rx: 3 }));
  svg.append(node("line", { x1: 0, x2: width, y1: y, y2: y, class: "spark-threshold" }));
  if (!last) return svg;

  for (const [key, cls] of [
    ["frustration", "spark-frustration"],
    ["anger", "spark-anger"],
  ]) {
    const pts = points(
      scores.map((s) => s[key]),
      width,
      height,
      pad,
    );
    if (pts.length > 1) {
      svg.append(node("polyline", { points: pts.map((p) => p.join(",")).join(" "), class: `spark-line ${cls}` }));
    }
    const [cx, cy] = pts[pts.length - 1];
    svg.append(node("circle", { cx, cy, r: 2.8, class: `spark-dot ${cls}` }));
  }
  return svg;
}
