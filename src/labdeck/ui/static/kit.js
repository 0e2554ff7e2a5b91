/**
 * The panel kit: the small helpers every dashboard panel needs, written once.
 *
 * Panels of labdeck import it (`import { el } from "../kit.js"`); the shell also hands it
 * to every panel as `ctx.kit`, so a capability's own panel (served under
 * static/cap/<name>/) needs no relative import into labdeck's files.
 *
 * DOM:       el(tag, className, text), fill(root, html) → $(testid), finder(root)
 * HTTP:      apiUrl(path, params), getJson(path, params), errorText(reply)
 * Feedback:  toast(message, kind), loadCss(path, { first })
 * Time:      clock(t), formatTime(epoch), formatDuration(seconds), age(t)
 * Values:    truncate(text, max), prettyJson(value, oneLine), jsonView(value, max)
 * Controls:  streamControls({ filter, pause, render, onChange }), pauseButton(button, onChange),
 *            confirmButton(button, label, action), downloadText(name, text), frameScheduler(render)
 */

// -- DOM ----------------------------------------------------------------------------

/** A new element with an optional class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** `$(testid)`: the first element below `root` with that data-testid. */
export function finder(root) {
  return (testid) => root.querySelector(`[data-testid="${testid}"]`);
}

/** Put `html` (the panel's own markup, never data) into `root`; returns its finder. */
export function fill(root, html) {
  root.innerHTML = html;
  return finder(root);
}

// -- HTTP ---------------------------------------------------------------------------

/** An address under the dashboard's base, e.g. apiUrl("api/runs/3/log", { after: 10 }). */
export function apiUrl(path, params) {
  const url = new URL(path, document.baseURI);
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  return url;
}

/** GET a JSON body; rejects with the server's error message on a status other than 2xx. */
export async function getJson(path, params) {
  const reply = await fetch(apiUrl(path, params), { cache: "no-store" });
  if (!reply.ok) throw new Error(await errorText(reply));
  return reply.json();
}

/** The message of an error reply: the server's `{"error": {"message"}}`, else the status. */
export async function errorText(reply) {
  try {
    const { error } = await reply.json();
    if (error?.message) return error.message;
  } catch {
    // not JSON: the status line says enough
  }
  return `${reply.status} ${reply.statusText}`.trim();
}

// -- feedback -----------------------------------------------------------------------

const TOASTS_KEPT = 5;

/** Show a short message in the corner; kind is "info", "ok", "warn" or "err". */
export function toast(message, kind = "info") {
  const box = toastBox();
  const item = el("div", `toast ${kind}`, String(message));
  item.dataset.testid = "toast";
  item.setAttribute("role", kind === "err" ? "alert" : "status");
  item.title = "click to dismiss";
  const dismiss = () => item.remove();
  item.addEventListener("click", dismiss);
  box.append(item);
  while (box.children.length > TOASTS_KEPT) box.firstElementChild.remove();
  setTimeout(dismiss, kind === "err" ? 10_000 : 5_000);
}

// The dashboard has its box; a page of one's own that uses the kit gets one made.
function toastBox() {
  let box = document.getElementById("toasts");
  if (!box) {
    box = el("div", "toasts");
    box.id = "toasts";
    box.dataset.testid = "toasts";
    box.setAttribute("aria-live", "polite");
    document.body.append(box);
  }
  return box;
}

/** Load a stylesheet once; `first` puts it before the others, so theirs win. */
export function loadCss(path, { first = false } = {}) {
  const href = apiUrl(path).href;
  if ([...document.querySelectorAll('link[rel="stylesheet"]')].some((link) => link.href === href)) return;
  const link = el("link");
  link.rel = "stylesheet";
  link.href = href;
  if (first) document.head.prepend(link);
  else document.head.append(link);
}

// -- time ---------------------------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, "0");

/** "14:03:27.123" in the browser's time zone. */
export function clock(t) {
  const d = new Date(t * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** An epoch time as "14:03:27" today, else "2026-11-21 14:03"; "–" for none. */
export function formatTime(epoch) {
  if (!epoch) return "–";
  const d = new Date(epoch * 1000);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === new Date().toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time.slice(0, 5)}`;
}

/** "4 s", "2 min 05 s", "1 h 03 min"; "–" for none. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
}

/** How long ago epoch time `t` was: "4 s ago", "3 min ago", "2 h ago", "5 d ago". */
export function age(t) {
  const s = Math.max(0, Date.now() / 1000 - t);
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// -- values -------------------------------------------------------------------------

const ONE_LINE_CHARS = 72;

/** `text` cut to `max` characters, an ellipsis marking the cut. */
export function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** JSON for people: on one line when it fits in `oneLine` characters, indented otherwise. */
export function prettyJson(value, oneLine = ONE_LINE_CHARS) {
  const indented = JSON.stringify(value, null, 2) ?? "null";
  const flat = indented.replace(/\n\s*/g, " ");
  return flat.length <= oneLine ? flat : indented;
}

/** A <pre> showing `value` as prettyJson, cut to `max` characters. */
export function jsonView(value, max = 600) {
  const view = el("pre", "mono json-view", truncate(prettyJson(value), max));
  view.tabIndex = 0; // it may scroll: a keyboard must be able to scroll it too
  return view;
}

// -- controls -----------------------------------------------------------------------

/**
 * Make `button` a Pause/Resume toggle: `onChange(paused)` runs on every change.
 * Returns { paused (getter), set(value) }.
 */
export function pauseButton(button, onChange) {
  let paused = false;
  const set = (value) => {
    paused = Boolean(value);
    button.textContent = paused ? "Resume" : "Pause";
    button.setAttribute("aria-pressed", String(paused));
    onChange(paused);
  };
  button.addEventListener("click", () => set(!paused));
  return { get paused() { return paused; }, set };
}

/**
 * The controls of a live stream view (log lines, messages): a filter box and a Pause
 * button, over a render batched into animation frames.
 *
 * Returns a view:
 *   view.filter         the filter text, trimmed and lower-cased ("" = none)
 *   view.paused         true while paused; view.missed: items that came meanwhile
 *   view.arrived(n)     note n new items; true when they are to be shown now (not paused)
 *   view.setFilter(t)   as if `t` had been typed
 *   view.note()         "paused", "paused · 3 new" or ""
 *   view.schedule()     ask for `render()` at the next frame; view.cancel() drops it
 * `onChange(why)` ("filter" or "resume") runs before the repaint it asks for: whatever
 * is shown must then be drawn again from what the panel keeps.
 */
export function streamControls({ filter, pause, render, onChange = () => {} }) {
  const frames = frameScheduler(render);
  const view = {
    filter: "",
    missed: 0,
    get paused() { return toggle.paused; },
    arrived(n = 1) {
      if (toggle.paused) view.missed += n;
      return !toggle.paused;
    },
    setFilter(text) {
      filter.value = text;
      changeFilter();
    },
    note() {
      if (!toggle.paused) return "";
      return view.missed ? `paused · ${view.missed.toLocaleString()} new` : "paused";
    },
    schedule: frames.schedule,
    cancel: frames.cancel,
  };
  const toggle = pauseButton(pause, (paused) => {
    if (!paused) {
      view.missed = 0;
      onChange("resume");
    }
    frames.schedule();
  });
  function changeFilter() {
    view.filter = filter.value.trim().toLowerCase();
    onChange("filter");
    frames.schedule();
  }
  filter.addEventListener("input", changeFilter);
  return view;
}

/**
 * A destructive button that asks to be pressed twice: the first press shows `label()`
 * for four seconds, a second press within them runs `action()`. Returns disarm().
 */
export function confirmButton(button, label, action) {
  const idle = button.textContent;
  let armed = 0;
  const disarm = () => {
    clearTimeout(armed);
    armed = 0;
    button.textContent = idle;
  };
  button.addEventListener("click", () => {
    if (!armed) {
      button.textContent = label();
      armed = setTimeout(disarm, 4000);
      return;
    }
    disarm();
    action();
  });
  return disarm;
}

/** Hand `text` to the browser as a download named `name`. */
export function downloadText(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const link = el("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Batch repaints into animation frames: schedule() asks for `render()` at the next frame
 * (once, however often it is called before); cancel() drops a pending one.
 */
export function frameScheduler(render) {
  let frame = 0;
  return {
    schedule() {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
    },
    cancel() {
      cancelAnimationFrame(frame);
      frame = 0;
    },
  };
}
