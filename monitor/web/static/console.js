// The supervisor console: initial state over REST, then everything live over `WS /v1/alerts?include=turns`.
// The board is keyed by conversation and the feed by alert id, so replays after a reconnect never duplicate.

import {
  AuthRequired,
  ConversationDirectory,
  LiveFeed,
  agentName,
  api,
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
import { sparkline } from "./sparkline.js";

const MAX_ALERTS = 500;
const SPARK_TURNS = 20;
const ACK_NAME_KEY = "calmwatch.supervisor";

const $ = (id) => document.getElementById(id);
const ui = {
  board: $("board"),
  boardEmpty: $("board-empty"),
  alerts: $("alerts"),
  alertsEmpty: $("alerts-empty"),
  alertsCount: $("alerts-count"),
  filters: $("filters"),
  ruleFilter: $("rule-filter"),
  hideAcked: $("hide-acked"),
  pill: $("connection"),
  banner: $("banner"),
  announcer: $("announcer"),
  statActive: $("stat-active"),
  statOpen: $("stat-open"),
  statCritical: $("stat-critical"),
  statCriticalBox: $("stat-critical-box"),
  drawer: $("transcript"),
  drawerTitle: $("transcript-title"),
  drawerSub: $("transcript-sub"),
  drawerSummary: $("transcript-summary"),
  drawerTurns: $("transcript-turns"),
};

const state = {
  alerts: new Map(), // id -> alert
  cards: new Map(), // id -> <li>
  acks: new Map(), // alert id -> {alert_id, by, at}
  feedback: new Map(), // alert id -> its latest feedback {verdict, note, by, at, ...}
  rows: new Map(), // conversation id -> board row {meta, risk, turns, last_turn_at, customer_scores}
  rowEls: new Map(), // conversation id -> <li>
  rules: new Set(),
  groups: new Map(), // "conversation|rule" of info alerts -> their ids, oldest first (one card shows them all)
  open: null, // conversation id shown in the transcript
  opener: null, // element to give focus back to
};
const directory = new ConversationDirectory();
let feed = null;

const local = storage("localStorage");
const me = $("me");
me.value = local.getItem(ACK_NAME_KEY) || "";
me.addEventListener("change", () => local.setItem(ACK_NAME_KEY, me.value.trim()));

function supervisorName() {
  return me.value.trim() || "supervisor";
}

/** Conversation ids can be long and names repeat (two "Maria Lopez" chats): a short id tells rows apart. */
function shortId(cid) {
  return cid.length <= 14 ? cid : `${cid.slice(0, 5)}…${cid.slice(-6)}`;
}

const startedFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** The latest customer turn's "not scored (German)", or "" when the model read it. */
function unscoredNote(row) {
  const last = row.customer_scores[row.customer_scores.length - 1];
  return last && !isScored(last) ? notScoredLabel(last) : "";
}

function riskLevel(risk) {
  if (risk >= 0.6) return "high";
  if (risk >= 0.35) return "medium";
  return "low";
}

function openAlertsFor(cid) {
  let open = 0;
  let critical = 0;
  for (const alert of state.alerts.values()) {
    if (alert.conversation_id !== cid || state.acks.has(alert.id)) continue;
    open += 1;
    if (alert.severity === "critical") critical += 1;
  }
  return { open, critical };
}

// ---------------------------------------------------------------- board

function rowLabel(row) {
  const { critical } = openAlertsFor(row.meta.conversation_id);
  const note = unscoredNote(row);
  return (
    `${customerName(row.meta)} with ${agentName(row.meta)}, conversation ${shortId(row.meta.conversation_id)}, ` +
    `risk ${Math.round(row.risk * 100)} of 100, ${note ? `${note}, ` : ""}` +
    `${row.turns} turn${row.turns === 1 ? "" : "s"}` +
    `${critical ? `, ${critical} critical alert${critical > 1 ? "s" : ""} open` : ""}. ` +
    "Open transcript"
  );
}

function renderRow(row) {
  const cid = row.meta.conversation_id;
  let li = state.rowEls.get(cid);
  if (!li) {
    li = h("li", { class: "conv", dataset: { cid } });
    li.addEventListener("click", () => openTranscript(cid, li.querySelector("button")));
    state.rowEls.set(cid, li);
  }
  const { critical } = openAlertsFor(cid);
  li.dataset.level = riskLevel(row.risk);
  li.dataset.open = String(state.open === cid);
  const lastTurn = row.last_turn_at ? timeEl(row.last_turn_at) : h("span", {}, "no turns yet");
  const note = unscoredNote(row);
  const started = startedFormat.format(new Date(row.meta.started_at));
  const button = h(
    "button",
    { type: "button", class: "conv-open", "aria-label": rowLabel(row) },
    h(
      "span",
      { class: "risk", "aria-hidden": "true" },
      h("span", { class: "risk-value" }, String(Math.round(row.risk * 100))),
      h("span", { class: "risk-label" }, "risk"),
    ),
    h(
      "span",
      { class: "conv-who" },
      h(
        "span",
        { class: "conv-customer" },
        h("span", { class: "conv-name" }, customerName(row.meta)),
        h("span", { class: "conv-flag", hidden: !critical }, `${critical} critical`),
        note ? h("span", { class: "conv-unscored" }, note) : null,
      ),
      h(
        "span",
        { class: "conv-agent" },
        `with ${agentName(row.meta)}${row.meta.channel ? ` · ${row.meta.channel}` : ""} · ${started} · `,
        h("span", { class: "conv-id", title: row.meta.conversation_id }, `#${shortId(row.meta.conversation_id)}`),
      ),
    ),
    h("span", { class: "conv-spark" }, sparkline(row.customer_scores.filter(isScored).slice(-SPARK_TURNS))),
    h("span", { class: "conv-meta" }, h("strong", {}, `${row.turns} turn${row.turns === 1 ? "" : "s"}`), lastTurn),
  );
  const hadFocus = li.contains(document.activeElement);
  li.replaceChildren(button);
  if (hadFocus) button.focus({ preventScroll: true });
  return li;
}

let boardFrame = 0;
function renderBoard() {
  if (boardFrame) return;
  boardFrame = requestAnimationFrame(() => {
    boardFrame = 0;
    const rows = [...state.rows.values()].sort(
      (a, b) => b.risk - a.risk || (b.last_turn_at ?? "").localeCompare(a.last_turn_at ?? ""),
    );
    const focused = document.activeElement;
    rows.forEach((row, index) => {
      const li = renderRow(row);
      if (ui.board.children[index] !== li) ui.board.insertBefore(li, ui.board.children[index] ?? null);
    });
    for (const [cid, li] of state.rowEls) {
      if (!state.rows.has(cid)) {
        li.remove();
        state.rowEls.delete(cid);
      }
    }
    if (focused instanceof HTMLElement && focused !== document.activeElement && document.contains(focused)) {
      focused.focus({ preventScroll: true });
    }
    ui.boardEmpty.hidden = rows.length > 0;
    ui.statActive.textContent = String(rows.length);
  });
}

async function loadBoard() {
  const rows = await api("/v1/conversations?active=true&sort=risk&limit=100");
  state.rows = new Map(rows.map((row) => [row.meta.conversation_id, row]));
  for (const row of rows) directory.remember(row.meta);
  renderBoard();
}

let boardReload = 0;
function reloadBoardSoon() {
  clearTimeout(boardReload);
  boardReload = setTimeout(() => loadBoard().catch(() => {}), 250);
}

function onTurn(turn) {
  const row = state.rows.get(turn.conversation_id);
  if (!row) {
    reloadBoardSoon(); // a conversation this console has not seen yet
  } else {
    row.risk = turn.risk;
    row.turns += 1;
    row.last_turn_at = turn.sent_at;
    if (turn.role === "customer") row.customer_scores = [...row.customer_scores, turn.scores].slice(-SPARK_TURNS);
    renderBoard();
  }
  if (state.open === turn.conversation_id) refreshTranscriptSoon();
}

function onEnded(event) {
  // A finished chat leaves the board at once, however high its last risk; its alerts stay in the feed.
  if (!state.rows.delete(event.conversation_id)) return;
  const meta = directory.known(event.conversation_id);
  if (meta) directory.remember({ ...meta, ended_at: event.ended_at });
  renderBoard();
}

// ---------------------------------------------------------------- alert feed

function ackFooter(alert) {
  const ack = state.acks.get(alert.id);
  if (ack) {
    return h(
      "span",
      { class: "acked" },
      `✓ Acknowledged by ${ack.by} `,
      timeEl(ack.at),
    );
  }
  return h(
    "button",
    {
      type: "button",
      class: "btn ack-btn",
      "aria-label": `Acknowledge ${alert.severity} alert ${alert.rule}`,
      onclick: (event) => acknowledge(alert.id, event.currentTarget),
    },
    "Acknowledge",
  );
}

function feedbackFor(alert) {
  return feedbackControls(alert, state.feedback.get(alert.id) ?? null, {
    by: supervisorName,
    onGiven: applyFeedback,
    onAuth: () => signIn("Your sign-in has expired; enter a key to send feedback."),
  });
}

function applyFeedback(feedback) {
  state.feedback.set(feedback.alert_id, feedback);
  const li = state.cards.get(feedback.alert_id);
  const alert = state.alerts.get(feedback.alert_id);
  if (!li || !alert) return;
  const slot = li.querySelector(".fb-slot");
  const hadFocus = slot.contains(document.activeElement);
  slot.replaceChildren(feedbackFor(alert));
  if (hadFocus) slot.querySelector('button[aria-pressed="true"]')?.focus({ preventScroll: true });
}

function renderCard(alert, { fresh = false } = {}) {
  const meta = directory.known(alert.conversation_id);
  const who = meta
    ? [h("strong", {}, customerName(meta)), ` with ${agentName(meta)}`]
    : [h("strong", {}, `Conversation ${alert.conversation_id}`), ` with agent ${alert.agent_id}`];
  const li = h(
    "li",
    {
      class: `alert${fresh ? " is-new" : ""}`,
      dataset: { id: alert.id, severity: alert.severity, rule: alert.rule, cid: alert.conversation_id },
      "aria-label": `${alert.severity} alert: ${alert.rule}`,
    },
    h(
      "div",
      { class: "alert-head" },
      h("span", { class: `sev sev-${alert.severity}` }, alert.severity),
      h("span", { class: "alert-rule" }, alert.rule.replaceAll("_", " ")),
      h("span", { class: "alert-repeat", hidden: true }),
      timeEl(alert.created_at, { clock: true }),
    ),
    h("p", { class: "alert-who" }, who),
    h("p", { class: "alert-nudge" }, alert.nudge),
    alert.reason ? h("p", { class: "alert-reason" }, alert.reason) : null,
    h(
      "div",
      { class: "alert-foot" },
      h("span", { class: "audience" }, `to ${alert.audience.join(" & ")}`),
      h("span", { class: "spacer" }),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-quiet",
          onclick: (event) => openTranscript(alert.conversation_id, event.currentTarget, alert.message_id),
        },
        "Open conversation",
      ),
      h("span", { class: "ack-slot" }, ackFooter(alert)),
    ),
    h("div", { class: "fb-slot" }, feedbackFor(alert)),
  );
  li.dataset.acked = String(state.acks.has(alert.id));
  if (!meta) {
    directory.lookup(alert.conversation_id).then((found) => {
      if (!found) return;
      const whoEl = li.querySelector(".alert-who");
      whoEl.replaceChildren(h("strong", {}, customerName(found)), ` with ${agentName(found)}`);
    });
  }
  return li;
}

/** Info alerts of one rule in one conversation (use_name, again and again) share one card in the feed. */
function groupKey(alert) {
  return alert.severity === "info" ? `${alert.conversation_id}|${alert.rule}` : null;
}

function updateGroup(key) {
  const ids = state.groups.get(key) ?? [];
  const newest = ids[ids.length - 1];
  for (const id of ids) {
    const li = state.cards.get(id);
    if (!li) continue;
    li.dataset.superseded = String(id !== newest);
    const badge = li.querySelector(".alert-repeat");
    badge.hidden = id !== newest || ids.length < 2;
    badge.textContent = `${ids.length} times in this chat`;
  }
}

function passesFilters(alert) {
  if (state.cards.get(alert.id)?.dataset.superseded === "true") return false;
  const severities = new Set(
    [...ui.filters.querySelectorAll("input[name=severity]:checked")].map((input) => input.value),
  );
  if (!severities.has(alert.severity)) return false;
  if (ui.ruleFilter.value && ui.ruleFilter.value !== alert.rule) return false;
  if (ui.hideAcked.checked && state.acks.has(alert.id)) return false;
  return true;
}

function applyFilters() {
  let shown = 0;
  for (const [id, li] of state.cards) {
    li.hidden = !passesFilters(state.alerts.get(id));
    if (!li.hidden) shown += 1;
  }
  ui.alertsEmpty.hidden = shown > 0;
  ui.alertsCount.textContent = shown === state.cards.size ? `${shown}` : `${shown} of ${state.cards.size}`;
}

function addRuleOption(rule) {
  if (state.rules.has(rule)) return;
  state.rules.add(rule);
  const options = [...state.rules].sort();
  const chosen = ui.ruleFilter.value;
  ui.ruleFilter.replaceChildren(
    h("option", { value: "" }, "All rules"),
    ...options.map((r) => h("option", { value: r }, r.replaceAll("_", " "))),
  );
  ui.ruleFilter.value = chosen;
}

function addAlert(alert, { live = false } = {}) {
  if (state.alerts.has(alert.id)) return;
  state.alerts.set(alert.id, alert);
  if (alert.feedback) state.feedback.set(alert.id, alert.feedback);
  addRuleOption(alert.rule);
  const li = renderCard(alert, { fresh: live });
  state.cards.set(alert.id, li);
  // Newest first: find the first card older than this one (live alerts almost always go on top).
  let before = null;
  for (const el of ui.alerts.children) {
    if (compareIds(el.dataset.id, alert.id) < 0) {
      before = el;
      break;
    }
  }
  ui.alerts.insertBefore(li, before);
  const key = groupKey(alert);
  if (key) {
    const ids = [...(state.groups.get(key) ?? []), alert.id].sort(compareIds);
    state.groups.set(key, ids);
    updateGroup(key);
    for (const id of ids) state.cards.get(id).hidden = !passesFilters(state.alerts.get(id));
  }
  li.hidden = !passesFilters(alert);
  while (state.cards.size > MAX_ALERTS) {
    const oldest = ui.alerts.lastElementChild;
    state.cards.delete(oldest.dataset.id);
    state.alerts.delete(oldest.dataset.id);
    oldest.remove();
  }
  if (live && alert.severity === "critical") {
    const meta = directory.known(alert.conversation_id);
    ui.announcer.textContent = `Critical alert: ${alert.rule.replaceAll("_", " ")} in the chat with ${customerName(meta)}`;
  }
}

function updateStats() {
  let open = 0;
  let critical = 0;
  for (const alert of state.alerts.values()) {
    if (state.acks.has(alert.id)) continue;
    open += 1;
    if (alert.severity === "critical") critical += 1;
  }
  ui.statOpen.textContent = String(open);
  ui.statCritical.textContent = String(critical);
  ui.statCriticalBox.dataset.hot = String(critical > 0);
  document.title = `${critical ? `(${critical}) ` : ""}Calmwatch · Supervisor console`;
}

function applyAck(ack) {
  state.acks.set(ack.alert_id, ack);
  const li = state.cards.get(ack.alert_id);
  if (li) {
    li.dataset.acked = "true";
    const slot = li.querySelector(".ack-slot");
    const hadFocus = slot.contains(document.activeElement);
    slot.replaceChildren(ackFooter(state.alerts.get(ack.alert_id)));
    if (hadFocus) li.querySelector(".btn-quiet")?.focus({ preventScroll: true });
    li.hidden = !passesFilters(state.alerts.get(ack.alert_id));
  }
}

async function acknowledge(alertId, button) {
  button.disabled = true;
  try {
    const ack = await api(`/v1/alerts/${encodeURIComponent(alertId)}/ack`, {
      method: "POST",
      body: { by: supervisorName() },
    });
    applyAck(ack);
    afterChange();
  } catch (error) {
    button.disabled = false;
    if (error instanceof AuthRequired) await signIn();
  }
}

async function loadAcks(ids) {
  for (let i = 0; i < ids.length; i += 400) {
    const chunk = ids.slice(i, i + 400);
    if (!chunk.length) continue;
    const acks = await api(`/v1/alerts/acks?ids=${chunk.map(encodeURIComponent).join(",")}`);
    for (const ack of acks) applyAck(ack);
  }
}

function afterChange() {
  applyFilters();
  updateStats();
  renderBoard();
  if (state.open) refreshTranscriptSoon();
}

// ---------------------------------------------------------------- transcript

function scoreChip(name, value, { min = 0, hot = 0.6 } = {}) {
  const width = Math.round(((value - min) / (1 - min)) * 100);
  return h(
    "span",
    { class: `score score-${name}`, dataset: { hot: String(name !== "sentiment" && value >= hot) } },
    `${name} ${value.toFixed(2)}`,
    h("span", { class: "score-bar", "aria-hidden": "true" }, h("span", { style: `width:${width}%` })),
  );
}

function renderTranscript(detail) {
  const { meta } = detail;
  ui.drawerTitle.textContent = customerName(meta);
  ui.drawerSub.textContent =
    `with ${agentName(meta)}${meta.channel ? ` · ${meta.channel}` : ""} · started ` +
    new Date(meta.started_at).toLocaleTimeString() +
    (meta.ended_at ? " · ended" : "");
  const risk = detail.risk ?? 0;
  const customerScores = detail.turns.filter((t) => t.role === "customer" && isScored(t.scores)).map((t) => t.scores);
  ui.drawerSummary.dataset.level = riskLevel(risk);
  ui.drawerSummary.replaceChildren(
    h(
      "span",
      { class: "risk", role: "img", "aria-label": `Risk ${Math.round(risk * 100)} of 100` },
      h("span", { class: "risk-value" }, String(Math.round(risk * 100))),
      h("span", { class: "risk-label" }, "risk"),
    ),
    h(
      "div",
      { class: "drawer-chart" },
      sparkline(customerScores, { width: 400, height: 56 }),
      h(
        "p",
        { class: "legend" },
        h("span", { class: "legend-key legend-anger" }, "anger"),
        h("span", { class: "legend-key legend-frustration" }, "frustration"),
        h("span", {}, `customer turns: ${customerScores.length}`),
      ),
    ),
  );
  const byMessage = new Map();
  for (const alert of detail.alerts) {
    if (!byMessage.has(alert.message_id)) byMessage.set(alert.message_id, []);
    byMessage.get(alert.message_id).push(alert);
  }
  const list = ui.drawerTurns;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(
    ...detail.turns.map((turn) => {
      const speaker = turn.role === "customer" ? customerName(meta) : agentName(meta);
      const alerts = byMessage.get(turn.message_id) ?? [];
      const scored = isScored(turn.scores);
      const hot = turn.role === "customer" && scored && Math.max(turn.scores.anger, turn.scores.frustration) >= 0.6;
      return h(
        "li",
        { class: `turn turn-${turn.role}`, dataset: { hot: String(hot), messageId: turn.message_id } },
        h(
          "div",
          { class: "turn-meta" },
          h("strong", {}, speaker),
          h("span", {}, turn.role),
          timeEl(turn.sent_at),
        ),
        h("div", { class: "turn-bubble" }, turn.text),
        scored
          ? h(
              "div",
              { class: "scores", "aria-label": "Scores" },
              scoreChip("anger", turn.scores.anger),
              scoreChip("frustration", turn.scores.frustration),
              scoreChip("sentiment", turn.scores.sentiment, { min: -1 }),
            )
          : h(
              "div",
              { class: "scores", "aria-label": "Scores" },
              h("span", { class: "score score-unscored" }, notScoredLabel(turn.scores)),
            ),
        alerts.length
          ? h(
              "ul",
              { class: "turn-alerts", "aria-label": "Alerts raised at this turn" },
              alerts.map((alert) =>
                h(
                  "li",
                  { class: "turn-alert", dataset: { severity: alert.severity, id: alert.id } },
                  h("span", { class: `sev sev-${alert.severity}` }, alert.severity),
                  " ",
                  h("strong", {}, alert.rule.replaceAll("_", " ")),
                  state.acks.has(alert.id) ? h("span", { class: "acked" }, " · acknowledged") : null,
                  h("p", {}, alert.nudge),
                ),
              ),
            )
          : null,
      );
    }),
  );
  if (atBottom) list.scrollTop = list.scrollHeight;
}

async function refreshTranscript() {
  const cid = state.open;
  if (!cid) return;
  try {
    const detail = await api(`/v1/conversations/${encodeURIComponent(cid)}`);
    directory.remember(detail.meta);
    if (state.open === cid) renderTranscript(detail);
  } catch (error) {
    if (state.open === cid) ui.drawerSub.textContent = "This conversation is no longer available.";
  }
}

let transcriptTimer = 0;
function refreshTranscriptSoon() {
  clearTimeout(transcriptTimer);
  transcriptTimer = setTimeout(refreshTranscript, 200);
}

/** Open a conversation's transcript; from an alert, `messageId` is the turn that raised it (scrolled to). */
function openTranscript(cid, opener, messageId = null) {
  state.open = cid;
  state.opener = opener ?? null;
  ui.drawerTitle.textContent = customerName(directory.known(cid));
  ui.drawerSub.textContent = "Loading…";
  ui.drawerSummary.replaceChildren();
  ui.drawerTurns.replaceChildren();
  if (!ui.drawer.open) ui.drawer.showModal();
  renderBoard();
  refreshTranscript().then(() => {
    const turn = messageId && ui.drawerTurns.querySelector(`li.turn[data-message-id="${CSS.escape(messageId)}"]`);
    if (turn) {
      turn.classList.add("is-target");
      turn.scrollIntoView({ block: "center" });
    } else {
      ui.drawerTurns.scrollTop = ui.drawerTurns.scrollHeight;
    }
  });
}

ui.drawer.addEventListener("close", () => {
  state.open = null;
  renderBoard();
  state.opener?.focus?.();
});
$("transcript-close").addEventListener("click", () => ui.drawer.close());
ui.drawer.addEventListener("click", (event) => {
  if (event.target === ui.drawer) ui.drawer.close(); // a click on the backdrop
});

// ---------------------------------------------------------------- live wiring

function onEnvelope(envelope) {
  if (envelope.type === "alert") {
    addAlert(envelope.alert, { live: true });
    if (!state.rows.has(envelope.alert.conversation_id)) reloadBoardSoon();
    afterChange();
  } else if (envelope.type === "alert.acknowledged") {
    applyAck(envelope.ack);
    afterChange();
  } else if (envelope.type === "alert.feedback") {
    applyFeedback(envelope.feedback);
  } else if (envelope.type === "turn") {
    onTurn(envelope);
  } else if (envelope.type === "conversation.ended") {
    onEnded(envelope);
  }
}

async function resync() {
  // Alerts were replayed from the cursor; turns, acknowledgements and feedback are not, so read them back.
  const [, , recent] = await Promise.all([
    loadBoard(),
    loadAcks([...state.alerts.keys()]),
    api("/v1/alerts?limit=200"),
  ]);
  for (const alert of recent) if (alert.feedback) applyFeedback(alert.feedback);
  afterChange();
}

const CONSOLE_ROLES = new Set(["supervisor", "admin"]);

/** Why a signed-in key cannot run the console (an agent's or a connector's key), or "" when it can. */
function roleProblem(who) {
  if (!who || CONSOLE_ROLES.has(who.role)) return "";
  const whose = who.agent_id ? ` of agent ${who.agent_id}` : "";
  return `That is ${who.role === "ingest" ? "an" : "a"} ${who.role} key${whose}; the console needs a supervisor or admin key.`;
}

async function signIn(message) {
  await askForKey(message, roleProblem);
  await boot();
}

let booted = false;
async function boot() {
  showConnection("connecting", { pill: ui.pill, banner: ui.banner });
  if (!booted && !feed) {
    try {
      await signInWith();
    } catch {
      // Only a key that was offered can have been refused: a first visit just asks for one.
      return signIn(hasCredential() ? "That key was not accepted." : "");
    }
    const problem = roleProblem(whoAmI());
    if (problem) return signIn(problem);
  }
  let alerts;
  try {
    [alerts] = await Promise.all([api("/v1/alerts?limit=200"), loadBoard()]);
    for (const alert of alerts) addAlert(alert);
    await loadAcks(alerts.map((a) => a.id));
  } catch (error) {
    if (error instanceof AuthRequired) {
      return signIn(roleProblem(whoAmI()) || (hasCredential() ? "That key was not accepted." : ""));
    }
    ui.banner.hidden = false;
    ui.banner.textContent = "Calmwatch did not answer. Retrying…";
    setTimeout(boot, 3000);
    return;
  }
  booted = true;
  afterChange();
  const cursor = alerts.length ? alerts[alerts.length - 1].id : null;
  if (feed) {
    feed.cursor = feed.cursor && cursor && compareIds(feed.cursor, cursor) > 0 ? feed.cursor : cursor;
    feed.restart();
    return;
  }
  feed = new LiveFeed({
    path: "/v1/alerts",
    params: { include: "turns" },
    cursor,
    onEnvelope,
    onStatus: (s) => showConnection(s, { pill: ui.pill, banner: ui.banner }),
    onResume: () => resync().catch(() => {}),
    onAuthFailed: () => signIn("Your sign-in has expired or the key was revoked; enter a key to continue."),
  });
  feed.start();
}

ui.filters.addEventListener("change", applyFilters);
ui.filters.addEventListener("submit", (event) => event.preventDefault());
setInterval(() => refreshTimes(), 15000);
// Ended conversations leave the board; no live event says so, so the board is re-read now and then.
setInterval(() => {
  if (ui.pill.dataset.state === "live") loadBoard().catch(() => {});
}, 30000);
boot();
