/**
 * The dashboard shell: one connection, the panels the server announces, hash routing and
 * the connection pill.
 *
 * GET api/panels names the panels this client may see ({id, title, module, css, order}),
 * lowest order first; each module is imported on its own and mounted once (so its
 * subscriptions collect data while another panel is shown). A panel that fails to load
 * or to mount shows its error in its place; the others keep working. After a reconnect
 * the list is asked for again: a restarted server may offer other panels.
 *
 * Routes: `#id` shows a panel, `#id/sub/path` shows it and hands it "sub/path". The
 * panel contract (mount, shown, hidden, cleanup) is in docs/reference/panels.md.
 */

import { connect } from "./deck.js";
import * as kit from "./kit.js";
import { prefs } from "./prefs.js";

const STATE_TEXT = {
  connecting: "connecting…",
  open: "live",
  reconnecting: "reconnecting…",
  closed: "offline",
};

const deck = connect();
const mounted = new Map(); // id -> Mounted, in navigation order
let current = null; // { id, sub } last routed to
let listing = 0; // the latest api/panels request: an older answer is dropped
let unlisted = false; // the last api/panels request failed: ask again once connected
let relist = 0; // the timer that asks again while the connection stays open
const RELIST_MS = 3000;
const panelListeners = new Set(); // fn(infos) for every new list of panels (the Overview's cards)

// Exposed for the browser console: labdeck.deck.obj.sample.a and so on.
globalThis.labdeck = { deck, kit, prefs, toast: kit.toast, panels: mounted };

bindConnectionPill();
showRunNotices();
window.addEventListener("hashchange", route);
// A page kept in the back-forward cache (persisted) may come back: only a real unload cleans up.
window.addEventListener("pagehide", (ev) => {
  prefs.flush();
  if (!ev.persisted) for (const panel of mounted.values()) panel.cleanup();
});
loadPanels();
showServerInfo();
showIdentity();
deck.on("state", (state) => { if (state === "reconnecting") showIdentity(); });

// A script's lines for the operator (run/notice: rt-cloud's userLog, sendRunStatus,
// setUserError) as toasts; session and debug lines stay in the log only.
function showRunNotices() {
  const kinds = { user: "info", status: "info", error: "err" };
  deck.subscribe("run/notice", (data) => {
    if (data && typeof data.text === "string" && kinds[data.kind]) kit.toast(data.text, kinds[data.kind]);
  });
}

function bindConnectionPill() {
  const pill = document.getElementById("conn");
  let opened = false;
  let lost = false;
  const show = (state) => {
    pill.dataset.state = state;
    pill.textContent = STATE_TEXT[state] ?? state;
    pill.title = state === "open" ? "connected to the server" : "not connected: updates resume on reconnect";
    if (state === "open") {
      if (lost) kit.toast("connection restored", "ok");
      // A restarted server may offer other panels; a page opened while the server was
      // away has none yet.
      if (lost || unlisted) loadPanels();
      opened = true;
      lost = false;
    } else if (state === "reconnecting" && opened) {
      lost = true;
    }
  };
  deck.on("state", show);
  show(deck.state);
  deck.on("error", (err) => kit.toast(`${err.type}: ${err.message}`, "err"));
}

// -- the list of panels -------------------------------------------------------------

async function loadPanels() {
  const ticket = ++listing;
  let announced;
  try {
    announced = (await kit.getJson("api/panels")).panels ?? [];
  } catch (err) {
    if (ticket !== listing) return;
    // Asked again when the connection opens, or soon if it is open already (the
    // websocket may be fine while one HTTP request failed).
    unlisted = true;
    clearTimeout(relist);
    if (deck.state === "open") relist = setTimeout(loadPanels, RELIST_MS);
    if (!mounted.size) showNoPanels(`The panels could not be listed: ${err.message}`);
    return;
  }
  if (ticket !== listing) return;
  unlisted = false;
  apply(announced);
}

/** Make the mounted panels those of `announced`: remove the gone, add the new, reorder. */
function apply(announced) {
  const wanted = unique(announced);
  for (const [id, panel] of mounted) {
    const info = wanted.get(id);
    // A panel that failed gets another chance: the server may have been fixed meanwhile.
    if (!info || info.module !== panel.info.module || panel.section.dataset.state === "failed") {
      panel.remove();
      mounted.delete(id);
    }
  }
  const order = new Map();
  for (const [id, info] of wanted) order.set(id, mounted.get(id) ?? new Mounted(info));
  mounted.clear();
  const nav = document.getElementById("nav");
  const main = document.getElementById("main");
  for (const [id, panel] of order) {
    mounted.set(id, panel);
    nav.append(panel.link); // appending moves a node: this also reorders
    main.append(panel.section);
  }
  showNoPanels(mounted.size ? null : "No panels are installed.");
  current = null;
  route();
  const infos = [...mounted.values()].map((panel) => panel.info);
  for (const fn of [...panelListeners]) fn(infos);
}

function unique(announced) {
  const wanted = new Map();
  const sorted = [...announced].sort((a, b) => (a.order ?? 1000) - (b.order ?? 1000));
  for (const info of sorted) {
    if (!info?.id || !info.module || wanted.has(info.id)) {
      console.error("labdeck: skipping a panel without an id or a module, or with an id used twice", info);
      continue;
    }
    wanted.set(info.id, info);
  }
  return wanted;
}

function showNoPanels(text) {
  const main = document.getElementById("main");
  main.querySelector(".no-panels")?.remove();
  if (!text) return;
  const note = kit.el("p", "empty no-panels", text);
  note.dataset.testid = "no-panels";
  main.append(note);
}

// -- one panel ----------------------------------------------------------------------

/**
 * A panel in the page: its link, its section, and (once its module is in) its hooks.
 * The module loads and mounts on its own: a failure stays in its section.
 */
class Mounted {
  constructor(info) {
    this.info = info;
    this.title = info.title ?? info.id;
    this.hooks = null; // { shown, hidden, cleanup } once mounted
    this.visible = false;
    this.sub = "";
    this.gone = false;
    this.link = kit.el("a", "", this.title);
    this.link.href = `#${info.id}`;
    this.link.dataset.testid = `nav-${info.id}`;
    this.section = kit.el("section", "panel");
    this.section.id = `panel-${info.id}`;
    this.section.dataset.testid = `panel-${info.id}`;
    this.section.dataset.state = "loading";
    this.section.hidden = true;
    this.section.append(kit.el("p", "empty", `Loading ${this.title}…`));
    if (info.css) kit.loadCss(info.css);
    this.ready = this.start();
  }

  async start() {
    let module;
    try {
      module = await import(kit.apiUrl(this.info.module).href);
    } catch (err) {
      this.fail("could not be loaded", err);
      return;
    }
    if (this.gone) return;
    const panel = module.default;
    try {
      if (typeof panel?.mount !== "function") throw new Error("its module exports no mount(section, ctx)");
      this.section.replaceChildren();
      const result = await panel.mount(this.section, this.context());
      this.hooks = hooksOf(panel, result);
    } catch (err) {
      this.fail("could not start", err);
      return;
    }
    this.section.dataset.state = "ready";
    if (this.gone) this.remove();
    else if (this.visible) this.call("shown", this.sub);
  }

  context() {
    const id = this.info.id;
    return {
      deck,
      kit,
      toast: kit.toast,
      base: document.baseURI,
      id,
      title: this.title,
      prefs,
      /** The panels announced ({id, title, summary, ...}); `onPanels(fn)` hears new lists → off(). */
      panels: () => [...mounted.values()].map((panel) => panel.info),
      onPanels: (fn) => {
        panelListeners.add(fn);
        return () => panelListeners.delete(fn);
      },
      /** Show this panel at `sub` ("" for its top); `replace` keeps the browser's history entry. */
      navigate: (sub = "", { replace = false } = {}) => navigate(id, sub, replace),
    };
  }

  fail(what, err) {
    console.error(`labdeck: panel ${this.info.id} ${what}`, err);
    this.section.dataset.state = "failed";
    const note = kit.el("p", "card panel-error", `The ${this.title} panel ${what}: ${err?.message ?? err}`);
    note.dataset.testid = "panel-error";
    this.section.replaceChildren(note);
    kit.toast(`${this.title}: ${err?.message ?? err}`, "err");
  }

  show(sub) {
    const changed = !this.visible || sub !== this.sub;
    this.visible = true;
    this.sub = sub;
    this.section.hidden = false;
    this.link.setAttribute("aria-current", "page");
    this.link.href = hashOf(this.info.id, sub); // the way back to where the panel was left
    // On a narrow screen the navigation is a strip that scrolls: bring the active panel in.
    this.link.scrollIntoView?.({ block: "nearest", inline: "nearest" });
    if (changed) this.call("shown", sub);
  }

  hide() {
    this.section.hidden = true;
    this.link.removeAttribute("aria-current");
    if (!this.visible) return;
    this.visible = false;
    this.call("hidden");
  }

  /** End the panel's work (its cleanup hook runs once); its nodes stay. */
  cleanup() {
    this.gone = true;
    this.call("cleanup");
    this.hooks = null;
  }

  remove() {
    if (this.visible) this.hide();
    this.cleanup();
    this.link.remove();
    this.section.remove();
  }

  call(name, ...args) {
    const hook = this.hooks?.[name];
    if (!hook) return;
    try {
      hook(...args);
    } catch (err) {
      console.error(`labdeck: panel ${this.info.id}: ${name}() failed`, err);
    }
  }
}

/** The hooks of a panel: from what mount returned, else the panel object's own. */
function hooksOf(panel, result) {
  const own = (name) => (typeof panel[name] === "function" ? panel[name].bind(panel) : null);
  const returned = typeof result === "function" ? { cleanup: result } : result ?? {};
  const pick = (name) => (typeof returned[name] === "function" ? returned[name].bind(returned) : own(name));
  return { shown: pick("shown"), hidden: pick("hidden"), cleanup: pick("cleanup") };
}

// -- routes -------------------------------------------------------------------------

/** `#id/sub/path` → { id, sub }; an unknown id is the first panel's. */
function parseHash() {
  const raw = location.hash.slice(1);
  const cut = raw.indexOf("/");
  const id = decode(cut < 0 ? raw : raw.slice(0, cut));
  const sub = cut < 0 ? "" : decode(raw.slice(cut + 1));
  if (mounted.has(id)) return { id, sub };
  return { id: mounted.keys().next().value ?? null, sub: "" };
}

function decode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a hand-typed % that is no escape
  }
}

function route() {
  const wanted = parseHash();
  if (current && current.id === wanted.id && current.sub === wanted.sub) return;
  current = wanted;
  for (const [id, panel] of mounted) if (id !== wanted.id) panel.hide();
  const panel = mounted.get(wanted.id);
  panel?.show(wanted.sub);
  document.title = panel ? `${panel.title} · labdeck` : "labdeck";
}

function hashOf(id, sub) {
  // Commas stay as they are: "#history/compare/3,5" is what a person reads and types.
  const part = (text) => encodeURIComponent(text).replaceAll("%2C", ",");
  return sub ? `#${id}/${sub.split("/").map(part).join("/")}` : `#${id}`;
}

function navigate(id, sub, replace) {
  const hash = hashOf(id, sub);
  if (location.hash === hash) return;
  // Both by the History API, then routed here: neither fires hashchange. (Setting
  // location.hash instead lets Chromium turn the new entry into a replacement of the
  // current one, so that Back skipped the run opened before.)
  if (replace) history.replaceState(history.state, "", hash);
  else history.pushState(history.state, "", hash);
  route();
}

async function showServerInfo() {
  try {
    const info = await kit.getJson("healthz");
    document.getElementById("server-info").textContent = `v${info.version}`;
  } catch {
    // purely informative: the pill already tells whether the server is there
  }
}

/**
 * Who is using the dashboard: the open-mode badge, or the user, role and a logout button.
 * A login session that ended (logout elsewhere, an admin, expiry) sends the page to the
 * login form, which brings it back here afterwards.
 */
async function showIdentity() {
  const who = document.getElementById("who");
  let reply;
  try {
    reply = await fetch(kit.apiUrl("api/session"), { cache: "no-store" });
  } catch {
    return; // the server is away: the connection pill says so
  }
  if (reply.status === 401) {
    const next = location.pathname + location.search + location.hash;
    location.assign(kit.apiUrl("login", { next }).href);
    return;
  }
  if (!reply.ok) return;
  const me = await reply.json();
  who.hidden = false;
  if (me.via === "open") {
    const badge = kit.el("span", "badge badge-open", "open");
    badge.append(kit.el("span", "badge-more", ": anyone on this machine"));
    who.replaceChildren(badge);
    who.title = 'no login ([auth] mode = "open"): everyone who can reach this loopback address is admin';
    return;
  }
  const name = kit.el("span", "who-name", me.user ?? "");
  name.dataset.testid = "who-name";
  const role = kit.el("span", `badge badge-${me.role}`, me.role);
  role.dataset.testid = "who-role";
  const parts = [name, role];
  if (me.via === "session") {
    const form = kit.el("form", "logout");
    form.method = "post";
    form.action = kit.apiUrl("logout").href;
    const button = kit.el("button", "link-button", "Log out");
    button.type = "submit";
    button.dataset.testid = "logout";
    form.append(button);
    parts.push(form);
  }
  who.replaceChildren(...parts);
  who.title = me.via === "token" ? "signed in with an API token" : `logged in as ${me.user}`;
}
