// Chatwoot Dashboard App: Chatwoot shows this page in a tab beside the open conversation and tells it, by
// postMessage, which conversation, contact and agent are on screen (`appContext`); the page can ask again with
// `chatwoot-dashboard-app:fetch-info`. Calmwatch keys Chatwoot conversations `chatwoot:<account>:<id>` and
// agents `chatwoot:<account>:agent:<id>` (monitor/connectors/chatwoot/inbound.py), so the context names the
// sidebar to show: the nudges of the conversation's assignee (or, unassigned, the agent looking) for that
// conversation only. Messages are taken from the parent window only.

export const FETCH_INFO = "chatwoot-dashboard-app:fetch-info";

/** The sidebar an `appContext` message asks for, or null when the message is not one (or lacks an id). */
export function readAppContext(data, fallbackAccount = null) {
  let message = data;
  if (typeof data === "string") {
    try {
      message = JSON.parse(data);
    } catch {
      return null;
    }
  }
  if (!message || message.event !== "appContext" || !message.data) return null;
  const { conversation, currentAgent } = message.data;
  if (!conversation || conversation.id == null) return null;
  const account = conversation.account_id ?? fallbackAccount;
  const agent = conversation.meta?.assignee ?? currentAgent;
  if (account == null || !agent || agent.id == null) return null;
  return {
    account: String(account),
    conversationId: `chatwoot:${account}:${conversation.id}`,
    agentId: `chatwoot:${account}:agent:${agent.id}`,
  };
}

/** The sidebar page for a target, keeping the Dashboard App URL's own `account_id` and `token` (if any). */
export function sidebarUrl(target, search = location.search) {
  const params = new URLSearchParams({ conversation: target.conversationId, embed: "chatwoot" });
  const own = new URLSearchParams(search);
  for (const key of ["account_id", "token"]) if (own.get(key)) params.set(key, own.get(key));
  return `/sidebar/${encodeURIComponent(target.agentId)}?${params}`;
}

/** Call `onTarget` with every context Chatwoot sends, and ask for the current one now. */
export function followAppContext(onTarget) {
  const fallback = new URLSearchParams(location.search).get("account_id");
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const target = readAppContext(event.data, fallback);
    if (target) onTarget(target);
  });
  if (window.parent !== window) window.parent.postMessage(FETCH_INFO, "*");
}
