// Put the Calmwatch agent sidebar into any page with one tag:
//
//   <script src="http://calmwatch.example:8000/static/embed.js" data-agent="a1" async></script>
//
// Optional: data-token="<API key or short-lived token>", data-side="left" (default right), data-width="320",
// data-target="#some-element" to fill that element instead of docking to the edge of the window.
// It adds one iframe of /sidebar/<agent> from the Calmwatch server (and, when docked, a button to fold it away).
(() => {
  const script = document.currentScript;
  if (!script) return;
  const { agent, token, side = "right", width = "320", target } = script.dataset;
  if (!agent) {
    console.error("Calmwatch embed: add data-agent=\"<agent id>\" to the script tag");
    return;
  }
  const src = new URL(`/sidebar/${encodeURIComponent(agent)}`, script.src);
  if (token) src.searchParams.set("token", token);

  const frame = document.createElement("iframe");
  frame.src = src.toString();
  frame.title = "Calmwatch nudges";
  frame.setAttribute("loading", "eager");

  const mount = () => {
    const host = target ? document.querySelector(target) : null;
    if (host) {
      Object.assign(frame.style, { width: "100%", height: "100%", border: "0", display: "block" });
      host.append(frame);
      return;
    }
    const px = `${parseInt(width, 10) || 320}px`;
    Object.assign(frame.style, {
      position: "fixed", top: "0", [side === "left" ? "left" : "right"]: "0", width: px, height: "100vh",
      border: "0", boxShadow: "0 0 24px rgba(16,24,40,.18)", zIndex: "2147483000", background: "#f3f5f9",
    });
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.textContent = "Calmwatch";
    toggle.setAttribute("aria-expanded", "true");
    toggle.setAttribute("aria-label", "Hide Calmwatch nudges");
    Object.assign(toggle.style, {
      position: "fixed", bottom: "16px", [side === "left" ? "left" : "right"]: `calc(${px} + 8px)`,
      zIndex: "2147483001", padding: "6px 12px", borderRadius: "999px", border: "0",
      background: "#1d2a5b", color: "#fff", font: "600 13px system-ui, sans-serif", cursor: "pointer",
    });
    toggle.addEventListener("click", () => {
      const open = frame.style.display !== "none";
      frame.style.display = open ? "none" : "block";
      toggle.style[side === "left" ? "left" : "right"] = open ? "16px" : `calc(${px} + 8px)`;
      toggle.setAttribute("aria-expanded", String(!open));
      toggle.setAttribute("aria-label", open ? "Show Calmwatch nudges" : "Hide Calmwatch nudges");
    });
    document.body.append(frame, toggle);
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
