// "Helpful" / "False alarm" on an alert, for the sidebar and the console: one click sends the verdict
// (`POST /v1/alerts/{id}/feedback`); a short note can follow, sent with the same verdict. The latest verdict is
// the alert's; the service keeps every one. Who gave it comes from the key (an agent key: its agent id).

import { AuthRequired, api, h } from "./common.js";

export const VERDICT_LABELS = { helpful: "Helpful", false_alarm: "False alarm" };

/** POST a verdict; resolves to the stored feedback record. */
export function sendFeedback(alertId, verdict, { note = "", by } = {}) {
  const body = { verdict, note };
  if (by) body.by = by;
  return api(`/v1/alerts/${encodeURIComponent(alertId)}/feedback`, { method: "POST", body });
}

/**
 * The controls for one alert. `current` is its feedback record or null; `onGiven(feedback)` runs after the
 * service stored a verdict (the caller keeps it and re-renders); `onAuth()` when the key was refused.
 */
export function feedbackControls(alert, current, { onGiven, onAuth, by, label = alert.rule.replaceAll("_", " ") }) {
  const wrap = h("div", {
    class: "feedback",
    dataset: { id: alert.id, verdict: current?.verdict ?? "" },
    role: "group",
    "aria-label": `Was the ${label} alert useful?`,
  });
  const status = h("span", { class: "feedback-status", "aria-live": "polite" });

  async function give(verdict, note = "") {
    for (const b of wrap.querySelectorAll("button")) b.disabled = true;
    try {
      const feedback = await sendFeedback(alert.id, verdict, { note, by: by?.() });
      onGiven(feedback);
    } catch (error) {
      for (const b of wrap.querySelectorAll("button")) b.disabled = false;
      status.textContent = "Not saved, try again";
      if (error instanceof AuthRequired) onAuth?.();
    }
  }

  const buttons = Object.entries(VERDICT_LABELS).map(([verdict, text]) =>
    h(
      "button",
      {
        type: "button",
        class: `btn fb-btn fb-${verdict}`,
        dataset: { verdict },
        "aria-pressed": String(current?.verdict === verdict),
        "aria-label": `${text}: ${label}`,
        onclick: () => give(verdict),
      },
      verdict === "helpful" ? "✓ Helpful" : "✗ False alarm",
    ),
  );
  wrap.append(...buttons);
  if (current) {
    status.textContent = current.note ? `Noted: “${current.note}”` : "";
    const note = h("input", {
      class: "fb-note",
      type: "text",
      maxlength: "500",
      placeholder: "add a short note (optional)",
      "aria-label": `Note on the ${label} alert`,
      value: current.note ?? "",
    });
    const save = h(
      "button",
      { type: "button", class: "btn btn-quiet fb-save", onclick: () => give(current.verdict, note.value.trim()) },
      "Save note",
    );
    note.addEventListener("keydown", (event) => {
      if (event.key === "Enter") save.click();
    });
    wrap.append(h("div", { class: "fb-note-row" }, note, save));
  }
  wrap.append(status);
  return wrap;
}
