/**
 * The dashboard shell: one connection, the panels of panels/index.js, hash routing,
 * toasts and the connection pill.
 *
 * Every panel is mounted once at start-up (so its subscriptions collect data while
 * another panel is shown) and displayed when its `#id` is the location hash. A panel
 * that fails to mount shows its error in place; the others keep working.
 */

import { connect } from "./deck.js";
import panels from "./panels/index.js";

const STATE_TEXT = {
  connecting: "connecting…",
  open: "live",
  reconnecting: "reconnecting…",
  closed: "offline",
};

const deck = connect();
const ctx = { deck, base: document.baseURI, toast };
const ordered = [...panels].sort((a, b) => (a.order ?? 1000) - (b.order ?? 1000));
const sections = new Map(); // id -> { panel, section, link }

// Exposed for the browser console: labdeck.deck.obj.sample.a and so on.
globalThis.labdeck = { deck, panels: ordered, toast };

bindConnectionPill();
mountPanels();
window.addEventListener("hashchange", route);
route();
showServerInfo();

function bindConnectionPill() {
  const pill = document.getElementById("conn");
  let opened = false;
  let lost = false;
  const show = (state) => {
    pill.dataset.state = state;
    pill.textContent = STATE_TEXT[state] ?? state;
    pill.title = state === "open" ? "connected to the server" : "not connected: updates resume on reconnect";
    if (state === "open") {
      if (lost) toast("connection restored", "ok");
      opened = true;
      lost = false;
    } else if (state === "reconnecting" && opened) {
      lost = true;
    }
  };
  deck.on("state", show);
  show(deck.state);
  deck.on("error", (err) => toast(`${err.type}: ${err.message}`, "err"));
}

function mountPanels() {
  const nav = document.getElementById("nav");
  const main = document.getElementById("main");
  const seen = new Set();
  for (const panel of ordered) {
    if (!panel?.id || seen.has(panel.id)) {
      console.error("labdeck: skipping a panel without an id, or with an id used twice", panel);
      continue;
    }
    seen.add(panel.id);
    if (panel.css) loadCss(typeof panel.css === "string" ? panel.css : `static/panels/${panel.id}.css`);
    const link = document.createElement("a");
    link.href = `#${panel.id}`;
    link.textContent = panel.title ?? panel.id;
    link.dataset.testid = `nav-${panel.id}`;
    nav.append(link);
    const section = document.createElement("section");
    section.className = "panel";
    section.id = `panel-${panel.id}`;
    section.dataset.testid = `panel-${panel.id}`;
    section.hidden = true;
    main.append(section);
    sections.set(panel.id, { panel, section, link });
    try {
      const cleanup = panel.mount(section, ctx);
      if (cleanup && typeof cleanup.then === "function") {
        cleanup.catch((err) => mountFailed(panel, section, err));
      }
    } catch (err) {
      mountFailed(panel, section, err);
    }
  }
  if (!sections.size) main.append(el("p", "empty", "No panels are installed."));
}

function mountFailed(panel, section, err) {
  console.error(`labdeck: panel ${panel.id} failed`, err);
  section.replaceChildren(el("p", "empty", `The ${panel.title ?? panel.id} panel could not start: ${err?.message ?? err}`));
  toast(`${panel.title ?? panel.id}: ${err?.message ?? err}`, "err");
}

function route() {
  // "#stations/AWP167046": the panel is the first segment; the panel reads the rest itself.
  const wanted = decodeURIComponent(location.hash.slice(1)).split("/")[0];
  const id = sections.has(wanted) ? wanted : sections.keys().next().value;
  for (const [key, { section, link }] of sections) {
    const current = key === id;
    section.hidden = !current;
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const shown = sections.get(id);
  document.title = shown ? `${shown.panel.title ?? id} · labdeck` : "labdeck";
}

/** Show a short message in the corner; kind is "info", "ok", "warn" or "err". */
function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = el("div", `toast ${kind}`, String(message));
  item.dataset.testid = "toast";
  item.setAttribute("role", kind === "err" ? "alert" : "status");
  item.title = "click to dismiss";
  const dismiss = () => item.remove();
  item.addEventListener("click", dismiss);
  box.append(item);
  while (box.children.length > 5) box.firstElementChild.remove();
  setTimeout(dismiss, kind === "err" ? 10_000 : 5_000);
}

function loadCss(path) {
  const href = new URL(path, document.baseURI).href;
  if ([...document.styleSheets].some((s) => s.href === href)) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.append(link);
}

async function showServerInfo() {
  try {
    const reply = await fetch(new URL("healthz", document.baseURI), { cache: "no-store" });
    if (!reply.ok) return;
    const info = await reply.json();
    document.getElementById("server-info").textContent = `v${info.version}`;
  } catch {
    // purely informative: the pill already tells whether the server is there
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
