// The agent sidebar: this agent's nudges, grouped by conversation, newest on top, dismissible.
// Live over `WS /v1/agents/{agent_id}/nudges`, which only ever carries this agent's alerts, so an agent's own
// key (which may read nothing else) is enough. History comes from the same socket: alert ids are Redis Stream
// ids, which start with a millisecond timestamp, so `since=<now - HISTORY_MS>` replays the recent nudges.

import {
  ConversationDirectory,
  LiveFeed,
  askForKey,
  compareIds,
  customerName,
  h,
  hasCredential,
  isScored,
  notScoredLabel,
  refreshTimes,
  showConnection,
  signInWith,
  storage,
  timeEl,
  whoAmI,
} from "./common.js";
import { feedbackControls } from "./feedback.js";
import { followAppContext, sidebarUrl } from "./dashboard-app.js";

const PER_CHAT = 4;
const HISTORY_MS = 12 * 3600 * 1000;
const agentId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() ?? "");
// As a Chatwoot Dashboard App (docs/connectors.md) the sidebar shows one conversation and follows Chatwoot's.
const query = new URLSearchParams(location.search);
const onlyConversation = query.get("conversation");
const dismissedKey = `calmwatch.dismissed.${agentId}`;
const verdictsKey = `calmwatch.feedback.${agentId}`;
const local = storage("localStorage");

const $ = (id) => document.getElementById(id);
const ui = {
  chats: $("chats"),
  empty: $("empty"),
  pill: $("connection"),
  banner: $("banner"),
  announcer: $("announcer"),
  agentLabel: $("agent-label"),
};
ui.chats.tabIndex = -1;

const nudges = new Map(); // alert id -> alert
const dismissed = new Set(JSON.parse(local.getItem(dismissedKey) || "[]"));
// alert id -> this agent's feedback on it. An agent key cannot list alerts, so verdicts are remembered here and
// kept current by the `alert.feedback` envelopes of the nudges socket (a verdict given in another tab, say).
const verdicts = new Map(JSON.parse(local.getItem(verdictsKey) || "[]"));
const directory = new ConversationDirectory();
const seenChats = new Set();
const latestCustomerTurn = new Map(); // conversation id -> the newest customer turn envelope heard live
const ended = new Set(); // conversations that ended while this sidebar was open
let feed = null;

function forMe(alert) {
  if (onlyConversation && alert.conversation_id !== onlyConversation) return false;
  return alert.agent_id === agentId && alert.audience.includes("agent");
}

function isEscalation(alert) {
  return alert.severity === "critical" || alert.rule === "escalate";
}

/** Whether a chat is in escalation *now*: the newest of its escalations and "has calmed down" nudges decides. */
function escalatedNow(alerts) {
  for (const alert of alerts) {
    if (alert.rule === "de_escalated") return false;
    if (isEscalation(alert)) return true;
  }
  return false;
}

/** "not scored (German)" while the customer's latest turn is one the model could not read, else "". */
function unscoredNote(cid) {
  const turn = latestCustomerTurn.get(cid);
  return turn && !isScored(turn.scores) && turn.scores.language ? notScoredLabel(turn.scores) : "";
}

function saveDismissed() {
  local.setItem(dismissedKey, JSON.stringify([...dismissed].slice(-500)));
}

function dismiss(alertId) {
  const buttons = [...ui.chats.querySelectorAll("button.dismiss")];
  const index = buttons.findIndex((b) => b.dataset.id === alertId);
  const next = buttons[index + 1] ?? buttons[index - 1];
  dismissed.add(alertId);
  saveDismissed();
  render(next?.dataset.id ?? null);
}

function keepVerdict(feedback) {
  verdicts.set(feedback.alert_id, feedback);
  local.setItem(verdictsKey, JSON.stringify([...verdicts.entries()].slice(-500)));
}

function groups() {
  const byChat = new Map();
  const finished = (cid) => ended.has(cid) || Boolean(directory.known(cid)?.ended_at);
  for (const alert of nudges.values()) {
    if (dismissed.has(alert.id)) continue;
    if (finished(alert.conversation_id)) continue; // nudges for a finished chat are no longer actionable
    if (!byChat.has(alert.conversation_id)) byChat.set(alert.conversation_id, []);
    byChat.get(alert.conversation_id).push(alert);
  }
  // A chat the model cannot read is shown even without a nudge: the agent must know no alert will come.
  for (const cid of latestCustomerTurn.keys()) {
    if (!byChat.has(cid) && !finished(cid) && unscoredNote(cid)) byChat.set(cid, []);
  }
  for (const list of byChat.values()) list.sort((a, b) => compareIds(b.id, a.id));
  const newest = (cid, list) => list[0]?.id ?? `${Date.parse(latestCustomerTurn.get(cid)?.sent_at ?? 0)}-0`;
  return [...byChat.entries()].sort(([ca, a], [cb, b]) => compareIds(newest(cb, b), newest(ca, a)));
}

function nudgeItem(alert, older) {
  const rule = alert.rule.replaceAll("_", " ");
  return h(
    "li",
    { class: `nudge${older ? " is-older" : ""}`, dataset: { id: alert.id, severity: alert.severity } },
    h(
      "div",
      { class: "nudge-head" },
      h("span", { class: `sev sev-${alert.severity}` }, alert.severity),
      h("span", { class: "nudge-rule" }, rule),
      timeEl(alert.created_at),
    ),
    h(
      "button",
      {
        type: "button",
        class: "btn btn-quiet btn-icon dismiss",
        dataset: { id: alert.id },
        "aria-label": `Dismiss nudge: ${rule}`,
        title: "Dismiss",
        onclick: () => dismiss(alert.id),
      },
      "✕",
    ),
    h("p", { class: "nudge-text" }, alert.nudge),
    feedbackControls(alert, verdicts.get(alert.id) ?? null, {
      label: rule,
      by: () => agentId, // shown only where the key has no name of its own (an agent key gives its agent id)
      onGiven: (feedback) => {
        keepVerdict(feedback);
        render();
        ui.chats.querySelector(`.feedback[data-id="${CSS.escape(alert.id)}"] button[aria-pressed="true"]`)?.focus();
      },
      onAuth: () => askForKey("Your sign-in has expired; enter your key to send feedback."),
    }),
  );
}

function render(focusId = undefined) {
  const active = document.activeElement;
  const keepFocus = focusId === undefined && active?.classList?.contains("dismiss") ? active.dataset.id : null;
  const list = groups();
  ui.chats.replaceChildren(
    ...list.map(([cid, alerts]) => {
      const meta = directory.known(cid);
      const turnName = latestCustomerTurn.get(cid)?.customer_name;
      const name = alerts[0]?.customer_name || turnName || (meta ? customerName(meta) : `Conversation ${cid}`);
      const escalation = escalatedNow(alerts);
      const note = unscoredNote(cid);
      const fresh = !seenChats.has(cid);
      seenChats.add(cid);
      return h(
        "li",
        {
          class: `chat${fresh ? " is-new" : ""}`,
          dataset: { cid, escalation: String(escalation) },
          "aria-label": `${escalation ? "Escalation: " : ""}nudges for the chat with ${name}`,
        },
        h(
          "div",
          { class: "chat-head" },
          h("h2", {}, name),
          escalation ? h("span", { class: "escalate-tag" }, "Escalate") : null,
          note ? h("span", { class: "unscored-tag" }, note) : null,
          alerts.length ? h("span", { class: "count" }, `${alerts.length} nudge${alerts.length === 1 ? "" : "s"}`) : null,
        ),
        note
          ? h(
              "p",
              { class: "unscored-note" },
              "Calmwatch reads English only: no anger or frustration nudges for these turns. " +
                "Capitals, threats, requests for a manager and swearing are still flagged.",
            )
          : null,
        h(
          "ol",
          { class: "nudges" },
          alerts.slice(0, PER_CHAT).map((alert, i) => nudgeItem(alert, i > 0)),
        ),
      );
    }),
  );
  ui.empty.hidden = list.length > 0;
  const target = focusId ?? keepFocus;
  if (target) ui.chats.querySelector(`button.dismiss[data-id="${CSS.escape(target)}"]`)?.focus();
  else if (focusId === null) ui.chats.focus();
}

/** Best effort: the agent's display name and whether a chat has ended (an agent-only key may not read these). */
function learnMore(alerts) {
  for (const cid of new Set(alerts.map((a) => a.conversation_id))) {
    if (directory.known(cid) || directory.pending.has(cid)) continue;
    directory.lookup(cid).then((meta) => {
      if (!meta) return;
      if (meta.agent?.id === agentId && meta.agent.name) showAgentName(meta.agent.name);
      renderSoon();
    });
  }
}

let frame = 0;
function renderSoon() {
  if (!frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      render();
    });
  }
}

function showAgentName(name) {
  ui.agentLabel.textContent = `nudges for ${name}`;
}

function add(alert, { live = false } = {}) {
  if (!forMe(alert) || nudges.has(alert.id)) return;
  nudges.set(alert.id, alert);
  if (alert.agent_name) showAgentName(alert.agent_name);
  if (live && isEscalation(alert)) {
    const who = alert.customer_name ? ` (chat with ${alert.customer_name})` : "";
    ui.announcer.textContent = `Escalate: ${alert.nudge}${who}`;
  }
}

/** Why the signed-in key cannot show this sidebar (another agent's key), or "" when it can. */
function keyProblem(who) {
  if (!who || who.role !== "agent" || who.agent_id === agentId) return "";
  return `This key is for another agent (${who.agent_id}), not ${agentId}. Open your own sidebar, or enter ${agentId}'s key.`;
}

async function boot() {
  ui.agentLabel.textContent = `nudges for ${agentId}`;
  render();
  try {
    await signInWith();
  } catch {
    await askForKey(hasCredential() ? "That key was not accepted." : "", keyProblem);
  }
  // Another agent's key would be refused by the nudges socket on every reconnect: say so once, and wait.
  const problem = keyProblem(whoAmI());
  if (problem) {
    showConnection("disconnected", { pill: ui.pill });
    await askForKey(problem, keyProblem);
  }
  feed = new LiveFeed({
    path: `/v1/agents/${encodeURIComponent(agentId)}/nudges`,
    cursor: `${Date.now() - HISTORY_MS}-0`,
    onEnvelope: (envelope) => {
      if (envelope.type === "turn") {
        if (envelope.agent_id === agentId) latestCustomerTurn.set(envelope.conversation_id, envelope);
        renderSoon();
        return;
      }
      if (envelope.type === "conversation.ended") {
        ended.add(envelope.conversation_id);
        renderSoon();
        return;
      }
      if (envelope.type === "alert.feedback") {
        keepVerdict(envelope.feedback);
        renderSoon();
        return;
      }
      if (envelope.type !== "alert") return;
      add(envelope.alert, { live: feed.everOpened && Date.parse(envelope.alert.created_at) > bootedAt });
      learnMore([envelope.alert]);
      renderSoon();
    },
    onStatus: (s) => showConnection(s, { pill: ui.pill, banner: ui.banner }),
    onAuthFailed: async () => {
      await askForKey("Your sign-in has expired or the key was revoked; enter your key to see your nudges.", keyProblem);
      feed.restart();
    },
  });
  feed.start();
}

if (query.get("embed") === "chatwoot") {
  followAppContext((target) => {
    if (target.conversationId !== onlyConversation || target.agentId !== agentId) location.replace(sidebarUrl(target));
  });
}

const bootedAt = Date.now();
setInterval(() => refreshTimes(), 15000);
boot();
