// Shared by the supervisor console and the agent sidebar: the API key, REST calls, the reconnecting live feed,
// conversation look-ups, and small DOM and time helpers. Plain ES modules: no build step, no dependencies.

const TOKEN_KEY = "calmwatch.token";

/**
 * Web storage that never throws: inside an iframe on another site the browser may deny storage altogether,
 * and the sidebar must still work there (it then forgets dismissals and the key on reload).
 */
export function storage(kind) {
  try {
    const store = window[kind];
    store.getItem(TOKEN_KEY);
    return store;
  } catch {
    const memory = new Map();
    return {
      getItem: (key) => (memory.has(key) ? memory.get(key) : null),
      setItem: (key, value) => memory.set(key, String(value)),
      removeItem: (key) => memory.delete(key),
    };
  }
}

const session = storage("sessionStorage");

/** Read `?token=` from the page URL once (then drop it from the address bar) and keep it for this tab. */
function initialToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    session.setItem(TOKEN_KEY, fromUrl);
    params.delete("token");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
  }
  return session.getItem(TOKEN_KEY) || "";
}

let token = initialToken();
let renewTimer = 0;
/** Who the service says our credential is (`{role, agent_id}`), once a key or token has been traded; null in open mode. */
let signedInAs = null;

/** The role and agent id of the credential in use, or null (open mode, or not signed in yet). */
export function whoAmI() {
  return signedInAs;
}

/** Whether the page has a key or token to offer: only then can "that key was not accepted" be true. */
export function hasCredential() {
  return Boolean(token);
}

function keep(value) {
  token = value.trim();
  if (token) session.setItem(TOKEN_KEY, token);
  else session.removeItem(TOKEN_KEY);
}

/**
 * Trade what the user gave us (an API key, or a token) for a short-lived token, so the tab never keeps a
 * long-lived key, and renew it before it expires. A service without `/v1/auth/token` takes the key as it is.
 */
async function exchange(credential) {
  const response = await fetch("/v1/auth/token", {
    method: "POST",
    headers: { Accept: "application/json", Authorization: `Bearer ${credential}` },
  });
  if (response.status === 401 || response.status === 403) throw new AuthRequired("POST /v1/auth/token");
  if (!response.ok) {
    keep(credential);
    return;
  }
  const reply = await response.json();
  keep(reply.token);
  signedInAs = { role: reply.role, agent_id: reply.agent_id ?? null };
  clearTimeout(renewTimer);
  const lifetime = Date.parse(reply.expires_at) - Date.now();
  if (lifetime > 0) {
    renewTimer = setTimeout(() => exchange(token).catch(() => {}), Math.max(5000, lifetime * 0.8));
  }
}

/**
 * Call once before the first request: turns a key from the URL or the form into a renewing token. Throws
 * `AuthRequired` when the service refuses it, or wants a key and we have none.
 */
export async function signInWith(credential = token) {
  if (!credential) {
    // Nothing to trade: just ask whether the service wants a key at all (an open one answers without).
    const response = await fetch("/v1/auth/token", { method: "POST" }).catch(() => null);
    if (response && (response.status === 401 || response.status === 403)) throw new AuthRequired("no key");
    return;
  }
  try {
    await exchange(credential);
  } catch (error) {
    if (error instanceof AuthRequired) throw error;
    keep(credential); // the service did not answer; the first real request will tell
  }
}

/** The service wants an API key (HTTP 401/403): the page shows the key form. */
export class AuthRequired extends Error {}

/** JSON over REST, with the API key (if any) as a bearer token. */
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 || response.status === 403) throw new AuthRequired(`${method} ${path}`);
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}`);
  return response.json();
}

/** A websocket URL on this page's host; browsers cannot set headers on websockets, so the key goes in `token=`. */
export function wsUrl(path, params = {}) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  if (token) url.searchParams.set("token", token);
  return url.toString();
}

/** Alert ids are Redis Stream ids ("1700000000000-3"); they do not sort as strings. */
export function compareIds(a, b) {
  const [am, as = "0"] = a.split("-").map(Number);
  const [bm, bs = "0"] = b.split("-").map(Number);
  return am - bm || as - bs;
}

/**
 * A websocket that reconnects by itself and resumes from the last alert id it saw (`since=`), so a dropped
 * connection never loses an alert. `onStatus(state)` gets "connecting", "live" or "disconnected";
 * `onResume()` runs after each reconnect, for the state that is not replayed (turns, acknowledgements);
 * `onAuthFailed()` when the service no longer accepts our token (reconnecting waits for `restart()`).
 */
export class LiveFeed {
  constructor({ path, params = {}, cursor = null, onEnvelope, onStatus, onResume, onAuthFailed }) {
    Object.assign(this, { path, params, cursor, onEnvelope, onStatus, onResume, onAuthFailed });
    this.attempt = 0;
    this.everOpened = false;
    this.waitingForKey = false;
    this.socket = null;
    this.timer = null;
  }

  start() {
    this.onStatus?.("connecting");
    this.connect();
  }

  connect() {
    const socket = new WebSocket(wsUrl(this.path, { ...this.params, since: this.cursor ?? "0" }));
    this.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.attempt = 0;
      this.onStatus?.("live");
      if (this.everOpened) this.onResume?.();
      this.everOpened = true;
    });
    socket.addEventListener("message", (event) => {
      let envelope;
      try {
        envelope = JSON.parse(event.data);
      } catch {
        return;
      }
      if (envelope.type === "alert") {
        const id = envelope.alert.id;
        if (this.cursor === null || this.cursor === "0" || compareIds(id, this.cursor) > 0) this.cursor = id;
      }
      this.onEnvelope(envelope);
    });
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onStatus?.("disconnected");
      if (!opened) {
        // Refused before it opened: the service may be down, or our token expired (a laptop that slept
        // through the renewal) or was revoked. Renewing the token tells which; only the latter needs the user.
        signInWith().catch((error) => {
          if (!(error instanceof AuthRequired)) return;
          this.waitingForKey = true;
          clearTimeout(this.timer);
          this.onAuthFailed?.();
        });
      }
      const delay = Math.min(5000, 400 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
      this.attempt += 1;
      this.timer = setTimeout(() => {
        if (!this.waitingForKey) this.connect();
      }, delay);
    });
  }

  /** Reconnect now (after the user entered an API key, say). */
  restart() {
    this.waitingForKey = false;
    clearTimeout(this.timer);
    const old = this.socket;
    this.socket = null;
    old?.close();
    this.attempt = 0;
    this.connect();
  }
}

/** Conversation metadata by id, fetched once per conversation (alerts carry no customer name). */
export class ConversationDirectory {
  constructor() {
    this.metas = new Map();
    this.pending = new Map();
  }

  remember(meta) {
    this.metas.set(meta.conversation_id, meta);
  }

  known(conversationId) {
    return this.metas.get(conversationId) ?? null;
  }

  async lookup(conversationId) {
    if (this.metas.has(conversationId)) return this.metas.get(conversationId);
    if (!this.pending.has(conversationId)) {
      const request = api(`/v1/conversations/${encodeURIComponent(conversationId)}`)
        .then((detail) => {
          this.remember(detail.meta);
          return detail.meta;
        })
        .catch(() => null)
        .finally(() => this.pending.delete(conversationId));
      this.pending.set(conversationId, request);
    }
    return this.pending.get(conversationId);
  }
}

/** `h("p", {class: "x"}, "text", child)`: DOM without innerHTML, so chat text can never inject markup. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function customerName(meta) {
  return meta?.customer?.name || meta?.customer?.id || "Unknown customer";
}

export function agentName(meta) {
  return meta?.agent?.name || meta?.agent?.id || "";
}

export function firstName(name) {
  return name.split(/\s+/)[0] || name;
}

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function relativeTime(iso, now = Date.now()) {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 10) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return dateFormat.format(new Date(iso));
}

/** A `<time>` that shows "3 min ago" and keeps itself current through `refreshTimes`. */
export function timeEl(iso, { clock = false } = {}) {
  const el = h("time", { datetime: iso, title: dateFormat.format(new Date(iso)), dataset: { relative: "1" } });
  el.dataset.clock = clock ? "1" : "";
  el.textContent = label(el);
  return el;
}

function label(el) {
  const iso = el.getAttribute("datetime");
  const relative = relativeTime(iso);
  return el.dataset.clock ? `${clockFormat.format(new Date(iso))} · ${relative}` : relative;
}

export function refreshTimes(root = document) {
  for (const el of root.querySelectorAll("time[data-relative]")) el.textContent = label(el);
}

/** Connection pill and banner: a supervisor must know when the page is not live. */
export function showConnection(state, { pill, banner }) {
  pill.dataset.state = state;
  const text = pill.querySelector(".conn-text");
  text.textContent = { live: "Live", connecting: "Connecting…", disconnected: "Disconnected" }[state];
  if (!banner) return;
  if (state === "disconnected") {
    banner.hidden = false;
    banner.textContent =
      "Connection to Calmwatch lost. Reconnecting… alerts raised meanwhile will appear once it is back.";
  } else if (state === "live") {
    banner.hidden = true;
  }
}

/** "not scored (German)": a turn the model did not read, named by its language when that is why. */
const languageNames = new Intl.DisplayNames(["en"], { type: "language" });
export function notScoredLabel(scores) {
  if (!scores?.language) return "not scored";
  let name = scores.language;
  try {
    name = languageNames.of(scores.language) ?? scores.language;
  } catch {
    // not a code Intl knows: show it as it is
  }
  return `not scored (${name})`;
}

/** A turn's scores as sparklines and "hot" checks read them: only the turns the model read. */
export function isScored(scores) {
  return Boolean(scores) && scores.scored !== false && scores.anger !== null && scores.anger !== undefined;
}

/**
 * The API-key form, shown when the service refuses us; resolves once a key has been entered that the service
 * accepts and that `check(whoAmI())` does not refuse (it returns the reason to show, or "" to accept).
 */
export function askForKey(message = "", check = () => "") {
  return new Promise((resolve) => {
    let dialog = document.getElementById("login");
    dialog?.remove();
    const input = h("input", { id: "login-key", type: "password", autocomplete: "off", required: true });
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", {}, "Sign in to Calmwatch"),
      h("p", {}, "This Calmwatch needs an API key. Ask your administrator for one."),
      message ? h("p", { class: "error", role: "alert" }, message) : null,
      h("label", { for: "login-key" }, "API key"),
      input,
      h("button", { class: "btn btn-primary", type: "submit" }, "Continue"),
    );
    dialog = h("dialog", { id: "login", class: "login", "aria-label": "Sign in" }, form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let problem = "";
      try {
        await signInWith(input.value.trim());
        problem = check(whoAmI());
      } catch {
        problem = "That key was not accepted.";
      }
      if (problem) {
        input.setCustomValidity(problem);
        input.reportValidity();
        form.querySelector(".error")?.remove();
        input.after(h("p", { class: "error", role: "alert" }, problem));
        input.addEventListener("input", () => input.setCustomValidity(""), { once: true });
        return;
      }
      dialog.close();
      dialog.remove();
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
