/**
 * base.js — what every <deck-*> element shares: one connection per page, the user's role,
 * the connection state, and small DOM helpers. No element ever parses a value as HTML.
 *
 *     import { DeckElement } from "./base.js";
 *     class DeckThing extends DeckElement {
 *       static need = "operator";       // least role; below it the element is disabled
 *       start() { ... }                  // the connection is made and the role known
 *     }
 *
 * The connection goes to the server the module came from (/<base>/ws), so a page anywhere
 * under the server, or a static file of a [pages] folder, works without configuration.
 */

import { connect } from "../deck.js";

const ROLES = ["viewer", "operator", "admin"];
const here = new URL(import.meta.url);
/** The server's base URL ("http://host:port/<base>/"), from this module's own address. */
export const serverBase = new URL("../../", here);

let shared = null;

const NOBODY = { user: null, role: "", via: "anonymous", mode: "login" };

/**
 * The page's one connection and its user: Promise<{ deck, me: {user, role, via, mode} }>.
 * Nobody logged in (a public page in login mode): no connection is tried, deck is null.
 */
export function page() {
  if (shared === null) {
    shared = fetch(new URL("api/session", serverBase), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : NOBODY))
      .catch(() => NOBODY)
      .then((me) => {
        if (!me.role) return { deck: null, me };
        const ws = new URL("ws", serverBase);
        ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:";
        return { deck: connect(ws.href), me };
      });
  }
  return shared;
}

/** Whether a client of role `have` may do what needs `need`. */
export function hasRole(have, need) {
  return ROLES.indexOf(have) >= 0 && ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** An element with a class and text (never HTML). */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** `data` followed along a dotted `field` ("a.b.0"); the last item of an array when `last`. */
export function pick(data, field, last = true) {
  let value = data;
  for (const key of field ? field.split(".") : []) {
    if (value === null || value === undefined) return undefined;
    value = value[key];
  }
  if (last && Array.isArray(value)) value = value.length ? value[value.length - 1] : undefined;
  return value;
}

/** A value as text: numbers with `digits` decimals when given, objects as JSON. */
export function format(value, digits) {
  if (value === undefined) return "–";
  if (value === null) return "null";
  if (typeof value === "number" && digits !== null && digits !== undefined && digits !== "") {
    return value.toFixed(Math.max(0, Math.min(20, Number(digits) || 0)));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** An exposed attribute's path ("stimulus.contrast") as [object path, channel of its changes]. */
export function attrChannel(attr) {
  const path = attr.split(".").filter(Boolean);
  return [path, `obj/${path.join("/")}`];
}

/** A JSON attribute, or `fallback` when it is absent; a broken one throws with its name. */
export function jsonAttr(node, name, fallback) {
  const text = node.getAttribute(name);
  if (text === null || text.trim() === "") return fallback;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${node.localName}: attribute ${name} is not JSON`);
  }
}

/**
 * Base of every <deck-*> element. It reflects the connection state as the `conn`
 * attribute (connecting | open | reconnecting | closed) and the tooltip, and, when the
 * user's role is below `static need`, sets `disabled` and `why` (the reason, also shown
 * in the element's `.deck-why` note once it calls explain()). Subclasses implement start(),
 * called once connected and the role known, and may use this.deck, this.me,
 * this.onStop(fn), this.allowed, this.live.
 */
export class DeckElement extends HTMLElement {
  static need = "viewer";

  connectedCallback() {
    if (this._started) return;
    this._started = true;
    this._stops = [];
    this.classList.add("deck-el");
    this.setAttribute("conn", "connecting");
    page().then(({ deck, me: who }) => {
      if (!this._started) return;
      this.deck = deck;
      this.me = who;
      const need = this.constructor.need;
      this.allowed = hasRole(who.role, need);
      if (!this.allowed) {
        const why = who.role ? `needs the ${need} role (you are ${who.role})` : `needs the ${need} role: log in`;
        this.setAttribute("disabled", "");
        this.setAttribute("why", why);
        this.title = why;
      }
      if (deck === null) {
        this.showState("closed");
        this.explain();
        return;
      }
      this.onStop(deck.on("state", (state) => this.showState(state)));
      try {
        this.start();
      } catch (err) {
        this.fail(err);
      }
      this.showState(deck.state);
    });
  }

  disconnectedCallback() {
    for (const stop of this._stops ?? []) stop();
    this._stops = [];
    this._started = false;
  }

  /** Call `fn` when the element leaves the page. */
  onStop(fn) {
    this._stops.push(fn);
  }

  get live() {
    return this.deck?.state === "open";
  }

  start() {}

  /** Reflect the connection state; subclasses extend stateChanged() to enable controls. */
  showState(state) {
    this.setAttribute("conn", state);
    if (this.allowed !== false) this.title = state === "open" ? "" : `not connected (${state}): the value may be stale`;
    this.stateChanged(state);
  }

  stateChanged() {}

  /** A note under the element: the reason it is disabled, or an error. */
  note(text, cls = "deck-why") {
    let node = this.querySelector(`:scope > .${cls}`);
    if (!node) {
      node = el("small", cls);
      node.dataset.testid = `${this.localName}-${cls === "deck-why" ? "why" : "error"}`;
      this.append(node);
    }
    node.textContent = text;
    node.hidden = !text;
  }

  fail(err) {
    this.setAttribute("error", "");
    this.note(err.message ?? String(err), "deck-error");
  }

  /** Show why the element is disabled, if it is. */
  explain() {
    if (this.allowed === false) this.note(this.getAttribute("why"));
  }
}
